package raft

import (
	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/raft/quorum"
)

// campaignKind says why a member campaigns.
type campaignKind uint8

const (
	// campaignPreElection: the election timeout fired (with PreVote on, ask first).
	campaignPreElection campaignKind = iota + 1
	// campaignElection: a real election, raising the term.
	campaignElection
	// campaignTransfer: the leader handed over with MsgTimeoutNow: a real election that
	// voters grant despite their leader lease.
	campaignTransfer
)

// voteRecord is one member's answer in the current campaign.
type voteRecord struct {
	id      uint64
	granted bool
}

// logUpToDate is the election restriction (Raft §5.4.1): a voter grants its vote (and its
// pre-vote) only to a candidate whose log ends with a later term, or the same term and at
// least the same index. Both MsgVote and MsgPreVote go through this one function.
func logUpToDate(candidateLastTerm, candidateLastIndex, voterLastTerm, voterLastIndex uint64) bool {
	if canary.On(canary.NoLogCheck) {
		return true // broken on purpose: any candidate may win, however short its log
	}
	return candidateLastTerm > voterLastTerm ||
		(candidateLastTerm == voterLastTerm && candidateLastIndex >= voterLastIndex)
}

// inLease reports whether this member heard from a live leader within the election timeout,
// in which case (with CheckQuorum) it ignores (pre)votes that are not part of a transfer.
func (r *raft) inLease() bool {
	return r.checkQuorum && r.lead != None && r.electionElapsedTicks < r.electionTimeoutTicks
}

// hup starts a campaign if this member may campaign at all.
func (r *raft) hup(kind campaignKind) {
	if r.state == StateLeader || !r.promotable() {
		return
	}
	if r.hasUnappliedConfChange() {
		// The configuration may be about to change; campaigning under the old one could
		// elect a leader the new one does not have a quorum for.
		return
	}
	if kind == campaignPreElection && !r.preVote {
		kind = campaignElection
	}
	r.campaign(kind)
}

// hasUnappliedConfChange reports whether a committed configuration change awaits applying.
func (r *raft) hasUnappliedConfChange() bool {
	if r.log.committed <= r.log.applied || r.log.unstable.snapshot != nil {
		return false
	}
	ents, err := r.log.slice(r.log.applied+1, r.log.committed+1, noLimit)
	if err != nil {
		return false
	}
	for i := range ents {
		if ents[i].Type == EntryConfChange {
			return true
		}
	}
	return false
}

// campaign asks every voter for a (pre-)vote.
func (r *raft) campaign(kind campaignKind) {
	if !r.promotable() {
		return
	}
	var voteTerm uint64
	var voteType MessageType
	if kind == campaignPreElection {
		r.becomePreCandidate()
		voteType = MsgPreVote
		voteTerm = r.term + 1 // the term it would campaign in; not raised yet
	} else {
		r.becomeCandidate()
		voteType = MsgVote
		voteTerm = r.term
	}
	if r.recordVote(r.id, true) == quorum.VoteWon {
		r.electionWon(kind)
		return
	}
	lastIndex, lastTerm := r.log.lastIndex(), r.log.lastTerm()
	for _, id := range r.trk.conf.Voters {
		if id == r.id {
			continue
		}
		r.send(Message{
			To: id, Type: voteType, Term: voteTerm, Index: lastIndex, LogTerm: lastTerm,
			LeaderTransfer: kind == campaignTransfer,
		})
	}
}

func (r *raft) electionWon(kind campaignKind) {
	if kind == campaignPreElection {
		r.campaign(campaignElection)
		return
	}
	r.becomeLeader()
}

// recordVote notes a member's answer (the first one counts) and tallies.
func (r *raft) recordVote(id uint64, granted bool) quorum.VoteResult {
	seen := false
	for _, v := range r.votes {
		if v.id == id {
			seen = true
			break
		}
	}
	if !seen {
		r.votes = append(r.votes, voteRecord{id: id, granted: granted})
	}
	voters, grants, rejects := 0, 0, 0
	for _, id := range r.trk.conf.Voters {
		voters++
		for _, v := range r.votes {
			if v.id != id {
				continue
			}
			if v.granted {
				grants++
			} else {
				rejects++
			}
		}
	}
	return quorum.Tally(voters, grants, rejects)
}

// handleVoteRequest answers a MsgVote or MsgPreVote whose term is at least ours.
func (r *raft) handleVoteRequest(m Message) {
	respType := MsgVoteResp
	if m.Type == MsgPreVote {
		respType = MsgPreVoteResp
	}
	canVote := r.vote == m.From || // a repeated request
		(r.vote == None && r.lead == None) || // no vote cast and no leader known this term
		(m.Type == MsgPreVote && m.Term > r.term) // a pre-vote for a future term
	if canVote && logUpToDate(m.LogTerm, m.Index, r.log.lastTerm(), r.log.lastIndex()) {
		// The answer carries the request's term: for a pre-vote, the term the candidate
		// would use, so that it is not mistaken for a stale answer.
		r.send(Message{To: m.From, Type: respType, Term: m.Term})
		if m.Type == MsgVote {
			r.electionElapsedTicks = 0
			r.vote = m.From
		}
		return
	}
	// A refusal carries this member's commit index and the term of the entry there, so that
	// a candidate holding that entry learns it is committed (see learnCommit).
	r.send(Message{To: m.From, Type: respType, Reject: true, Index: r.log.committed, LogTerm: r.log.termOrZero(r.log.committed)})
}

// learnCommit raises the commit index to index if this member holds the entry (index, term)
// that a peer reports committed: by log matching, its log up to there is the committed one.
// Peers report it when refusing a vote. Without this, a group could be stuck after removing
// its leader: if only the removed leader knew that the removal committed, the others still
// need its vote under the old configuration, and it refuses them (its log is longer).
func (r *raft) learnCommit(index, term uint64) {
	if r.state != StateLeader && index > r.log.committed && term != 0 && r.log.matchTerm(index, term) {
		r.log.commitTo(index)
	}
}

// handleVoteResponse counts an answer to this member's campaign.
func (r *raft) handleVoteResponse(m Message) {
	if (r.state == StatePreCandidate) != (m.Type == MsgPreVoteResp) {
		return // an answer to a campaign phase this member is no longer in
	}
	switch r.recordVote(m.From, !m.Reject) {
	case quorum.VoteWon:
		kind := campaignElection
		if m.Type == MsgPreVoteResp {
			kind = campaignPreElection
		}
		r.electionWon(kind)
	case quorum.VoteLost:
		// A rejection at a higher term already made this member a follower of that term.
		r.becomeFollower(r.term, None)
	}
}
