package linearizability

import (
	"math/rand"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability/gen"
)

// TestPorcupineBoundsNarrowSoundly: on generated histories full of unknown outcomes, the
// revision-guided checker's narrowing (porcupineBounds) leaves out unknown writes and closes
// intervals (it must do something: both counts are positive over the sample), the narrowed
// whole-history search still accepts every correct history, and on mutated histories it
// rejects whatever the open search rejects (narrowing never turns illegal into ok).
func TestPorcupineBoundsNarrowSoundly(t *testing.T) {
	seed := int64(envInt("BALLAST_SEED", 1))
	runs := envInt("BALLAST_GEN_RUNS", 300)
	t.Logf("seed %d, %d histories (BALLAST_SEED, BALLAST_GEN_RUNS)", seed, runs)
	dropped, closed, accepted := 0, 0, 0
	for i := range runs {
		s := seed*7919 + int64(i)
		cfg := gen.DefaultConfig()
		cfg.Clients = 2 + i%6
		cfg.Operations = 30 + i%60
		cfg.Keys = 1 + i%5
		cfg.UnknownRate, cfg.IndeterminateRate = 0.1, 0.05
		h := gen.Generate(s, cfg)
		// a search that times out is no verdict on the narrowing; one that ends must accept
		res := Check(h, Options{PorcupineTimeout: 5 * time.Second})
		require.NotEqual(t, VerdictViolation, res.Verdict, "seed %d: %s", s, res.FirstViolation)
		require.NotEqual(t, VerdictViolation, res.Check(CheckPorcupine).Verdict, "seed %d: the narrowed search rejects a correct history", s)
		if res.Check(CheckPorcupine).Verdict == VerdictOK {
			accepted++
		}
		require.NotNil(t, res.porcupineReturn)
		for _, o := range res.ops {
			switch ret := res.porcupineReturn[o.id]; {
			case o.known():
				require.Equal(t, int64(infinity), ret, "seed %d: a known outcome was narrowed", s)
			case ret == dropNs:
				dropped++
			case ret != infinity:
				require.GreaterOrEqual(t, ret, o.callNs, "seed %d: a return before the call", s)
				closed++
			}
		}

		bad, desc, ok := gen.Mutate(h, gen.MutationKinds[i%len(gen.MutationKinds)], rand.New(rand.NewSource(s)))
		if !ok {
			continue
		}
		ops := buildOps(bad)
		rev := checkRevisionsGuessing(ops, bad.Watches, revOptions{porcupineTimeout: 5 * time.Second}, func(*revResult) bool { return false })
		open := runPorcupine(ops, nil, 5*time.Second)
		narrowed := runPorcupine(ops, rev.porcupineReturn, 5*time.Second)
		if open.result == porcupine.Illegal {
			require.Equal(t, porcupine.Illegal, narrowed.result, "seed %d (%s): the narrowed search accepts a history the open one rejects", s, desc)
		}
	}
	t.Logf("unknown writes left out: %d, intervals closed: %d, narrowed searches that accepted: %d of %d", dropped, closed, accepted, runs)
	require.Positive(t, dropped, "no unknown write was left out over the whole sample")
	require.Positive(t, closed, "no unknown write's interval was closed over the whole sample")
}

// TestRevokeOrUnknownDelete: a revoke deleting its lease's one key and a pending unknown
// delete of that key could each have made revision 3, with the same store after it. The
// revision-guided checker takes the known revoke and replays the whole history without
// handing a stretch to Porcupine (a gap there sent the simulator's everything seed 4 into a
// 60 s Porcupine timeout on 247 operations).
func TestRevokeOrUnknownDelete(t *testing.T) {
	h := readHistory(t, "testdata/good-revoke-or-unknown-delete.jsonl")
	ops := buildOps(h)
	rev := checkRevisions(ops, h.Watches, revOptions{porcupineTimeout: 10 * time.Second, windowRevs: defaultWindowRevs})
	require.Empty(t, rev.violations)
	require.Zero(t, rev.gapRev, "revision %d was handed to Porcupine", rev.gapRev)
	require.Zero(t, rev.windows, "a window was handed to Porcupine")
	require.Equal(t, int64(4), rev.replayedThrough)
	require.False(t, rev.guessed)
}
