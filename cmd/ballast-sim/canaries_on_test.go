//go:build canary

package main

import (
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/scenarios"
)

func TestRunCanaryFlag(t *testing.T) {
	t.Cleanup(func() { require.NoError(t, canary.Set("")) })
	for _, tc := range []struct {
		name     string
		args     []string
		scenario string
		err      string
	}{
		{"default scenario is the canary's", []string{"-canary", "watch-skip", "-seed", "1"}, "canary-watch-resume", ""},
		{"an explicit scenario wins", []string{"-canary", "no-log-check", "-scenario", "steady", "-seed", "1"}, "steady", ""},
		{"unknown canary", []string{"-canary", "watch-skipp"}, "", "no such canary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, canary.Set(""))
			cfg, err := parseRun(tc.args, io.Discard)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.Equal(t, "", canary.Active())
				return
			}
			require.NoError(t, err)
			require.Len(t, cfg.scenarios, 1)
			require.Equal(t, tc.scenario, cfg.scenarios[0].Name)
			require.Equal(t, tc.args[1], canary.Active())
			require.Equal(t, "go run -tags canary ./cmd/ballast-sim run -canary "+tc.args[1]+" -scenario x -seed 3", replayCommand("x", 3, nil))
		})
	}
}

// TestSearchCanaryFindsTheLowestFailingSeed: whatever the parallelism, the answer is the
// lowest failing seed, the canary is on during the search and off for the baseline and after.
func TestSearchCanaryFindsTheLowestFailingSeed(t *testing.T) {
	oldRun, oldBase := canaryRun, baselineRun
	t.Cleanup(func() { canaryRun, baselineRun = oldRun, oldBase; require.NoError(t, canary.Set("")) })
	cs, ok := scenarios.CanaryByName(canary.WatchSkip)
	require.True(t, ok)
	for _, tc := range []struct {
		fails    map[int64]bool
		parallel int
		want     int64
	}{
		{map[int64]bool{7: true, 3: true, 9: true}, 1, 3},
		{map[int64]bool{7: true, 3: true, 9: true}, 4, 3},
		{map[int64]bool{2: true}, 16, 2},
		{map[int64]bool{}, 3, 0},
		{map[int64]bool{25: true}, 2, 0}, // beyond the search
		{map[int64]bool{1: true}, 4, 1},
	} {
		var mu sync.Mutex
		canaryRun = func(sc scenarios.Scenario, seed int64, _ func() bool) (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, canary.WatchSkip, canary.Active())
			require.Equal(t, cs.Scenario.Name, sc.Name)
			if tc.fails[seed] {
				return false, "failed"
			}
			if seed == 4 {
				return false, "checker verdict unknown: the search did not finish"
			}
			return true, ""
		}
		baselineRun = func(scenarios.Scenario, int64) (bool, string) {
			require.Equal(t, "", canary.Active(), "the baseline runs with no canary")
			return true, ""
		}
		o := searchCanary(cs, 20, tc.parallel)
		require.Equal(t, tc.want, o.Seed, "fails %v parallel %d", tc.fails, tc.parallel)
		require.Equal(t, tc.want != 0, o.Caught())
		require.Equal(t, "", canary.Active())
		if tc.want == 0 {
			require.Equal(t, 20, o.Runs)
			require.Equal(t, []int64{4}, o.Inconclusive, "seed 4's unknown verdict is neither a pass nor a catch")
		} else {
			require.GreaterOrEqual(t, o.Runs, int(tc.want))
		}
	}
}

func TestCanariesCommandTable(t *testing.T) {
	oldRun, oldBase := canaryRun, baselineRun
	t.Cleanup(func() { canaryRun, baselineRun = oldRun, oldBase; require.NoError(t, canary.Set("")) })
	canaryRun = func(sc scenarios.Scenario, seed int64, _ func() bool) (bool, string) {
		return !(canary.Active() == canary.NoLogCheck && seed == 2), "raft panicked"
	}
	baselineRun = func(scenarios.Scenario, int64) (bool, string) { return true, "" }
	var stdout, stderr strings.Builder
	require.Equal(t, exitOK, run([]string{"canaries", "-canary", "no-log-check", "-seeds", "5"}, &stdout, &stderr))
	require.True(t, strings.HasSuffix(stdout.String(), "canaries: 1 caught, 0 missed\n"), stdout.String())
	stdout.Reset()
	require.Equal(t, exitFailed, run([]string{"canaries", "-canary", "watch-skip", "-seeds", "5"}, &stdout, &stderr))
	require.True(t, strings.HasSuffix(stdout.String(), "canaries: 0 caught, 1 missed\n"), stdout.String())
	require.Equal(t, exitBadUsage, run([]string{"canaries", "-canary", "nope"}, &stdout, &stderr))
}
