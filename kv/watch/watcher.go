package watch

import (
	"bytes"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// keyRange is a watched range after etcd's normalization: an empty key means "\x00"; an
// empty range_end watches the one key; range_end "\x00" watches every key >= key.
type keyRange struct {
	key  []byte
	end  []byte // exclusive upper bound; nil when single or open
	open bool   // every key >= key
}

func newKeyRange(key, rangeEnd []byte) (keyRange, error) {
	r := keyRange{key: bytes.Clone(key)}
	if len(r.key) == 0 {
		r.key = []byte{0}
	}
	switch {
	case len(rangeEnd) == 0:
	case len(rangeEnd) == 1 && rangeEnd[0] == 0:
		r.open = true
	default:
		if bytes.Compare(r.key, rangeEnd) >= 0 {
			return keyRange{}, ErrEmptyWatcherRange
		}
		r.end = bytes.Clone(rangeEnd)
	}
	return r, nil
}

func (r keyRange) single() bool { return !r.open && r.end == nil }

func (r keyRange) contains(k []byte) bool {
	c := bytes.Compare(k, r.key)
	switch {
	case c < 0:
		return false
	case r.open:
		return true
	case r.end == nil:
		return c == 0
	default:
		return bytes.Compare(k, r.end) < 0
	}
}

// rangeEnd gives back etcd's range_end convention for mvcc.EventsBetween.
func (r keyRange) rangeEnd() []byte {
	if r.open {
		return []byte{0}
	}
	return r.end
}

// watcher is one watch on one stream. A synced watcher is in the hub's index and receives
// live events into buf; an unsynced one is not, and its stream reads revisions from nextRev
// on from storage when it pulls.
type watcher struct {
	stream *Stream
	id     int64
	rng    keyRange

	noPut, noDelete bool
	prevKV          bool
	progressNotify  bool
	fragment        bool

	// synced: in the hub's index; every event of a revision >= nextRev and <= hub.rev that
	// matches is in buf or already sent. nextRev above hub.rev+1 is a future start.
	// unsynced: every matching event below nextRev is in buf or already sent; none at or
	// above it is.
	synced  bool
	nextRev int64

	buf      []*mvccpb.Event // starts at a revision boundary
	bufBytes int

	lastSentRev   int64 // highest revision of an event sent; checks order
	sentSinceTick bool
	progressDue   bool
	canceled      bool
}

func (w *watcher) wants(ev *mvccpb.Event) bool {
	switch ev.Type {
	case mvccpb.Event_PUT:
		return !w.noPut
	case mvccpb.Event_DELETE:
		return !w.noDelete
	default:
		panic(fmt.Sprintf("watch: event of unknown type %v", ev.Type))
	}
}

// eventBytes is what an event keeps alive for the byte bound: keys and values, plus a
// constant for the structs around them.
func eventBytes(ev *mvccpb.Event, withPrev bool) int {
	const overheadBytes = 64
	n := overheadBytes
	if ev.Kv != nil {
		n += len(ev.Kv.Key) + len(ev.Kv.Value)
	}
	if withPrev && ev.PrevKv != nil {
		n += overheadBytes + len(ev.PrevKv.Key) + len(ev.PrevKv.Value)
	}
	return n
}

// withoutPrev is ev as a watcher without prev_kv sees it. The Kv is shared, never copied.
func withoutPrev(ev *mvccpb.Event) *mvccpb.Event {
	if ev.PrevKv == nil {
		return ev
	}
	return &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
}

func filtersFromRequest(req *pb.WatchCreateRequest) (noPut, noDelete bool) {
	for _, f := range req.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			noPut = true
		case pb.WatchCreateRequest_NODELETE:
			noDelete = true
		}
	}
	return noPut, noDelete
}
