package lease

import (
	"fmt"
	"slices"
	"time"

	"github.com/ballastdb/ballast/canary"
)

// IsPrimary reports whether this lessor is the primary (decides expiry and answers
// keep-alives).
func (l *Lessor) IsPrimary() bool { return l.primary }

// Promote makes this lessor the primary of the given raft term. Preconditions (checked
// where possible, see the package doc): every entry of earlier terms has been applied (the
// leader has applied an entry of its own term), and term is higher than any earlier
// Promote's. Each lease's deadline resumes from what the log recorded:
//
//   - a checkpointed lease from its checkpoint as this member applied it: applied-at +
//     remaining·(1+ρ) on this member's clock, so elections do not restart anything;
//   - a lease at its full TTL (granted or cleared since its last checkpoint) from now +
//     TTL·(1+ρ), since a keep-alive may have been answered from memory by the previous
//     primary at any time before; its checkpoint is due at once, so the next primary does
//     not restart it again.
func (l *Lessor) Promote(term uint64) {
	if l.primary {
		panic(fmt.Sprintf("lease: Promote(%d) while already primary of term %d", term, l.term))
	}
	if term == 0 || term <= l.lastTerm {
		panic(fmt.Sprintf("lease: Promote(%d) after a Promote in term %d: terms must increase", term, l.lastTerm))
	}
	now := l.now()
	l.primary, l.term, l.lastTerm = true, term, term
	ids := make([]int64, 0, len(l.leases))
	for id := range l.leases {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		le := l.leases[id]
		le.deadline = l.resumeDeadline(le, now)
		l.expiries.set(le, le.deadline)
		if le.remaining == 0 {
			l.checkpoints.set(le, now)
		}
	}
}

// resumeDeadline is the deadline a primary promoted at now gives the lease.
func (l *Lessor) resumeDeadline(le *lease, now time.Duration) time.Duration {
	if le.remaining == 0 {
		if canary.On(canary.LeaseFollowerClock) {
			// broken on purpose: the deadline is what this member's clock said when it
			// applied the grant or the last clear as a follower, as if the old primary had
			// answered no keep-alive from memory since (rule 2 of the package doc)
			return addSaturating(le.checkpointAppliedAt, l.drift.waitFor(le.ttl()))
		}
		return addSaturating(now, l.drift.waitFor(le.ttl()))
	}
	return addSaturating(le.checkpointAppliedAt, l.drift.waitFor(le.remaining))
}

// Demote ends this lessor's term as primary: it forgets every deadline and everything in
// flight. Call it when the member stops being leader, before applying entries of a later
// term.
func (l *Lessor) Demote() {
	if !l.primary {
		return
	}
	l.primary = false
	l.expiries.clear()
	l.checkpoints.clear()
	for _, le := range l.leases {
		le.resetPrimaryState()
	}
}

// refresh restarts the lease's full TTL from now on the primary and makes sure a checkpoint
// will record its progress within one checkpoint interval.
func (l *Lessor) refresh(le *lease, now time.Duration) {
	le.deadline = addSaturating(now, l.drift.waitFor(le.ttl()))
	l.expiries.set(le, le.deadline)
	if !l.checkpoints.queued(le) {
		l.checkpoints.set(le, addSaturating(now, l.cfg.CheckpointInterval))
	}
}

// KeepAliveAction says what the caller does with a keep-alive.
type KeepAliveAction int

const (
	// AnswerNow: the lease was renewed from now; answer the client with TTLSeconds at once.
	AnswerNow KeepAliveAction = iota + 1
	// ProposeClear: the lease has a checkpoint (or one in flight) that a new primary would
	// resume from; propose Clear, and call KeepAlive again once it has applied.
	ProposeClear
	// WaitForClear: a clear for this lease is already in flight; call KeepAlive again once
	// it has applied (or after ClearRetryInterval, when KeepAlive asks for another).
	WaitForClear
)

func (a KeepAliveAction) String() string {
	switch a {
	case AnswerNow:
		return "AnswerNow"
	case ProposeClear:
		return "ProposeClear"
	case WaitForClear:
		return "WaitForClear"
	}
	return fmt.Sprintf("KeepAliveAction(%d)", int(a))
}

// KeepAliveResult is KeepAlive's answer.
type KeepAliveResult struct {
	Action KeepAliveAction
	// TTLSeconds is the TTL to answer with (AnswerNow only).
	TTLSeconds int64
	// Clear is the entry to propose (ProposeClear only).
	Clear Checkpoint
}

// KeepAlive handles a client's keep-alive on the primary. A lease may be renewed from memory
// only if a new primary would not resume it from a checkpoint: nothing checkpointed, and no
// checkpoint or clear of ours still in flight. Otherwise the keep-alive first clears the
// checkpoint through the log (etcd's rule: at most a checkpoint and a clear per lease per
// checkpoint interval). An expired lease, whose revoke is on its way, is not found.
func (l *Lessor) KeepAlive(id int64) (KeepAliveResult, error) {
	if !l.primary {
		return KeepAliveResult{}, ErrNotPrimary
	}
	le, ok := l.leases[id]
	if !ok {
		return KeepAliveResult{}, ErrLeaseNotFound
	}
	now := l.now()
	if now >= le.deadline {
		return KeepAliveResult{}, ErrLeaseNotFound
	}
	if le.remaining == 0 && le.unsettledSeq == 0 {
		l.refresh(le, now)
		return KeepAliveResult{Action: AnswerNow, TTLSeconds: le.ttlSeconds}, nil
	}
	if le.clearInFlight(now, l.cfg.ClearRetryInterval) {
		return KeepAliveResult{Action: WaitForClear}, nil
	}
	l.seq++
	le.unsettledSeq, le.clearSeq, le.clearProposedAt = l.seq, l.seq, now
	return KeepAliveResult{Action: ProposeClear, Clear: Checkpoint{ID: id, Term: l.term, Seq: l.seq}}, nil
}

// Expired returns up to maxLeases leases whose deadline has passed on the primary's clock,
// in order of deadline then ID, for the caller to propose as revokes. A lease it returned
// comes back after ExpiredRetryInterval if its revoke has not applied by then. A
// non-primary returns nothing.
func (l *Lessor) Expired(maxLeases int) []int64 {
	if !l.primary || maxLeases <= 0 {
		return nil
	}
	now := l.now()
	var ids []int64
	for len(ids) < maxLeases {
		le := l.expiries.peek()
		if le == nil || le.expiry.at > now {
			break
		}
		ids = append(ids, le.id)
		l.expiries.set(le, addSaturating(now, l.cfg.ExpiredRetryInterval))
	}
	return ids
}

// Checkpoints returns up to maxCheckpoints checkpoints that are due, in order of due time
// then ID, for the caller to propose in this order (one entry or several, as long as the
// order is kept). A checkpoint is due one interval after a lease was granted or renewed from
// memory, and at once after Promote for a lease at its full TTL. A non-primary returns
// nothing.
func (l *Lessor) Checkpoints(maxCheckpoints int) []Checkpoint {
	if !l.primary || maxCheckpoints <= 0 {
		return nil
	}
	now := l.now()
	var out []Checkpoint
	for len(out) < maxCheckpoints {
		le := l.checkpoints.peek()
		if le == nil || le.checkpoint.at > now {
			break
		}
		l.checkpoints.remove(le)
		if le.clearInFlight(now, l.cfg.ClearRetryInterval) || now >= le.deadline {
			// The clear's keep-alive will renew and reschedule it; an expired lease is
			// about to be revoked.
			continue
		}
		remaining := l.drift.promisedAtLeast(le.deadline - now)
		if remaining > le.ttl() {
			panic(fmt.Sprintf("lease: lease %d would checkpoint %v, more than its TTL %v", le.id, remaining, le.ttl()))
		}
		l.seq++
		le.unsettledSeq = l.seq
		out = append(out, Checkpoint{ID: le.id, RemainingTTL: remaining, Term: l.term, Seq: l.seq})
	}
	return out
}
