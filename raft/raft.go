package raft

import (
	"fmt"
	"slices"
)

// raft is one member's protocol state. RawNode wraps it with the Ready/Advance interface.
type raft struct {
	id    uint64
	term  uint64
	vote  uint64
	state StateType
	// lead is the leader of the current term, if known.
	lead uint64

	log *raftLog
	trk tracker
	// votes collects the answers of the current (pre-)campaign.
	votes []voteRecord

	// msgs are the messages produced since the last Ready.
	msgs []Message

	electionTimeoutTicks   int
	heartbeatIntervalTicks int
	// randomizedElectionTimeoutTicks is in [electionTimeoutTicks, 2*electionTimeoutTicks).
	randomizedElectionTimeoutTicks int
	// electionElapsedTicks counts ticks since the last reset: on a follower, since it last
	// heard from a leader (or granted a vote); on a leader, since the last check-quorum round.
	electionElapsedTicks  int
	heartbeatElapsedTicks int
	rand                  RandomSource

	preVote     bool
	checkQuorum bool

	maxBytesPerMsg        uint64
	maxUncommittedEntries uint64

	// leadTransferee is the target of a leadership transfer in progress, or None.
	leadTransferee uint64
	// pendingConfIndex is the index of the latest configuration change the leader appended;
	// no new change is accepted until the applied index reaches it.
	pendingConfIndex uint64

	reads readIndexState
}

func newRaft(c *Config) (*raft, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	hs, conf, err := c.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: reading initial state: %w", err)
	}
	r := &raft{
		id:                     c.ID,
		log:                    newLog(c.Storage, c.MaxApplyBytesPerReady),
		electionTimeoutTicks:   c.ElectionTimeoutTicks,
		heartbeatIntervalTicks: c.HeartbeatIntervalTicks,
		rand:                   c.Rand,
		preVote:                c.PreVote,
		checkQuorum:            c.CheckQuorum,
		maxBytesPerMsg:         c.MaxBytesPerMsg,
		maxUncommittedEntries:  c.MaxUncommittedEntries,
		trk:                    tracker{maxInflightMsgs: c.MaxInflightMsgs, maxInflightBytes: c.MaxInflightBytes},
		reads:                  readIndexState{maxPending: c.MaxPendingReads},
	}
	if r.reads.maxPending == 0 {
		r.reads.maxPending = 4096
	}
	snapIndex := r.log.committed
	if !hs.IsEmpty() {
		if hs.Commit < snapIndex || hs.Commit > r.log.lastIndex() {
			return nil, fmt.Errorf("%w: stored commit index %d outside the log [%d, %d]", ErrInvalidConfig, hs.Commit, snapIndex, r.log.lastIndex())
		}
		r.term, r.vote, r.log.committed = hs.Term, hs.Vote, hs.Commit
	}
	if c.Applied > 0 {
		if c.Applied > r.log.committed {
			return nil, fmt.Errorf("%w: Applied %d beyond the commit index %d", ErrInvalidConfig, c.Applied, r.log.committed)
		}
		r.log.applied = max(c.Applied, snapIndex)
	}
	for _, id := range conf.Learners {
		if slices.Contains(conf.Voters, id) || id == None {
			return nil, fmt.Errorf("%w: stored configuration %s: member %d is invalid or both voter and learner", ErrInvalidConfig, conf, id)
		}
	}
	r.trk.setConf(conf, r.log.lastIndex()+1)
	// Configuration changes take effect when applied: replay those applied after the snapshot.
	if r.log.applied > snapIndex {
		ents, err := r.log.slice(snapIndex+1, r.log.applied+1, noLimit)
		if err != nil {
			return nil, fmt.Errorf("raft: reading applied entries (%d, %d]: %w", snapIndex, r.log.applied, err)
		}
		for i := range ents {
			if ents[i].Type == EntryConfChange {
				r.applyConfChangeEntry(&ents[i])
			}
		}
	}
	r.becomeFollower(r.term, None)
	return r, nil
}

// noLimit is a byte limit that never binds.
const noLimit = ^uint64(0)

func (r *raft) hardState() HardState {
	return HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

// promotable reports whether this member may campaign: it is a voter of the configuration.
func (r *raft) promotable() bool { return r.trk.isVoter(r.id) }

// send queues a message, stamping it with this member's ID and (except for answers to
// pre-votes, which carry the asked term) its term.
func (r *raft) send(m Message) {
	m.From = r.id
	if m.Term == 0 {
		m.Term = r.term
	}
	r.msgs = append(r.msgs, m)
}

// setTerm moves to a new term; terms never go back.
func (r *raft) setTerm(term uint64) {
	if term < r.term {
		panic(fmt.Sprintf("raft: term going back from %d to %d", r.term, term))
	}
	if term > r.term {
		r.term = term
		r.vote = None
	}
}

func (r *raft) reset(term uint64) {
	r.setTerm(term)
	r.lead = None
	r.electionElapsedTicks = 0
	r.heartbeatElapsedTicks = 0
	r.resetRandomizedElectionTimeout()
	r.votes = r.votes[:0]
	r.leadTransferee = None
	r.reads.reset()
	r.trk.resetAll(r.log.lastIndex())
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeoutTicks = r.electionTimeoutTicks + int(r.rand.Uint64()%uint64(r.electionTimeoutTicks))
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.reset(term)
	r.state = StateFollower
	r.lead = lead
}

func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic("raft: leader cannot become pre-candidate")
	}
	// The term is not raised, so the vote stays: a pre-campaign changes no HardState.
	r.reset(r.term)
	r.state = StatePreCandidate
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		panic("raft: leader cannot become candidate")
	}
	r.reset(r.term + 1)
	r.vote = r.id
	r.state = StateCandidate
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		panic("raft: follower cannot become leader without an election")
	}
	r.reset(r.term)
	r.state = StateLeader
	r.lead = r.id
	self := r.trk.get(r.id)
	if self == nil || self.isLearner {
		panic(fmt.Sprintf("raft: member %d is not a voter of %s and cannot lead", r.id, r.trk.conf))
	}
	// The leader's own log counts only as far as it is durable.
	self.match = r.log.stableLastIndex()
	self.next = r.log.lastIndex() + 1
	self.becomeReplicate()
	self.recentActive = true
	// Any configuration change in the uncommitted tail may still be pending.
	r.pendingConfIndex = r.log.lastIndex()
	// A new leader appends an empty entry of its term: committing it commits everything
	// before it (Figure 8) and lets read-index and configuration changes proceed.
	r.appendEntries(Entry{Type: EntryNormal})
}

// Step advances the state machine with one message from a peer.
func (r *raft) Step(m Message) error {
	if m.Type == 0 || int(m.Type) >= len(messageTypeNames) {
		return fmt.Errorf("%w: unknown type %d from %d", ErrInvalidMessage, m.Type, m.From)
	}
	if m.To != r.id || m.From == None || m.From == r.id || m.Term == 0 {
		return fmt.Errorf("%w: %s (this member is %d)", ErrInvalidMessage, m, r.id)
	}
	if err := checkMessageBody(&m); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidMessage, m, err)
	}
	switch {
	case m.Term > r.term:
		if (m.Type == MsgVote || m.Type == MsgPreVote) && r.inLease() && !m.LeaderTransfer {
			// The leader lease: this member heard from a live leader within the election
			// timeout, so it ignores the request (a rejoining member must not disrupt it).
			return nil
		}
		switch {
		case m.Type == MsgPreVote:
			// A pre-vote never changes a term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// A granted pre-vote carries the term the campaign will use, not a real one.
		case m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap:
			r.becomeFollower(m.Term, m.From)
		default:
			r.becomeFollower(m.Term, None)
		}
	case m.Term < r.term:
		switch {
		case (r.checkQuorum || r.preVote) && (m.Type == MsgHeartbeat || m.Type == MsgApp):
			// A stale leader, perhaps back from a partition: tell it the current term so it
			// steps down. (Without this, with PreVote or CheckQuorum it could never learn it,
			// because the others ignore or reject its votes.)
			r.send(Message{To: m.From, Type: MsgAppResp})
		case m.Type == MsgPreVote:
			r.send(Message{To: m.From, Type: MsgPreVoteResp, Reject: true})
		}
		return nil
	}

	switch m.Type {
	case MsgVote, MsgPreVote:
		r.handleVoteRequest(m)
		return nil
	case MsgVoteResp, MsgPreVoteResp:
		if m.Reject {
			r.learnCommit(m.Index, m.LogTerm)
		}
	}
	switch r.state {
	case StateLeader:
		r.stepLeader(m)
	case StateCandidate, StatePreCandidate:
		r.stepCandidate(m)
	default:
		r.stepFollower(m)
	}
	return nil
}

// checkMessageBody rejects messages whose content breaks what the protocol guarantees, so that
// a corrupt or mis-decoded message is an error rather than a broken invariant.
func checkMessageBody(m *Message) error {
	switch m.Type {
	case MsgApp:
		prevIndex, prevTerm := m.Index, m.LogTerm
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.Index != prevIndex+1 {
				return fmt.Errorf("entry %d has index %d, want %d", i, e.Index, prevIndex+1)
			}
			if e.Term < prevTerm || e.Term > m.Term {
				return fmt.Errorf("entry %d has term %d, outside [%d, %d]", i, e.Term, prevTerm, m.Term)
			}
			prevIndex, prevTerm = e.Index, e.Term
		}
		if m.LogTerm > m.Term {
			return fmt.Errorf("previous entry's term %d above the message term", m.LogTerm)
		}
	case MsgSnap:
		if m.Snapshot == nil || m.Snapshot.IsEmpty() {
			return fmt.Errorf("no snapshot")
		}
		if m.Snapshot.Metadata.Term > m.Term {
			return fmt.Errorf("snapshot term %d above the message term", m.Snapshot.Metadata.Term)
		}
	}
	return nil
}

// stepLeader: the leader replicates, commits, confirms reads and hands over leadership.
func (r *raft) stepLeader(m Message) {
	pr := r.trk.get(m.From)
	if pr == nil {
		return // not a member (any more)
	}
	switch m.Type {
	case MsgAppResp:
		pr.recentActive = true
		r.handleAppendResponse(pr, m)
	case MsgHeartbeatResp:
		pr.recentActive = true
		r.handleHeartbeatResponse(pr, m)
	case MsgReadIndex:
		// A follower forwards a read: answer it once leadership is confirmed. A full queue
		// drops it; the follower's application retries.
		_ = r.handleReadRequest(m.From, m.Context)
	}
}

// stepCandidate: a (pre-)candidate counts votes, or learns of a leader of its term.
func (r *raft) stepCandidate(m Message) {
	switch m.Type {
	case MsgApp, MsgHeartbeat, MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.stepFollower(m)
	case MsgVoteResp, MsgPreVoteResp:
		r.handleVoteResponse(m)
	}
}

// stepFollower: a follower takes the leader's log, heartbeats and snapshots.
func (r *raft) stepFollower(m Message) {
	switch m.Type {
	case MsgApp:
		r.electionElapsedTicks = 0
		r.lead = m.From
		r.handleAppend(m)
	case MsgHeartbeat:
		r.electionElapsedTicks = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case MsgSnap:
		r.electionElapsedTicks = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgTimeoutNow:
		// The leader hands over: campaign at once, bypassing PreVote and the lease, but (via
		// hup) not under a configuration with a committed change still unapplied.
		r.hup(campaignTransfer)
	case MsgReadIndexResp:
		r.reads.addReadState(ReadState{Index: m.Index, RequestCtx: m.Context})
	}
}

// tick advances logical time by one tick.
func (r *raft) tick() {
	if r.state == StateLeader {
		r.tickLeader()
		return
	}
	r.electionElapsedTicks++
	if r.promotable() && r.electionElapsedTicks >= r.randomizedElectionTimeoutTicks {
		r.electionElapsedTicks = 0
		r.hup(campaignPreElection)
	}
}

func (r *raft) tickLeader() {
	r.heartbeatElapsedTicks++
	r.electionElapsedTicks++
	if r.electionElapsedTicks >= r.electionTimeoutTicks {
		r.electionElapsedTicks = 0
		if r.checkQuorum {
			if !r.trk.quorumActive(r.id) {
				// Partitioned from a quorum: a leader that cannot commit must not keep
				// serving reads or accepting writes.
				r.becomeFollower(r.term, None)
				return
			}
			r.trk.clearRecentActive(r.id)
		}
		// A transfer that did not finish within an election timeout is abandoned.
		r.leadTransferee = None
		if !r.promotable() {
			// Removed from the configuration and the handover did not finish: step down.
			r.becomeFollower(r.term, None)
			return
		}
		r.trk.expireSnapshots()
	}
	if r.heartbeatElapsedTicks >= r.heartbeatIntervalTicks {
		r.heartbeatElapsedTicks = 0
		r.broadcastHeartbeat()
	}
}

// appendEntries appends entries of the leader's term to its log (unstable until the
// application persists them; the leader's own progress counts them only from Advance).
func (r *raft) appendEntries(ents ...Entry) {
	last := r.log.lastIndex()
	for i := range ents {
		ents[i].Term = r.term
		ents[i].Index = last + 1 + uint64(i)
	}
	r.log.append(ents...)
	r.broadcastAppend()
}

// propose appends application data as a new entry. Only a leader accepts it.
func (r *raft) propose(ents ...Entry) error {
	if r.state != StateLeader {
		return &NotLeaderError{LeaderID: r.lead, Term: r.term}
	}
	if r.leadTransferee != None {
		return fmt.Errorf("%w: leadership transfer to %d in progress", ErrProposalDropped, r.leadTransferee)
	}
	if !r.promotable() {
		return fmt.Errorf("%w: leader %d was removed from the configuration and is handing over", ErrProposalDropped, r.id)
	}
	if uncommitted := r.log.lastIndex() - r.log.committed; r.maxUncommittedEntries > 0 && uncommitted+uint64(len(ents)) > r.maxUncommittedEntries {
		return fmt.Errorf("%w: %d uncommitted entries pending, limit %d", ErrProposalDropped, uncommitted, r.maxUncommittedEntries)
	}
	r.appendEntries(ents...)
	return nil
}

// committedEntryInCurrentTerm reports whether the leader has committed an entry of its own
// term, which read-index and membership changes wait for.
func (r *raft) committedEntryInCurrentTerm() bool {
	return r.log.termOrZero(r.log.committed) == r.term
}

// onCommitAdvance runs on the leader each time its commit index moves.
func (r *raft) onCommitAdvance() {
	if r.committedEntryInCurrentTerm() {
		r.releaseWaitingReads()
	}
}

// selfAck is the leader acknowledging its own durable log up to index (from Advance).
func (r *raft) selfAck(index uint64) {
	pr := r.trk.get(r.id)
	if pr == nil {
		return
	}
	if pr.maybeUpdate(index) && r.maybeCommit() {
		r.broadcastAppend()
	}
}
