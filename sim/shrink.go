package sim

import (
	"fmt"
	"slices"

	"github.com/ballastdb/ballast/scenarios"
)

// Schedule returns the full fault list a run of sc with seed injects when nothing is
// skipped: the scenario's Faults, then the faults drawn from the faults stream. Run draws
// them first thing from a fresh world, so this is the same list as Result.Schedule without
// running anything.
func Schedule(sc scenarios.Scenario, seed int64) []scenarios.Fault {
	s := &sim{w: newWorld(seed, nil)}
	faults := append([]scenarios.Fault(nil), sc.Faults...)
	return append(faults, drawRandomFaults(s, sc)...)
}

// skipFaults returns fs without the entries at the indices in skip. The list is always drawn
// in full before this, so dropping a fault never changes the others.
func skipFaults(fs []scenarios.Fault, skip []int) ([]scenarios.Fault, error) {
	if len(skip) == 0 {
		return fs, nil
	}
	for _, i := range skip {
		if i < 0 || i >= len(fs) {
			return nil, fmt.Errorf("skip index %d is out of range: the run has %d faults (0..%d)", i, len(fs), len(fs)-1)
		}
	}
	var out []scenarios.Fault
	for i, f := range fs {
		if !slices.Contains(skip, i) {
			out = append(out, f)
		}
	}
	return out, nil
}
