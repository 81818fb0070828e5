package raft

import (
	"errors"
	"fmt"
)

// Errors a Storage returns (and raft understands).
var (
	// ErrCompacted: the requested index lies before the storage's first index (compacted).
	ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")
	// ErrUnavailable: the requested index is beyond the storage's last index.
	ErrUnavailable = errors.New("raft: requested entry at index is unavailable")
	// ErrSnapOutOfDate: a snapshot older than the one already held was offered.
	ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")
	// ErrSnapshotTemporarilyUnavailable: the storage cannot produce a snapshot right now;
	// raft retries later.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")
)

// StorageFailure is the panic value of a RawNode call whose Storage failed with an error raft
// does not understand (anything but ErrCompacted and ErrUnavailable, e.g. a disk that failed
// a read): raft cannot go on without its log, and its state after the panic must not be used
// again. A host that runs several members in one process recovers it into a stop of that
// member alone (kv/node does), rather than ending the process.
type StorageFailure struct{ Err error }

func (f StorageFailure) Error() string { return "raft: storage failed: " + f.Err.Error() }
func (f StorageFailure) Unwrap() error { return f.Err }

// Errors of the RawNode methods. Each returned error changes nothing in raft's state.
var (
	// ErrNotLeader is wrapped by *NotLeaderError: only the leader accepts proposals.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrProposalDropped: the leader refuses proposals right now (a leadership transfer is in
	// progress, or too many uncommitted bytes are pending).
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrConfChangePending: a configuration change is still unapplied; only one at a time.
	ErrConfChangePending = errors.New("raft: a configuration change is already pending")
	// ErrConfChangeTooEarly: the leader has not yet committed an entry of its own term, which
	// single-change membership requires before accepting a change.
	ErrConfChangeTooEarly = errors.New("raft: leader has not committed an entry of its term yet")
	// ErrConfChangeInvalid: the change does not apply to the current configuration.
	ErrConfChangeInvalid = errors.New("raft: invalid configuration change")
	// ErrInvalidMessage: Step was handed a message that is malformed or not addressed here.
	ErrInvalidMessage = errors.New("raft: invalid message")
	// ErrInvalidTransfer: the leadership transfer target is not a voter or is this member.
	ErrInvalidTransfer = errors.New("raft: invalid leadership transfer target")
	// ErrReadIndexQueueFull: too many read requests wait for confirmation already.
	ErrReadIndexQueueFull = errors.New("raft: too many pending read-index requests")
)

// NotLeaderError is returned by proposals and other leader-only calls on a member that is not
// the leader. LeaderID is the leader this member knows of (None if it knows none), so the
// caller can redirect. It unwraps to ErrNotLeader.
type NotLeaderError struct {
	// LeaderID is the known leader, or None.
	LeaderID uint64
	// Term is this member's current term.
	Term uint64
}

// Error says who leads, as far as this member knows.
func (e *NotLeaderError) Error() string {
	if e.LeaderID == None {
		return fmt.Sprintf("raft: not the leader (no leader known in term %d)", e.Term)
	}
	return fmt.Sprintf("raft: not the leader (leader is %d in term %d)", e.LeaderID, e.Term)
}

// Unwrap makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// ErrInvalidEntries: entries handed to MemoryStorage.Append are not contiguous.
var ErrInvalidEntries = errors.New("raft: invalid entries")
