package linearizability

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability/gen"
)

// TestGeneratedMutationsFail mutates generated histories with every kind of package gen's
// mutations (each makes one response illegal by construction), prints the share caught per
// kind and fails below 99%; Porcupine and the revision-guided checker must agree on every
// mutated history too. BALLAST_GEN_MUTATION_RUNS sets the histories per kind.
func TestGeneratedMutationsFail(t *testing.T) {
	seed := int64(envInt("BALLAST_SEED", 1))
	runs := envInt("BALLAST_GEN_MUTATION_RUNS", 100)
	t.Logf("seed %d, %d histories per mutation kind (BALLAST_SEED, BALLAST_GEN_MUTATION_RUNS)", seed, runs)
	for ki, kind := range gen.MutationKinds {
		caught, tried := 0, 0
		for i := 0; i < runs; i++ {
			s := seed*1000003 + int64(ki*100000+i)
			cfg := gen.DefaultConfig()
			cfg.Clients = 2 + i%6
			cfg.Operations = 40 + i%80
			cfg.Keys = 1 + i%5
			h, desc, ok := gen.Mutate(gen.Generate(s, cfg), kind, rand.New(rand.NewSource(s)))
			if !ok {
				continue
			}
			tried++
			res := Check(h, Options{})
			if res.Verdict == VerdictViolation {
				caught++
			} else {
				t.Logf("%s, seed %d: not caught (%s): %s", kind, s, desc, res.Verdict)
			}
			cmp := compareCheckers(h)
			require.True(t, cmp.agree(), "%s, seed %d (%s): porcupine %s, revision %s %v", kind, s, desc, cmp.porcupine, cmp.revision, cmp.revMsgs)
		}
		require.Positive(t, tried, "%s: no history could be mutated", kind)
		rate := float64(caught) / float64(tried)
		t.Logf("mutation %-28s caught %4d of %4d (%.1f%%)", kind, caught, tried, 100*rate)
		require.GreaterOrEqual(t, rate, 0.99, "%s: caught %d of %d", kind, caught, tried)
	}
}
