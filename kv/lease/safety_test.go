package lease

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNeverEarlyRandomized drives three members through random leadership changes, clock
// rates within ±ρ, keep-alives, lost proposals and lagging followers, the way kv/node is
// meant to (Promote only after applying the whole log, Demote before a new primary's
// entries), and checks the promise itself: no lease is revoked anywhere before the real time
// TTL after the last keep-alive or grant answered for it. SEED re-runs a failure.
func TestNeverEarlyRandomized(t *testing.T) {
	seed := testSeed(t)
	iterations := 20
	if testing.Short() {
		iterations = 5
	}
	for i := range iterations {
		runSafety(t, seed+uint64(i))
	}
}

func runSafety(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	const rho = 0.02
	cfg := testConfig(nil)
	cfg.MaxDriftRate = rho
	cfg.CheckpointInterval = 3 * time.Second
	rates := []float64{1 - rho + 2*rho*rng.Float64(), 1 - rho + 2*rho*rng.Float64(), 1 - rho + 2*rho*rng.Float64()}
	c := newCluster(t, cfg, rates...)
	promisedUntil := map[int64]time.Duration{} // real time before which the lease must live
	primary, term := 0, uint64(1)
	c.members[primary].l.Promote(term)
	nextID := int64(1)
	lose := func() bool { return rng.IntN(8) == 0 }
	for range 3000 {
		switch op := rng.IntN(100); {
		case op < 10 && primary >= 0: // grant through the primary
			cmd, err := c.members[primary].l.PrepareGrant(nextID, int64(5+rng.IntN(10)))
			require.NoError(t, err)
			nextID++
			c.propose(entry{grant: &cmd})
			c.applyOn(primary)
			promisedUntil[cmd.ID] = c.real + time.Duration(cmd.TTLSeconds)*time.Second
		case op < 40 && primary >= 0: // a keep-alive of a random lease
			id := 1 + rng.Int64N(nextID)
			res, err := c.members[primary].l.KeepAlive(id)
			if err != nil {
				continue
			}
			switch res.Action {
			case AnswerNow:
				promisedUntil[id] = max(promisedUntil[id], c.real+time.Duration(res.TTLSeconds)*time.Second)
			case ProposeClear:
				if !lose() {
					c.propose(entry{checkpoint: &res.Clear}) // the client retries later
				}
			}
		case op < 60 && primary >= 0: // the primary's periodic work, some proposals lost
			l := c.members[primary].l
			for _, id := range l.Expired(100) {
				if !lose() {
					c.propose(entry{revoke: id})
				}
			}
			for _, cp := range l.Checkpoints(100) {
				if !lose() {
					cp := cp
					c.propose(entry{checkpoint: &cp})
				}
			}
		case op < 70: // a member (the primary too) applies what is committed
			c.applyOn(rng.IntN(len(c.members)))
		case op < 75: // leadership changes, maybe after a gap
			if primary >= 0 {
				c.members[primary].l.Demote()
				primary = -1
				continue
			}
			primary = rng.IntN(len(c.members))
			term++
			c.applyOn(primary)
			c.members[primary].l.Promote(term)
		default:
			c.advance(time.Duration(rng.Int64N(int64(time.Second))))
		}
		for id, at := range c.revokedAt {
			require.GreaterOrEqual(t, at, promisedUntil[id], "seed %d (re-run with SEED=%d): lease %d revoked early", seed, seed, id)
		}
	}
	t.Logf("seed %d: %d leases, %d revoked, %d log entries, %d terms", seed, nextID-1, len(c.revokedAt), len(c.log), term)
}
