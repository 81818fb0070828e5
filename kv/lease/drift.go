package lease

import (
	"math"
	"time"

	"github.com/ballastdb/ballast/canary"
)

// never is the deadline of a lease whose TTL·(1+ρ) does not fit in a time.Duration.
const never = time.Duration(math.MaxInt64)

// drift converts between a promised duration (real time the client was told) and the time
// the lessor waits on its own clock, whose rate is within [1-ρ, 1+ρ] of real time.
type drift struct{ rate float64 }

// waitFor is how long to wait on the local clock so that at least promised real time has
// passed even if the local clock runs fast by ρ: promised·(1+ρ), rounded up, saturating.
func (d drift) waitFor(promised time.Duration) time.Duration {
	if promised <= 0 {
		return 0
	}
	extra := math.Ceil(float64(promised) * d.rate)
	if canary.On(canary.LeaseNoDriftMargin) {
		extra = 0 // broken on purpose: the wait trusts the local clock's rate
	}
	if extra >= float64(never-promised) {
		return never
	}
	return promised + time.Duration(extra)
}

// promisedAtMost is the largest promise p with waitFor(p) <= local: what may be reported to a
// client as remaining without overstating it. waitFor is increasing and waitFor(p) >= p, so
// a binary search over [0, local] finds it in at most 63 steps.
func (d drift) promisedAtMost(local time.Duration) time.Duration {
	if local <= 0 {
		return 0
	}
	low, high := time.Duration(0), local // waitFor(low) <= local always holds
	for low < high {
		mid := low + (high-low)/2 + 1 // in (low, high]; high-low+1 could overflow
		if d.waitFor(mid) <= local {
			low = mid
		} else {
			high = mid - 1
		}
	}
	return low
}

// promisedAtLeast is the smallest promise p with waitFor(p) >= local: what a checkpoint
// records, so a later primary waiting waitFor(p) never waits less than local. It is searched
// for on its own (not as promisedAtMost+1) because waitFor is flat where it saturates.
func (d drift) promisedAtLeast(local time.Duration) time.Duration {
	if local <= 0 {
		return 0
	}
	low, high := time.Duration(0), local // waitFor(high) >= local always holds
	for low < high {
		mid := low + (high-low)/2
		if d.waitFor(mid) >= local {
			high = mid
		} else {
			low = mid + 1
		}
	}
	return high
}

// addSaturating returns a+b for b >= 0, or never if that overflows.
func addSaturating(a, b time.Duration) time.Duration {
	if b > never-a {
		return never
	}
	return a + b
}
