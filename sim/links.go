package sim

import (
	"math/rand/v2"
	"time"
)

// streamLink is mixed into the run's seed, with a link's two ends, to draw that link's
// latency distribution.
const streamLink = 0x6c696e6b00000000

// linkLatency is one directed link's latency distribution: uniform in [lo, hi], within
// [linkLatencyMin, linkLatencyMax]. Links differ (a near and a far member, an asymmetric
// route), as the per-link distributions ask; each link's is drawn from the run's
// seed and the link's ends alone, never from the network stream, so adding a member or
// sending one more message does not change any other link's.
type linkLatency struct{ lo, hi time.Duration }

func newLinkLatency(seed int64, from, to uint64) linkLatency {
	r := rand.New(rand.NewPCG(uint64(seed), streamLink^from<<32^to))
	lo := uniform(r, linkLatencyMin, (linkLatencyMin+linkLatencyMax)/2)
	hi := lo + uniform(r, time.Millisecond, linkLatencyMax-lo)
	return linkLatency{lo: lo, hi: hi}
}

// link returns the latency distribution of the link from one member ID to another.
func (c *cluster) link(from, to uint64) linkLatency {
	k := [2]uint64{from, to}
	ll, ok := c.links[k]
	if !ok {
		ll = newLinkLatency(c.w.seed, from, to)
		c.links[k] = ll
	}
	return ll
}
