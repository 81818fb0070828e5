package watch

import (
	"fmt"
	"math"
	"sort"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Hub holds every watcher of one member: the synced ones in an index that live events are
// matched against, the unsynced ones only in their streams. All methods run on the caller's
// goroutine (the apply loop); the hub starts none and takes no lock, so the caller serializes
// calls to a hub and its streams.
type Hub struct {
	cfg Config
	// rev is the revision of the last Notify (or the one given to NewHub or Restore): every
	// event up to it is committed, so catch-up may read up to it.
	rev   int64
	index *syncedIndex

	streams      []*Stream // sorted by id
	nextStreamID int64

	overflowed []*watcher // scratch for Notify
}

// NewHub returns a hub at currentRev, the store's revision when it starts (after a restart:
// mvcc.Store.CurrentRevision). Watchers are in memory only: after a restart clients
// re-create them, resuming from their last received revision + 1.
func NewHub(cfg Config, currentRev int64) *Hub {
	if currentRev < 0 {
		panic(fmt.Sprintf("watch: NewHub at negative revision %d", currentRev))
	}
	return &Hub{cfg: cfg.withDefaults(), rev: currentRev, index: newSyncedIndex()}
}

// Rev is the revision of the last Notify.
func (h *Hub) Rev() int64 { return h.rev }

// NewStream opens a stream: one client's gRPC Watch call, holding many watchers.
func (h *Hub) NewStream() *Stream {
	s := &Stream{hub: h, id: h.nextStreamID, cursorID: math.MinInt64}
	h.nextStreamID++
	h.streams = append(h.streams, s) // ids rise, so the slice stays sorted
	return s
}

func (h *Hub) removeStream(s *Stream) {
	i := sort.Search(len(h.streams), func(i int) bool { return h.streams[i].id >= s.id })
	if i < len(h.streams) && h.streams[i] == s {
		h.streams = append(h.streams[:i], h.streams[i+1:]...)
	}
}

// Notify hands the hub the events of revision rev, after the batch that wrote them has
// committed (so a catch-up read sees them). events are what mvcc's write call returned, all
// of revision rev, in sub-revision order; the hub keeps them shared and never modifies them.
// A write that created no revision is not notified. Notify only appends to buffers: a
// synced watcher whose buffer this revision would push past its bound becomes unsynced at
// rev instead, so a slow reader never holds up the writer or other watchers.
func (h *Hub) Notify(rev int64, events []*mvccpb.Event) {
	if rev != h.rev+1 {
		panic(fmt.Sprintf("watch: Notify of revision %d after revision %d (revisions must come one by one)", rev, h.rev))
	}
	if len(events) == 0 {
		panic(fmt.Sprintf("watch: Notify of revision %d with no events", rev))
	}
	for _, ev := range events {
		if ev == nil || ev.Kv == nil || ev.Kv.ModRevision != rev {
			panic(fmt.Sprintf("watch: Notify of revision %d with an event of another revision: %v", rev, ev))
		}
	}
	h.rev = rev
	if h.index.count == 0 {
		return
	}
	for _, ev := range events {
		var stripped *mvccpb.Event
		full, bare := eventBytes(ev, true), eventBytes(ev, false)
		h.index.visit(ev.Kv.Key, func(w *watcher) {
			if !w.synced || rev < w.nextRev || !w.wants(ev) {
				return
			}
			out, size := ev, full
			if !w.prevKV {
				if stripped == nil {
					stripped = withoutPrev(ev)
				}
				out, size = stripped, bare
			}
			h.offer(w, rev, out, size)
		})
	}
	for _, w := range h.overflowed {
		h.index.remove(w)
	}
	clear(h.overflowed)
	h.overflowed = h.overflowed[:0]
}

// offer appends one event of revision rev to a synced watcher's buffer, or, when the bound
// would be crossed, drops the whole buffer and leaves the watcher unsynced at the first
// revision it had not sent: it then holds nothing (a stalled client costs no memory and no
// work) and re-reads from storage when its client reads again. The buffer always starts at
// a revision boundary, because a response never takes part of a revision.
func (h *Hub) offer(w *watcher, rev int64, ev *mvccpb.Event, size int) {
	if len(w.buf)+1 > h.cfg.MaxBufferedEventsPerWatcher || w.bufBytes+size > h.cfg.MaxBufferedBytesPerWatcher {
		w.nextRev = rev
		if len(w.buf) > 0 {
			w.nextRev = w.buf[0].Kv.ModRevision
		}
		clear(w.buf)
		w.buf, w.bufBytes = nil, 0
		w.synced = false
		h.overflowed = append(h.overflowed, w)
		return
	}
	w.buf = append(w.buf, ev)
	w.bufBytes += size
}

// TickProgress is the periodic progress timer, driven by the caller (etcd ticks every 10
// minutes by default): every watcher created with progress_notify that was sent no events
// since the previous tick gets a progress notification, sent by its stream's next Pending
// once the watcher has nothing older to deliver.
func (h *Hub) TickProgress() {
	for _, s := range h.streams {
		for _, w := range s.watchers {
			if !w.progressNotify {
				continue
			}
			if !w.sentSinceTick {
				w.progressDue = true
			}
			w.sentSinceTick = false
		}
	}
}

// Restore moves the hub to rev after the store was replaced wholesale (a raft snapshot was
// installed): every synced watcher becomes unsynced from its next revision, so it catches up
// from the new store (or learns that its revisions were compacted).
func (h *Hub) Restore(rev int64) {
	if rev < h.rev {
		panic(fmt.Sprintf("watch: Restore to revision %d below the hub's revision %d", rev, h.rev))
	}
	for _, s := range h.streams {
		for _, w := range s.watchers {
			if w.synced {
				h.index.remove(w)
				w.synced = false
				w.nextRev = max(w.nextRev, h.rev+1)
			}
		}
	}
	h.rev = rev
}

// Stats counts watchers and what they hold, for metrics and tests.
type Stats struct {
	Streams          int
	SyncedWatchers   int
	UnsyncedWatchers int
	BufferedEvents   int // events held in watcher buffers (shared events count once per watcher)
	BufferedBytes    int
}

// Stats walks every watcher; it is meant for metrics and tests, not the hot path.
func (h *Hub) Stats() Stats {
	st := Stats{Streams: len(h.streams)}
	for _, s := range h.streams {
		for _, w := range s.watchers {
			if w.synced {
				st.SyncedWatchers++
			} else {
				st.UnsyncedWatchers++
			}
			st.BufferedEvents += len(w.buf)
			st.BufferedBytes += w.bufBytes
		}
	}
	if st.SyncedWatchers != h.index.count {
		panic(fmt.Sprintf("watch: %d synced watchers but %d in the index", st.SyncedWatchers, h.index.count))
	}
	return st
}
