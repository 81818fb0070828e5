package watch

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestProgressRequest(t *testing.T) {
	e := newEnv(t, Config{})
	s := e.hub.NewStream()
	_, err := s.Create(create("a", "", 0))
	require.NoError(t, err)
	e.put("a", "1")
	e.put("b", "1")
	require.NoError(t, s.RequestProgress())
	require.NoError(t, s.RequestProgress()) // one response for both
	require.Equal(t, []string{"created 0 @1", "0 @3 [PUT a=1@2]", "progress -1 @3"}, describe(e.drain(s)))

	t.Run("deferred while a watcher is unsynced", func(t *testing.T) {
		_, err := s.Create(create("b", "", 2))
		require.NoError(t, err)
		require.NoError(t, s.RequestProgress())
		resps, err := s.Pending(nil, 10) // no reader: the catch-up waits, and so does progress
		require.NoError(t, err)
		require.Equal(t, []string{"created 1 @3"}, describe(resps))
		require.True(t, s.Ready())
		require.Equal(t, []string{"1 @3 [PUT b=1@3]", "progress -1 @3"}, describe(e.drain(s)))
	})
	t.Run("stream without watchers answers at once", func(t *testing.T) {
		s2 := e.hub.NewStream()
		require.NoError(t, s2.RequestProgress())
		require.True(t, s2.Ready())
		require.Equal(t, []string{"progress -1 @3"}, describe(e.drain(s2)))
	})
}

func TestProgressTick(t *testing.T) {
	e := newEnv(t, Config{})
	s := e.hub.NewStream()
	notify := func(r *pb.WatchCreateRequest) { r.ProgressNotify = true }
	_, err := s.Create(create("a", "", 0, notify))
	require.NoError(t, err)
	_, err = s.Create(create("b", "", 0))
	require.NoError(t, err)
	require.Equal(t, []string{"created 0 @1", "created 1 @1"}, describe(e.drain(s)))

	e.hub.TickProgress()
	require.Equal(t, []string{"progress 0 @1"}, describe(e.drain(s)), "only the watcher that asked")

	e.put("a", "1")
	require.Equal(t, []string{"0 @2 [PUT a=1@2]"}, describe(e.drain(s)))
	e.hub.TickProgress()
	require.Empty(t, e.drain(s), "events were sent since the last tick")
	e.hub.TickProgress()
	require.Equal(t, []string{"progress 0 @2"}, describe(e.drain(s)))

	t.Run("never ahead of a buffered event", func(t *testing.T) {
		e.hub.TickProgress()
		e.put("a", "2") // buffered, not pulled yet when the tick's notification is due
		require.Equal(t, []string{"0 @3 [PUT a=2@3]"}, describe(e.drain(s)), "events first; they replace the notification")
	})
	t.Run("an unsynced watcher waits until caught up", func(t *testing.T) {
		_, err := s.Create(create("z", "", 2, notify))
		require.NoError(t, err)
		e.hub.TickProgress()
		e.hub.TickProgress()
		resps, err := s.Pending(nil, 10)
		require.NoError(t, err)
		require.Equal(t, []string{"created 2 @3", "progress 0 @3"}, describe(resps), "watcher 2 is unsynced")
		require.Equal(t, []string{"progress 2 @3"}, describe(e.drain(s)))
	})
}

func TestCancel(t *testing.T) {
	e := newEnv(t, Config{})
	s := e.hub.NewStream()
	id, err := s.Create(create("a", "", 0))
	require.NoError(t, err)
	other, err := s.Create(create("a", "", 0))
	require.NoError(t, err)
	e.put("a", "1")
	require.NoError(t, s.Cancel(id))
	require.ErrorIs(t, s.Cancel(id), ErrWatcherNotExist)
	require.ErrorIs(t, s.Cancel(99), ErrWatcherNotExist)
	e.put("a", "2")
	require.Equal(t, []string{"created 0 @1", "created 1 @1", "cancel 0", "1 @3 [PUT a=1@2 PUT a=2@3]"}, describe(e.drain(s)),
		"the canceled watcher's buffered event is dropped; nothing answers the unknown cancels")
	require.Equal(t, []int64{other}, s.WatchIDs())
	st := e.hub.Stats()
	require.Equal(t, Stats{Streams: 1, SyncedWatchers: 1}, st)

	t.Run("an unsynced watcher", func(t *testing.T) {
		id, err := s.Create(create("a", "", 2))
		require.NoError(t, err)
		require.Equal(t, 1, e.hub.Stats().UnsyncedWatchers)
		require.NoError(t, s.Cancel(id))
		require.Equal(t, []string{"created 2 @3", "cancel 2"}, describe(e.drain(s)))
		require.Equal(t, 0, e.hub.Stats().UnsyncedWatchers)
	})
}

func TestCloseStream(t *testing.T) {
	e := newEnv(t, Config{})
	s := e.hub.NewStream()
	for i := 0; i < 3; i++ {
		_, err := s.Create(create("a", "", int64(i)))
		require.NoError(t, err)
	}
	keep := e.hub.NewStream()
	_, err := keep.Create(create("", "\x00", 0))
	require.NoError(t, err)
	require.Equal(t, Stats{Streams: 2, SyncedWatchers: 3, UnsyncedWatchers: 1}, e.hub.Stats())
	s.Close()
	s.Close()
	require.Equal(t, Stats{Streams: 1, SyncedWatchers: 1}, e.hub.Stats())
	e.put("a", "1")
	_, err = s.Create(create("a", "", 0))
	require.ErrorIs(t, err, ErrStreamClosed)
	require.ErrorIs(t, s.Cancel(0), ErrStreamClosed)
	require.ErrorIs(t, s.RequestProgress(), ErrStreamClosed)
	_, err = s.Pending(e.hist(), 1)
	require.ErrorIs(t, err, ErrStreamClosed)
	require.False(t, s.Ready())
	require.Equal(t, []string{"created 0 @1", "0 @2 [PUT a=1@2]"}, describe(e.drain(keep)))
}

// TestStalledWatchersBounded is the structural half of the slow-watcher guarantee (the
// timing half is BenchmarkStalledWatchers): watchers whose client never reads hold at most
// their bound, leave the synced index, and later receive every event exactly once from
// storage, while the others keep up live.
func TestStalledWatchersBounded(t *testing.T) {
	const watchers, stalled, writes = 200, 50, 400
	cfg := Config{MaxBufferedEventsPerWatcher: 16, MaxBufferedBytesPerWatcher: 4096, MaxEventsPerResponse: 64}
	e := newEnv(t, cfg)
	streams := make([]*Stream, watchers)
	for i := range streams {
		streams[i] = e.hub.NewStream()
		_, err := streams[i].Create(create("k", "l", 0))
		require.NoError(t, err)
	}
	received := make([]int, watchers)
	for w := 0; w < writes; w++ {
		e.put(fmt.Sprintf("k%03d", w%37), strings.Repeat("v", w%50))
		for i := stalled; i < watchers; i++ {
			for _, r := range e.drain(streams[i]) {
				received[i] += len(r.Events)
			}
		}
		st := e.hub.Stats()
		require.LessOrEqual(t, st.BufferedEvents, stalled*cfg.MaxBufferedEventsPerWatcher)
		require.LessOrEqual(t, st.BufferedBytes, stalled*cfg.MaxBufferedBytesPerWatcher)
	}
	st := e.hub.Stats()
	require.Equal(t, stalled, st.UnsyncedWatchers, "stalled watchers are moved to unsynced")
	require.Equal(t, watchers-stalled, st.SyncedWatchers)
	require.Equal(t, watchers-stalled, e.hub.index.count)
	for i := 0; i < stalled; i++ {
		w := streams[i].watchers[0]
		require.False(t, w.synced)
		require.Empty(t, w.buf, "an overflowing watcher drops its buffer")
		require.Zero(t, w.bufBytes)
	}
	for i := stalled; i < watchers; i++ {
		require.Equal(t, writes, received[i])
	}
	// The stalled clients read at last: everything arrives, in order, once.
	for i := 0; i < stalled; i++ {
		var last int64
		n := 0
		for _, r := range e.drain(streams[i]) {
			for _, ev := range r.Events {
				require.Equal(t, last+1, ev.Kv.ModRevision-1, "gap or duplicate") // one event per revision from 2
				last = ev.Kv.ModRevision - 1
				n++
			}
		}
		require.Equal(t, writes, n)
	}
	st = e.hub.Stats()
	require.Equal(t, Stats{Streams: watchers, SyncedWatchers: watchers}, st)
}

// TestOversizedRevision: a revision larger than the buffer bound is never buffered in part;
// the watcher goes unsynced and gets it whole from storage.
func TestOversizedRevision(t *testing.T) {
	e := newEnv(t, Config{MaxBufferedEventsPerWatcher: 2})
	s := e.hub.NewStream()
	_, err := s.Create(create("", "\x00", 0))
	require.NoError(t, err)
	e.txnPut("a=1", "b=1", "c=1")
	require.Equal(t, Stats{Streams: 1, UnsyncedWatchers: 1}, e.hub.Stats())
	e.put("d", "1")
	require.Equal(t, []string{"created 0 @1", "0 @3 [PUT a=1@2 PUT b=1@2 PUT c=1@2 PUT d=1@3]"}, describe(e.drain(s)),
		"revision 2 was not buffered; one catch-up read brings 2 and 3")

	t.Run("by bytes", func(t *testing.T) {
		e.hub.cfg.MaxBufferedBytesPerWatcher = 200
		e.put("big", strings.Repeat("x", 300))
		require.Equal(t, 1, e.hub.Stats().UnsyncedWatchers)
		resps := e.drain(s)
		require.Len(t, resps, 1)
		require.Len(t, resps[0].Events[0].Kv.Value, 300)
	})
}

// TestCompactedWhileBehind: a watcher that fell behind dropped its buffer, so when the
// revisions it still needs are compacted meanwhile it gets the compacted response.
func TestCompactedWhileBehind(t *testing.T) {
	e := newEnv(t, Config{MaxBufferedEventsPerWatcher: 1})
	s := e.hub.NewStream()
	_, err := s.Create(create("a", "", 0))
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		e.put("a", fmt.Sprint(i))
	}
	e.compact(5)
	require.Equal(t, []string{"created 0 @1", "compacted 0 at 5 canceled=true"}, describe(e.drain(s)))
	require.Equal(t, Stats{Streams: 1}, e.hub.Stats())
}

// TestRoundRobin: one response per watcher per round, so a long backlog does not starve the
// next watcher, and the next call starts after the last watcher served.
func TestRoundRobin(t *testing.T) {
	e := newEnv(t, Config{MaxEventsPerResponse: 1})
	s := e.hub.NewStream()
	for i := 0; i < 3; i++ {
		_, err := s.Create(create("a", "", 0))
		require.NoError(t, err)
	}
	e.drain(s)
	e.put("a", "1")
	e.put("a", "2")
	var got []string
	for i := 0; i < 3; i++ {
		resps, err := s.Pending(nil, 2)
		require.NoError(t, err)
		got = append(got, describe(resps)...)
	}
	require.Equal(t, []string{
		"0 @2 [PUT a=1@2]", "1 @2 [PUT a=1@2]",
		"2 @2 [PUT a=1@2]", "0 @3 [PUT a=2@3]",
		"1 @3 [PUT a=2@3]", "2 @3 [PUT a=2@3]",
	}, got)
}

// TestRestore: after a snapshot replaces the store, synced watchers catch up from it.
func TestRestore(t *testing.T) {
	e := newEnv(t, Config{})
	s := e.hub.NewStream()
	_, err := s.Create(create("a", "", 0))
	require.NoError(t, err)
	_, err = s.Create(create("a", "", 5)) // future start
	require.NoError(t, err)
	e.put("a", "1")
	// Revisions 3..5 arrive with the snapshot, not through Notify.
	for i := 0; i < 3; i++ {
		b := e.db.NewIndexedBatch()
		_, _, err := e.store.Put(b, &pb.PutRequest{Key: []byte("a"), Value: []byte(fmt.Sprint("s", i))}, nil)
		require.NoError(t, err)
		require.NoError(t, b.Commit(pebble.NoSync))
		b.Close()
	}
	e.hub.Restore(e.store.CurrentRevision())
	require.Equal(t, 2, e.hub.Stats().UnsyncedWatchers)
	require.Equal(t, []string{"created 0 @1", "created 1 @1",
		"0 @2 [PUT a=1@2]", "1 @5 [PUT a=s2@5]", "0 @5 [PUT a=s0@3 PUT a=s1@4 PUT a=s2@5]"}, describe(e.drain(s)))
	require.Panics(t, func() { e.hub.Restore(1) })
}

type behindHistory struct{ History }

func (behindHistory) Revisions() (int64, int64, error) { return 1, -1, nil }

type failingHistory struct{ History }

func (failingHistory) Revisions() (int64, int64, error) { return 0, 0, errors.New("disk on fire") }

type failingRead struct{ History }

func (failingRead) EventsBetween([]byte, []byte, int64, int64, int) ([]*mvccpb.Event, error) {
	return nil, errors.New("read failed")
}

func TestPendingErrors(t *testing.T) {
	e := newEnv(t, Config{})
	e.put("a", "1")
	s := e.hub.NewStream()
	_, err := s.Create(create("a", "", 1))
	require.NoError(t, err)
	_, err = s.Pending(e.hist(), 0)
	require.ErrorContains(t, err, "maxResponses > 0")

	resps, err := s.Pending(behindHistory{e.hist()}, 10)
	require.ErrorContains(t, err, "history reader at revision 1 is behind the hub's revision 2")
	require.Equal(t, []string{"created 0 @2"}, describe(resps), "responses before the error are still valid")
	_, err = s.Pending(failingHistory{e.hist()}, 10)
	require.ErrorContains(t, err, "disk on fire")
	_, err = s.Pending(failingRead{e.hist()}, 10)
	require.ErrorContains(t, err, "catch-up read of revisions 1..2: read failed")
	require.Equal(t, []string{"0 @2 [PUT a=1@2]"}, describe(e.drain(s)), "nothing was lost to the failures")
}

func TestInvariantPanics(t *testing.T) {
	e := newEnv(t, Config{})
	ev := func(rev int64) *mvccpb.Event {
		return &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: &mvccpb.KeyValue{Key: []byte("a"), ModRevision: rev}}
	}
	require.PanicsWithValue(t, "watch: Notify of revision 3 after revision 1 (revisions must come one by one)",
		func() { e.hub.Notify(3, []*mvccpb.Event{ev(3)}) })
	require.Panics(t, func() { e.hub.Notify(2, nil) })
	require.Panics(t, func() { e.hub.Notify(2, []*mvccpb.Event{ev(2), ev(3)}) })
	require.Panics(t, func() { NewHub(Config{}, -1) })
	require.Panics(t, func() {
		w := &watcher{}
		w.wants(&mvccpb.Event{Type: 7})
	})
	require.Panics(t, func() { e.hub.index.remove(&watcher{stream: &Stream{}, rng: keyRange{key: []byte("x")}}) })
	require.Panics(t, func() {
		e.hub.index.remove(&watcher{stream: &Stream{}, rng: keyRange{key: []byte("x"), open: true}})
	})
}

func TestHandle(t *testing.T) {
	e := newEnv(t, Config{})
	s := e.hub.NewStream()
	createReq := func(r *pb.WatchCreateRequest) *pb.WatchRequest {
		return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: r}}
	}
	require.NoError(t, s.Handle(createReq(create("a", "", 0))))
	require.NoError(t, s.Handle(createReq(create("b", "a", 0))), "refusals are answered in-band")
	require.NoError(t, s.Handle(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 42}}}))
	require.NoError(t, s.Handle(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}))
	require.NoError(t, s.Handle(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 0}}}))
	require.ErrorContains(t, s.Handle(&pb.WatchRequest{}), "no create, cancel or progress request")
	require.Equal(t, []string{"created 0 @1", "refused -1: mvcc: watcher range is empty", "cancel 0", "progress -1 @1"}, describe(e.drain(s)))
	s.Close()
	require.ErrorIs(t, s.Handle(createReq(create("a", "", 0))), ErrStreamClosed)
}
