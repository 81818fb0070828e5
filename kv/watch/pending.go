package watch

import (
	"errors"
	"fmt"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/kv/mvcc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Pending hands out up to maxResponses responses the client may be sent now, in the order
// they must be sent: created and canceled responses first (in request order), then events,
// at most one response per watcher per round in watch-ID order starting where the previous
// call stopped (so one busy watcher cannot starve the others), then progress notifications.
// Catch-up reads for unsynced watchers happen here, through hist, at most maxResponses reads
// per call; hist may be nil, and then unsynced watchers wait. hist must hold at least every
// revision notified to the hub (a snapshot taken after the last Notify, or the DB).
//
// The fragments of one revision are handed out together even if that exceeds maxResponses.
// Responses returned alongside an error are valid and must still be sent.
func (s *Stream) Pending(hist History, maxResponses int) ([]*pb.WatchResponse, error) {
	if s.closed {
		return nil, ErrStreamClosed
	}
	if maxResponses <= 0 {
		return nil, fmt.Errorf("watch: Pending needs maxResponses > 0, got %d", maxResponses)
	}
	p := &pull{stream: s, hist: hist, readsLeft: maxResponses}
	n := min(len(s.control), maxResponses)
	out := append([]*pb.WatchResponse(nil), s.control[:n]...)
	clear(s.control[:n])
	s.control = s.control[n:]
	if len(s.control) == 0 {
		s.control = nil
	}
	for len(out) < maxResponses && len(s.watchers) > 0 {
		progressed := false
		for _, w := range s.roundOrder() {
			if len(out) >= maxResponses {
				break
			}
			if w.canceled {
				continue
			}
			before := len(out)
			var read bool
			var err error
			out, read, err = p.step(w, out)
			if err != nil {
				return out, err
			}
			if read {
				progressed = true
			}
			if len(out) > before {
				progressed = true
				s.cursorID = w.id + 1
			}
		}
		if !progressed {
			break
		}
	}
	if len(out) < maxResponses && s.progressAllDue && s.allDelivered() {
		out = append(out, &pb.WatchResponse{Header: s.header(), WatchId: InvalidWatchID})
		s.progressAllDue = false
	}
	return out, nil
}

// Ready reports whether Pending could hand out something now (given a reader): the caller
// calls Pending only for streams whose client can take more.
func (s *Stream) Ready() bool {
	if s.closed {
		return false
	}
	if len(s.control) > 0 || (s.progressAllDue && s.allDelivered()) {
		return true
	}
	for _, w := range s.watchers {
		if len(w.buf) > 0 || !w.synced || (w.progressDue && w.synced) {
			return true
		}
	}
	return false
}

func (s *Stream) allDelivered() bool {
	for _, w := range s.watchers {
		if !w.synced || len(w.buf) > 0 {
			return false
		}
	}
	return true
}

// roundOrder is the stream's watchers rotated to start at the first one >= cursorID.
func (s *Stream) roundOrder() []*watcher {
	i, _ := s.find(s.cursorID)
	s.roundScratch = append(append(s.roundScratch[:0], s.watchers[i:]...), s.watchers[:i]...)
	return s.roundScratch
}

// pull is the state of one Pending call.
type pull struct {
	stream    *Stream
	hist      History
	readsLeft int

	revisionsRead          bool
	currentRev, compactRev int64
}

// step appends what one watcher sends next: one response of buffered events (or the
// fragments of one), else a catch-up read's first response or a compacted response, else a
// due progress notification. read reports that it spent a catch-up read.
func (p *pull) step(w *watcher, out []*pb.WatchResponse) (_ []*pb.WatchResponse, read bool, err error) {
	h := p.stream.hub
	if len(w.buf) == 0 && !w.synced {
		if w.nextRev > h.rev {
			p.markSynced(w)
		} else if p.hist != nil && p.readsLeft > 0 {
			p.readsLeft--
			read = true
			resp, err := p.catchUp(w)
			if err != nil {
				return out, read, err
			}
			if resp != nil {
				return append(out, resp), read, nil
			}
		}
	}
	if len(w.buf) > 0 {
		return p.stream.take(w, out), read, nil
	}
	if w.progressDue && w.synced {
		w.progressDue = false
		return append(out, &pb.WatchResponse{Header: p.stream.header(), WatchId: w.id}), read, nil
	}
	return out, read, nil
}

func (p *pull) markSynced(w *watcher) {
	h := p.stream.hub
	if w.nextRev <= h.rev {
		panic(fmt.Sprintf("watch: watcher %d synced at revision %d with revision %d not yet read", w.id, h.rev, w.nextRev))
	}
	w.synced = true
	if canary.On(canary.WatchSkip) {
		w.nextRev++ // broken on purpose: the first live revision is never delivered
	}
	h.index.add(w)
}

func (p *pull) revisions() error {
	if p.revisionsRead {
		return nil
	}
	cur, compact, err := p.hist.Revisions()
	if err != nil {
		return fmt.Errorf("watch: reading history revisions: %w", err)
	}
	if h := p.stream.hub; cur < h.rev {
		return fmt.Errorf("watch: history reader at revision %d is behind the hub's revision %d", cur, h.rev)
	}
	p.currentRev, p.compactRev, p.revisionsRead = cur, compact, true
	return nil
}

// catchUp reads the unsynced watcher's next revisions into its buffer, in one bounded read.
// When they are compacted it returns the compacted response and removes the watcher.
func (p *pull) catchUp(w *watcher) (*pb.WatchResponse, error) {
	if err := p.revisions(); err != nil {
		return nil, err
	}
	if w.nextRev <= p.compactRev {
		if !canary.On(canary.WatchCompactedSkips) {
			return p.compacted(w), nil
		}
		w.nextRev = p.compactRev + 1 // broken on purpose: the compacted revisions are skipped, not refused
	}
	h := p.stream.hub
	cfg := h.cfg
	toRev := min(h.rev, w.nextRev+int64(cfg.MaxRevisionsPerRead)-1)
	events, err := p.hist.EventsBetween(w.rng.key, w.rng.rangeEnd(), w.nextRev, toRev, cfg.MaxEventsPerResponse)
	if errors.Is(err, mvcc.ErrCompacted) {
		p.revisionsRead = false
		if err := p.revisions(); err != nil {
			return nil, err
		}
		if w.nextRev > p.compactRev {
			return nil, fmt.Errorf("watch: history said revision %d is compacted but its compact revision is %d", w.nextRev, p.compactRev)
		}
		return p.compacted(w), nil
	}
	if err != nil {
		return nil, fmt.Errorf("watch: catch-up read of revisions %d..%d: %w", w.nextRev, toRev, err)
	}
	next := toRev + 1
	if len(events) >= cfg.MaxEventsPerResponse {
		next = events[len(events)-1].Kv.ModRevision + 1
		if canary.On(canary.WatchCutDropsLast) {
			events = events[:len(events)-1] // broken on purpose: the cut batch's last event is lost
		}
	}
	if next <= h.rev {
		p.stream.cutCatchUps++
	}
	prev := w.nextRev
	for _, ev := range events {
		if ev.Kv == nil || ev.Kv.ModRevision < prev || ev.Kv.ModRevision >= next || !w.rng.contains(ev.Kv.Key) {
			panic(fmt.Sprintf("watch: catch-up read of %d..%d for watcher %d returned an event out of order or range: %v", w.nextRev, toRev, w.id, ev))
		}
		prev = ev.Kv.ModRevision
		if !w.wants(ev) {
			continue
		}
		if !w.prevKV {
			ev = withoutPrev(ev)
		}
		w.buf = append(w.buf, ev)
		w.bufBytes += eventBytes(ev, w.prevKV)
	}
	w.nextRev = next
	if next > h.rev {
		p.markSynced(w)
	}
	return nil, nil
}

// compacted cancels a watcher whose next revision is gone, with etcd's compacted response.
// etcd names the compact revision C and still serves a watcher starting exactly at C; but
// compaction removed the deletions made at C, so Ballast cannot deliver revision C whole and
// names C+1 (the oldest revision it serves whole) to a watcher that needed C: a client that
// resumes from CompactRevision then makes progress instead of being refused again.
func (p *pull) compacted(w *watcher) *pb.WatchResponse {
	compactRev := p.compactRev
	if w.nextRev == compactRev {
		compactRev++
	}
	p.stream.remove(w.id)
	return &pb.WatchResponse{Header: p.stream.header(), WatchId: w.id, CompactRevision: compactRev, Canceled: true}
}

// take appends to out the next response of w's buffer: whole revisions, as many as fit the
// response bounds (at least one), split into fragments when w asked for them and the
// response is over MaxResponseBytes.
func (s *Stream) take(w *watcher, out []*pb.WatchResponse) []*pb.WatchResponse {
	cfg := s.hub.cfg
	n, size := 0, 0
	for n < len(w.buf) {
		rev := w.buf[n].Kv.ModRevision
		j, groupBytes := n, 0
		for j < len(w.buf) && w.buf[j].Kv.ModRevision == rev {
			groupBytes += eventBytes(w.buf[j], w.prevKV)
			j++
		}
		if n > 0 && (j > cfg.MaxEventsPerResponse || size+groupBytes > cfg.MaxResponseBytes) {
			break
		}
		n, size = j, size+groupBytes
	}
	events := append([]*mvccpb.Event(nil), w.buf[:n]...)
	clear(w.buf[:n])
	if n == len(w.buf) {
		w.buf = w.buf[:0]
	} else {
		w.buf = w.buf[n:]
	}
	w.bufBytes -= size
	if w.bufBytes < 0 || (len(w.buf) == 0 && w.bufBytes != 0) {
		panic(fmt.Sprintf("watch: watcher %d buffer accounting broke: %d bytes with %d events", w.id, w.bufBytes, len(w.buf)))
	}
	first, last := events[0].Kv.ModRevision, events[len(events)-1].Kv.ModRevision
	if first <= w.lastSentRev {
		panic(fmt.Sprintf("watch: watcher %d would send revision %d after revision %d", w.id, first, w.lastSentRev))
	}
	w.lastSentRev = last
	w.sentSinceTick = true
	w.progressDue = false
	headerRev := last
	if w.synced && len(w.buf) == 0 {
		headerRev = s.hub.rev
	}
	if !w.fragment || size <= cfg.MaxResponseBytes || len(events) < 2 {
		return append(out, &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: headerRev}, WatchId: w.id, Events: events})
	}
	for len(events) > 0 {
		k, chunk := 0, 0
		for k < len(events) && (k == 0 || chunk+eventBytes(events[k], w.prevKV) <= cfg.MaxResponseBytes) {
			chunk += eventBytes(events[k], w.prevKV)
			k++
		}
		out = append(out, &pb.WatchResponse{
			Header: &pb.ResponseHeader{Revision: headerRev}, WatchId: w.id, Events: events[:k:k], Fragment: k < len(events),
		})
		events = events[k:]
	}
	return out
}
