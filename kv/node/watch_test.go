package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/ballastdb/ballast/raft"
)

type seenEvent struct {
	rev     int64
	key     string
	value   string
	deleted bool
}

// drainWatch pulls every response the stream has now and returns its events.
func drainWatch(t *testing.T, ws *WatchStream) (events []seenEvent, resps []*pb.WatchResponse) {
	for range 100 {
		rs, err := ws.Pending(4)
		require.NoError(t, err)
		if len(rs) == 0 {
			return events, resps
		}
		for _, r := range rs {
			resps = append(resps, r)
			for _, ev := range r.Events {
				events = append(events, seenEvent{rev: ev.Kv.ModRevision, key: string(ev.Kv.Key), value: string(ev.Kv.Value), deleted: ev.Type == mvccpb.DELETE})
			}
		}
	}
	t.Fatal("watch stream never drained")
	return nil, nil
}

// A watch on a follower, started at a past revision, sees every write in revision order,
// each once: the ones before it was created (caught up from history), the ones after, and
// the ones after a leader change, whichever member they were submitted through.
func TestWatchOnFollowerAcrossLeaderChange(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	watcher := c.followers(leader)[0]
	var want []seenEvent
	write := func(via uint64, req *pb.InternalRaftRequest) {
		resp, err := c.do(via, req)
		require.NoError(t, err)
		switch {
		case req.Put != nil:
			want = append(want, seenEvent{rev: resp.Put.Header.Revision, key: string(req.Put.Key), value: string(req.Put.Value)})
		case req.DeleteRange != nil:
			want = append(want, seenEvent{rev: resp.DeleteRange.Header.Revision, key: string(req.DeleteRange.Key), deleted: true})
		}
	}
	for i := range 5 {
		write(leader, put(fmt.Sprintf("w/%d", i), "before"))
	}
	_, err := c.do(leader, put("other", "x")) // outside the watched prefix
	require.NoError(t, err)

	ws, err := c.members[watcher].NewWatchStream()
	require.NoError(t, err)
	require.NoError(t, ws.Handle(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte("w/"), RangeEnd: []byte("w0"), StartRevision: 2}}}))
	var got []seenEvent
	pull := func() {
		c.stabilize()
		evs, _ := drainWatch(t, ws)
		got = append(got, evs...)
	}
	pull()
	for i := range 5 {
		write(c.ids[i%3], put(fmt.Sprintf("w/%d", i), "after"))
	}
	pull()
	// The leader is cut off; the others elect a new one and the writes go on through it.
	c.isolate(leader, true)
	var newLeader uint64
	for newLeader == 0 {
		c.tick()
		for _, f := range c.followers(leader) {
			if c.members[f].Status().RaftState == raft.StateLeader {
				newLeader = f
			}
		}
	}
	for i := range 5 {
		write(watcher, put(fmt.Sprintf("w/%d", i), "new leader"))
	}
	write(newLeader, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("w/0")}})
	c.isolate(leader, false)
	pull()
	require.Equal(t, want, got, "the watcher saw exactly the writes of its range, in revision order")
	for i := 1; i < len(got); i++ {
		require.Less(t, got[i-1].rev, got[i].rev)
	}
	ws.Close()
}

// Progress notifications come from the member's tick: a watcher that asked for them and got
// no events is told the revision every WatchProgressInterval.
func TestWatchProgressNotifyOnTick(t *testing.T) {
	c := newTweakedCluster(t, 1, func(cfg *Config) { cfg.WatchProgressInterval = time.Second })
	c.leader()
	_, err := c.do(1, put("a", "1"))
	require.NoError(t, err)
	ws, err := c.members[1].NewWatchStream()
	require.NoError(t, err)
	require.NoError(t, ws.Handle(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte("quiet"), ProgressNotify: true}}}))
	_, resps := drainWatch(t, ws)
	require.Len(t, resps, 1)
	require.True(t, resps[0].Created)
	rev := c.members[1].CurrentRevision()
	for range 25 { // two and a half intervals of 10 ticks
		c.tick()
	}
	require.True(t, ws.Ready())
	_, resps = drainWatch(t, ws)
	require.NotEmpty(t, resps, "no progress notification after two intervals")
	for _, r := range resps {
		require.Empty(t, r.Events)
		require.Equal(t, rev, r.Header.Revision, "progress reports the member's revision")
	}
}

// A stream of a closed member refuses work with ErrStopped.
func TestWatchStreamOnStoppedMember(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	ws, err := c.members[1].NewWatchStream()
	require.NoError(t, err)
	m := c.members[1]
	c.stop(1)
	_, err = ws.Pending(1)
	require.ErrorIs(t, err, ErrStopped)
	require.ErrorIs(t, ws.Handle(&pb.WatchRequest{}), ErrStopped)
	require.False(t, ws.Ready())
	_, err = m.NewWatchStream()
	require.ErrorIs(t, err, ErrStopped)
}
