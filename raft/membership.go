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
//
// A change may carry a Context (the application's record of the member, e.g. its name and
// URLs): raft stores it in the entry and never reads it. UpdateNode changes no configuration;
// it exists so that such a record can change in log order with the other changes.

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
	// ConfChangeUpdateNode changes nothing raft knows: it carries new attributes of a member
	// (etcd's ConfChangeUpdateNode: its peer URLs) in Context, ordered with the other changes
	// (one at a time, through the same pending-change rule).
	ConfChangeUpdateNode
)

var confChangeTypeNames = [...]string{"ConfChange(0)", "AddVoter", "AddLearner", "RemoveNode", "UpdateNode"}

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
	// NodeID is the member added, promoted, removed or updated.
	NodeID uint64
	// Context is the application's payload (etcd's ConfChange.Context: the member's name and
	// URLs). Raft carries it in the entry and never reads it.
	Context []byte
}

// String renders the change, e.g. "AddVoter(4)".
func (cc ConfChange) String() string { return fmt.Sprintf("%s(%d)", cc.Type, cc.NodeID) }

// Encoding versions: the first byte of an encoded ConfChange. Version 1 (type and node ID,
// 10 bytes) is what changes without a context are still written as, so logs and traces of
// context-free changes are unchanged; version 2 appends the context.
const (
	confChangeEncodingV1 = 1
	confChangeEncodingV2 = 2
	confChangeHeaderLen  = 10
)

// Marshal encodes the change for an EntryConfChange entry: a version byte, the type byte,
// the node ID as 8 big-endian bytes, then (version 2, only when Context is not empty) the
// context.
func (cc ConfChange) Marshal() []byte {
	b := make([]byte, confChangeHeaderLen, confChangeHeaderLen+len(cc.Context))
	b[0] = confChangeEncodingV1
	if len(cc.Context) > 0 {
		b[0] = confChangeEncodingV2
	}
	b[1] = byte(cc.Type)
	binary.BigEndian.PutUint64(b[2:], cc.NodeID)
	return append(b, cc.Context...)
}

// UnmarshalConfChange decodes what Marshal encoded (either version). The context is a copy.
func UnmarshalConfChange(b []byte) (ConfChange, error) {
	if len(b) < confChangeHeaderLen {
		return ConfChange{}, fmt.Errorf("%w: encoded change has %d bytes, want at least %d", ErrConfChangeInvalid, len(b), confChangeHeaderLen)
	}
	switch {
	case b[0] == confChangeEncodingV1 && len(b) != confChangeHeaderLen:
		return ConfChange{}, fmt.Errorf("%w: encoded change of version 1 has %d bytes, want %d", ErrConfChangeInvalid, len(b), confChangeHeaderLen)
	case b[0] != confChangeEncodingV1 && b[0] != confChangeEncodingV2:
		return ConfChange{}, fmt.Errorf("%w: unknown encoding version %d", ErrConfChangeInvalid, b[0])
	}
	cc := ConfChange{Type: ConfChangeType(b[1]), NodeID: binary.BigEndian.Uint64(b[2:])}
	if cc.Type < ConfChangeAddVoter || cc.Type > ConfChangeUpdateNode {
		return ConfChange{}, fmt.Errorf("%w: unknown change type %d", ErrConfChangeInvalid, b[1])
	}
	if len(b) > confChangeHeaderLen {
		cc.Context = slices.Clone(b[confChangeHeaderLen:])
	}
	return cc, nil
}

// ApplyConfChange returns conf with cc applied, or why raft would skip cc on conf (the
// error proposing it would give). An application that keeps its own view of the members
// (kv/node's member table) uses it to take exactly the changes raft takes.
func ApplyConfChange(conf ConfState, cc ConfChange) (ConfState, error) {
	if err := checkConfChange(conf, cc); err != nil {
		return ConfState{}, err
	}
	return applyConfChangeTo(conf, cc), nil
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
	case (cc.Type == ConfChangeRemoveNode || cc.Type == ConfChangeUpdateNode) && !isVoter && !isLearner:
		return fmt.Errorf("%w: %s: not a member", ErrConfChangeInvalid, cc)
	case cc.Type == ConfChangeRemoveNode && isVoter && len(conf.Voters) == 1:
		return fmt.Errorf("%w: %s: the last voter", ErrConfChangeInvalid, cc)
	case cc.Type < ConfChangeAddVoter || cc.Type > ConfChangeUpdateNode:
		return fmt.Errorf("%w: unknown change type %d", ErrConfChangeInvalid, cc.Type)
	}
	return nil
}

// applyConfChangeTo returns conf with cc applied (conf itself is not modified).
func applyConfChangeTo(conf ConfState, cc ConfChange) ConfState {
	if cc.Type == ConfChangeUpdateNode {
		return cloneConfState(conf)
	}
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
	if err != nil || checkConfChange(r.trk.conf, cc) != nil || cc.Type == ConfChangeUpdateNode {
		return // an update changes no configuration: progress and roles stay as they are
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
	return BootstrapWithContexts(voters, nil)
}

// BootstrapWithContexts is Bootstrap with a Context on each founding voter's AddVoter entry
// (contexts[i] for voters[i]; nil: none), so the founders' attributes are in the log that a
// member added later replays. Every founder must pass the same voters and contexts.
func BootstrapWithContexts(voters []uint64, contexts [][]byte) (HardState, []Entry, error) {
	if len(voters) == 0 {
		return HardState{}, nil, fmt.Errorf("%w: bootstrap needs at least one voter", ErrConfChangeInvalid)
	}
	if contexts != nil && len(contexts) != len(voters) {
		return HardState{}, nil, fmt.Errorf("%w: bootstrap voters %v with %d contexts", ErrConfChangeInvalid, voters, len(contexts))
	}
	seen := make([]uint64, 0, len(voters))
	ents := make([]Entry, 0, len(voters))
	for i, id := range voters {
		if id == None || slices.Contains(seen, id) {
			return HardState{}, nil, fmt.Errorf("%w: bootstrap voters %v: zero or repeated ID %d", ErrConfChangeInvalid, voters, id)
		}
		seen = append(seen, id)
		cc := ConfChange{Type: ConfChangeAddVoter, NodeID: id}
		if contexts != nil {
			cc.Context = contexts[i]
		}
		ents = append(ents, Entry{Term: 1, Index: uint64(i + 1), Type: EntryConfChange, Data: cc.Marshal()})
	}
	return HardState{Term: 1, Commit: uint64(len(ents))}, ents, nil
}
