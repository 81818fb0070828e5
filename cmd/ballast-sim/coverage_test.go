package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/scenarios"
	"github.com/ballastdb/ballast/sim"
)

// TestCoverageShare checks the sweep's judgement of a purpose random by design: reached in 1
// of 2 seeds passes a declared share of 50% and fails one of 60%, with one line naming it.
func TestCoverageShare(t *testing.T) {
	defer func(f func(string) (scenarios.Scenario, bool)) { scenarioByName = f }(scenarioByName)
	minShare := 0.5
	scenarioByName = func(name string) (scenarios.Scenario, bool) {
		return scenarios.Scenario{Name: name, Purposes: []scenarios.Purpose{{Event: scenarios.SnapshotInstalled, MinShare: minShare}}}, true
	}
	cov := func(installed bool) *sim.Coverage {
		return &sim.Coverage{Purposes: map[scenarios.PurposeEvent]bool{scenarios.SnapshotInstalled: installed},
			Events: map[string]int{"snapshot-installed": map[bool]int{true: 2}[installed]}}
	}
	results := []runResult{
		{Scenario: "x", Seed: 1, Passed: true, Coverage: cov(true)},
		{Scenario: "x", Seed: 2, Passed: true, Coverage: cov(false)},
	}
	var out bytes.Buffer
	require.Equal(t, 0, printCoverage(&out, summarize(results)))
	require.Contains(t, out.String(), "50%*")

	minShare = 0.6
	out.Reset()
	require.Equal(t, 1, printCoverage(&out, summarize(results)))
	require.Contains(t, out.String(), "FAIL x: purpose snapshot-installed reached in 50% of 2 seeds, below its 60%")
}
