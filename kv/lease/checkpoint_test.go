package lease

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheckpointsAreDueOneIntervalAfterGrantOrRenewal(t *testing.T) {
	clock := &manualClock{}
	m := newMember(t, testConfig(clock)) // interval 10 s
	m.l.Promote(1)
	m.mustGrant(1, 60)
	clock.advance(9 * time.Second)
	require.Empty(t, m.l.Checkpoints(10))

	clock.advance(time.Second)
	cps := m.l.Checkpoints(10)
	require.Equal(t, []Checkpoint{{ID: 1, RemainingTTL: 50 * time.Second, Term: 1, Seq: 1}}, cps)
	m.mustApplyCheckpoints(cps...)
	rec, _ := m.storedRecord(1)
	require.Equal(t, 50*time.Second, rec.remaining)

	clock.advance(30 * time.Second)
	require.Empty(t, m.l.Checkpoints(10), "a checkpointed lease nobody renews needs no further checkpoint")

	// The keep-alive after it clears (one entry), renews, and schedules the next one.
	require.Equal(t, int64(60), m.keepAliveThroughLog(1))
	rec, _ = m.storedRecord(1)
	require.Equal(t, time.Duration(0), rec.remaining, "the clear resets the stored TTL to the full TTL")
	clock.advance(10 * time.Second)
	require.Equal(t, []Checkpoint{{ID: 1, RemainingTTL: 50 * time.Second, Term: 1, Seq: 3}}, m.l.Checkpoints(10))
	m.check()
}

func TestCheckpointsOrderLimitAndSkips(t *testing.T) {
	clock := &manualClock{}
	m := newMember(t, testConfig(clock))
	m.l.Promote(1)
	m.mustGrant(3, 60)
	m.mustGrant(1, 60)
	m.mustGrant(4, 5) // expires before its checkpoint is due
	clock.advance(time.Second)
	m.mustGrant(2, 60)
	clock.advance(10 * time.Second)

	first := m.l.Checkpoints(1)
	require.Equal(t, []Checkpoint{{ID: 1, RemainingTTL: 49 * time.Second, Term: 1, Seq: 1}}, first, "earliest due, then lowest ID")
	rest := m.l.Checkpoints(10)
	require.Equal(t, []Checkpoint{
		{ID: 3, RemainingTTL: 49 * time.Second, Term: 1, Seq: 2},
		{ID: 2, RemainingTTL: 50 * time.Second, Term: 1, Seq: 3},
	}, rest, "lease 4 expired: no checkpoint")
	require.Nil(t, m.l.Checkpoints(0))
	m.check()
}

func TestCheckpointsOnlyOnThePrimary(t *testing.T) {
	clock := &manualClock{}
	m := newMember(t, testConfig(clock))
	m.mustGrant(1, 60)
	clock.advance(time.Minute)
	require.Nil(t, m.l.Checkpoints(10))
	require.Nil(t, m.l.Expired(10))
	m.l.Promote(1)
	m.l.Demote()
	require.Nil(t, m.l.Checkpoints(10))
	m.l.Demote() // idempotent
	m.check()
}

func TestNoCheckpointWhileAClearIsInFlight(t *testing.T) {
	clock := &manualClock{}
	m := newMember(t, testConfig(clock)) // clear retry 2 s
	m.mustGrant(1, 60)
	m.mustApplyCheckpoints(Checkpoint{ID: 1, RemainingTTL: 30 * time.Second, Term: 1, Seq: 1})
	m.l.Promote(2)
	m.mustGrant(2, 60) // keeps a checkpoint due
	res, err := m.l.KeepAlive(1)
	require.NoError(t, err)
	require.Equal(t, ProposeClear, res.Action)
	// Schedule lease 1 for a checkpoint as if it had been renewed from memory earlier.
	m.l.checkpoints.set(m.l.leases[1], clock.now)
	require.Empty(t, m.l.Checkpoints(10), "the clear will renew it; a checkpoint now would cost a third entry")
	m.check()
}

func TestApplyCheckpointBadInputChangesNothing(t *testing.T) {
	clock := &manualClock{}
	m := newMember(t, testConfig(clock))
	m.mustGrant(1, 60)
	for _, cp := range []Checkpoint{
		{ID: 1, RemainingTTL: -time.Second, Term: 1, Seq: 1},
		{ID: 1, RemainingTTL: 61 * time.Second, Term: 1, Seq: 1},
	} {
		require.ErrorContains(t, m.applyCheckpoint(cp), "lease: checkpoint of lease 1 has remaining TTL")
		rec, _ := m.storedRecord(1)
		require.Equal(t, time.Duration(0), rec.remaining)
	}
	require.NoError(t, m.applyCheckpoint(Checkpoint{ID: 9, RemainingTTL: time.Second, Term: 1, Seq: 1}), "a revoked lease's checkpoint is a no-op")
	require.False(t, m.l.LeaseExists(9))
	_, stored := m.storedRecord(9)
	require.False(t, stored)
}

func TestApplyingAnotherPrimarysCheckpointWhilePrimaryPanics(t *testing.T) {
	for _, cp := range []Checkpoint{
		{ID: 1, RemainingTTL: time.Second, Term: 1, Seq: 1}, // earlier term: promoted too early
		{ID: 1, RemainingTTL: time.Second, Term: 3, Seq: 1}, // later term: demoted too late
		{ID: 1, RemainingTTL: time.Second, Term: 2, Seq: 9}, // a seq this primary never produced
	} {
		m := newMember(t, testConfig(&manualClock{}))
		m.mustGrant(1, 60)
		m.l.Promote(2)
		require.Panics(t, func() { _ = m.applyCheckpoint(cp) }, "%+v", cp)
	}
}

// The etcd race: a keep-alive arrives while a checkpoint is in flight. etcd answers it from
// memory (its stored remaining TTL is still unset), the checkpoint then applies, and a new
// leader resumes from it, before the deadline the client was told. Here the keep-alive
// must go through the log, after the checkpoint.
func TestKeepAliveWhileCheckpointInFlightIsNotLost(t *testing.T) {
	c := newCluster(t, testConfig(nil), 1, 1)
	a, b := c.members[0], c.members[1]
	a.l.Promote(1)
	c.grant(1, 60)
	c.advance(10 * time.Second)
	cps := a.l.Checkpoints(10)
	require.Equal(t, []Checkpoint{{ID: 1, RemainingTTL: 50 * time.Second, Term: 1, Seq: 1}}, cps)
	c.propose(entry{checkpoint: &cps[0]}) // proposed, not yet applied

	c.advance(time.Second)
	res, err := a.l.KeepAlive(1)
	require.NoError(t, err)
	require.Equal(t, ProposeClear, res.Action, "a checkpoint of ours is in flight")
	c.propose(entry{checkpoint: &res.Clear})
	c.applyAll() // checkpoint, then clear
	answeredAt := c.keepAlive(0, 1)
	require.Equal(t, 11*time.Second, answeredAt)

	// A fails; B takes over a second later and must honour 60 s from 11 s.
	a.l.Demote()
	c.advance(time.Second)
	b.l.Promote(2)
	require.Equal(t, 12*time.Second+60*time.Second, b.l.leases[1].deadline)
	c.advance(58 * time.Second) // real 70 s
	c.primaryWork(1)
	require.True(t, b.l.LeaseExists(1), "not expired before 11 s + 60 s")
}

func TestPromoteResumes(t *testing.T) {
	for _, tc := range []struct {
		name         string
		checkpointAt time.Duration // when the member applies a 30 s checkpoint; 0 = never
		restartAt    time.Duration // when the member restarts; 0 = never
		promoteAt    time.Duration
		wantDeadline time.Duration
		wantCpDue    bool
	}{
		{name: "full TTL restarts at promote, checkpoint due at once", promoteAt: 20 * time.Second,
			wantDeadline: 80 * time.Second, wantCpDue: true},
		{name: "checkpointed lease resumes from when the checkpoint applied", checkpointAt: 5 * time.Second,
			promoteAt: 20 * time.Second, wantDeadline: 35 * time.Second},
		{name: "checkpoint already used up: expired at once", checkpointAt: 5 * time.Second,
			promoteAt: 40 * time.Second, wantDeadline: 35 * time.Second},
		{name: "after a restart the checkpoint counts from the reopen", checkpointAt: 5 * time.Second,
			restartAt: 12 * time.Second, promoteAt: 20 * time.Second, wantDeadline: 42 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &manualClock{}
			m := newMember(t, testConfig(clock))
			m.mustGrant(1, 60)
			if tc.checkpointAt > 0 {
				clock.set(tc.checkpointAt)
				m.mustApplyCheckpoints(Checkpoint{ID: 1, RemainingTTL: 30 * time.Second, Term: 1, Seq: 1})
			}
			if tc.restartAt > 0 {
				clock.set(tc.restartAt)
				m.restart()
			}
			clock.set(tc.promoteAt)
			m.l.Promote(2)
			require.Equal(t, tc.wantDeadline, m.l.leases[1].deadline)
			require.Equal(t, tc.wantCpDue, m.l.checkpoints.queued(m.l.leases[1]))
			wantExpired := []int64(nil)
			if tc.wantDeadline <= tc.promoteAt {
				wantExpired = []int64{1}
			}
			require.Equal(t, wantExpired, m.l.Expired(10))
			m.check()
		})
	}
}

func TestPromotePreconditionsPanic(t *testing.T) {
	m := newMember(t, testConfig(&manualClock{}))
	require.Panics(t, func() { m.l.Promote(0) }, "term 0")
	m.l.Promote(3)
	require.True(t, m.l.IsPrimary())
	require.Panics(t, func() { m.l.Promote(4) }, "already primary")
	m.l.Demote()
	require.False(t, m.l.IsPrimary())
	require.Panics(t, func() { m.l.Promote(3) }, "same term again")
	require.Panics(t, func() { m.l.Promote(2) }, "older term")
	m.l.Promote(4)
}

func TestClockGoingBackwardsPanics(t *testing.T) {
	clock := &manualClock{now: time.Minute}
	m := newMember(t, testConfig(clock))
	m.l.Promote(1)
	clock.set(time.Second)
	require.Panics(t, func() { m.l.Expired(1) })
}
