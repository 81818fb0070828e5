package gen

import (
	"sort"
	"testing"

	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/stretchr/testify/require"
)

// TestGeneratedHistoryProperties checks, on generated histories, the guarantees a correct
// etcd gives and the checkers rely on, computed from the history alone: unique values,
// revisions that respect real time, lease expiries no earlier than the TTL, and watch streams
// that are ordered, atomic, gap-free, resumed correctly, with honest progress notifications.
// It also checks the generator produces every situation it promises.
func TestGeneratedHistoryProperties(t *testing.T) {
	seed := testSeed(t)
	seen := map[string]int{}
	for i := 0; i < 80; i++ {
		s := seed*7919 + int64(i)
		cfg := variedConfig(i)
		cfg.Watchers = 1 + i%4
		h := Generate(s, cfg)
		checkUniqueValues(t, s, h)
		checkRealTime(t, s, h)
		checkLeaseExpiries(t, s, h)
		checkWatches(t, s, h, seen)
		countSituations(h, seen)
		for _, rule := range []func(*history.History) []string{ruleValuesWritten, ruleAckedRevisions, ruleRealTime, ruleLeaseTTL, ruleWatchStreams} {
			require.Empty(t, rule(h), "seed %d", s)
		}
	}
	t.Logf("situations: %v", seen)
	for _, what := range []string{"unknown", "indeterminate", "definite", "crashed", "expiry", "resume", "progress", "catch-up", "txn-failed", "txn-succeeded", "serializable-stale"} {
		require.Positive(t, seen[what], "no generated history has a %s", what)
	}
}

func checkUniqueValues(t *testing.T, seed int64, h *history.History) {
	values := map[string]int{}
	for i := range h.Operations {
		walkRequests(&h.Operations[i].Request, func(r *history.Request) {
			if r.Put != nil {
				values[string(r.Put.Value)]++
			}
		})
	}
	for v, n := range values {
		require.Equal(t, 1, n, "seed %d: value %q written by %d requests", seed, v, n)
	}
}

// checkRealTime: when X returned before Y was called, rev(X) <= rev(Y), and < when Y is a put
// (it creates a revision). Serializable reads may be stale, so they are not checked as Y.
func checkRealTime(t *testing.T, seed int64, h *history.History) {
	var acked []*history.Operation
	for i := range h.Operations {
		if op := &h.Operations[i]; op.Outcome() == history.OutcomeOK {
			acked = append(acked, op)
		}
	}
	byReturn := append([]*history.Operation(nil), acked...)
	sort.Slice(byReturn, func(i, j int) bool { return *byReturn[i].ReturnNs < *byReturn[j].ReturnNs })
	prefixMax := make([]int64, len(byReturn))
	for i, op := range byReturn {
		prefixMax[i] = op.Response.Header.Revision
		if i > 0 {
			prefixMax[i] = max(prefixMax[i], prefixMax[i-1])
		}
	}
	for _, y := range acked {
		if y.Request.Range != nil && y.Request.Range.Serializable {
			continue
		}
		n := sort.Search(len(byReturn), func(i int) bool { return *byReturn[i].ReturnNs >= y.CallNs })
		if n == 0 {
			continue
		}
		floor := prefixMax[n-1]
		if y.Request.Put != nil {
			require.Greater(t, y.Response.Header.Revision, floor, "seed %d: put at line %d", seed, y.Line)
		} else {
			require.GreaterOrEqual(t, y.Response.Header.Revision, floor, "seed %d: %s at line %d", seed, y.Request.Kind(), y.Line)
		}
	}
	puts := map[int64]bool{}
	for _, op := range acked {
		if op.Request.Put != nil {
			require.False(t, puts[op.Response.Header.Revision], "seed %d: two puts created revision %d", seed, op.Response.Header.Revision)
			puts[op.Response.Header.Revision] = true
		}
	}
}

func checkLeaseExpiries(t *testing.T, seed int64, h *history.History) {
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
			if id == le.LeaseID && ttl > 0 {
				require.GreaterOrEqual(t, le.TimeNs, op.CallNs+ttl*1_000_000_000, "seed %d: lease %d expired early", seed, id)
			}
			if *op.ReturnNs < le.TimeNs {
				require.LessOrEqual(t, op.Response.Header.Revision, le.Revision, "seed %d: line %d returned before the expiry of lease %d", seed, op.Line, le.LeaseID)
			}
		}
	}
}

func checkWatches(t *testing.T, seed int64, h *history.History, seen map[string]int) {
	for _, w := range h.Watches {
		everything := watchesEverything(&w.Request)
		nextStart := w.Streams[0].StartRevision
		for si, s := range w.Streams {
			if si > 0 {
				require.Equal(t, nextStart, s.StartRevision, "seed %d: watch %s resumed from the wrong revision", seed, w.ID)
				seen["resume"]++
			}
			var header, lastEvent int64
			start := s.StartRevision
			delivered := map[int64]bool{}
			for ri, resp := range s.Responses {
				require.GreaterOrEqual(t, resp.Revision, header, "seed %d: watch %s header went back", seed, w.ID)
				header = resp.Revision
				if resp.Created {
					if start == 0 {
						start = resp.Revision + 1
						nextStart = start
					}
					continue
				}
				if resp.ProgressNotify {
					seen["progress"]++
					for _, later := range s.Responses[ri+1:] {
						for _, ev := range later.Events {
							require.Greater(t, ev.KV.ModRevision, resp.Revision, "seed %d: watch %s progress notification ahead of an event", seed, w.ID)
						}
					}
					continue
				}
				if len(resp.Events) > 1 && resp.Events[0].KV.ModRevision < resp.Revision && ri == 1 {
					seen["catch-up"]++
				}
				for _, ev := range resp.Events {
					rev := ev.KV.ModRevision
					require.GreaterOrEqual(t, rev, start, "seed %d: watch %s event before its start", seed, w.ID)
					require.GreaterOrEqual(t, rev, lastEvent, "seed %d: watch %s events out of order", seed, w.ID)
					require.False(t, rev != lastEvent && delivered[rev], "seed %d: watch %s revision %d delivered twice", seed, w.ID, rev)
					require.LessOrEqual(t, rev, resp.Revision, "seed %d: watch %s event after its header", seed, w.ID)
					delivered[rev] = true
					lastEvent = rev
					nextStart = rev + 1
				}
				// no revision of this response appears in another response of the stream
				for _, other := range s.Responses[ri+1:] {
					for _, ev := range other.Events {
						require.Greater(t, ev.KV.ModRevision, lastEvent, "seed %d: watch %s revision split across responses", seed, w.ID)
					}
				}
			}
			if everything && lastEvent > 0 {
				for r := max(start, 2); r <= lastEvent; r++ { // revision 1 is the empty store
					require.True(t, delivered[r], "seed %d: watch %s (all keys) skipped revision %d", seed, w.ID, r)
				}
			}
		}
	}
}

func countSituations(h *history.History, seen map[string]int) {
	lastOp := map[string]*history.Operation{}
	for i := range h.Operations {
		op := &h.Operations[i]
		lastOp[op.Client] = op
		switch {
		case op.ReturnNs == nil:
			seen["unknown"]++
		case op.Error != nil && op.Error.Class == history.ErrorIndeterminate:
			seen["indeterminate"]++
		case op.Error != nil:
			seen["definite"]++
		case op.Response.Txn != nil && op.Response.Txn.Succeeded:
			seen["txn-succeeded"]++
		case op.Response.Txn != nil:
			seen["txn-failed"]++
		case op.Request.Range != nil && op.Request.Range.Serializable:
			seen["serializable"]++
		}
	}
	var lastCall int64
	for _, op := range h.Operations {
		lastCall = max(lastCall, op.CallNs)
	}
	for _, op := range lastOp {
		// a crashed client's last operation has no return, and other clients go on well after
		if op.ReturnNs == nil && lastCall > op.CallNs+200_000_000 {
			seen["crashed"]++
		}
	}
	seen["expiry"] += len(h.LeaseExpiries)
	for i := range h.Operations {
		op := &h.Operations[i]
		if op.Outcome() != history.OutcomeOK || op.Request.Range == nil || !op.Request.Range.Serializable {
			continue
		}
		for j := range h.Operations {
			p := &h.Operations[j]
			if p.Outcome() == history.OutcomeOK && p.Request.Put != nil && *p.ReturnNs < op.CallNs && p.Response.Header.Revision > op.Response.Header.Revision {
				seen["serializable-stale"]++
				return
			}
		}
	}
}
