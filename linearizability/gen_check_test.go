package linearizability

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability/gen"
)

// TestGeneratedHistoriesPass: histories package gen makes from a correct sequential execution
// (random overlaps, unknown outcomes, errors, client crashes, watchers with resumes, lease
// expiries, stale serializable reads) pass every check, and Porcupine and the
// revision-guided checker agree on each. BALLAST_GEN_RUNS sets the number of histories.
func TestGeneratedHistoriesPass(t *testing.T) {
	seed := int64(envInt("BALLAST_SEED", 1))
	runs := envInt("BALLAST_GEN_RUNS", 2000)
	t.Logf("seed %d, %d histories (BALLAST_SEED, BALLAST_GEN_RUNS)", seed, runs)
	for i := 0; i < runs; i++ {
		s := seed*1000003 + int64(i)
		cfg := gen.DefaultConfig()
		cfg.Clients = 1 + i%8
		cfg.Operations = 20 + i%60
		cfg.Keys = 1 + i%6
		h := gen.Generate(s, cfg)
		res := Check(h, Options{})
		require.Equal(t, VerdictOK, res.Verdict, "seed %d (clients %d, ops %d, keys %d): %s", s, cfg.Clients, cfg.Operations, cfg.Keys, res.FirstViolation)
		cmp := compareCheckers(h)
		require.True(t, cmp.agree(), "seed %d: porcupine %s, revision %s %v", s, cmp.porcupine, cmp.revision, cmp.revMsgs)
	}
}
