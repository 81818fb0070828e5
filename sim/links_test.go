package sim

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLinkLatency: every directed link of a 5-member cluster gets its own distribution
// within 1-10 ms, the same for the same seed and link, different across links; and in a
// traced run every message's latency falls within its link's bounds (the scenario has no
// latency spike or reordering).
func TestLinkLatency(t *testing.T) {
	seed := seedsFromEnv(t, []int64{3})[0]
	distinct := map[linkLatency]bool{}
	for from := uint64(1); from <= 5; from++ {
		for to := uint64(1); to <= 5; to++ {
			if from == to {
				continue
			}
			ll := newLinkLatency(seed, from, to)
			require.Equal(t, ll, newLinkLatency(seed, from, to))
			require.GreaterOrEqual(t, ll.lo, linkLatencyMin, "%d->%d", from, to)
			require.LessOrEqual(t, ll.hi, linkLatencyMax, "%d->%d", from, to)
			require.Less(t, ll.lo, ll.hi, "%d->%d", from, to)
			distinct[ll] = true
		}
	}
	require.Greater(t, len(distinct), 10, "seed %d: the 20 links share too few distributions", seed)

	sc := smallScenario()
	sc.Faults = nil
	var trace strings.Builder
	res := Run(sc, seed, Options{Trace: &trace})
	require.True(t, res.Passed, "seed %d: %s", seed, res.Failure)
	line := regexp.MustCompile(`net m(\d+)->m(\d+) len=\d+ h=[0-9a-f]+ lat=(\d+)`)
	checked := 0
	for _, m := range line.FindAllStringSubmatch(trace.String(), -1) {
		from, _ := strconv.Atoi(m[1])
		to, _ := strconv.Atoi(m[2])
		lat, _ := strconv.ParseInt(m[3], 10, 64)
		ll := newLinkLatency(seed, uint64(from+1), uint64(to+1))
		require.True(t, time.Duration(lat) >= ll.lo && time.Duration(lat) <= ll.hi,
			"seed %d: m%d->m%d latency %v outside its link's [%v, %v]", seed, from, to, time.Duration(lat), ll.lo, ll.hi)
		checked++
	}
	require.Greater(t, checked, 1000, "seed %d: too few messages traced", seed)
	t.Logf("seed %d: %d distinct link distributions, %d message latencies checked", seed, len(distinct), checked)
}
