package raft

import (
	"errors"
	"fmt"

	"github.com/ballastdb/ballast/canary"
)

// commitAllowed is the commit rule of Raft §5.4.2 (Figure 8): a leader commits by counting
// replicas only an entry of its own term; earlier entries commit with it, never on their own.
func commitAllowed(entryTerm, leaderTerm uint64) bool {
	if canary.On(canary.CommitOldTerm) {
		return entryTerm <= leaderTerm // broken on purpose: Figure 8's unsafe commit
	}
	return entryTerm == leaderTerm
}

// maybeCommit raises the commit index to what a quorum holds, if commitAllowed. It reports
// whether the commit index moved.
func (r *raft) maybeCommit() bool {
	if !r.log.maybeCommit(r.trk.committed(), r.term) {
		return false
	}
	r.onCommitAdvance()
	return true
}

// broadcastAppend sends every follower what it is missing (as far as its window allows).
func (r *raft) broadcastAppend() {
	for _, pr := range r.trk.progress {
		if pr.id != r.id {
			r.maybeSendAppend(pr, true)
		}
	}
}

// maybeSendAppend sends one append to pr (or a snapshot if the entries it needs are
// compacted). With sendIfEmpty false it sends nothing when there are no entries to carry.
// It reports whether a message went out.
func (r *raft) maybeSendAppend(pr *progress, sendIfEmpty bool) bool {
	if pr.isPaused() {
		return false
	}
	prevIndex := pr.next - 1
	prevTerm, errTerm := r.log.term(prevIndex)
	ents, errEnts := r.log.entries(pr.next, r.maxBytesPerMsg)
	if len(ents) == 0 && !sendIfEmpty && errTerm == nil && errEnts == nil {
		return false
	}
	if errTerm != nil || errEnts != nil {
		return r.sendSnapshot(pr)
	}
	var bytes uint64
	for i := range ents {
		bytes += ents[i].sizeBytes()
	}
	r.send(Message{To: pr.id, Type: MsgApp, Index: prevIndex, LogTerm: prevTerm, Entries: ents, Commit: r.log.committed})
	last := prevIndex
	if len(ents) > 0 {
		last = ents[len(ents)-1].Index
	}
	pr.sentCommit = max(pr.sentCommit, min(r.log.committed, last))
	pr.sentEntries(len(ents), bytes, last)
	return true
}

// sendSnapshot sends pr the storage's snapshot, because the entries it needs are compacted.
func (r *raft) sendSnapshot(pr *progress) bool {
	snap, err := r.log.storage.Snapshot()
	if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
		return false // retried on the next heartbeat response
	}
	mustStorage(err)
	if snap.IsEmpty() {
		panic(fmt.Sprintf("raft: entries for %d compacted but the storage has no snapshot", pr.id))
	}
	pr.becomeSnapshot(snap.Metadata.Index)
	r.send(Message{To: pr.id, Type: MsgSnap, Snapshot: &snap})
	return true
}

// broadcastHeartbeat sends every follower a heartbeat carrying the latest read round.
func (r *raft) broadcastHeartbeat() {
	for _, pr := range r.trk.progress {
		if pr.id == r.id {
			continue
		}
		// The commit index is capped at what the follower is known to hold: it may not have
		// the entries yet.
		commit := min(pr.match, r.log.committed)
		pr.sentCommit = max(pr.sentCommit, commit)
		r.send(Message{To: pr.id, Type: MsgHeartbeat, Commit: commit, ReadRound: r.reads.round})
	}
}

// handleAppend is a follower taking entries from the leader: the log-matching check, then
// append (truncating a conflicting suffix) and commit.
func (r *raft) handleAppend(m Message) {
	if m.Index < r.log.committed {
		// Already committed here: acknowledge what is known to match.
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return
	}
	if lastNew, ok := r.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: lastNew})
		return
	}
	if canary.On(canary.FollowerCommitBeyondMatch) {
		// broken on purpose: a rejected append still moves the commit index to the
		// leader's, bounded by this log's end, though it verified nothing of this log
		r.log.commitTo(min(m.Commit, r.log.lastIndex()))
	}
	// Reject with a hint: the largest index at or below the leader's that could still match,
	// i.e. whose term is at most the leader's term there. The leader skips everything above.
	hintIndex, hintTerm := r.log.findConflictByTerm(min(m.Index, r.log.lastIndex()), m.LogTerm)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: m.Index, Reject: true, RejectHint: hintIndex, LogTerm: hintTerm})
}

// handleHeartbeat is a follower hearing from its leader.
func (r *raft) handleHeartbeat(m Message) {
	r.log.commitTo(min(m.Commit, r.log.lastIndex()))
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, ReadRound: m.ReadRound})
}

// handleAppendResponse is the leader learning how far a follower's log matches.
func (r *raft) handleAppendResponse(pr *progress, m Message) {
	if m.Reject {
		next := m.RejectHint
		if m.LogTerm > 0 {
			// Skip the follower's whole conflicting term: find, in the leader's log, the
			// last index whose term is at most the follower's term at the hint.
			next, _ = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.maybeDecrTo(m.Index, next) {
			if pr.state == progressReplicate {
				pr.becomeProbe()
			}
			r.maybeSendAppend(pr, true)
		}
		return
	}
	if !pr.maybeUpdate(m.Index) {
		return
	}
	switch {
	case pr.state == progressProbe:
		pr.becomeReplicate()
	case pr.state == progressSnapshot && pr.match+1 >= r.log.firstIndex():
		// The snapshot (or an append after it) arrived: the follower can continue from the
		// log.
		pr.becomeProbe()
		pr.becomeReplicate()
	case pr.state == progressReplicate:
		pr.inflights.freeLE(m.Index)
	}
	if r.maybeCommit() {
		r.broadcastAppend()
	} else {
		for r.maybeSendAppend(pr, false) {
		}
	}
	r.maybeSendCommit(pr)
	if pr.id == r.leadTransferee && pr.match == r.log.lastIndex() {
		r.sendTimeoutNow(pr.id)
	}
}

// handleHeartbeatResponse is the leader hearing a follower answer a heartbeat.
func (r *raft) handleHeartbeatResponse(pr *progress, m Message) {
	pr.probeSent = false
	if pr.state == progressReplicate && pr.inflights.full() {
		// Answers may have been lost: let one more append out so replication cannot stall.
		pr.inflights.freeFirst()
	}
	if pr.match < r.log.lastIndex() {
		r.maybeSendAppend(pr, true)
	}
	if m.ReadRound > pr.readRoundAcked {
		pr.readRoundAcked = m.ReadRound
		r.releaseConfirmedReads()
	}
}

// maybeSendCommit tells pr the commit index if it holds committed entries it has not been told
// are committed: when the commit moved while its window was full, broadcastAppend skipped it,
// and it would otherwise wait for the next heartbeat. The message appends nothing after
// pr.match, which pr is known to hold, so it never disturbs the appends in flight.
func (r *raft) maybeSendCommit(pr *progress) {
	commit := min(r.log.committed, pr.match)
	if pr.sentCommit >= commit || pr.id == r.id {
		return
	}
	term, err := r.log.term(pr.match)
	if err != nil {
		return // compacted: the next heartbeat carries it
	}
	pr.sentCommit = commit
	r.send(Message{To: pr.id, Type: MsgApp, Index: pr.match, LogTerm: term, Commit: r.log.committed})
}
