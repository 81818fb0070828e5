package sim

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/scenarios"
)

// TestKnobsReplay: a seed draws the same knobs every time, they are in the trace and the
// Result, and a rerun gives the same digest; across seeds each knob is sometimes drawn and
// sometimes kept at its default.
func TestKnobsReplay(t *testing.T) {
	sc := smallScenario()
	var a, b strings.Builder
	r1 := Run(sc, 3, Options{Trace: &a})
	r2 := Run(sc, 3, Options{Trace: &b})
	require.Equal(t, r1.Knobs, r2.Knobs)
	require.Equal(t, r1.Digest, r2.Digest)
	require.Contains(t, a.String(), "knobs "+r1.Knobs.String())
	drawn := map[string]int{}
	for seed := int64(1); seed <= 40; seed++ {
		k := drawKnobs(sc, seed)
		require.Equal(t, k, drawKnobs(sc, seed), "seed %d", seed)
		for _, name := range k.Drawn {
			drawn[name]++
		}
	}
	for _, name := range []string{"SnapshotEntries", "MaxAppendBytes", "ElectionTimeoutTicks", "MemTableBytes", "LogCacheEntries", "Snappy"} {
		require.Greater(t, drawn[name], 0, "%s never drawn in 40 seeds", name)
		require.Less(t, drawn[name], 40, "%s drawn in every seed", name)
	}
}

// TestKnobsScenarioWins: a knob the scenario sets is never drawn over, and setting it leaves
// the other knobs' draws unchanged.
func TestKnobsScenarioWins(t *testing.T) {
	sc := smallScenario()
	set := sc
	set.SnapshotEntries, set.SnapshotCatchUpEntries, set.ElectionTimeoutTicks = 1000, 10, 20
	for seed := int64(1); seed <= 20; seed++ {
		k, ks := drawKnobs(sc, seed), drawKnobs(set, seed)
		require.Equal(t, 1000, ks.SnapshotEntries)
		require.Equal(t, 10, ks.SnapshotCatchUpEntries)
		require.Equal(t, 20, ks.ElectionTimeoutTicks)
		require.Equal(t, k.MaxAppendBytes, ks.MaxAppendBytes, "seed %d", seed)
		require.NotContains(t, ks.Drawn, "SnapshotEntries")
	}
}

// TestSnapshotCatchUpInstallsSnapshot: the catalogue's snapshot-catch-up compacts the log, so
// the returning member is sent a snapshot and installs it (the trace says both).
func TestSnapshotCatchUpInstallsSnapshot(t *testing.T) {
	sc, ok := scenarios.ByName("snapshot-catch-up")
	require.True(t, ok)
	for _, seed := range seedsFromEnv(t, []int64{1}) {
		var trace strings.Builder
		res := Run(sc, seed, Options{Trace: &trace})
		require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
		require.Regexp(t, regexp.MustCompile(`log member \d: sending a snapshot at index \d+`), trace.String(), "seed %d", seed)
		require.Regexp(t, regexp.MustCompile(`log member \d: installed a snapshot at index \d+`), trace.String(), "seed %d", seed)
	}
}

// TestKnobsReachConfig: every member of a run opens with the knobs its seed drew, tiny caches
// included, and with the scenario's MaxWaitingRequests.
func TestKnobsReachConfig(t *testing.T) {
	sc := smallScenario()
	sc.Duration = time.Second
	sc.MaxWaitingRequests = 7
	seed := int64(0)
	for s := int64(1); s <= 40 && seed == 0; s++ {
		if k := drawKnobs(sc, s); slices.Contains(k.Drawn, "MemTableBytes") {
			seed = s
		}
	}
	require.NotZero(t, seed, "no seed of 1..40 drew the cache knobs")
	k := drawKnobs(sc, seed)
	var opened []node.Config
	res := Run(sc, seed, Options{wrapConfig: func(cfg *node.Config) { opened = append(opened, *cfg) }})
	require.True(t, res.Passed, "seed %d: %s", seed, res.Failure)
	require.NotEmpty(t, opened)
	for _, cfg := range opened {
		require.Equal(t, uint64(k.MemTableBytes), cfg.PebbleMemTableBytes)
		require.Less(t, cfg.PebbleMemTableBytes, uint64(simMemTableBytes))
		require.Equal(t, int64(k.CacheBytes), cfg.PebbleCacheBytes)
		require.Equal(t, k.LogCacheEntries, cfg.LogCacheEntries)
		require.Positive(t, cfg.LogCacheEntries)
		require.Equal(t, 7, cfg.MaxWaitingRequests)
		require.Equal(t, !k.Snappy, cfg.PebbleUncompressed)
	}
}
