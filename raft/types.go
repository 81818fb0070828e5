package raft

import "fmt"

// None is the zero member ID: "no leader known", "voted for nobody".
const None uint64 = 0

// StateType is the role a member plays in its current term.
type StateType uint8

// The roles of a member. PreCandidate is the PreVote phase that asks whether an election could
// be won before the term is raised.
const (
	StateFollower StateType = iota
	StatePreCandidate
	StateCandidate
	StateLeader
)

var stateNames = [...]string{"StateFollower", "StatePreCandidate", "StateCandidate", "StateLeader"}

// String names the role.
func (s StateType) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// MessageType says what a Message asks or answers. Every type travels between members; there
// are no local pseudo-messages (local events are methods on RawNode).
type MessageType uint8

// The message types, grouped by the rule of the protocol they serve.
const (
	// MsgApp carries entries (possibly none) after the entry (Index, LogTerm), and Commit.
	MsgApp MessageType = iota + 1
	// MsgAppResp acknowledges a MsgApp or MsgSnap (Index = the follower's last index matching
	// the leader) or rejects it (Reject, with the conflict hint RejectHint/LogTerm).
	MsgAppResp
	// MsgVote asks for a vote in Term for a candidate whose last entry is (Index, LogTerm).
	MsgVote
	// MsgVoteResp grants or rejects (Reject) a vote. A rejection carries the voter's commit
	// index (Index) and the term of its entry there (LogTerm).
	MsgVoteResp
	// MsgPreVote asks whether the receiver would vote in Term without raising any term.
	MsgPreVote
	// MsgPreVoteResp answers a MsgPreVote (a rejection carries Index/LogTerm as MsgVoteResp).
	MsgPreVoteResp
	// MsgHeartbeat asserts leadership and carries Commit (capped at what the follower holds)
	// and the read-index round ReadRound.
	MsgHeartbeat
	// MsgHeartbeatResp answers a MsgHeartbeat, echoing ReadRound.
	MsgHeartbeatResp
	// MsgSnap carries a snapshot to a follower behind the leader's compacted log.
	MsgSnap
	// MsgReadIndex forwards a follower's read request (Context) to the leader.
	MsgReadIndex
	// MsgReadIndexResp answers a forwarded read with the read index (Index) for Context.
	MsgReadIndexResp
	// MsgTimeoutNow tells a transfer target to campaign at once.
	MsgTimeoutNow
)

var messageTypeNames = [...]string{
	"MsgUnknown", "MsgApp", "MsgAppResp", "MsgVote", "MsgVoteResp", "MsgPreVote", "MsgPreVoteResp",
	"MsgHeartbeat", "MsgHeartbeatResp", "MsgSnap", "MsgReadIndex", "MsgReadIndexResp", "MsgTimeoutNow",
}

// String names the message type.
func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Message is one protocol message between two members. Fields a type does not use are zero.
type Message struct {
	// Type says what the message asks or answers.
	Type MessageType
	// From is the sender's member ID.
	From uint64
	// To is the recipient's member ID.
	To uint64
	// Term is the sender's term (for MsgPreVote: the term it would campaign in; for a granted
	// MsgPreVoteResp: the term of the request).
	Term uint64
	// LogTerm is the term of the entry at Index (MsgApp, MsgVote, MsgPreVote) or, in a
	// rejected MsgAppResp, the term of the follower's entry at RejectHint.
	LogTerm uint64
	// Index is the log position the message is about (see each type).
	Index uint64
	// Entries are the entries of a MsgApp. They alias raft's memory: treat them as read-only.
	Entries []Entry
	// Commit is the sender's commit index (MsgApp, MsgHeartbeat).
	Commit uint64
	// Snapshot is the snapshot of a MsgSnap.
	Snapshot *Snapshot
	// Reject marks a refusal (MsgAppResp, MsgVoteResp, MsgPreVoteResp).
	Reject bool
	// RejectHint is, in a rejected MsgAppResp, the largest index at which the follower's log
	// may still match the leader's: the leader skips a whole conflicting term at once.
	RejectHint uint64
	// LeaderTransfer marks a (pre)vote request of a campaign started by MsgTimeoutNow: voters
	// grant it even while they believe a leader is alive.
	LeaderTransfer bool
	// ReadRound numbers the read-index confirmation round of a heartbeat and its response.
	ReadRound uint64
	// Context is the application's read request identifier (MsgReadIndex, MsgReadIndexResp).
	Context []byte
}

// String is a compact one-line rendering, for test failures and traces.
func (m Message) String() string {
	s := fmt.Sprintf("%d->%d %s Term:%d Log:%d/%d", m.From, m.To, m.Type, m.Term, m.LogTerm, m.Index)
	if m.Commit != 0 {
		s += fmt.Sprintf(" Commit:%d", m.Commit)
	}
	if len(m.Entries) > 0 {
		s += fmt.Sprintf(" Entries:%v", m.Entries)
	}
	if m.Reject {
		s += fmt.Sprintf(" Rejected (Hint: %d)", m.RejectHint)
	}
	if m.LeaderTransfer {
		s += " LeaderTransfer"
	}
	if m.ReadRound != 0 {
		s += fmt.Sprintf(" ReadRound:%d", m.ReadRound)
	}
	if m.Context != nil {
		s += fmt.Sprintf(" Context:%q", m.Context)
	}
	if m.Snapshot != nil {
		s += fmt.Sprintf(" Snapshot: %s", m.Snapshot.Metadata)
	}
	return s
}

// EntryType says how an entry's Data is to be read.
type EntryType uint8

// The entry types.
const (
	// EntryNormal carries application data (empty Data: the leader's no-op of a new term).
	EntryNormal EntryType = iota
	// EntryConfChange carries a ConfChange encoded with ConfChange.Marshal.
	EntryConfChange
)

// Entry is one position of the replicated log.
type Entry struct {
	// Term is the term of the leader that created the entry.
	Term uint64
	// Index is the entry's position in the log (from 1).
	Index uint64
	// Type says how to read Data.
	Type EntryType
	// Data is the application's command (or an encoded ConfChange).
	Data []byte
}

// String renders the entry as term/index and its payload.
func (e Entry) String() string {
	switch e.Type {
	case EntryConfChange:
		cc, err := UnmarshalConfChange(e.Data)
		if err != nil {
			return fmt.Sprintf("%d/%d ConfChange(invalid: %v)", e.Term, e.Index, err)
		}
		return fmt.Sprintf("%d/%d %s", e.Term, e.Index, cc)
	default:
		if len(e.Data) == 0 {
			return fmt.Sprintf("%d/%d EntryNormal", e.Term, e.Index)
		}
		return fmt.Sprintf("%d/%d EntryNormal %q", e.Term, e.Index, e.Data)
	}
}

// sizeBytes is what an entry counts for against byte limits: its payload plus a fixed
// per-entry overhead, so empty entries still cost something.
func (e *Entry) sizeBytes() uint64 { return uint64(len(e.Data)) + entryOverheadBytes }

// entryOverheadBytes approximates the encoded size of an entry's fixed fields.
const entryOverheadBytes = 24

// HardState is what must be durable before a member says anything that depends on it:
// its term, whom it voted for in that term, and its commit index.
type HardState struct {
	// Term is the member's current term.
	Term uint64
	// Vote is the member it voted for in Term, or None.
	Vote uint64
	// Commit is the highest index known committed.
	Commit uint64
}

// IsEmpty reports whether h is the zero HardState.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// SoftState is volatile state that the application may want to observe: who leads and in
// which role this member is.
type SoftState struct {
	// Lead is the leader of the current term, or None if unknown.
	Lead uint64
	// RaftState is this member's role.
	RaftState StateType
}

// ConfState is a membership configuration: the voting members and the learners (which
// receive the log but neither vote nor count for any quorum). IDs are kept sorted.
type ConfState struct {
	// Voters are the members that vote and count for quorums.
	Voters []uint64
	// Learners receive the log but neither vote nor count.
	Learners []uint64
}

// String renders the configuration.
func (c ConfState) String() string {
	return fmt.Sprintf("voters=%v learners=%v", c.Voters, c.Learners)
}

// Equal reports whether two configurations hold the same members in the same roles.
func (c ConfState) Equal(o ConfState) bool {
	return equalIDs(c.Voters, o.Voters) && equalIDs(c.Learners, o.Learners)
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SnapshotMetadata says which prefix of the log a snapshot replaces and the configuration at
// its last entry.
type SnapshotMetadata struct {
	// ConfState is the configuration as of Index.
	ConfState ConfState
	// Index is the last log index the snapshot covers.
	Index uint64
	// Term is the term of the entry at Index.
	Term uint64
}

// String renders the metadata.
func (m SnapshotMetadata) String() string {
	return fmt.Sprintf("Index:%d Term:%d %s", m.Index, m.Term, m.ConfState)
}

// Snapshot is the application's state machine as of Metadata.Index, with the metadata raft
// needs to continue the log after it.
type Snapshot struct {
	// Data is the application's state, opaque to raft.
	Data []byte
	// Metadata places the snapshot in the log.
	Metadata SnapshotMetadata
}

// IsEmpty reports whether s is no snapshot at all.
func (s Snapshot) IsEmpty() bool { return s.Metadata.Index == 0 }

// ReadState answers a ReadIndex request: once this member has applied Index, a read served
// from its state machine is linearizable. RequestCtx is the request's identifier.
type ReadState struct {
	// Index is the read index: serve the read once applied up to here.
	Index uint64
	// RequestCtx is the ctx passed to ReadIndex.
	RequestCtx []byte
}
