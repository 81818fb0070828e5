package linearizability

import (
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// envInt reads a test size from the environment, for longer runs than CI's.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestWorkloadHistoriesPass: histories from a correct sequential execution, with random
// overlaps, unknown outcomes and a resuming watcher, pass every check, and Porcupine and the
// revision-guided checker agree on them. BALLAST_WORKLOAD_RUNS sets the number of runs.
func TestWorkloadHistoriesPass(t *testing.T) {
	seed := int64(envInt("BALLAST_SEED", 1))
	runs := envInt("BALLAST_WORKLOAD_RUNS", 200)
	t.Logf("seed %d, %d runs (BALLAST_SEED, BALLAST_WORKLOAD_RUNS)", seed, runs)
	for i := 0; i < runs; i++ {
		s := seed*1000003 + int64(i)
		h := generate(s, 1+i%8, 1+i%5, 50+i%150)
		res := Check(h, Options{})
		require.Equal(t, VerdictOK, res.Verdict, "seed %d: %s; %+v", s, res.FirstViolation, res.Checks)
		cmp := compareCheckers(h)
		require.True(t, cmp.agree(), "seed %d: porcupine %s, revision %s %v", s, cmp.porcupine, cmp.revision, cmp.revMsgs)
	}
}
