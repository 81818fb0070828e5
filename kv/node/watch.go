package node

import (
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/watch"
)

// watchOverheadBytes is what etcd adds to --max-request-bytes for the size above which a
// watch response goes in fragments to a watcher that asked for them (its
// MaxRequestBytesWithOverhead, the same 512 KiB allowance as gRPC's receive limit): the hub
// fragments at the same bound (found by compat/, where a 64 KiB limit made Ballast split a
// 120 KB revision etcd sent whole).
const watchOverheadBytes = 512 * 1024

// The member owns one watch.Hub, at the store's revision when it opens. Each applied entry
// that created a revision notifies the hub after its batch committed, so catch-up reads
// (through the member's DB, watch.StoreHistory) see everything notified. A watch is served
// by the member it was opened on, from its own applied state, leader or follower, so it
// sees every revision in order across leader changes. The driver pulls responses with
// WatchStream.Pending when its client can take more; Config.WatchProgressInterval (etcd's
// progress-notify interval, default 10 minutes) is counted in Ticks. Watchers live in
// memory: after a restart clients resume from their last revision + 1, as etcd's do.

// WatchStream is one client's watch stream (one gRPC Watch call) on this member. Like the
// member, it is called from the member's one goroutine.
type WatchStream struct {
	m *Member
	s *watch.Stream
}

// NewWatchStream opens a watch stream on this member.
func (m *Member) NewWatchStream() (*WatchStream, error) {
	if m.stopped != nil {
		return nil, ErrStopped
	}
	return &WatchStream{m: m, s: m.hub.NewStream()}, nil
}

// Handle takes one WatchRequest of the client (create, cancel or progress request; see
// watch.Stream.Handle): refusals are answered in-band by Pending.
func (w *WatchStream) Handle(req *pb.WatchRequest) error {
	return w.HandleAs(auth.Info{}, req)
}

// HandleAs is Handle for a client acting as ai: with auth enabled, a create request on a
// range ai may not read is refused in-band with etcd's reason, as etcd's isWatchPermitted.
func (w *WatchStream) HandleAs(ai auth.Info, req *pb.WatchRequest) error {
	if w.m.stopped != nil {
		return ErrStopped
	}
	if c := req.GetCreateRequest(); c != nil {
		if err := w.m.auth.Check(ai, c.Key, c.RangeEnd, authpb.READ); err != nil {
			w.s.Refuse(err)
			return nil
		}
	}
	return w.s.Handle(req)
}

// Pending hands out up to maxResponses responses to send now, reading history from the
// member's store for watchers that catch up. Responses returned with an error must still
// be sent.
func (w *WatchStream) Pending(maxResponses int) ([]*pb.WatchResponse, error) {
	if w.m.stopped != nil {
		return nil, ErrStopped
	}
	cut := w.s.CutCatchUps()
	resps, err := w.s.Pending(watch.StoreHistory(w.m.kv, w.m.db), maxResponses)
	if w.m.observing() {
		if n := w.s.CutCatchUps() - cut; n > 0 {
			w.m.event(Event{Kind: EventWatchCatchUpCut, Count: n})
		}
		for _, r := range resps {
			if r.Canceled && r.CompactRevision > 0 {
				w.m.event(Event{Kind: EventWatchCompacted, Index: uint64(r.CompactRevision)})
			}
		}
	}
	return resps, err
}

// Ready reports whether Pending has something to hand out.
func (w *WatchStream) Ready() bool { return w.m.stopped == nil && w.s.Ready() }

// Close cancels every watcher of the stream.
func (w *WatchStream) Close() { w.s.Close() }

// notifyWatchers hands the hub the events of an applied entry, after its batch committed.
func (m *Member) notifyWatchers(events []*mvccpb.Event) {
	if len(events) > 0 {
		m.hub.Notify(events[0].Kv.ModRevision, events)
	}
}

// tickWatchProgress runs the hub's progress timer every WatchProgressInterval.
func (m *Member) tickWatchProgress() {
	every := uint64(m.cfg.WatchProgressInterval / m.cfg.TickInterval)
	if every == 0 {
		every = 1
	}
	if m.ticks%every == 0 {
		m.hub.TickProgress()
	}
}
