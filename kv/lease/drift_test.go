package lease

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDriftTable(t *testing.T) {
	for _, tc := range []struct {
		rate              float64
		promised, waitFor time.Duration
	}{
		{rate: 0, promised: time.Minute, waitFor: time.Minute},
		{rate: 0.01, promised: time.Minute, waitFor: time.Minute + 600*time.Millisecond},
		{rate: 0.01, promised: 1, waitFor: 2}, // rounded up
		{rate: 0.5, promised: 0, waitFor: 0},
		{rate: 0.5, promised: -time.Second, waitFor: 0},
		{rate: 0.5, promised: time.Duration(MaxTTLSeconds) * time.Second, waitFor: never},
	} {
		d := drift{rate: tc.rate}
		require.Equal(t, tc.waitFor, d.waitFor(tc.promised), "%+v", tc)
	}
	d := drift{rate: 0.01}
	require.Equal(t, time.Minute, d.promisedAtMost(time.Minute+600*time.Millisecond))
	require.Equal(t, time.Minute, d.promisedAtLeast(time.Minute+600*time.Millisecond))
	require.Equal(t, time.Duration(0), d.promisedAtMost(-1))
	require.Equal(t, time.Duration(0), d.promisedAtLeast(0))
	// The largest local duration (a saturated deadline) must not overflow the search.
	for _, rate := range []float64{0, 0.01, 0.3} {
		d := drift{rate: rate}
		low, high := d.promisedAtMost(never), d.promisedAtLeast(never)
		require.LessOrEqual(t, d.waitFor(low), never)
		require.Equal(t, never, d.waitFor(high), "rate %v", rate)
		require.LessOrEqual(t, high-1, low)
		if high > 0 {
			require.Less(t, d.waitFor(high-1), never, "rate %v: smallest", rate)
		}
	}
	require.Equal(t, never, addSaturating(time.Second, never-1))
	require.Equal(t, 3*time.Second, addSaturating(time.Second, 2*time.Second))
}

// The two inverses bracket every local duration: the promise reported never needs more
// than local, and the promise checkpointed never needs less.
func TestDriftInversesProperty(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	for range 20000 {
		d := drift{rate: []float64{0, 0.001, 0.01, 0.1, 0.5, 0.999}[rng.IntN(6)]}
		local := time.Duration(rng.Int64N(math.MaxInt64))
		if rng.IntN(2) == 0 {
			local = time.Duration(rng.Int64N(int64(time.Hour)))
		}
		low, high := d.promisedAtMost(local), d.promisedAtLeast(local)
		require.LessOrEqual(t, d.waitFor(low), local, "seed %d rate %v local %d", seed, d.rate, local)
		require.Greater(t, d.waitFor(low+1), local, "seed %d: largest", seed)
		require.GreaterOrEqual(t, d.waitFor(high), local, "seed %d rate %v local %d", seed, d.rate, local)
		if high > 0 {
			require.Less(t, d.waitFor(high-1), local, "seed %d: smallest", seed)
		}
	}
}
