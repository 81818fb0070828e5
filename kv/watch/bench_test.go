package watch

import (
	"fmt"
	"testing"
	"time"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// benchEvent is one put of revision rev, as mvcc returns it (with PrevKv).
func benchEvent(rev int64) []*mvccpb.Event {
	key := []byte(fmt.Sprintf("k/%04d", rev%1000))
	return []*mvccpb.Event{{
		Type:   mvccpb.Event_PUT,
		Kv:     &mvccpb.KeyValue{Key: key, Value: []byte("value-of-about-32-bytes-........"), CreateRevision: 2, ModRevision: rev, Version: rev},
		PrevKv: &mvccpb.KeyValue{Key: key, Value: []byte("previous"), CreateRevision: 2, ModRevision: rev - 1, Version: rev - 1},
	}}
}

// benchHub makes a hub with n streams of one watcher each on the prefix "k/" (every write
// matches every watcher: the worst case for fan-out).
func benchHub(b *testing.B, n int) (*Hub, []*Stream) {
	h := NewHub(Config{}, 1)
	streams := make([]*Stream, n)
	for i := range streams {
		streams[i] = h.NewStream()
		if _, err := streams[i].Create(&pb.WatchCreateRequest{Key: []byte("k/"), RangeEnd: []byte("k0")}); err != nil {
			b.Fatal(err)
		}
		if _, err := streams[i].Pending(nil, 1); err != nil { // the created response
			b.Fatal(err)
		}
	}
	return h, streams
}

// pullAll drains live responses from streams and returns the events delivered.
func pullAll(b *testing.B, streams []*Stream) int {
	n := 0
	for _, s := range streams {
		resps, err := s.Pending(nil, 16)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range resps {
			n += len(r.Events)
		}
	}
	return n
}

// BenchmarkFanout: one writer, 1,000 watchers on the written range, every watcher's client
// reading after each write. One op = Notify of one revision + every stream's Pending.
func BenchmarkFanout(b *testing.B) {
	const watchers = 1000
	h, streams := benchHub(b, watchers)
	rev := h.Rev()
	delivered := 0
	defer lockThread()()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		rev++
		h.Notify(rev, benchEvent(rev))
		delivered += pullAll(b, streams)
	}
	cpu := threadCPU() - cpu0
	b.StopTimer()
	if delivered != b.N*watchers {
		b.Fatalf("delivered %d events, want %d", delivered, b.N*watchers)
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(delivered)/secs, "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(delivered), "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(delivered), "cpu-ns/event")
}

// benchWriter writes puts through mvcc on a kvtest DB and notifies the hub, as apply does.
type benchWriter struct {
	b     *testing.B
	db    *pebble.DB
	store *mvcc.Store
	n     int
}

func newBenchWriter(b *testing.B) *benchWriter {
	db := kvtest.MustOpenMem(b)
	s, err := mvcc.Open(db, mvcc.Config{})
	if err != nil {
		b.Fatal(err)
	}
	return &benchWriter{b: b, db: db, store: s}
}

// put writes one key under "k/" and returns its revision and events.
func (w *benchWriter) put() (int64, []*mvccpb.Event) {
	w.n++
	batch := w.db.NewIndexedBatch()
	defer batch.Close()
	req := &pb.PutRequest{Key: []byte(fmt.Sprintf("k/%04d", w.n%1000)), Value: []byte("value-of-about-32-bytes-........")}
	_, evs, err := w.store.Put(batch, req, nil)
	if err != nil {
		w.b.Fatal(err)
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		w.b.Fatal(err)
	}
	return w.store.CurrentRevision(), evs
}

// BenchmarkStalledWatchers: 9,000 watchers whose clients read after every write, with and
// without 1,000 more whose clients never read. Per op: one put through mvcc (commit without
// sync) and its Notify (together the writer's cost, reported as write-ns/op, and Notify
// alone as notify-ns/op), then a Pending on each of the 9,000 reading streams (reported per
// delivered event as deliver-ns/event). The stalled watchers are warmed past their buffer
// bound first, as in a long-running server, so they are unsynced when timing starts;
// indexed-watchers is how many watchers Notify matches against, and
// stalled-buffered-events/watcher what the stalled ones hold at the end.
func BenchmarkStalledWatchers(b *testing.B) {
	const active = 9000
	for _, stalled := range []int{0, 1000} {
		b.Run(fmt.Sprintf("stalled=%d", stalled), func(b *testing.B) {
			w := newBenchWriter(b)
			h, streams := benchHub(b, active+stalled)
			reading := streams[stalled:]
			for i := 0; i < DefaultMaxBufferedEventsPerWatcher+1; i++ { // warm-up past the bound
				h.Notify(w.put())
				pullAll(b, reading)
			}
			if st := h.Stats(); st.UnsyncedWatchers != stalled {
				b.Fatalf("%d unsynced watchers after warm-up, want %d", st.UnsyncedWatchers, stalled)
			}
			var writeNs, notifyNs, deliverNs, notifyCPU, deliverCPU time.Duration
			delivered := 0
			defer lockThread()()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				rev, evs := w.put()
				t1, c1 := time.Now(), threadCPU()
				h.Notify(rev, evs)
				t2, c2 := time.Now(), threadCPU()
				delivered += pullAll(b, reading)
				c3 := threadCPU()
				writeNs += t2.Sub(t0)
				notifyNs += t2.Sub(t1)
				deliverNs += time.Since(t2)
				notifyCPU += c2 - c1
				deliverCPU += c3 - c2
			}
			b.StopTimer()
			if delivered != b.N*active {
				b.Fatalf("delivered %d events, want %d", delivered, b.N*active)
			}
			st := h.Stats()
			b.ReportMetric(float64(h.index.count), "indexed-watchers")
			b.ReportMetric(float64(writeNs.Nanoseconds())/float64(b.N), "write-ns/op")
			b.ReportMetric(float64(notifyNs.Nanoseconds())/float64(b.N), "notify-ns/op")
			b.ReportMetric(float64(deliverNs.Nanoseconds())/float64(delivered), "deliver-ns/event")
			b.ReportMetric(float64(notifyCPU.Nanoseconds())/float64(b.N), "notify-cpu-ns/op")
			b.ReportMetric(float64(deliverCPU.Nanoseconds())/float64(delivered), "deliver-cpu-ns/event")
			if stalled > 0 {
				b.ReportMetric(float64(st.BufferedEvents)/float64(stalled), "stalled-buffered-events/watcher")
			}
		})
	}
}
