package sim

import (
	"os"
	"strings"
	"testing"

	"github.com/ballastdb/ballast/scenarios"
	"github.com/stretchr/testify/require"
)

// TestAppliersMatchDescriptors: every fault kind scenarios describes has an apply in the
// simulator, and the simulator applies no kind scenarios does not describe.
func TestAppliersMatchDescriptors(t *testing.T) {
	var implemented []scenarios.FaultKind
	for k := range appliers {
		implemented = append(implemented, k)
	}
	require.ElementsMatch(t, scenarios.AllFaultKinds(), implemented)
}

// TestDocListsEveryFaultKind: the Faults section of the package doc names every kind.
func TestDocListsEveryFaultKind(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	doc := string(b)
	start := strings.Index(doc, "// # Faults")
	require.GreaterOrEqual(t, start, 0, "doc.go has no Faults section")
	section := doc[start:]
	if end := strings.Index(section[1:], "// # "); end >= 0 {
		section = section[:end+1]
	}
	for _, k := range scenarios.AllFaultKinds() {
		require.Contains(t, section, string(k), "sim/doc.go's Faults section does not name %q", k)
	}
}
