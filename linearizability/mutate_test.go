package linearizability

import (
	"math/rand"
	"sort"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability/history"
)

// localMutations change one response of a workload history. Each returns false when the
// history has nothing to mutate.
var localMutations = map[string]func(h *history.History, rng *rand.Rand) bool{
	"read-value-never-written": func(h *history.History, rng *rand.Rand) bool {
		return pickRead(h, rng, func(r *history.RangeResponse) { r.KVs[0].Value = history.Bytes("never-written") })
	},
	"read-mod-revision-off-by-one": func(h *history.History, rng *rand.Rand) bool {
		return pickRead(h, rng, func(r *history.RangeResponse) { r.KVs[0].ModRevision-- })
	},
	"read-version-off-by-one": func(h *history.History, rng *rand.Rand) bool {
		return pickRead(h, rng, func(r *history.RangeResponse) { r.KVs[0].Version++ })
	},
	"write-revision-off-by-one": func(h *history.History, rng *rand.Rand) bool {
		var puts []*history.Operation
		for i := range h.Operations {
			if o := &h.Operations[i]; o.Outcome() == history.OutcomeOK && o.Request.Put != nil {
				puts = append(puts, o)
			}
		}
		if len(puts) == 0 {
			return false
		}
		puts[rng.Intn(len(puts))].Response.Header.Revision--
		return true
	},
	"txn-succeeded-flipped": func(h *history.History, rng *rand.Rand) bool {
		var txns []*history.Operation
		for i := range h.Operations {
			if o := &h.Operations[i]; o.Outcome() == history.OutcomeOK && o.Request.Txn != nil {
				txns = append(txns, o)
			}
		}
		if len(txns) == 0 {
			return false
		}
		t := txns[rng.Intn(len(txns))].Response.Txn
		t.Succeeded = !t.Succeeded
		return true
	},
	"watch-event-dropped": func(h *history.History, rng *rand.Rand) bool {
		return pickWatchResponse(h, rng, func(s *history.WatchStream, i int) {
			// Keep a later response so the stream saw past the dropped revision.
			s.Responses = append(s.Responses[:i], s.Responses[i+1:]...)
		})
	},
	"watch-event-duplicated": func(h *history.History, rng *rand.Rand) bool {
		return pickWatchResponse(h, rng, func(s *history.WatchStream, i int) {
			dup := s.Responses[i]
			dup.TimeNs = s.Responses[i+1].TimeNs
			s.Responses = append(s.Responses[:i+1], append([]history.WatchResponse{dup}, s.Responses[i+1:]...)...)
		})
	},
}

// pickRead mutates a random successful single-key read that returned a key.
func pickRead(h *history.History, rng *rand.Rand, mutate func(*history.RangeResponse)) bool {
	var reads []*history.Operation
	for i := range h.Operations {
		o := &h.Operations[i]
		if o.Outcome() == history.OutcomeOK && o.Request.Range != nil && !o.Request.Range.CountOnly && o.Response.Range != nil && len(o.Response.Range.KVs) > 0 {
			reads = append(reads, o)
		}
	}
	if len(reads) == 0 {
		return false
	}
	mutate(reads[rng.Intn(len(reads))].Response.Range)
	return true
}

// pickWatchResponse mutates a random watch response that is not its stream's last.
func pickWatchResponse(h *history.History, rng *rand.Rand, mutate func(*history.WatchStream, int)) bool {
	type at struct {
		s *history.WatchStream
		i int
	}
	var cands []at
	for wi := range h.Watches {
		for si := range h.Watches[wi].Streams {
			s := &h.Watches[wi].Streams[si]
			for i := 0; i+1 < len(s.Responses); i++ {
				if len(s.Responses[i].Events) > 0 {
					cands = append(cands, at{s, i})
				}
			}
		}
	}
	if len(cands) == 0 {
		return false
	}
	c := cands[rng.Intn(len(cands))]
	mutate(c.s, c.i)
	return true
}

// TestWorkloadMutationsFailAndCheckersAgree mutates one response per history; it prints the
// share caught per mutation, requires every mutated history to be caught, and requires
// Porcupine and the revision-guided checker to agree on each (where Porcupine finishes).
func TestWorkloadMutationsFailAndCheckersAgree(t *testing.T) {
	seed := int64(envInt("BALLAST_SEED", 1))
	runs := envInt("BALLAST_MUTATION_RUNS", 60)
	t.Logf("seed %d, %d runs per mutation (BALLAST_SEED, BALLAST_MUTATION_RUNS)", seed, runs)
	names := make([]string, 0, len(localMutations))
	for n := range localMutations {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		caught, tried := 0, 0
		for i := 0; i < runs; i++ {
			s := seed*7919 + int64(i)
			h := generate(s, 2+i%6, 2+i%4, 60+i%80)
			if !localMutations[name](h, rand.New(rand.NewSource(s))) {
				continue
			}
			tried++
			res := Check(h, Options{})
			if res.Verdict == VerdictViolation {
				caught++
			} else {
				t.Errorf("%s, seed %d: not caught: %+v", name, s, res.Checks)
			}
			cmp := compareCheckers(h)
			require.True(t, cmp.agree(), "%s, seed %d: porcupine %s, revision %s %v", name, s, cmp.porcupine, cmp.revision, cmp.revMsgs)
			require.NotEqual(t, porcupine.Unknown, cmp.porcupine, "%s, seed %d: porcupine timed out", name, s)
		}
		require.Positive(t, tried, name)
		t.Logf("mutation %-30s caught %d of %d (%.1f%%)", name, caught, tried, 100*float64(caught)/float64(tried))
	}
}
