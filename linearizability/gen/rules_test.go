package gen

import (
	"fmt"
	"sort"

	"github.com/ballastdb/ballast/linearizability/history"
)

// Rules a correct etcd's history obeys, checked from the history alone, written apart from
// Mutate so that the tests can show each mutation breaks one. Each returns the violations it
// finds, one sentence each.

// ruleValuesWritten: every value a read, a watch event or a prev_kv returns was written by
// some put request.
func ruleValuesWritten(h *history.History) []string {
	written := map[string]bool{}
	for i := range h.Operations {
		walkRequests(&h.Operations[i].Request, func(r *history.Request) {
			if r.Put != nil {
				written[string(r.Put.Value)] = true
			}
		})
	}
	var out []string
	check := func(where string, kv *history.KeyValue) {
		if kv != nil && len(kv.Value) > 0 && !written[string(kv.Value)] {
			out = append(out, fmt.Sprintf("%s returns value %q, never written", where, kv.Value))
		}
	}
	for _, op := range h.Operations {
		if op.Outcome() == history.OutcomeOK && op.Response.Range != nil {
			for _, kv := range op.Response.Range.KVs {
				check(fmt.Sprintf("read at line %d", op.Line), &kv)
			}
		}
	}
	forEachEvent(h, func(w *history.Watch, _ int, ev *history.Event) {
		check("watch "+w.ID, &ev.KV)
		check("watch "+w.ID+" prev_kv", ev.PrevKV)
	})
	return out
}

func forEachEvent(h *history.History, fn func(w *history.Watch, stream int, ev *history.Event)) {
	for wi := range h.Watches {
		w := &h.Watches[wi]
		for si := range w.Streams {
			for ri := range w.Streams[si].Responses {
				for ei := range w.Streams[si].Responses[ri].Events {
					fn(w, si, &w.Streams[si].Responses[ri].Events[ei])
				}
			}
		}
	}
}

// ruleAckedRevisions: a value written by an acknowledged request is observed (by reads and
// watch events) only at that request's header revision; a read's header revision is at least
// every mod revision it returns.
func ruleAckedRevisions(h *history.History) []string {
	a := analyse(h)
	var out []string
	observe := func(where string, kv *history.KeyValue) {
		if rev, ok := a.ackRev[string(kv.Value)]; ok && a.uniqueValue(kv.Value) && rev != kv.ModRevision {
			out = append(out, fmt.Sprintf("%s sees %q at mod revision %d, but its acknowledged write has header revision %d", where, kv.Value, kv.ModRevision, rev))
		}
	}
	for _, op := range h.Operations {
		if op.Outcome() == history.OutcomeOK && op.Response.Range != nil {
			for _, kv := range op.Response.Range.KVs {
				observe(fmt.Sprintf("read at line %d", op.Line), &kv)
				if kv.ModRevision > op.Response.Header.Revision {
					out = append(out, fmt.Sprintf("read at line %d has header revision %d but returns mod revision %d", op.Line, op.Response.Header.Revision, kv.ModRevision))
				}
			}
		}
	}
	forEachEvent(h, func(w *history.Watch, _ int, ev *history.Event) {
		if ev.Type == history.EventPut {
			observe("watch "+w.ID, &ev.KV)
		}
	})
	return out
}

// ruleRealTime: when X returned before Y was called, rev(X) <= rev(Y), strictly when Y is a
// put; serializable reads are not held to it as Y.
func ruleRealTime(h *history.History) []string {
	var out []string
	for _, y := range h.Operations {
		if y.Outcome() != history.OutcomeOK || (y.Request.Range != nil && y.Request.Range.Serializable) {
			continue
		}
		for _, x := range h.Operations {
			if x.Outcome() != history.OutcomeOK || *x.ReturnNs >= y.CallNs {
				continue
			}
			rx, ry := x.Response.Header.Revision, y.Response.Header.Revision
			if rx > ry || (rx == ry && y.Request.Put != nil) {
				out = append(out, fmt.Sprintf("line %d (revision %d) returned before line %d (revision %d) was called", x.Line, rx, y.Line, ry))
			}
		}
	}
	return out
}

// ruleLeaseTTL: a lease expires no earlier than TTL after the call of an acknowledged renewal.
func ruleLeaseTTL(h *history.History) []string {
	var out []string
	for _, le := range h.LeaseExpiries {
		for _, op := range h.Operations {
			if op.Outcome() != history.OutcomeOK {
				continue
			}
			var id, ttl int64
			switch {
			case op.Response.LeaseGrant != nil:
				id, ttl = op.Response.LeaseGrant.ID, op.Response.LeaseGrant.TTLSeconds
			case op.Response.LeaseKeepAlive != nil:
				id, ttl = op.Response.LeaseKeepAlive.ID, op.Response.LeaseKeepAlive.TTLSeconds
			}
			if id == le.LeaseID && ttl > 0 && le.TimeNs < op.CallNs+ttl*1_000_000_000-h.Header.ClockErrorNs {
				out = append(out, fmt.Sprintf("lease %d expired at %d, before line %d's call + %d s", id, le.TimeNs, op.Line, ttl))
			}
		}
	}
	return out
}

// ruleWatchStreams: within a stream, revisions rise from response to response (no event twice,
// each revision in one response), progress notifications are not ahead of a later event, and
// a stream that shows progress past an event's revision has delivered every revision that
// must be there: all of them for a watch of every key, and the revision of every
// acknowledged put in the watched range.
func ruleWatchStreams(h *history.History) []string {
	a := analyse(h)
	var out []string
	for _, w := range h.Watches {
		for si, s := range w.Streams {
			var last int64
			delivered := map[int64]bool{}
			deliveredPut := map[string]bool{} // values of delivered PUT events
			var progressed int64              // the highest revision the stream has shown progress to
			for ri, resp := range s.Responses {
				if resp.ProgressNotify {
					for _, later := range s.Responses[ri+1:] {
						for _, ev := range later.Events {
							if ev.KV.ModRevision <= resp.Revision {
								out = append(out, fmt.Sprintf("watch %s stream %d: progress notification at revision %d before the event of revision %d", w.ID, si, resp.Revision, ev.KV.ModRevision))
							}
						}
					}
					progressed = max(progressed, resp.Revision)
				}
				first := true
				for _, ev := range resp.Events {
					rev := ev.KV.ModRevision
					if rev < last || (rev == last && first && last != 0) {
						out = append(out, fmt.Sprintf("watch %s stream %d: revision %d after revision %d", w.ID, si, rev, last))
					}
					first = false
					delivered[rev] = true
					if ev.Type == history.EventPut {
						deliveredPut[string(ev.KV.Value)] = true
					}
					last = rev
					progressed = max(progressed, rev-1) // a later event shows progress past earlier revisions
				}
			}
			start := max(s.StartRevision, 2)
			if s.StartRevision == 0 && len(s.Responses) > 0 {
				start = s.Responses[0].Revision + 1
			}
			if watchesEverything(&w.Request) {
				for r := start; r <= progressed; r++ {
					if !delivered[r] {
						out = append(out, fmt.Sprintf("watch %s stream %d skipped revision %d", w.ID, si, r))
					}
				}
			}
			for v, rev := range a.ackRev {
				if rev < start || rev > progressed || deliveredPut[v] || !a.uniqueValue(history.Bytes(v)) {
					continue
				}
				if key, ok := putKeyOfValue(h, v); ok && InRange(key, w.Request.Key, w.Request.RangeEnd) && !filtersPuts(&w.Request) {
					out = append(out, fmt.Sprintf("watch %s stream %d never delivered the put of %q at revision %d", w.ID, si, v, rev))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func filtersPuts(req *history.WatchRequest) bool {
	for _, f := range req.Filters {
		if f == history.FilterNoPut {
			return true
		}
	}
	return false
}

func putKeyOfValue(h *history.History, v string) (history.Bytes, bool) {
	for i := range h.Operations {
		var key history.Bytes
		walkRequests(&h.Operations[i].Request, func(r *history.Request) {
			if r.Put != nil && string(r.Put.Value) == v {
				key = r.Put.Key
			}
		})
		if key != nil {
			return key, true
		}
	}
	return nil, false
}
