package node

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/raft"
)

// leaseTestSeeds: NODE_LEASE_SEED=n runs seed n alone, NODE_LEASE_SEEDS=n seeds 1..n; by
// default a CI-sized handful (the test is slow under -race, which make test uses).
func leaseTestSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("NODE_LEASE_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "NODE_LEASE_SEED")
		return []uint64{seed}
	}
	n := uint64(6)
	if s := os.Getenv("NODE_LEASE_SEEDS"); s != "" {
		var err error
		n, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "NODE_LEASE_SEEDS")
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

// The end-to-end lease test: repeated leader changes (transfers and isolated leaders) with
// keep-alives in between, on the manual clock, checking kv/lease's two properties through
// the whole member:
//
//   - never early: the leased key is never deleted on any member before TTL has passed since
//     the call time of the last keep-alive (or the grant) that was answered;
//   - not kept alive by elections: once keep-alives stop, the lease expires within
//     TTL·(1+ρ) + one checkpoint interval (both on a clock that may run slow by ρ) + two
//     election bounds, however many elections happen meanwhile (etcd before its checkpoints
//     restarted the TTL at each election, so elections every TTL/3 kept a lease alive
//     forever).
//
// Every member's lease clock runs at 1-ρ, 1 or 1+ρ of real time (the test's clock).
//
// Re-run one seed with NODE_LEASE_SEED=n; NODE_LEASE_TRACE=1 logs every keep-alive and leader
// change.
func TestLeaseAcrossLeaderChanges(t *testing.T) {
	for _, seed := range leaseTestSeeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d (re-run with NODE_LEASE_SEED=%d)", seed, seed)
			runLeaseAcrossLeaderChanges(t, seed)
		})
	}
}

func runLeaseAcrossLeaderChanges(t *testing.T, seed uint64) {
	const (
		ttlSeconds         = 8
		checkpointInterval = time.Second
		electionTicks      = DefaultElectionTimeoutTicks
	)
	ttl := ttlSeconds * time.Second
	tick := DefaultTickInterval
	const rho = 0.1 // a large drift bound, so clocks at its edges move expiry by ticks
	rates := map[uint64]float64{}
	c := newTweakedCluster(t, 3, func(cfg *Config) {
		cfg.LeaseCheckpointInterval = checkpointInterval
		cfg.Rand = rand.New(rand.NewPCG(seed, cfg.ID))
		cfg.MaxLeaseDriftRate = rho
		// Each member's lease clock runs slow, true or fast by the most drift allowed.
		rate := 1 + rho*float64(rand.New(rand.NewPCG(seed, 1000+cfg.ID)).IntN(3)-1)
		rates[cfg.ID] = rate
		cfg.Clock = driftClock{base: cfg.Clock.(*manualClock), rate: rate}
	})
	t.Logf("seed %d: lease clock rates %v", seed, rates)
	rng := rand.New(rand.NewPCG(seed, 0xba11a57))
	trace := os.Getenv("NODE_LEASE_TRACE") != ""

	leaderNow := func() uint64 {
		var lead, term uint64
		for _, id := range c.ids {
			if st := c.members[id].Status(); st.RaftState == raft.StateLeader && st.Term >= term {
				lead, term = id, st.Term
			}
		}
		return lead
	}
	leader := c.leader()
	grantCall := c.clock.now
	lease := c.grant(leader, ttlSeconds)
	_, err := c.do(leader, putLeased("leased", lease))
	require.NoError(t, err)

	lastRenewCall := grantCall // call time of the last answered keep-alive (or the grant)
	outstanding := 0           // keep-alives not yet answered
	var expiredAt time.Duration
	checkedRev := map[uint64]int64{} // a member's store is read again only after it changed
	check := func() {
		if expiredAt != 0 {
			return
		}
		for _, id := range c.ids {
			if rev := c.members[id].CurrentRevision(); rev != checkedRev[id] {
				checkedRev[id] = rev
			} else {
				continue
			}
			if _, _, ok := c.localValue(id, "leased"); !ok {
				expiredAt = c.clock.now
				require.GreaterOrEqual(t, expiredAt-lastRenewCall, ttl,
					"seed %d: the key was deleted on member %d at %v, before TTL %v since the keep-alive called at %v", seed, id, expiredAt, ttl, lastRenewCall)
				return
			}
		}
	}
	isolated, healAt := uint64(0), 0
	ticks := 0
	step := func() {
		c.tick()
		ticks++
		if isolated != 0 && ticks >= healAt {
			c.isolate(isolated, false)
			isolated = 0
		}
		check()
	}
	elections := 0
	changeLeader := func() {
		l := leaderNow()
		if l == 0 || isolated != 0 {
			return
		}
		elections++
		if trace {
			t.Logf("%v leader change from %d", c.clock.now, l)
		}
		if rng.IntN(2) == 0 {
			others := c.followers(l)
			c.members[l].TransferLeader(others[rng.IntN(len(others))], func(error) {})
			return
		}
		isolated, healAt = l, ticks+electionTicks+rng.IntN(2*electionTicks)
		c.isolate(l, true)
	}
	keepAlive := func() {
		via := c.ids[rng.IntN(len(c.ids))]
		callAt := c.clock.now
		outstanding++
		c.members[via].KeepAlive(lease, func(resp Response, err error) {
			outstanding--
			if trace {
				t.Logf("%v keep-alive via %d called at %v: %v", c.clock.now, via, callAt, err)
			}
			if err == nil {
				require.Equal(t, int64(ttlSeconds), resp.LeaseKeepAlive.TTL)
				lastRenewCall = max(lastRenewCall, callAt)
			}
		})
	}

	// Phase 1: 60 s of keep-alives every 0.3-0.6 s and a leader change every 2-4 s.
	nextKeepAlive, nextChange := 0, 20
	for ticks < 600 {
		if ticks >= nextKeepAlive {
			keepAlive()
			nextKeepAlive = ticks + 3 + rng.IntN(4)
		}
		if ticks >= nextChange {
			changeLeader()
			nextChange = ticks + 20 + rng.IntN(21)
		}
		step()
	}
	require.Zero(t, expiredAt, "seed %d: the lease expired while kept alive", seed)
	require.GreaterOrEqual(t, elections, 10, "seed %d: too few leader changes to mean anything", seed)

	// Phase 2: no more keep-alives. Wait until none is in flight or being served, then keep
	// changing leaders every 0.8-1.5 s until the lease expires.
	for outstanding > 0 || serving(c) {
		step()
	}
	quiet := c.clock.now
	electionsBefore := elections
	for expiredAt == 0 {
		if ticks >= nextChange {
			changeLeader()
			nextChange = ticks + 8 + rng.IntN(8)
		}
		step()
		require.Less(t, c.clock.now-quiet, 10*ttl, "seed %d: the lease never expired: kept alive by elections", seed)
	}
	// Election bound: a leader is lost and a new one elected and committing within two
	// randomized election timeouts, plus a few ticks of message rounds.
	// A primary waits TTL·(1+ρ) and checkpoints every interval on its own clock, which may
	// run slow by ρ. Two elections may add to that: one that lands before the lease's
	// checkpoint applied (the new primary restarts a lease at its full TTL from its own
	// promotion) and one under way when the revoke is due (nobody can propose it).
	electionBound := time.Duration(2*electionTicks+5) * tick
	bound := time.Duration(float64(ttl)*(1+rho)/(1-rho)+float64(checkpointInterval)/(1-rho)) + 2*electionBound
	t.Logf("seed %d: lease expired %v after the last keep-alive settled (bound %v), %d leader changes meanwhile, %d in all",
		seed, expiredAt-quiet, bound, elections-electionsBefore, elections)
	require.LessOrEqual(t, expiredAt-quiet, bound, "seed %d: the lease outlived its bound", seed)
	require.GreaterOrEqual(t, elections-electionsBefore, 2, "seed %d: leaders must change while the lease runs out", seed)

	// Every member deletes the key at the same revision once all can talk.
	if isolated != 0 {
		c.isolate(isolated, false)
	}
	for range 3 * electionTicks {
		c.tick()
	}
	for _, id := range c.ids {
		_, _, ok := c.localValue(id, "leased")
		require.False(t, ok, "member %d still has the key", id)
	}
	c.requireConsistent()
}

func serving(c *testCluster) bool {
	for _, id := range c.ids {
		if len(c.members[id].lease.serving) > 0 {
			return true
		}
	}
	return false
}

// driftClock is a member's lease clock running at rate times the test's (real) clock.
type driftClock struct {
	base *manualClock
	rate float64
}

func (d driftClock) Now() time.Duration { return time.Duration(float64(d.base.now) * d.rate) }
