package scenarios

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/canary"
)

func TestCanaryScenarios(t *testing.T) {
	list := Canaries()
	require.NotEmpty(t, list)
	names := canary.Names()
	seen := map[string]bool{}
	for i, cs := range list {
		t.Run(cs.Canary, func(t *testing.T) {
			require.Equal(t, names[i], cs.Canary, "in canary.Names order")
			require.True(t, canary.Known(cs.Canary))
			require.NoError(t, cs.Scenario.Validate())
			require.NotEmpty(t, cs.Scenario.Description)
			require.NotEmpty(t, cs.Why)
			require.False(t, seen[cs.Scenario.Name], "scenario %q twice", cs.Scenario.Name)
			seen[cs.Scenario.Name] = true
			_, inCatalogue := ByName(cs.Scenario.Name)
			require.False(t, inCatalogue, "canary scenarios stay out of the catalogue")
			require.Positive(t, cs.Scenario.Liveness.MinAckShare)
			got, ok := CanaryByName(cs.Canary)
			require.True(t, ok)
			require.Equal(t, cs, got)
		})
	}
	_, ok := CanaryByName("no-such-canary")
	require.False(t, ok)
	a := Canaries()
	a[0].Scenario.Faults[0].At++
	require.Equal(t, list, Canaries(), "each call returns fresh values")
}
