package linearizability

import (
	"fmt"
	"sort"

	"github.com/ballastdb/ballast/linearizability/history"
)

// The watch validator checks each watcher against the guarantees etcd documents, using the
// linearization the revision-guided checker rebuilt (the changes at every revision):
//
//   - ordered: within a stream, event revisions never decrease;
//   - unique: no event (revision, key) twice in a stream;
//   - atomic: all events of one revision arrive in one response;
//   - reliable: between a stream's start revision and the last revision it saw (an event or
//     a progress notification), the events equal exactly the linearization's changes in the
//     watched range that the filters let through;
//   - resumable: a stream resumed from revision r delivers nothing before r, and misses
//     nothing from r on;
//   - progress notifications never claim a revision while an event at or below it in the
//     range is still undelivered;
//   - prev_kv, when asked for, equals the key's previous key-value in the linearization;
//   - filters are respected;
//   - a compaction error's compact revision is above the start revision it refuses, and was
//     a revision the store had reached when the response arrived; and a compaction the
//     history could have applied by then reached it: one at that revision, or at the one
//     before (a store that cannot serve the compact revision C whole names C+1), was called
//     before the response and not refused (compaction.go).
//
// Revisions the replay did not reach (an unresolved gap) are not judged here.

// streamStart is the first revision a stream must deliver: its start revision, or for a
// stream created from "now", the revision after its creation response's header; 0 when
// unknown.
func streamStart(s *history.WatchStream) int64 {
	if s.StartRevision != 0 {
		return s.StartRevision
	}
	for _, r := range s.Responses {
		if r.Created {
			return r.Revision + 1
		}
	}
	return 0
}

// eventID names one event: a key's change at a revision.
type eventID struct {
	rev int64
	key string
}

// expectedEvent is a change of the linearization as a watcher must see it.
type expectedEvent struct {
	id  eventID
	mut mutation
}

type watchValidator struct {
	h          *history.History
	rev        *revResult
	violations []Violation
	written    map[kvObservation]bool // every key-value a request that may have applied wrote
	ops        []*op
	beyond     []knownEvent // see knownEventsBeyond
	compacted  *compactions
}

func validateWatches(h *history.History, ops []*op, rev *revResult) []Violation {
	v := &watchValidator{h: h, rev: rev, ops: ops, compacted: newCompactions(h)}
	for wi := range h.Watches {
		v.validateWatch(&h.Watches[wi])
	}
	return v.violations
}

func (v *watchValidator) violate(kind string, w *history.Watch, s *history.WatchStream, t int64, format string, args ...any) {
	v.violations = append(v.violations, Violation{Checker: CheckWatch, Kind: kind,
		Message: fmt.Sprintf("watch %s: ", w.ID) + fmt.Sprintf(format, args...), Lines: []int{s.Line}, TimeNs: t})
}

func filtered(w *history.Watch, t history.EventType) bool {
	for _, f := range w.Request.Filters {
		if (f == history.FilterNoPut && t == history.EventPut) || (f == history.FilterNoDelete && t == history.EventDelete) {
			return true
		}
	}
	return false
}

func mutType(m mutation) history.EventType {
	if m.delete {
		return history.EventDelete
	}
	return history.EventPut
}

// expected lists the linearization's changes this watch must deliver, by revision.
func (v *watchValidator) expected(w *history.Watch) []expectedEvent {
	var list []expectedEvent
	for rev := int64(1); rev <= v.rev.replayedThrough && rev < int64(len(v.rev.events)); rev++ {
		for _, m := range v.rev.events[rev] {
			if !inRange(m.kv.Key, w.Request.Key, w.Request.RangeEnd) {
				continue
			}
			id := eventID{rev, string(m.kv.Key)}
			if !filtered(w, mutType(m)) {
				list = append(list, expectedEvent{id: id, mut: m})
			}
		}
	}
	return list
}

// change returns the linearization's change of a key at a revision.
func (v *watchValidator) change(id eventID) (mutation, bool) {
	if id.rev < 0 || id.rev >= int64(len(v.rev.events)) {
		return mutation{}, false
	}
	for _, m := range v.rev.events[id.rev] {
		if string(m.kv.Key) == id.key {
			return m, true
		}
	}
	return mutation{}, false
}

func (v *watchValidator) validateWatch(w *history.Watch) {
	list := v.expected(w)
	for si := range w.Streams {
		v.validateStream(w, si, list)
	}
	if v.coversEveryWrite(w) && len(w.Request.Filters) == 0 {
		v.checkEveryRevision(w)
	}
}

// coversEveryWrite reports whether the watch's range holds every key any request of the
// history could change: then every revision has at least one event for it.
func (v *watchValidator) coversEveryWrite(w *history.Watch) bool {
	covers := true
	contains := func(key, end []byte) {
		if !inRange(key, w.Request.Key, w.Request.RangeEnd) {
			covers = false
			return
		}
		if len(end) == 0 {
			return
		}
		wEnd := w.Request.RangeEnd
		switch {
		case len(wEnd) == 1 && wEnd[0] == 0:
		case len(end) == 1 && end[0] == 0:
			covers = false
		case string(end) > string(wEnd):
			covers = false
		}
	}
	for i := range v.h.Operations {
		if v.h.Operations[i].Outcome() != history.OutcomeFailed { // a rejected request wrote nothing
			forEachWrite(&v.h.Operations[i].Request, contains)
		}
	}
	return covers
}

// forEachWrite calls fn with the range of every put and delete in the request (a put's range
// is its key alone). Lease revokes delete keys that puts with the lease wrote.
func forEachWrite(req *history.Request, fn func(key, end []byte)) {
	switch {
	case req.Put != nil:
		fn(req.Put.Key, nil)
	case req.DeleteRange != nil:
		fn(req.DeleteRange.Key, req.DeleteRange.RangeEnd)
	case req.Txn != nil:
		for i := range req.Txn.Success {
			forEachWrite(&req.Txn.Success[i], fn)
		}
		for i := range req.Txn.Failure {
			forEachWrite(&req.Txn.Failure[i], fn)
		}
	}
}

// checkEveryRevision: a watch over every key written sees a change at every revision, so a
// stream that saw revision r must have delivered some event at each revision from its start
// to r. This needs no linearization, so it also judges revisions the replay did not reach.
func (v *watchValidator) checkEveryRevision(w *history.Watch) {
	for si := range w.Streams {
		s := &w.Streams[si]
		start := streamStart(s)
		if start == 0 {
			continue
		}
		seen := map[int64]bool{}
		var last int64
		var lastTime int64
		for _, r := range s.Responses {
			for _, ev := range r.Events {
				seen[ev.KV.ModRevision] = true
				if ev.KV.ModRevision > last {
					last, lastTime = ev.KV.ModRevision, r.TimeNs
				}
			}
			if r.ProgressNotify && r.Revision > last {
				last, lastTime = r.Revision, r.TimeNs
			}
		}
		for rev := start; rev <= last; rev++ {
			if rev <= v.rev.replayedThrough {
				continue // judged against the linearization already
			}
			if !seen[rev] {
				kind, what := "watch-gap", "watch gap"
				if si > 0 {
					kind, what = "watch-gap-resume", "watch gap at a resume"
				}
				v.violate(kind, w, s, lastTime, "%s: the stream from rev %d saw rev %d but no event at rev %d, though the watch covers every key written", what, start, last, rev)
				break
			}
		}
	}
}

func (v *watchValidator) validateStream(w *history.Watch, si int, list []expectedEvent) {
	s := &w.Streams[si]
	start := streamStart(s)
	resume := si > 0
	delivered := map[eventID]int{} // event -> response index
	revResponse := map[int64]int{} // revision -> response that delivered its first event
	var lastRev, lastSeen, progressRev, progressNs int64
	firstFrom := func(from int64) int {
		return sort.Search(len(list), func(i int) bool { return list[i].id.rev >= from })
	}
	for ri := range s.Responses {
		r := &s.Responses[ri]
		if r.CompactRevision != 0 {
			v.checkCompaction(w, s, r, start)
		}
		if r.ProgressNotify && start > 0 {
			for i := firstFrom(start); i < len(list) && list[i].id.rev <= r.Revision; i++ {
				if _, ok := delivered[list[i].id]; !ok {
					v.violate("watch-progress-ahead", w, s, r.TimeNs, "progress notification at rev %d arrived before the event %s at rev %d was delivered",
						r.Revision, describeMutation(list[i].mut), list[i].id.rev)
					break
				}
			}
			if r.Revision > lastSeen {
				lastSeen = r.Revision
			}
			if r.Revision > progressRev {
				progressRev, progressNs = r.Revision, r.TimeNs
			}
		}
		for ei := range r.Events {
			ev := &r.Events[ei]
			id := eventID{ev.KV.ModRevision, string(ev.KV.Key)}
			if id.rev < lastRev {
				v.violate("watch-order", w, s, r.TimeNs, "event %s at rev %d arrived after an event at rev %d: events out of order", describeEvent(ev), id.rev, lastRev)
			}
			if id.rev <= progressRev {
				// The stream itself shows it: the notification came first.
				v.violate("watch-progress-ahead", w, s, progressNs, "progress notification at rev %d arrived before the event %s at rev %d was delivered",
					progressRev, describeEvent(ev), id.rev)
			}
			if prev, dup := delivered[id]; dup {
				v.violate("watch-duplicate", w, s, r.TimeNs, "duplicate event: %s at rev %d delivered twice (responses %d and %d of the stream)", describeEvent(ev), id.rev, prev, ri)
				continue
			}
			if first, seen := revResponse[id.rev]; seen && first != ri {
				v.violate("watch-split", w, s, r.TimeNs, "event split across responses: events of rev %d arrived in responses %d and %d", id.rev, first, ri)
			} else if !seen {
				revResponse[id.rev] = ri
			}
			delivered[id] = ri
			if id.rev > lastRev {
				lastRev = id.rev
			}
			if id.rev > lastSeen {
				lastSeen = id.rev
			}
			if start > 0 && id.rev < start {
				kind := "watch-order"
				if resume {
					kind = "watch-resume"
				}
				v.violate(kind, w, s, r.TimeNs, "stream starting at rev %d delivered %s at rev %d, before its start", start, describeEvent(ev), id.rev)
			}
			if !inRange(ev.KV.Key, w.Request.Key, w.Request.RangeEnd) {
				v.violate("watch-range", w, s, r.TimeNs, "event %s is outside the watched range %s", describeEvent(ev), describeRange(w.Request.Key, w.Request.RangeEnd))
				continue
			}
			if filtered(w, ev.Type) {
				v.violate("watch-filter", w, s, r.TimeNs, "event %s delivered despite the filter %v", describeEvent(ev), w.Request.Filters)
			}
			v.checkEvent(w, s, r, ev, id)
		}
	}
	v.checkReliable(w, s, start, lastSeen, list, delivered, resume, firstFrom)
	if start > 0 {
		var events []history.Event
		var times []int64
		for _, r := range s.Responses {
			for _, ev := range r.Events {
				events = append(events, ev)
				times = append(times, r.TimeNs)
			}
		}
		v.checkChain(w, s, start, events, times)
	}
}

// checkEvent compares a delivered event with the linearization's change.
func (v *watchValidator) checkEvent(w *history.Watch, s *history.WatchStream, r *history.WatchResponse, ev *history.Event, id eventID) {
	if id.rev > v.rev.replayedThrough {
		v.checkEventAlone(w, s, r, ev, id)
		return
	}
	m, ok := v.change(id)
	if !ok {
		v.violate("watch-phantom", w, s, r.TimeNs, "event %s at rev %d, but the linearization changes no such key at that revision", describeEvent(ev), id.rev)
		return
	}
	if ev.Type != mutType(m) {
		v.violate("watch-phantom", w, s, r.TimeNs, "event %s at rev %d, but the linearization has a %s there", describeEvent(ev), id.rev, mutType(m))
		return
	}
	if ev.Type == history.EventPut {
		if d := diffKV("event", m.kv, ev.KV); d != "" {
			v.violate("watch-content", w, s, r.TimeNs, "%s", d)
		}
	}
	if w.Request.PrevKV {
		if d := diffPrevKV("prev_kv", m.prev, ev.PrevKV); d != "" {
			v.violate("watch-prev-kv", w, s, r.TimeNs, "wrong prev_kv in the event %s at rev %d: %s", describeEvent(ev), id.rev, d)
		}
	}
}

// checkEventAlone judges an event at a revision the replay did not reach, on what needs no
// linearization: values must have been written by some request, and the event must chain
// onto the stream's previous event of the same key (prev_kv's mod revision, versions,
// create revisions), else the stream skipped a change.
func (v *watchValidator) checkEventAlone(w *history.Watch, s *history.WatchStream, r *history.WatchResponse, ev *history.Event, id eventID) {
	if v.written == nil {
		v.written = map[kvObservation]bool{}
		for i := range v.h.Operations {
			if v.h.Operations[i].Outcome() != history.OutcomeFailed {
				forEachPut(&v.h.Operations[i].Request, func(p *history.PutRequest) { v.written[kvObservation{string(p.Key), string(p.Value)}] = true })
			}
		}
	}
	if ev.Type == history.EventPut && !v.written[kvObservation{string(ev.KV.Key), string(ev.KV.Value)}] {
		v.violate("watch-phantom", w, s, r.TimeNs, "event %s at rev %d carries a value no request wrote", describeEvent(ev), id.rev)
	}
	if ev.PrevKV != nil && !v.written[kvObservation{string(ev.PrevKV.Key), string(ev.PrevKV.Value)}] {
		v.violate("watch-prev-kv", w, s, r.TimeNs, "wrong prev_kv in the event %s at rev %d: %s=%s is a value no request wrote", describeEvent(ev), id.rev, ev.PrevKV.Key, ev.PrevKV.Value)
	}
	if ev.PrevKV != nil && ev.PrevKV.ModRevision >= id.rev {
		v.violate("watch-prev-kv", w, s, r.TimeNs, "wrong prev_kv in the event %s at rev %d: its mod revision %d is not earlier", describeEvent(ev), id.rev, ev.PrevKV.ModRevision)
	}
}

// checkChain reports a change the stream skipped, from consecutive events of one key: a PUT
// whose prev_kv (or whose version) says an earlier change came after the last one delivered.
func (v *watchValidator) checkChain(w *history.Watch, s *history.WatchStream, start int64, events []history.Event, timesNs []int64) {
	if len(w.Request.Filters) > 0 {
		return // filtered changes are missing on purpose
	}
	last := map[string]*history.Event{}
	for i := range events {
		ev := &events[i]
		k := string(ev.KV.Key)
		prev := last[k]
		last[k] = ev
		if ev.KV.ModRevision <= v.rev.replayedThrough {
			continue // judged against the linearization
		}
		var skipped string
		switch {
		case ev.PrevKV != nil && ev.PrevKV.ModRevision >= start && (prev == nil || prev.KV.ModRevision < ev.PrevKV.ModRevision):
			skipped = fmt.Sprintf("the change of %s at rev %d named by its prev_kv", ev.KV.Key, ev.PrevKV.ModRevision)
		case prev != nil && ev.Type == history.EventPut && prev.Type == history.EventPut && ev.KV.CreateRevision == prev.KV.CreateRevision && ev.KV.Version > prev.KV.Version+1:
			skipped = fmt.Sprintf("%d puts of %s between versions %d and %d", ev.KV.Version-prev.KV.Version-1, ev.KV.Key, prev.KV.Version, ev.KV.Version)
		case prev != nil && ev.Type == history.EventPut && prev.Type == history.EventPut && ev.KV.CreateRevision != prev.KV.CreateRevision:
			skipped = fmt.Sprintf("the delete of %s between revisions %d and %d", ev.KV.Key, prev.KV.ModRevision, ev.KV.ModRevision)
		}
		if skipped != "" {
			v.violate("watch-gap", w, s, timesNs[i], "watch gap: the stream from rev %d never delivered %s before %s at rev %d",
				start, skipped, describeEvent(ev), ev.KV.ModRevision)
		}
	}
}

// checkReliable reports the first change between the stream's start and the last revision it
// saw that it never delivered.
func (v *watchValidator) checkReliable(w *history.Watch, s *history.WatchStream, start, lastSeen int64, list []expectedEvent, delivered map[eventID]int, resume bool, firstFrom func(int64) int) {
	if start == 0 {
		return
	}
	for i := firstFrom(start); i < len(list) && list[i].id.rev <= lastSeen; i++ {
		if _, ok := delivered[list[i].id]; ok {
			continue
		}
		if resume {
			v.violate("watch-gap-resume", w, s, s.TimeNs, "watch gap at a resume: the stream resumed from rev %d never delivered %s at rev %d, though it saw rev %d",
				start, describeMutation(list[i].mut), list[i].id.rev, lastSeen)
		} else {
			v.violate("watch-gap", w, s, s.TimeNs, "watch gap: the stream from rev %d never delivered %s at rev %d, though it saw rev %d",
				start, describeMutation(list[i].mut), list[i].id.rev, lastSeen)
		}
		return
	}
	v.checkKnownBeyond(w, s, start, lastSeen, delivered, resume)
}

// knownEvent is a change a known write's response proves, with no replay needed.
type knownEvent struct {
	id  eventID
	typ history.EventType
	o   *op
}

// knownEventsBeyond lists, sorted by revision, the changes at revisions the replay did not
// reach that known writes prove by their responses: a put's key at its revision, the keys a
// delete returned (or its single key when it deleted one), recursively in a txn's branch.
func (v *watchValidator) knownEventsBeyond() []knownEvent {
	if v.beyond != nil || v.ops == nil {
		return v.beyond
	}
	v.beyond = []knownEvent{}
	for _, o := range v.ops {
		if !o.known() || o.expiry != nil || o.resp.Header.Revision <= v.rev.replayedThrough {
			continue
		}
		rev := o.resp.Header.Revision
		var walk func(req *history.Request, resp *history.Response)
		walk = func(req *history.Request, resp *history.Response) {
			switch {
			case req.Put != nil:
				v.beyond = append(v.beyond, knownEvent{eventID{rev, string(req.Put.Key)}, history.EventPut, o})
			case req.DeleteRange != nil && resp.DeleteRange != nil:
				if len(resp.DeleteRange.PrevKVs) > 0 {
					for _, kv := range resp.DeleteRange.PrevKVs {
						v.beyond = append(v.beyond, knownEvent{eventID{rev, string(kv.Key)}, history.EventDelete, o})
					}
				} else if len(req.DeleteRange.RangeEnd) == 0 && resp.DeleteRange.Deleted == 1 {
					v.beyond = append(v.beyond, knownEvent{eventID{rev, string(req.DeleteRange.Key)}, history.EventDelete, o})
				}
			case req.Txn != nil && resp.Txn != nil:
				branch := req.Txn.Failure
				if resp.Txn.Succeeded {
					branch = req.Txn.Success
				}
				for i := range branch {
					if i < len(resp.Txn.Responses) {
						walk(&branch[i], &resp.Txn.Responses[i])
					}
				}
			}
		}
		walk(o.req, o.resp)
	}
	sort.SliceStable(v.beyond, func(i, j int) bool { return v.beyond[i].id.rev < v.beyond[j].id.rev })
	return v.beyond
}

// checkKnownBeyond: beyond the replay, a stream must still deliver every change known writes
// prove between its start and the last revision it saw.
func (v *watchValidator) checkKnownBeyond(w *history.Watch, s *history.WatchStream, start, lastSeen int64, delivered map[eventID]int, resume bool) {
	for _, e := range v.knownEventsBeyond() {
		if e.id.rev < start || e.id.rev > lastSeen {
			continue
		}
		if !inRange([]byte(e.id.key), w.Request.Key, w.Request.RangeEnd) || filtered(w, e.typ) {
			continue
		}
		if _, ok := delivered[e.id]; ok {
			continue
		}
		kind, what := "watch-gap", "watch gap"
		if resume {
			kind, what = "watch-gap-resume", "watch gap at a resume"
		}
		v.violate(kind, w, s, s.TimeNs, "%s: the stream from rev %d never delivered the %s of %s at rev %d (%s, %s), though it saw rev %d",
			what, start, e.typ, e.id.key, e.id.rev, describeOp(e.o), e.o.where(), lastSeen)
		return
	}
}

func (v *watchValidator) checkCompaction(w *history.Watch, s *history.WatchStream, r *history.WatchResponse, start int64) {
	if start != 0 && r.CompactRevision <= start {
		v.violate("watch-compaction", w, s, r.TimeNs, "compaction error with compact revision %d for a stream starting at rev %d, which that compaction did not remove", r.CompactRevision, start)
		return
	}
	if requested := v.compacted.calledBefore(r.TimeNs); requested < r.CompactRevision-1 {
		v.violate("watch-compaction", w, s, r.TimeNs, "compaction error names compact revision %d, but no compaction at rev %d or above was requested before it arrived (the highest: %s)",
			r.CompactRevision, r.CompactRevision-1, describeCompactRev(requested))
		return
	}
	if r.CompactRevision <= v.rev.replayedThrough && r.CompactRevision < int64(len(v.rev.writers)) {
		if wr := v.rev.writers[r.CompactRevision]; wr != nil && wr.callNs > r.TimeNs {
			v.violate("watch-compaction", w, s, r.TimeNs, "compaction error names compact revision %d, which was not created until after the error arrived", r.CompactRevision)
		}
	} else if r.CompactRevision > v.rev.maxRev {
		v.violate("watch-compaction", w, s, r.TimeNs, "compaction error names compact revision %d, beyond any revision the cluster reached (%d)", r.CompactRevision, v.rev.maxRev)
	}
}

func describeEvent(ev *history.Event) string {
	if ev.Type == history.EventDelete {
		return fmt.Sprintf("DELETE %s", ev.KV.Key)
	}
	return fmt.Sprintf("PUT %s=%s", ev.KV.Key, ev.KV.Value)
}

func describeMutation(m mutation) string {
	if m.delete {
		return fmt.Sprintf("DELETE %s", m.kv.Key)
	}
	return fmt.Sprintf("PUT %s=%s", m.kv.Key, m.kv.Value)
}
