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

// leaseTestSeeds: NODE_LEASE_SEED=n runs seed n alone; by default a CI-sized handful.
func leaseTestSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("NODE_LEASE_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "NODE_LEASE_SEED")
		return []uint64{seed}
	}
	return []uint64{1, 2, 3, 4}
}

// The end-to-end lease test: repeated leader changes (transfers and isolated leaders) with
// keep-alives in between, on the manual clock, checking kv/lease's two properties through
// the whole member:
//
//   - never early: the leased key is never deleted on any member before TTL has passed since
//     the call time of the last keep-alive (or the grant) that was answered;
//   - not kept alive by elections: once keep-alives stop, the lease expires within
//     TTL·(1+ρ) + one checkpoint interval + the election bound, however many elections
//     happen meanwhile (etcd before its checkpoints restarted the TTL at each election, so
//     elections every TTL/3 kept a lease alive forever).
//
// Re-run one seed with NODE_LEASE_SEED=n.
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
		ttlSeconds         = 5
		checkpointInterval = time.Second
		electionTicks      = DefaultElectionTimeoutTicks
	)
	ttl := ttlSeconds * time.Second
	tick := DefaultTickInterval
	c := newTweakedCluster(t, 3, func(cfg *Config) {
		cfg.LeaseCheckpointInterval = checkpointInterval
		cfg.Rand = rand.New(rand.NewPCG(seed, cfg.ID))
	})
	rng := rand.New(rand.NewPCG(seed, 0xba11a57))

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
	check := func() {
		if expiredAt != 0 {
			return
		}
		for _, id := range c.ids {
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
			if err == nil {
				require.Equal(t, int64(ttlSeconds), resp.LeaseKeepAlive.TTL)
				lastRenewCall = max(lastRenewCall, callAt)
			}
		})
	}

	// Phase 1: 60 s of keep-alives every 0.8-1.5 s and a leader change every 1.5-3 s.
	nextKeepAlive, nextChange := 0, 15
	for ticks < 600 {
		if ticks >= nextKeepAlive {
			keepAlive()
			nextKeepAlive = ticks + 8 + rng.IntN(8)
		}
		if ticks >= nextChange {
			changeLeader()
			nextChange = ticks + 15 + rng.IntN(16)
		}
		step()
	}
	require.Zero(t, expiredAt, "seed %d: the lease expired while kept alive", seed)
	require.GreaterOrEqual(t, elections, 15, "seed %d: too few leader changes to mean anything", seed)

	// Phase 2: no more keep-alives. Wait until none is in flight or being served, then keep
	// changing leaders every 1-2 s until the lease expires.
	for outstanding > 0 || serving(c) {
		step()
	}
	quiet := c.clock.now
	electionsBefore := elections
	for expiredAt == 0 {
		if ticks >= nextChange {
			changeLeader()
			nextChange = ticks + 10 + rng.IntN(11)
		}
		step()
		require.Less(t, c.clock.now-quiet, 10*ttl, "seed %d: the lease never expired: kept alive by elections", seed)
	}
	// Election bound: a leader is lost and a new one elected and committing within two
	// randomized election timeouts, plus a few ticks of message rounds.
	electionBound := time.Duration(2*electionTicks+5) * tick
	bound := time.Duration(float64(ttl)*(1+DefaultMaxLeaseDriftRate)) + checkpointInterval + electionBound
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
