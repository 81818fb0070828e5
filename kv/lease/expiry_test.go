package lease

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExpired(t *testing.T) {
	clock := &manualClock{}
	m := newMember(t, testConfig(clock)) // expired retry 3 s
	m.l.Promote(1)
	m.mustGrant(3, 10)
	m.mustGrant(1, 10)
	m.mustGrant(2, 20)
	require.Nil(t, m.l.Expired(10))
	clock.advance(10*time.Second - 1)
	require.Nil(t, m.l.Expired(10), "not a nanosecond early")

	clock.advance(1)
	require.Equal(t, []int64{1}, m.l.Expired(1), "deadline order, then ID, up to max")
	require.Equal(t, []int64{3}, m.l.Expired(10))
	require.Nil(t, m.l.Expired(10), "named once per retry interval")
	_, err := m.l.KeepAlive(1)
	requireEtcdError(t, err, textNotFound, "an expired lease cannot be renewed while its revoke is on its way")

	_, err = m.revoke(3)
	require.NoError(t, err)
	clock.advance(3 * time.Second)
	require.Equal(t, []int64{1}, m.l.Expired(10), "a revoke that did not apply is asked for again")
	clock.advance(7 * time.Second)
	require.Equal(t, []int64{1, 2}, m.l.Expired(10), "1 again (due at 16 s), then 2 (deadline 20 s)")
	require.Nil(t, m.l.Expired(0))
	m.check()
}

// fastMember returns a member whose clock runs at rate × real time, as the primary.
func TestNeverEarlyWithDrift(t *testing.T) {
	const rho = 0.01
	for _, tc := range []struct {
		name string
		// rates of the members' clocks; member 0 grants and renews, then hands over to
		// member 1 (if any) after a checkpoint.
		rates    []float64
		handover bool
	}{
		{name: "fast primary", rates: []float64{1 + rho}},
		{name: "slow primary", rates: []float64{1 - rho}},
		{name: "fast primary, checkpoint, fast successor", rates: []float64{1 + rho, 1 + rho}, handover: true},
		{name: "slow primary, checkpoint, fast successor", rates: []float64{1 - rho, 1 + rho}, handover: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(nil)
			cfg.MaxDriftRate = rho
			cfg.CheckpointInterval = 10 * time.Second
			c := newCluster(t, cfg, tc.rates...)
			c.members[0].l.Promote(1)
			c.grant(1, 60)
			c.advance(5 * time.Second)
			promisedUntil := c.keepAlive(0, 1) + 60*time.Second
			active := 0
			step := 100 * time.Millisecond
			for c.members[0].l.LeaseExists(1) {
				c.advance(step)
				if tc.handover && active == 0 && c.real >= 20*time.Second {
					c.primaryWork(0) // the checkpoint, due at 15 s, is proposed and applied
					c.members[0].l.Demote()
					c.members[1].l.Promote(2)
					active = 1
				}
				c.primaryWork(active)
				require.Less(t, c.real, time.Duration(float64(promisedUntil)*(1+rho)/(1-rho))+2*step, "expires eventually")
			}
			require.GreaterOrEqual(t, c.revokedAt[1], promisedUntil, "revoked before the promised real time")
			t.Logf("promised until %v (real), revoked at %v", promisedUntil, c.revokedAt[1])
		})
	}
}

// TestWaitingOnlyTTLWouldBeEarly shows what the drift margin buys: with ρ set to 0 (the
// primary waits only TTL), a primary whose clock runs 1% fast expires the lease before the
// promised real time. The test asserts that this configuration is early, so it fails if
// the harness above could not tell.
func TestWaitingOnlyTTLWouldBeEarly(t *testing.T) {
	cfg := testConfig(nil) // MaxDriftRate 0
	c := newCluster(t, cfg, 1.01)
	c.members[0].l.Promote(1)
	c.grant(1, 60)
	for c.members[0].l.LeaseExists(1) {
		c.advance(100 * time.Millisecond)
		c.primaryWork(0)
	}
	require.Less(t, c.revokedAt[1], 60*time.Second)
}

// Repeated elections with no keep-alive: etcd restarts the TTL at each one and the lease
// lives forever. Here it expires within TTL·(1+ρ) + one checkpoint interval + the time
// spent without a primary.
func TestNotKeptAliveByElections(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members int
		tenure  time.Duration // how long each primary lasts
		gap     time.Duration // time without a primary between two
		// proposeEvery: a primary proposes its due checkpoints right after Promote (as its
		// first entries, with the entry of its own term) and then every this often.
		proposeEvery time.Duration
		keepAlives   bool // one keep-alive (renewed from memory) at the start of the run
	}{
		{name: "one member demoted and promoted", members: 1, tenure: 3 * time.Second, gap: time.Second, proposeEvery: 500 * time.Millisecond},
		{name: "three members taking turns", members: 3, tenure: 2 * time.Second, gap: 500 * time.Millisecond, proposeEvery: 500 * time.Millisecond},
		{name: "tenures too short for a periodic proposal", members: 3, tenure: 400 * time.Millisecond, gap: 300 * time.Millisecond, proposeEvery: time.Hour},
		{name: "after a keep-alive renewed from memory", members: 3, tenure: 2 * time.Second, gap: time.Second, proposeEvery: 500 * time.Millisecond, keepAlives: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const ttl = 30 * time.Second
			cfg := testConfig(nil)
			cfg.MaxDriftRate = 0.01
			rates := make([]float64, tc.members)
			for i := range rates {
				rates[i] = 1
			}
			c := newCluster(t, cfg, rates...)
			term := uint64(1)
			c.members[0].l.Promote(term)
			c.grant(1, int64(ttl/time.Second))
			start := c.real
			if tc.keepAlives {
				c.advance(time.Second)
				start = c.keepAlive(0, 1)
			}
			gaps := time.Duration(0)
			primary := 0
			tenureStart := c.real
			for c.members[0].l.LeaseExists(1) {
				c.advance(100 * time.Millisecond)
				since := c.real - tenureStart
				if since%tc.proposeEvery == 0 {
					c.primaryWork(primary)
				}
				if since >= tc.tenure {
					c.members[primary].l.Demote()
					c.advance(tc.gap)
					gaps += tc.gap
					primary = (primary + 1) % tc.members
					term++
					c.members[primary].l.Promote(term)
					c.primaryWork(primary)
					tenureStart = c.real
				}
				bound := start + time.Duration(float64(ttl)*1.01) + cfg.CheckpointInterval + gaps + time.Second
				require.LessOrEqual(t, c.real, bound, "lease still alive at %v", c.real)
			}
			require.GreaterOrEqual(t, c.revokedAt[1], start+ttl, "never early")
			t.Logf("renewed at %v, revoked at %v after %d terms, %v without a primary", start, c.revokedAt[1], term, gaps)
		})
	}
}

func TestExpiryWithMaxTTLSaturates(t *testing.T) {
	clock := &manualClock{}
	cfg := testConfig(clock)
	cfg.MaxDriftRate = 0.5
	m := newMember(t, cfg)
	m.l.Promote(1)
	m.mustGrant(1, MaxTTLSeconds)
	require.Equal(t, never, m.l.leases[1].deadline)
	clock.set(time.Duration(math.MaxInt64 - 1))
	require.Nil(t, m.l.Expired(10))
	ttl, err := m.l.TimeToLive(1, false)
	require.NoError(t, err)
	require.Equal(t, int64(0), ttl.RemainingTTL, "what is left of never, in promised time, is tiny")
	res, err := m.l.KeepAlive(1)
	require.NoError(t, err)
	require.Equal(t, AnswerNow, res.Action)
}
