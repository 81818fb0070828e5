package raft

import (
	"errors"
	"fmt"

	"github.com/ballastdb/ballast/canary"
)

// RawNode is one Raft member driven by the application: it feeds in messages (Step), time
// (Tick) and requests (Propose, ReadIndex, ProposeConfChange, TransferLeader, Campaign), and
// takes out work with Ready / Advance. It is not safe for concurrent use; it never blocks,
// never reads a clock and never draws randomness except from Config.Rand.
//
// Every method that returns an error leaves the member's state unchanged when it does.
type RawNode struct {
	raft *raft
	// prevHardState and prevSoftState are what the last Ready handed out: the HardState
	// there is durable once that Ready is advanced.
	prevHardState HardState
	prevSoftState SoftState
	// outstanding is set from Ready until Advance.
	outstanding bool
	// outstandingReady is what the outstanding Ready handed out.
	outstandingReady Ready
	// Reused buffers, so that steady-state Ready allocates nothing.
	messagesNow, messagesAfterSync []Message
	readStates                     []ReadState
}

// NewRawNode starts a member from its Storage (a new member, or a restart from a snapshot
// plus log). Invalid configuration or stored state is an error naming the problem.
func NewRawNode(c *Config) (*RawNode, error) {
	r, err := newRaft(c)
	if err != nil {
		return nil, err
	}
	rn := &RawNode{raft: r}
	rn.prevHardState = r.hardState()
	rn.prevSoftState = r.softState()
	return rn, nil
}

// Tick advances logical time by one tick: election timeouts, heartbeats and check-quorum
// are counted in ticks.
func (rn *RawNode) Tick() { rn.raft.tick() }

// AdvanceTicks is n calls of Tick at once: etcd's advanceTicks, with which a starting member
// fast-forwards its election timer (--initial-election-tick-advance) so that its first
// campaign, if no leader is heard from, comes n ticks sooner.
func (rn *RawNode) AdvanceTicks(n int) {
	for range n {
		rn.raft.tick()
	}
}

// Step hands the member a message from a peer. Messages of other members' stale terms are
// ignored (nil); a malformed message or one addressed to another member is an error.
func (rn *RawNode) Step(m Message) error { return rn.raft.Step(m) }

// Campaign makes this member start an election now (with PreVote on, a pre-election), as if
// its election timeout had fired. It is an error on a member that may not campaign (not a
// voter, or a committed configuration change is still to be applied); on a leader it does
// nothing.
func (rn *RawNode) Campaign() error {
	if !rn.raft.promotable() {
		return fmt.Errorf("raft: member %d is not a voter and cannot campaign", rn.raft.id)
	}
	if rn.raft.state == StateLeader {
		return nil
	}
	if rn.raft.hasUnappliedConfChange() {
		return fmt.Errorf("raft: member %d must apply a committed configuration change before campaigning", rn.raft.id)
	}
	rn.raft.hup(campaignPreElection)
	return nil
}

// Propose appends data to the log if this member is the leader. A follower answers with a
// *NotLeaderError naming the leader it knows (the application decides whether to forward);
// a leader handing over leadership answers ErrProposalDropped. Raft keeps data (unmodified)
// in the log: the caller must not change it afterwards. Empty data is allowed but looks like
// a new leader's no-op entry when applied.
func (rn *RawNode) Propose(data []byte) error {
	return rn.raft.propose(Entry{Type: EntryNormal, Data: data})
}

// ProposeConfChange proposes a membership change (see ConfChange). Errors: *NotLeaderError,
// ErrConfChangeTooEarly, ErrConfChangePending, ErrConfChangeInvalid, ErrProposalDropped.
func (rn *RawNode) ProposeConfChange(cc ConfChange) error { return rn.raft.proposeConfChange(cc) }

// ReadIndex asks for a linearizable read identified by ctx (kept by raft until answered: do not
// modify it). The answer is a ReadState with
// the same ctx in a later Ready, handed out once this member has applied its Index (serve the
// read after applying that Ready's CommittedEntries). A follower forwards the request to the
// leader; with no leader known it is a *NotLeaderError. Requests are lost if leadership changes
// before they are answered: the application retries after a timeout.
func (rn *RawNode) ReadIndex(ctx []byte) error { return rn.raft.readIndex(ctx) }

// TransferLeader asks the leader to hand leadership to the voter target. Proposals fail with
// ErrProposalDropped until the transfer ends (it is abandoned after an election timeout).
func (rn *RawNode) TransferLeader(target uint64) error { return rn.raft.transferLeader(target) }

// ReportUnreachable tells the leader that a message to id could not be delivered.
func (rn *RawNode) ReportUnreachable(id uint64) { rn.raft.reportUnreachable(id) }

// ReportSnapshot tells the leader that sending a snapshot to id finished (failed: it did not
// arrive).
func (rn *RawNode) ReportSnapshot(id uint64, failed bool) { rn.raft.reportSnapshot(id, failed) }

// Ready is a batch of work for the application. Process it, then call Advance(rd).
//
// The persistence contract (what makes a crash safe):
//
//  1. Write Snapshot (if any), Entries and HardState to stable storage, in that order, and
//     sync. (Entries replace any stored entries from their first index on.)
//  2. MessagesNow may be sent at once, in parallel with the write: they are a leader's
//     appends, heartbeats, snapshots and read answers, which depend on nothing in this
//     Ready's write. (A leader may replicate its entries before its own disk has them; it
//     counts its own copy toward the commit quorum only from Advance on, i.e. once durable.)
//  3. MessagesAfterSync may be sent only once step 1 is durable: they include votes, append
//     acknowledgements and campaign requests, which promise what was just written.
//  4. Apply CommittedEntries in order (they are always already durable: raft hands out an
//     entry for applying only after an earlier Ready's Advance made it stable). Install
//     Snapshot into the state machine if present.
//  5. Serve ReadStates: each is handed out only when this member's applied index, counting
//     this Ready's CommittedEntries, has reached its Index.
//  6. Call Advance(rd) — only after step 1 is durable.
//
// Only one Ready is outstanding at a time: HasReady is false until Advance. Step, Tick and the
// request methods may be called in between; their output comes in the next Ready. Slices in a
// Ready are owned by raft again after the next call to Ready: copy what must live longer.
type Ready struct {
	// SoftState is the new leader/role, or nil if unchanged.
	SoftState *SoftState
	// HardState is the new hard state, or empty if unchanged.
	HardState HardState
	// Entries are to be appended to stable storage.
	Entries []Entry
	// Snapshot is to be installed (empty if none).
	Snapshot Snapshot
	// CommittedEntries are to be applied to the state machine, in order. EntryNormal entries
	// with empty Data are new leaders' no-ops; EntryConfChange entries are applied by raft
	// itself on Advance (the application may look at them, e.g. to dial a new member).
	CommittedEntries []Entry
	// MessagesNow may be sent at once.
	MessagesNow []Message
	// MessagesAfterSync may be sent only after HardState, Entries and Snapshot are durable.
	MessagesAfterSync []Message
	// ReadStates are confirmed reads whose Index this member has applied (after
	// CommittedEntries).
	ReadStates []ReadState
	// MustSync reports whether step 1 needs a sync (a term, vote, entry or snapshot changed).
	MustSync bool
}

// messageMayGoNow decides which messages may be sent in parallel with the Ready's write: a
// leader's messages in a term that is already durable (its appends do not depend on its own
// write; everything else of a member promises something of its durable state).
func messageMayGoNow(m *Message, durableTerm uint64) bool {
	if canary.On(canary.VoteNotDurable) && m.Type == MsgVoteResp {
		return true // broken on purpose: a vote goes out before it is durable
	}
	switch m.Type {
	case MsgApp, MsgHeartbeat, MsgSnap, MsgTimeoutNow, MsgReadIndexResp:
		return m.Term <= durableTerm
	}
	return false
}

// HasReady reports whether Ready would hand out anything (false while a Ready is
// outstanding).
func (rn *RawNode) HasReady() bool {
	if rn.outstanding {
		return false
	}
	r := rn.raft
	return r.softState() != rn.prevSoftState ||
		r.hardState() != rn.prevHardState ||
		len(r.log.unstable.entries) > 0 ||
		r.log.unstable.snapshot != nil ||
		len(r.msgs) > 0 ||
		r.log.hasNextCommittedEntries() ||
		r.reads.hasReadStates(r.log.applied)
}

// Ready returns the work to do now. It panics if the previous Ready was not advanced.
func (rn *RawNode) Ready() Ready {
	if rn.outstanding {
		panic("raft: Ready called again before Advance of the previous Ready")
	}
	r := rn.raft
	var rd Ready
	if r.softState() != rn.prevSoftState {
		rd.SoftState = new(SoftState)
		*rd.SoftState = r.softState()
		rn.prevSoftState = *rd.SoftState
	}
	durableTerm := rn.prevHardState.Term
	if hs := r.hardState(); hs != rn.prevHardState {
		if hs.Term < rn.prevHardState.Term || hs.Commit < rn.prevHardState.Commit {
			panic(fmt.Sprintf("raft: hard state going back from %+v to %+v", rn.prevHardState, hs))
		}
		rd.HardState = hs
		rd.MustSync = hs.Term != rn.prevHardState.Term || hs.Vote != rn.prevHardState.Vote
		rn.prevHardState = hs
	}
	if s := r.log.unstable.snapshot; s != nil {
		rd.Snapshot = *s
		rd.MustSync = true
	}
	if len(r.log.unstable.entries) > 0 {
		rd.Entries = r.log.unstable.entries[:len(r.log.unstable.entries):len(r.log.unstable.entries)]
		rd.MustSync = true
	}
	rd.CommittedEntries = r.log.nextCommittedEntries()
	if n := len(rd.CommittedEntries); n > 0 && rd.CommittedEntries[0].Index != r.log.applied+1 {
		panic(fmt.Sprintf("raft: committed entries start at %d, applied is %d", rd.CommittedEntries[0].Index, r.log.applied))
	}
	rn.messagesNow, rn.messagesAfterSync = rn.messagesNow[:0], rn.messagesAfterSync[:0]
	for i := range r.msgs {
		if messageMayGoNow(&r.msgs[i], durableTerm) {
			rn.messagesNow = append(rn.messagesNow, r.msgs[i])
		} else {
			rn.messagesAfterSync = append(rn.messagesAfterSync, r.msgs[i])
		}
		r.msgs[i] = Message{} // drop references for the garbage collector
	}
	r.msgs = r.msgs[:0]
	rd.MessagesNow, rd.MessagesAfterSync = rn.messagesNow, rn.messagesAfterSync
	appliedAfter := r.log.applied
	if n := len(rd.CommittedEntries); n > 0 {
		appliedAfter = rd.CommittedEntries[n-1].Index
	}
	rn.readStates = r.reads.takeReadStates(appliedAfter, rn.readStates[:0])
	rd.ReadStates = rn.readStates
	rn.outstanding = true
	rn.outstandingReady = rd
	return rd
}

// errReadyMismatch is the panic value text for an Advance of a Ready not handed out.
var errReadyMismatch = errors.New("raft: Advance of a Ready that is not the outstanding one")

// Advance acknowledges that rd (the last Ready) is processed: its writes are durable and its
// committed entries applied. The leader counts its own new entries toward the commit quorum
// from here; applied configuration changes take effect here.
func (rn *RawNode) Advance(rd Ready) {
	if !rn.outstanding {
		panic("raft: Advance without an outstanding Ready")
	}
	if len(rd.Entries) != len(rn.outstandingReady.Entries) || len(rd.CommittedEntries) != len(rn.outstandingReady.CommittedEntries) {
		panic(errReadyMismatch)
	}
	rn.outstanding = false
	rn.outstandingReady = Ready{}
	r := rn.raft
	if !rd.Snapshot.IsEmpty() {
		r.log.stableSnapTo(rd.Snapshot.Metadata.Index)
		r.log.appliedTo(max(r.log.applied, rd.Snapshot.Metadata.Index))
	}
	// The written entries are durable as far as the log still holds them: a newer leader may
	// have replaced a suffix since the Ready was handed out (the replacement comes next).
	for i := len(rd.Entries) - 1; i >= 0; i-- {
		e := &rd.Entries[i]
		if r.log.matchTerm(e.Index, e.Term) {
			r.log.stableTo(e.Index, e.Term)
			if r.state == StateLeader {
				r.selfAck(e.Index)
			}
			break
		}
	}
	for i := range rd.CommittedEntries {
		e := &rd.CommittedEntries[i]
		if e.Index != r.log.applied+1 {
			panic(fmt.Sprintf("raft: applying entry %d after %d: an applied index would be skipped", e.Index, r.log.applied))
		}
		r.log.appliedTo(e.Index)
		if e.Type == EntryConfChange {
			r.applyConfChangeEntry(e)
		}
	}
}

// Status is a snapshot of the member's state, for observation and tests.
type Status struct {
	// ID is this member's ID.
	ID uint64
	HardState
	SoftState
	// Applied is the applied index (as acknowledged by Advance).
	Applied uint64
	// LastIndex is the index of the last entry of the log (durable or not).
	LastIndex uint64
	// Config is the configuration in effect (as of Applied).
	Config ConfState
	// Progress is, on a leader, each member's replication progress, by ID.
	Progress []ProgressStatus
	// LeadTransferee is the target of a leadership transfer in progress, or None.
	LeadTransferee uint64
}

// ProgressStatus is the leader's view of one member.
type ProgressStatus struct {
	// ID is the member's ID.
	ID uint64
	// Match is the highest index known to be in the member's log.
	Match uint64
	// Next is the next index the leader will send it.
	Next uint64
	// State is "StateProbe", "StateReplicate" or "StateSnapshot".
	State string
	// RecentActive: the member answered within the current check-quorum round.
	RecentActive bool
	// IsLearner: the member is a learner.
	IsLearner bool
	// InflightMsgs is the number of appends sent and not yet acknowledged.
	InflightMsgs int
	// PendingSnapshot is the index of the snapshot being sent (StateSnapshot).
	PendingSnapshot uint64
}

// PeerMatch is a leader's belief about one member's log: Match is the highest index known
// to be in it.
type PeerMatch struct{ ID, Match uint64 }

// Matches appends to dst, on a leader, every member's ID and Match (itself included), in
// the tracker's order, and returns it; on any other member it returns dst unchanged. It is
// Status's Progress without its allocations, for an observer that asks at every step (the
// simulator's safety checker holds each Match against the member's log).
func (rn *RawNode) Matches(dst []PeerMatch) []PeerMatch {
	r := rn.raft
	if r.state != StateLeader {
		return dst
	}
	for _, p := range r.trk.progress {
		dst = append(dst, PeerMatch{ID: p.id, Match: p.match})
	}
	return dst
}

// States is the member's hard and soft state, the part of Status that costs nothing:
// Status copies the configuration and, on a leader, every peer's progress, which callers on
// the path of each message or sync (asking only for the role or the term) need not pay for.
func (rn *RawNode) States() (HardState, SoftState) {
	return rn.raft.hardState(), rn.raft.softState()
}

// Status returns the member's current state.
func (rn *RawNode) Status() Status {
	r := rn.raft
	st := Status{
		ID:             r.id,
		HardState:      r.hardState(),
		SoftState:      r.softState(),
		Applied:        r.log.applied,
		LastIndex:      r.log.lastIndex(),
		Config:         cloneConfState(r.trk.conf),
		LeadTransferee: r.leadTransferee,
	}
	if r.state == StateLeader {
		for _, p := range r.trk.progress {
			st.Progress = append(st.Progress, ProgressStatus{
				ID: p.id, Match: p.match, Next: p.next, State: p.state.String(), RecentActive: p.recentActive,
				IsLearner: p.isLearner, InflightMsgs: p.inflights.count, PendingSnapshot: p.pendingSnapshot,
			})
		}
	}
	return st
}
