package sim

import "github.com/ballastdb/ballast/scenarios"

// lookupScenario finds a catalogue scenario by name.
func lookupScenario(name string) (scenarios.Scenario, bool) {
	return scenarios.ByName(name)
}
