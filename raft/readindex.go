package raft

import (
	"fmt"

	"github.com/ballastdb/ballast/canary"
)

// Linearizable reads by ReadIndex (Raft thesis §6.4). The leader records its commit index as
// the read index, then confirms that it is still the leader by a quorum answering a
// heartbeat sent after the request arrived; only then is the read index released. It does this
// only once it has committed an entry of its own term (before that its commit index may lag
// the true one); requests arriving earlier wait. A member serves the read once it has applied
// the read index: raft hands a ReadState out in Ready only then.
//
// Confirmation uses numbered rounds instead of per-request bookkeeping: each request opens a
// round (a counter); every heartbeat carries the latest round and its answer echoes it; a
// request of round n is confirmed once a quorum of voters has echoed a round >= n. That is the
// quorum arithmetic of commit indexes, applied to rounds: no maps, nothing per request but an
// entry in a queue.

// readRequest is one read waiting on the leader.
type readRequest struct {
	round uint64
	index uint64
	from  uint64
	ctx   []byte
}

// readIndexState is the read-index bookkeeping of one member.
type readIndexState struct {
	// round is the latest read round opened by this leader (heartbeats carry it).
	round uint64
	// waiting are requests that arrived before the leader committed an entry of its term.
	waiting []readRequest
	// pending are requests waiting for their round to be confirmed by a quorum.
	pending []readRequest
	// confirmed are answers for this member's application, waiting until applied >= Index.
	confirmed []ReadState
	// maxPending bounds waiting plus pending.
	maxPending int
}

// reset drops what only a leader of the current term may hold. Answers already confirmed
// stay: they were right when confirmed, and are released only once applied.
func (s *readIndexState) reset() {
	s.waiting = s.waiting[:0]
	s.pending = s.pending[:0]
}

func (s *readIndexState) addReadState(rs ReadState) { s.confirmed = append(s.confirmed, rs) }

// takeReadStates removes and returns the confirmed answers whose index is at most applied.
// Their order is kept.
func (s *readIndexState) takeReadStates(applied uint64, dst []ReadState) []ReadState {
	kept := s.confirmed[:0]
	for _, rs := range s.confirmed {
		if rs.Index <= applied {
			dst = append(dst, rs)
		} else {
			kept = append(kept, rs)
		}
	}
	s.confirmed = kept
	return dst
}

func (s *readIndexState) hasReadStates(applied uint64) bool {
	for _, rs := range s.confirmed {
		if rs.Index <= applied {
			return true
		}
	}
	return false
}

// readIndex handles the application's read request on this member: a leader serves it, a
// follower forwards it to the leader it knows.
func (r *raft) readIndex(ctx []byte) error {
	switch {
	case r.state == StateLeader:
		return r.handleReadRequest(r.id, ctx)
	case r.state == StateFollower && r.lead != None:
		r.send(Message{To: r.lead, Type: MsgReadIndex, Context: ctx})
		return nil
	}
	return &NotLeaderError{LeaderID: r.lead, Term: r.term}
}

// handleReadRequest is the leader taking a read request of member from.
func (r *raft) handleReadRequest(from uint64, ctx []byte) error {
	if !r.promotable() {
		return fmt.Errorf("%w: leader %d was removed from the configuration", ErrProposalDropped, r.id)
	}
	if len(r.reads.waiting)+len(r.reads.pending) >= r.reads.maxPending {
		return fmt.Errorf("%w: %d waiting", ErrReadIndexQueueFull, len(r.reads.waiting)+len(r.reads.pending))
	}
	req := readRequest{from: from, ctx: ctx}
	// (The new-leader-read canary, broken on purpose, skips the wait: a new leader's commit
	// index may lag what its predecessor committed and acknowledged.)
	if !r.committedEntryInCurrentTerm() && !canary.On(canary.NewLeaderRead) {
		r.reads.waiting = append(r.reads.waiting, req)
		return nil
	}
	r.openReadRound(req)
	return nil
}

// openReadRound records the request at the current commit index and asks for confirmation.
func (r *raft) openReadRound(req readRequest) {
	r.reads.round++
	req.round = r.reads.round
	req.index = r.log.committed
	r.ackOwnReadRound()
	r.reads.pending = append(r.reads.pending, req)
	r.broadcastHeartbeat()
	// A single voter confirms itself.
	r.releaseConfirmedReads()
}

// releaseWaitingReads opens a round for the requests that waited for the leader to commit an
// entry of its term.
func (r *raft) releaseWaitingReads() {
	if len(r.reads.waiting) == 0 {
		return
	}
	r.reads.round++
	for _, req := range r.reads.waiting {
		req.round = r.reads.round
		req.index = r.log.committed
		r.reads.pending = append(r.reads.pending, req)
	}
	r.reads.waiting = r.reads.waiting[:0]
	r.ackOwnReadRound()
	r.broadcastHeartbeat()
	r.releaseConfirmedReads()
}

// ackOwnReadRound counts the leader's own acknowledgement of the latest round.
func (r *raft) ackOwnReadRound() {
	if self := r.trk.get(r.id); self != nil {
		self.readRoundAcked = r.reads.round
	}
}

// confirmedReadRound is the one place that decides leadership confirmation: the highest read
// round a quorum of voters (the leader included) has acknowledged in this term.
func (r *raft) confirmedReadRound() uint64 {
	if canary.On(canary.ReadNoQuorum) {
		return r.reads.round // broken on purpose: every round counts as confirmed at once
	}
	return r.trk.quorumOf(func(p *progress) uint64 { return p.readRoundAcked })
}

// releaseConfirmedReads answers every pending request whose round a quorum confirmed.
func (r *raft) releaseConfirmedReads() {
	confirmed := r.confirmedReadRound()
	n := 0
	for n < len(r.reads.pending) && r.reads.pending[n].round <= confirmed {
		req := r.reads.pending[n]
		if req.from == r.id {
			r.reads.addReadState(ReadState{Index: req.index, RequestCtx: req.ctx})
		} else {
			r.send(Message{To: req.from, Type: MsgReadIndexResp, Index: req.index, Context: req.ctx})
		}
		n++
	}
	if n > 0 {
		r.reads.pending = append(r.reads.pending[:0], r.reads.pending[n:]...)
	}
}
