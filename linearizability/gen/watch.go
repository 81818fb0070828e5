package gen

import (
	"fmt"
	"math"

	"github.com/ballastdb/ballast/linearizability/history"
)

// Watchers are laid over the finished execution: each sees exactly the events the model
// applied, from its start revision on, each revision whole in one response, no earlier than
// the revision was created, in revision order; progress notifications claim only revisions
// whose events were all delivered; a broken stream is resumed from the last event's
// revision + 1 (as clientv3 does). Header revisions never decrease within a stream: the
// created response carries the current revision C, catch-up responses (the events from the
// start revision to C, at most catchUpRevisionsMax revisions each) carry C, a live response
// the revision of its last event, a progress notification the store's revision when sent.

// catchUpRevisionsMax is how many revisions one catch-up response holds at most (etcd's
// watchBatchMaxRevs), so a late watcher of a long history does not get one huge line.
const catchUpRevisionsMax = 1000

type watchSpec struct {
	id      string
	request history.WatchRequest
}

func (g *generator) watchSpec(i int) watchSpec {
	req := history.WatchRequest{Key: allKeysStart, RangeEnd: allKeysEnd, PrevKV: g.chance(0.5), ProgressNotify: g.chance(0.6)}
	switch g.rng.Intn(6) {
	case 0: // one key
		req.Key, req.RangeEnd = g.key(), nil
	case 1: // the "k" prefix, maybe filtered
		req.Key, req.RangeEnd = history.Bytes("k"), history.Bytes("l")
		if g.chance(0.3) {
			req.Filters = []history.WatchFilter{history.FilterNoDelete}
		}
	}
	if g.chance(0.3) {
		req.StartRevision = 1 // replay the whole history
	}
	return watchSpec{id: fmt.Sprintf("w%d", i), request: req}
}

// matches reports whether a watcher with req sees the event.
func matches(req *history.WatchRequest, ev *history.Event) bool {
	if !InRange(ev.KV.Key, req.Key, req.RangeEnd) {
		return false
	}
	for _, f := range req.Filters {
		if (f == history.FilterNoPut && ev.Type == history.EventPut) || (f == history.FilterNoDelete && ev.Type == history.EventDelete) {
			return false
		}
	}
	return true
}

func (g *generator) recordWatches() {
	for i := 0; i < g.cfg.Watchers; i++ {
		g.recordWatch(g.watchSpec(i))
	}
}

func (g *generator) recordWatch(spec watchSpec) {
	req := spec.request
	// revisions with events this watcher sees, ascending, and those events
	var revs []int64
	events := make(map[int64][]history.Event)
	for r := int64(2); r <= g.model.Rev(); r++ {
		for _, ev := range g.model.Events(r) {
			if !matches(&req, &ev) {
				continue
			}
			if !req.PrevKV {
				ev.PrevKV = nil
			}
			if len(events[r]) == 0 {
				revs = append(revs, r)
			}
			events[r] = append(events[r], ev)
		}
	}
	// firstAtOrAfter returns the index in revs of the first revision >= r.
	firstAtOrAfter := func(r int64) int {
		i := 0
		for i < len(revs) && revs[i] < r {
			i++
		}
		return i
	}

	createNs := g.between(0, g.endNs/3)
	w := g.rec.Watch(spec.id, "watcher-"+spec.id, req, createNs)
	nowNs := createNs
	start := req.StartRevision
	resumesLeft := g.cfg.ResumesPerWatcher
	for {
		createdNs := nowNs + g.between(10_000, 500_000)
		curRev := g.revAt(createdNs)
		if start == 0 {
			start = curRev + 1
		}
		w.Receive(history.WatchResponse{TimeNs: createdNs, Revision: curRev, MemberID: g.member(), Created: true})
		lastNs := createdNs
		nextRev := start // the revision a resume would start from: the last event's + 1
		breakNs := int64(math.MaxInt64)
		if resumesLeft > 0 && g.chance(0.6) {
			breakNs = createdNs + g.between(0, g.endNs-createdNs)
		}
		i := firstAtOrAfter(start)
		broken := false
		// Catch-up, as etcd's unsynced watchers get it: the events from the start revision up
		// to the current one, in responses of at most catchUpRevisionsMax revisions whose
		// header is the current revision.
		for i < len(revs) && revs[i] <= curRev {
			atNs := lastNs + g.between(10_000, 1_000_000)
			if atNs >= breakNs || atNs > g.endNs {
				broken = true // the stream broke before (all of) the catch-up arrived
				break
			}
			resp := history.WatchResponse{TimeNs: atNs, Revision: curRev, MemberID: g.member()}
			for n := 0; n < catchUpRevisionsMax && i < len(revs) && revs[i] <= curRev; n++ {
				resp.Events = append(resp.Events, events[revs[i]]...)
				nextRev = revs[i] + 1
				i++
			}
			w.Receive(resp)
			lastNs = atNs
		}
		// Live: each response holds whole revisions, its header the last of them (as etcd's
		// synced watchers are notified); progress notifications come only when every event up
		// to their revision has been delivered.
		for !broken {
			deliverNs := int64(math.MaxInt64)
			if i < len(revs) {
				deliverNs = max(lastNs, g.revTimesNs[revs[i]]) + g.between(10_000, 2_000_000)
			}
			if req.ProgressNotify && g.chance(0.3) {
				atNs := lastNs + g.between(1, 200_000_000)
				rev := g.revAt(atNs)
				synced := i >= len(revs) || revs[i] > rev
				if synced && atNs < deliverNs && atNs < breakNs && atNs < g.endNs {
					w.Receive(history.WatchResponse{TimeNs: atNs, Revision: rev, MemberID: g.member(), ProgressNotify: true})
					lastNs = atNs
					continue
				}
			}
			if deliverNs >= breakNs || deliverNs > g.endNs {
				break
			}
			resp := history.WatchResponse{TimeNs: deliverNs, MemberID: g.member()}
			for {
				resp.Events = append(resp.Events, events[revs[i]]...)
				resp.Revision = revs[i]
				nextRev = revs[i] + 1
				i++
				if i >= len(revs) || g.revTimesNs[revs[i]] > deliverNs || !g.chance(0.4) {
					break
				}
			}
			w.Receive(resp)
			lastNs = deliverNs
		}
		if breakNs == math.MaxInt64 || breakNs > g.endNs {
			return
		}
		resumesLeft--
		nowNs = max(breakNs, lastNs) + g.between(1_000_000, 20_000_000)
		start = nextRev
		w.Resume(start, nowNs)
	}
}

func (g *generator) member() uint64 { return uint64(1 + g.rng.Intn(g.cfg.ClusterSize)) }
