package main

import (
	"io"

	"github.com/ballastdb/ballast/scenarios"
	"github.com/ballastdb/ballast/sim"
)

// simulate runs one scenario and seed (without the faults at skip) in the simulator; tests
// wrap it to inject failures.
var simulate = func(sc scenarios.Scenario, seed int64, skip []int, trace io.Writer) runResult {
	r := sim.Run(sc, seed, sim.Options{Trace: trace, Skip: skip})
	return runResult{
		Scenario:       r.Scenario,
		Seed:           r.Seed,
		Skip:           skip,
		Passed:         r.Passed,
		Failure:        r.Failure,
		Ops:            r.Ops,
		SimDuration:    r.SimDuration,
		FaultsInjected: r.FaultsInjected,
		Digest:         r.Digest,
		History:        r.History,
		Check:          r.Check,
		Coverage:       &r.Coverage,
	}
}
