package sim

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/scenarios"
)

// TestDigestIgnoresCheckerBudgets runs scenarios with the linearizability checker's
// wall-clock budgets ten times smaller and ten times larger than the defaults, and with a
// budget of a nanosecond (every Porcupine search the checker starts runs out at once), and
// requires the digest of the default run every time: only the verdict may depend on how
// fast the machine is. disk-faults is among them (issue 16 points 4 and 5).
func TestDigestIgnoresCheckerBudgets(t *testing.T) {
	for _, name := range []string{"steady", "disk-faults"} {
		sc, ok := scenarios.ByName(name)
		require.True(t, ok, "catalogue has no %q", name)
		seed := int64(3)
		base := Run(sc, seed, Options{})
		require.True(t, base.Passed, "%s seed %d: %s", name, seed, base.Failure)
		require.Equal(t, linearizability.VerdictOK, base.Check.Check(linearizability.CheckPorcupine).Verdict, "%s seed %d: the default budgets' Porcupine search", name, seed)
		for _, scale := range []float64{0.1, 10, 1e-9} {
			res := Run(sc, seed, Options{CheckBudgetScale: scale})
			pc := res.Check.Check(linearizability.CheckPorcupine)
			t.Logf("%s seed %d budgets x%g: verdict %s (porcupine %s), digest %.12s", name, seed, scale, res.Check.Verdict, pc.Verdict, res.Digest)
			if scale < 1e-6 {
				// the budget reached the checker: its whole-history search ran out at once
				require.Equal(t, linearizability.VerdictUnknown, pc.Verdict, "%s seed %d: a 1 ns budget did not stop the Porcupine search", name, seed)
			}
			require.Equal(t, base.Digest, res.Digest, "%s seed %d: budgets x%g changed the digest (verdict %s)", name, seed, scale, res.Check.Verdict)
		}
	}
}
