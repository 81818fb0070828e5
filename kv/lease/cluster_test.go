package lease

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
)

// entry is one lease command in a test's replicated log.
type entry struct {
	grant      *GrantCommand
	revoke     int64
	checkpoint *Checkpoint
}

func (e entry) String() string {
	switch {
	case e.grant != nil:
		return fmt.Sprintf("grant %d ttl %ds", e.grant.ID, e.grant.TTLSeconds)
	case e.checkpoint != nil:
		return fmt.Sprintf("checkpoint %d %v (term %d seq %d)", e.checkpoint.ID, e.checkpoint.RemainingTTL, e.checkpoint.Term, e.checkpoint.Seq)
	default:
		return fmt.Sprintf("revoke %d", e.revoke)
	}
}

// cluster is a few members that apply one log, with real time driving each member's clock
// at its own rate: memberClock = rate × real.
type cluster struct {
	t       testing.TB
	members []*member
	rates   []float64
	log     []entry
	applied []int
	real    time.Duration
	// revokedAt records, per lease, the real time its revoke first applied on a member.
	revokedAt map[int64]time.Duration
}

func newCluster(t testing.TB, cfg Config, rates ...float64) *cluster {
	c := &cluster{t: t, rates: rates, applied: make([]int, len(rates)), revokedAt: map[int64]time.Duration{}}
	for range rates {
		mcfg := cfg
		mcfg.Clock = &manualClock{}
		c.members = append(c.members, newMember(t, mcfg))
	}
	return c
}

// advance moves real time forward and every member's clock with it.
func (c *cluster) advance(d time.Duration) {
	c.real += d
	for i, m := range c.members {
		m.clock.set(time.Duration(float64(c.real) * c.rates[i]))
	}
}

func (c *cluster) propose(e entry) { c.log = append(c.log, e) }

// applyAll applies the whole log on every member.
func (c *cluster) applyAll() {
	for i := range c.members {
		c.applyOn(i)
	}
}

func (c *cluster) applyOn(i int) {
	m := c.members[i]
	for ; c.applied[i] < len(c.log); c.applied[i]++ {
		e := c.log[c.applied[i]]
		err := m.batch(func(b *pebble.Batch) error {
			switch {
			case e.grant != nil:
				_, err := m.l.ApplyGrant(b, *e.grant)
				return err
			case e.checkpoint != nil:
				return m.l.ApplyCheckpoint(b, *e.checkpoint)
			default:
				_, err := m.l.ApplyRevoke(b, e.revoke)
				if _, seen := c.revokedAt[e.revoke]; err == nil && !seen {
					c.revokedAt[e.revoke] = c.real
				}
				return err
			}
		})
		if e.revoke != 0 && err != nil {
			requireEtcdError(c.t, err, textNotFound, "a repeated revoke")
			continue
		}
		require.NoError(c.t, err, "member %d applying %v", i, e)
		m.check()
	}
}

// grant proposes and applies a grant everywhere.
func (c *cluster) grant(id, ttl int64) {
	cmd, err := c.members[0].l.PrepareGrant(id, ttl)
	require.NoError(c.t, err)
	c.propose(entry{grant: &cmd})
	c.applyAll()
}

// primaryWork is what the caller of a primary does on each tick: propose revokes for
// expired leases and the due checkpoints, then apply.
func (c *cluster) primaryWork(i int) {
	l := c.members[i].l
	for _, id := range l.Expired(1000) {
		c.propose(entry{revoke: id})
	}
	for _, cp := range l.Checkpoints(1000) {
		cp := cp
		c.propose(entry{checkpoint: &cp})
	}
	c.applyAll()
}

// keepAlive runs a keep-alive on primary i through the log and returns the real time it was
// answered.
func (c *cluster) keepAlive(i int, id int64) time.Duration {
	for range 3 {
		res, err := c.members[i].l.KeepAlive(id)
		require.NoError(c.t, err)
		switch res.Action {
		case AnswerNow:
			return c.real
		case ProposeClear:
			c.propose(entry{checkpoint: &res.Clear})
			c.applyAll()
		default:
			c.t.Fatalf("keep-alive: unexpected %v", res.Action)
		}
	}
	c.t.Fatalf("keep-alive of %d never answered", id)
	return 0
}
