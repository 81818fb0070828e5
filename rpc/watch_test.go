package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// nextWatch waits for the next response on ch.
func nextWatch(t *testing.T, ch clientv3.WatchChan) clientv3.WatchResponse {
	t.Helper()
	select {
	case r, ok := <-ch:
		require.True(t, ok, "watch channel closed")
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no watch response within 20 s")
		return clientv3.WatchResponse{}
	}
}

// collect reads events from ch until it holds n of them.
func collect(t *testing.T, ch clientv3.WatchChan, n int) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	for len(evs) < n {
		r := nextWatch(t, ch)
		require.NoError(t, r.Err())
		evs = append(evs, r.Events...)
	}
	require.Len(t, evs, n)
	return evs
}

func TestWatch(t *testing.T) {
	c := newCluster(t, 3)
	f := c.follower()
	cli := c.client(f) // watches are served by a follower here
	writer := c.client(c.leader())
	ctx := ctxT(t)

	p, err := writer.Put(ctx, "w/a", "1")
	require.NoError(t, err)
	start := p.Header.Revision
	_, err = writer.Put(ctx, "w/b", "2")
	require.NoError(t, err)
	_, err = writer.Put(ctx, "w/a", "3")
	require.NoError(t, err)
	_, err = writer.Delete(ctx, "w/b")
	require.NoError(t, err)

	t.Run("from a past revision with prev kv", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		evs := collect(t, cli.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithPrevKV()), 4)
		require.Equal(t, "w/a", string(evs[0].Kv.Key))
		require.Equal(t, start, evs[0].Kv.ModRevision)
		require.Equal(t, mvccpb.DELETE, evs[3].Type)
		require.Equal(t, "2", string(evs[3].PrevKv.Value))
		require.Equal(t, "1", string(evs[2].PrevKv.Value))
		for i := 1; i < len(evs); i++ {
			require.Equal(t, evs[i-1].Kv.ModRevision+1, evs[i].Kv.ModRevision, "revisions in order, no gap")
		}
	})
	t.Run("filters", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		puts := cli.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithFilterDelete())
		dels := cli.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithFilterPut())
		for _, e := range collect(t, puts, 3) {
			require.Equal(t, mvccpb.PUT, e.Type)
		}
		d := collect(t, dels, 1)
		require.Equal(t, mvccpb.DELETE, d[0].Type)
	})
	t.Run("live events and progress", func(t *testing.T) {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		ch := cli.Watch(wctx, "live", clientv3.WithCreatedNotify())
		created := nextWatch(t, ch)
		require.True(t, created.Created)
		p, err := writer.Put(ctx, "live", "x")
		require.NoError(t, err)
		ev := collect(t, ch, 1)[0]
		require.Equal(t, p.Header.Revision, ev.Kv.ModRevision)
		// A progress request is answered with the stream's revision, no events.
		require.NoError(t, cli.RequestProgress(wctx))
		prog := nextWatch(t, ch)
		require.True(t, prog.IsProgressNotify())
		require.GreaterOrEqual(t, prog.Header.Revision, p.Header.Revision)
	})
	t.Run("cancel", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		ch := cli.Watch(wctx, "cancelled")
		cancel()
		select {
		case _, ok := <-ch:
			for ok {
				_, ok = <-ch
			}
		case <-time.After(20 * time.Second):
			t.Fatal("cancelled watch channel not closed")
		}
	})
	t.Run("compacted revision", func(t *testing.T) {
		cur, err := writer.Put(ctx, "w/c", "4")
		require.NoError(t, err)
		_, err = writer.Compact(ctx, cur.Header.Revision, clientv3.WithCompactPhysical())
		require.NoError(t, err)
		// The follower applies the compaction in its own time; a linearizable read there
		// waits until it has.
		_, err = cli.Get(ctx, "w/a", clientv3.WithRev(start))
		require.ErrorIs(t, err, rpctypes.ErrCompacted)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r := nextWatch(t, cli.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(start)))
		require.True(t, r.Canceled)
		require.NotZero(t, r.CompactRevision)
		require.GreaterOrEqual(t, r.CompactRevision, cur.Header.Revision)
		require.ErrorIs(t, r.Err(), rpctypes.ErrCompacted)
	})
	t.Run("fragments", func(t *testing.T) {
		// A revision whose events (with their previous values) exceed --max-request-bytes
		// comes to a watcher that asked for fragments in several responses, every one but
		// the last marked Fragment. Seen on the raw stream: clientv3 joins fragments.
		value := strings.Repeat("v", 200<<10)
		txn := func(v string) int64 { return putSeven(ctx, t, writer, "frag/", v) }
		first := txn(value)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := pb.NewWatchClient(cli.ActiveConnection()).Watch(wctx)
		require.NoError(t, err)
		// The watch starts after the first transaction, named explicitly: the watching
		// follower may not have applied it yet, and a watch from "now" on a lagging member
		// starts at that member's revision (etcd's too) and would see the first one.
		require.NoError(t, stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
			Key: []byte("frag/"), RangeEnd: []byte("frag0"), PrevKv: true, Fragment: true, StartRevision: first + 1}}}))
		created, err := stream.Recv()
		require.NoError(t, err)
		require.True(t, created.Created)
		rev := txn(strings.ToUpper(value))
		var events, fragments int
		for events < 7 {
			r, err := stream.Recv()
			require.NoError(t, err)
			if r.Fragment {
				fragments++
			}
			for _, e := range r.Events {
				require.Equal(t, rev, e.Kv.ModRevision)
				require.Len(t, e.PrevKv.Value, len(value))
				events++
			}
		}
		require.Equal(t, 7, events)
		require.Positive(t, fragments, "a 2.8 MB revision came in one response")
	})
	t.Run("no fragments under etcd's bound", func(t *testing.T) {
		// etcd fragments a response only above --max-request-bytes plus gRPC's 512 KiB
		// allowance (MaxRequestBytesWithOverhead): a 1.7 MB revision, over the 1.5 MiB
		// default, comes whole (found by compat/ with a 64 KiB limit).
		value := strings.Repeat("w", 120<<10)
		txn := func(v string) int64 { return putSeven(ctx, t, writer, "whole/", v) }
		first := txn(value)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := pb.NewWatchClient(cli.ActiveConnection()).Watch(wctx)
		require.NoError(t, err)
		require.NoError(t, stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
			Key: []byte("whole/"), RangeEnd: []byte("whole0"), PrevKv: true, Fragment: true, StartRevision: first + 1}}}))
		created, err := stream.Recv()
		require.NoError(t, err)
		require.True(t, created.Created)
		txn(strings.ToUpper(value))
		r, err := stream.Recv()
		require.NoError(t, err)
		require.False(t, r.Fragment, "a 1.7 MB revision came in fragments")
		require.Len(t, r.Events, 7)
		require.Greater(t, proto.Size(r), 1572864, "over the default --max-request-bytes")
	})
}

// TestWatchAcrossLeaderChange: a watch on a follower keeps delivering every revision, in
// order, while leadership moves between the other members.
func TestWatchAcrossLeaderChange(t *testing.T) {
	c := newCluster(t, 3)
	f := c.follower()
	watcher := c.client(f)
	ctx := ctxT(t)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := watcher.Watch(wctx, "lc/", clientv3.WithPrefix())
	writes := c.client()
	const rounds = 3
	var revs []int64
	for round := range rounds {
		for i := range 10 {
			p, err := writes.Put(ctx, fmt.Sprintf("lc/%d", i), fmt.Sprint(round))
			require.NoError(t, err)
			revs = append(revs, p.Header.Revision)
		}
		// Move leadership to the other non-watching member.
		l := c.leader()
		target := 3 - l - f
		if target == l {
			target = f
		}
		_, err := c.client(l).MoveLeader(ctx, c.servers[target].ID())
		require.NoError(t, err)
	}
	evs := collect(t, ch, len(revs))
	for i, e := range evs {
		require.Equal(t, revs[i], e.Kv.ModRevision, "event %d", i)
	}
}

// putSeven puts keys prefix0..prefix6 to value in one txn and returns its revision. "No
// leader" means the txn was never proposed (kv/node fails a proposal at once when raft knows
// no leader), so a retry cannot apply it twice. It happens on a loaded machine under -race:
// moving 1.4 MB held up the heartbeats for more than an election timeout and a follower took
// over (seen once at load average 12).
func putSeven(ctx context.Context, t *testing.T, writer *clientv3.Client, prefix, value string) int64 {
	t.Helper()
	var ops []clientv3.Op
	for i := range 7 {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("%s%d", prefix, i), value))
	}
	for attempt := 1; ; attempt++ {
		tx, err := writer.Txn(ctx).Then(ops...).Commit()
		if errors.Is(err, rpctypes.ErrNoLeader) && attempt < 5 {
			t.Logf("txn attempt %d: %v; retrying", attempt, err)
			time.Sleep(time.Second)
			continue
		}
		require.NoError(t, err)
		return tx.Header.Revision
	}
}
