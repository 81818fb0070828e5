package raft

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Membership changes, one at a time (Raft thesis §4.1). A change is an EntryConfChange entry;
// it takes effect on every member when the member applies it (when Advance acknowledges the
// Ready that handed it out), so all members switch at the same point of the log. The leader
// accepts a change only when (a) it has committed an entry of its own term, which closes the
// single-server-change hole found after the thesis (a new leader could otherwise overlap a
// change of the previous term with its own), and (b) no earlier change is still unapplied.
// Removing the leader: it keeps leading until the change is applied (the change commits under
// the old configuration, which counts the leader), then hands leadership to the most
// up-to-date remaining voter (as in a leadership transfer) and steps down; it stops accepting
// proposals from the moment it applies its removal.

// ConfChangeType is the kind of a membership change.
type ConfChangeType uint8

// The kinds of change.
const (
	// ConfChangeAddVoter adds a voter, or promotes a learner to voter.
	ConfChangeAddVoter ConfChangeType = iota + 1
	// ConfChangeAddLearner adds a learner: it receives the log but neither votes nor counts
	// for any quorum.
	ConfChangeAddLearner
	// ConfChangeRemoveNode removes a voter or a learner.
	ConfChangeRemoveNode
)

var confChangeTypeNames = [...]string{"ConfChange(0)", "AddVoter", "AddLearner", "RemoveNode"}

// String names the change kind.
func (t ConfChangeType) String() string {
	if int(t) < len(confChangeTypeNames) {
		return confChangeTypeNames[t]
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is one membership change.
type ConfChange struct {
	// Type is the kind of change.
	Type ConfChangeType
	// NodeID is the member added, promoted or removed.
	NodeID uint64
}

// String renders the change, e.g. "AddVoter(4)".
func (cc ConfChange) String() string { return fmt.Sprintf("%s(%d)", cc.Type, cc.NodeID) }

// confChangeEncodingVersion is the first byte of an encoded ConfChange.
const confChangeEncodingVersion = 1

// Marshal encodes the change for an EntryConfChange entry: a version byte, the type byte,
// and the node ID as 8 big-endian bytes.
func (cc ConfChange) Marshal() []byte {
	b := make([]byte, 10)
	b[0] = confChangeEncodingVersion
	b[1] = byte(cc.Type)
	binary.BigEndian.PutUint64(b[2:], cc.NodeID)
	return b
}

// UnmarshalConfChange decodes what Marshal encoded.
func UnmarshalConfChange(b []byte) (ConfChange, error) {
	if len(b) != 10 {
		return ConfChange{}, fmt.Errorf("%w: encoded change has %d bytes, want 10", ErrConfChangeInvalid, len(b))
	}
	if b[0] != confChangeEncodingVersion {
		return ConfChange{}, fmt.Errorf("%w: unknown encoding version %d", ErrConfChangeInvalid, b[0])
	}
	cc := ConfChange{Type: ConfChangeType(b[1]), NodeID: binary.BigEndian.Uint64(b[2:])}
	if cc.Type < ConfChangeAddVoter || cc.Type > ConfChangeRemoveNode {
		return ConfChange{}, fmt.Errorf("%w: unknown change type %d", ErrConfChangeInvalid, b[1])
	}
	return cc, nil
}

// checkConfChange says why cc does not apply to conf, or nil if it does.
func checkConfChange(conf ConfState, cc ConfChange) error {
	isVoter, isLearner := slices.Contains(conf.Voters, cc.NodeID), slices.Contains(conf.Learners, cc.NodeID)
	switch {
	case cc.NodeID == None:
		return fmt.Errorf("%w: %s: node ID 0", ErrConfChangeInvalid, cc)
	case cc.Type == ConfChangeAddVoter && isVoter:
		return fmt.Errorf("%w: %s: already a voter", ErrConfChangeInvalid, cc)
	case cc.Type == ConfChangeAddLearner && isVoter:
		return fmt.Errorf("%w: %s: is a voter (demotion is not supported; remove it first)", ErrConfChangeInvalid, cc)
	case cc.Type == ConfChangeAddLearner && isLearner:
		return fmt.Errorf("%w: %s: already a learner", ErrConfChangeInvalid, cc)
	case cc.Type == ConfChangeRemoveNode && !isVoter && !isLearner:
		return fmt.Errorf("%w: %s: not a member", ErrConfChangeInvalid, cc)
	case cc.Type == ConfChangeRemoveNode && isVoter && len(conf.Voters) == 1:
		return fmt.Errorf("%w: %s: the last voter", ErrConfChangeInvalid, cc)
	case cc.Type < ConfChangeAddVoter || cc.Type > ConfChangeRemoveNode:
		return fmt.Errorf("%w: unknown change type %d", ErrConfChangeInvalid, cc.Type)
	}
	return nil
}

// applyConfChangeTo returns conf with cc applied (conf itself is not modified).
func applyConfChangeTo(conf ConfState, cc ConfChange) ConfState {
	out := ConfState{
		Voters:   slices.DeleteFunc(slices.Clone(conf.Voters), func(id uint64) bool { return id == cc.NodeID }),
		Learners: slices.DeleteFunc(slices.Clone(conf.Learners), func(id uint64) bool { return id == cc.NodeID }),
	}
	switch cc.Type {
	case ConfChangeAddVoter:
		out.Voters = append(out.Voters, cc.NodeID)
	case ConfChangeAddLearner:
		out.Learners = append(out.Learners, cc.NodeID)
	}
	slices.Sort(out.Voters)
	slices.Sort(out.Learners)
	return out
}

// proposeConfChange is the leader accepting a membership change.
func (r *raft) proposeConfChange(cc ConfChange) error {
	if r.state != StateLeader {
		return &NotLeaderError{LeaderID: r.lead, Term: r.term}
	}
	if r.leadTransferee != None {
		return fmt.Errorf("%w: leadership transfer to %d in progress", ErrProposalDropped, r.leadTransferee)
	}
	if !r.committedEntryInCurrentTerm() {
		return fmt.Errorf("%w (term %d, commit index %d)", ErrConfChangeTooEarly, r.term, r.log.committed)
	}
	if r.pendingConfIndex > r.log.applied {
		return fmt.Errorf("%w: the change at index %d is not applied yet (applied %d)", ErrConfChangePending, r.pendingConfIndex, r.log.applied)
	}
	if err := checkConfChange(r.trk.conf, cc); err != nil {
		return err
	}
	if err := r.propose(Entry{Type: EntryConfChange, Data: cc.Marshal()}); err != nil {
		return err
	}
	r.pendingConfIndex = r.log.lastIndex()
	return nil
}

// applyConfChangeEntry switches to the configuration an applied EntryConfChange describes. A
// change that does not apply (it cannot happen with one change at a time, but a log is input
// too) is skipped.
func (r *raft) applyConfChangeEntry(e *Entry) {
	cc, err := UnmarshalConfChange(e.Data)
	if err != nil || checkConfChange(r.trk.conf, cc) != nil {
		return
	}
	r.setConf(applyConfChangeTo(r.trk.conf, cc))
}

// bestVoter returns the voter (other than this member) with the highest match index, the
// lowest ID among equals, or None if there is none.
func (r *raft) bestVoter() uint64 {
	var best *progress
	for _, p := range r.trk.progress {
		if p.id != r.id && !p.isLearner && (best == nil || p.match > best.match) {
			best = p
		}
	}
	if best == nil {
		return None
	}
	return best.id
}

// setConf installs a configuration and does what it implies for this member's role.
func (r *raft) setConf(conf ConfState) {
	r.trk.setConf(conf, r.log.lastIndex()+1)
	if r.state != StateLeader {
		if r.state != StateFollower && !r.trk.isVoter(r.id) {
			// Removed during its own campaign (it can learn the commit from a refusal): a
			// non-member must not win, whatever votes are still on their way.
			r.becomeFollower(r.term, None)
		}
		return
	}
	if !r.trk.isVoter(r.id) {
		// Removed: the change is committed and applied. Stepping down at once could strand
		// the others (if they never hear that the change committed, the old configuration
		// still needs this member's vote), so hand over instead: the most up-to-date voter
		// is brought level and told to campaign. The others learn the commit index from the
		// appends of the handover. If it does not finish within an election timeout, this
		// member steps down anyway (tickLeader).
		r.maybeCommit()
		r.broadcastAppend()
		r.leadTransferee = None
		if target := r.bestVoter(); target != None {
			_ = r.transferLeader(target)
		}
		return
	}
	if r.leadTransferee != None && !r.trk.isVoter(r.leadTransferee) {
		r.leadTransferee = None
	}
	// The quorum changed: the commit index may move, and new members need the log.
	r.maybeCommit()
	r.broadcastAppend()
	r.releaseConfirmedReads()
}

// Bootstrap returns what each founding member of a new group persists before its first
// start: one AddVoter entry per voter (term 1, indexes 1..n) and a hard state committing them.
// Every member applies them on its first Ready, so the founding configuration is part of the
// log, and a member added later (which starts with an empty Storage) learns it by replaying
// the log (or from a snapshot). A group that never adds members may instead start each member
// from NewMemoryStorage(ConfState{Voters: voters}) (a configuration at index 0). Errors name
// the bad voter list and return nothing.
func Bootstrap(voters []uint64) (HardState, []Entry, error) {
	if len(voters) == 0 {
		return HardState{}, nil, fmt.Errorf("%w: bootstrap needs at least one voter", ErrConfChangeInvalid)
	}
	seen := make([]uint64, 0, len(voters))
	ents := make([]Entry, 0, len(voters))
	for i, id := range voters {
		if id == None || slices.Contains(seen, id) {
			return HardState{}, nil, fmt.Errorf("%w: bootstrap voters %v: zero or repeated ID %d", ErrConfChangeInvalid, voters, id)
		}
		seen = append(seen, id)
		ents = append(ents, Entry{Term: 1, Index: uint64(i + 1), Type: EntryConfChange, Data: ConfChange{Type: ConfChangeAddVoter, NodeID: id}.Marshal()})
	}
	return HardState{Term: 1, Commit: uint64(len(ents))}, ents, nil
}
