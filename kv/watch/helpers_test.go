package watch

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// env is one mvcc store on an in-memory Pebble DB and a hub fed by every write, as the apply
// loop does: write into a batch, commit, then Notify.
type env struct {
	t     testing.TB
	db    *pebble.DB
	store *mvcc.Store
	hub   *Hub
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	db := kvtest.MustOpenMem(t)
	s, err := mvcc.Open(db, mvcc.Config{})
	require.NoError(t, err)
	return &env{t: t, db: db, store: s, hub: NewHub(cfg, s.CurrentRevision())}
}

func (e *env) hist() History { return StoreHistory(e.store, e.db) }

func (e *env) write(fn func(b *pebble.Batch) ([]*mvccpb.Event, error)) []*mvccpb.Event {
	e.t.Helper()
	b := e.db.NewIndexedBatch()
	defer b.Close()
	evs, err := fn(b)
	require.NoError(e.t, err)
	require.NoError(e.t, b.Commit(pebble.NoSync))
	if len(evs) > 0 {
		e.hub.Notify(e.store.CurrentRevision(), evs)
	}
	return evs
}

func (e *env) put(key, value string) int64 {
	e.t.Helper()
	e.write(func(b *pebble.Batch) ([]*mvccpb.Event, error) {
		_, evs, err := e.store.Put(b, &pb.PutRequest{Key: []byte(key), Value: []byte(value)}, nil)
		return evs, err
	})
	return e.store.CurrentRevision()
}

func (e *env) del(key, end string) int64 {
	e.t.Helper()
	e.write(func(b *pebble.Batch) ([]*mvccpb.Event, error) {
		_, evs, err := e.store.DeleteRange(b, &pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: []byte(end)})
		return evs, err
	})
	return e.store.CurrentRevision()
}

// txnPut puts key=value pairs ("k=v") in one txn: one revision with several events.
func (e *env) txnPut(pairs ...string) int64 {
	e.t.Helper()
	var ops []*pb.RequestOp
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}})
	}
	e.write(func(b *pebble.Batch) ([]*mvccpb.Event, error) {
		_, evs, err := e.store.Txn(b, &pb.TxnRequest{Success: ops}, nil)
		return evs, err
	})
	return e.store.CurrentRevision()
}

// compact compacts at rev and runs every compaction step.
func (e *env) compact(rev int64) {
	e.t.Helper()
	e.write(func(b *pebble.Batch) ([]*mvccpb.Event, error) {
		_, err := e.store.Compact(b, rev)
		return nil, err
	})
	for done := false; !done; {
		b := e.db.NewIndexedBatch()
		var err error
		done, err = e.store.CompactStep(b, 100)
		require.NoError(e.t, err)
		require.NoError(e.t, b.Commit(pebble.NoSync))
		b.Close()
	}
}

// drain pulls everything a stream has, a few responses at a time.
func (e *env) drain(s *Stream) []*pb.WatchResponse {
	e.t.Helper()
	var all []*pb.WatchResponse
	for i := 0; ; i++ {
		require.Less(e.t, i, 100000, "stream never drained")
		resps, err := s.Pending(e.hist(), 3)
		require.NoError(e.t, err)
		if len(resps) == 0 {
			require.False(e.t, s.Ready(), "Ready with nothing pending")
			return all
		}
		all = append(all, resps...)
	}
}

// describe renders responses compactly for hand-written expectations:
//
//	created 0 @5 | 0 @7 [PUT a=1@6 prev=- PUT b=2@7] | cancel 0 | compacted 0 at 4 | progress -1 @7
func describe(resps []*pb.WatchResponse) []string {
	var out []string
	for _, r := range resps {
		rev := r.GetHeader().GetRevision()
		switch {
		case r.Created && r.Canceled:
			out = append(out, fmt.Sprintf("refused %d: %s", r.WatchId, r.CancelReason))
		case r.Created:
			out = append(out, fmt.Sprintf("created %d @%d", r.WatchId, rev))
		case r.CompactRevision != 0:
			out = append(out, fmt.Sprintf("compacted %d at %d canceled=%v", r.WatchId, r.CompactRevision, r.Canceled))
		case r.Canceled:
			out = append(out, fmt.Sprintf("cancel %d", r.WatchId))
		case len(r.Events) == 0:
			out = append(out, fmt.Sprintf("progress %d @%d", r.WatchId, rev))
		default:
			var evs []string
			for _, ev := range r.Events {
				evs = append(evs, describeEvent(ev))
			}
			frag := ""
			if r.Fragment {
				frag = " fragment"
			}
			out = append(out, fmt.Sprintf("%d @%d [%s]%s", r.WatchId, rev, strings.Join(evs, " "), frag))
		}
	}
	return out
}

func describeEvent(ev *mvccpb.Event) string {
	s := fmt.Sprintf("%s %s", ev.Type, ev.Kv.Key)
	if ev.Type == mvccpb.Event_PUT {
		s += "=" + string(ev.Kv.Value)
	}
	s += fmt.Sprintf("@%d", ev.Kv.ModRevision)
	if ev.PrevKv != nil {
		s += " prev=" + string(ev.PrevKv.Value)
	}
	return s
}
