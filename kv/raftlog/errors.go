package raftlog

import "errors"

// Errors of this package. Storage reads also return raft.ErrCompacted and raft.ErrUnavailable
// (wrapped, with the indexes) for indexes outside the log, as raft expects.
var (
	// ErrCorrupt: a stored value or key does not decode, or the stored state contradicts
	// itself. The error names the key.
	ErrCorrupt = errors.New("raftlog: corrupt log")
	// ErrUnknownFormat: the DB holds a raft log of a format version this code does not know
	// (written by a newer version, or not a raftlog at all). Nothing is changed.
	ErrUnknownFormat = errors.New("raftlog: unknown format version")
	// ErrNotEmpty: Bootstrap on a log that already holds state.
	ErrNotEmpty = errors.New("raftlog: log is not empty")
	// ErrBeyondSnapshot: Compact past the snapshot index, or a snapshot of an index that is not
	// committed: both would lose entries no snapshot covers.
	ErrBeyondSnapshot = errors.New("raftlog: not covered by a snapshot")
	// ErrInvalidSnapshot: snapshot metadata that cannot describe a log (index without term).
	ErrInvalidSnapshot = errors.New("raftlog: invalid snapshot metadata")
)
