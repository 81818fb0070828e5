package raft

import "fmt"

// Leadership transfer (Raft thesis §3.10): the leader stops accepting proposals, brings the
// target's log up to date, then sends it MsgTimeoutNow; the target campaigns at once (no
// PreVote), and voters grant it despite their leader lease. A transfer that does not finish
// within an election timeout is abandoned and the leader resumes.

// transferLeader starts handing leadership to target.
func (r *raft) transferLeader(target uint64) error {
	if r.state != StateLeader {
		return &NotLeaderError{LeaderID: r.lead, Term: r.term}
	}
	if target == r.id || !r.trk.isVoter(target) {
		return fmt.Errorf("%w: %d (voters %v, leader %d)", ErrInvalidTransfer, target, r.trk.conf.Voters, r.id)
	}
	if r.leadTransferee == target {
		return nil // already under way
	}
	r.leadTransferee = target
	// The abort timer: the transfer is abandoned after one election timeout.
	r.electionElapsedTicks = 0
	pr := r.trk.get(target)
	if pr.match == r.log.lastIndex() {
		r.sendTimeoutNow(target)
	} else {
		r.maybeSendAppend(pr, true)
	}
	return nil
}

func (r *raft) sendTimeoutNow(to uint64) {
	r.send(Message{To: to, Type: MsgTimeoutNow})
}
