// Package raftlog stores raft's log, hard state and snapshot metadata in the member's one
// Pebble DB, and serves them back to raft as a raft.Storage.
//
// # Shape
//
// Log is both sides of the log. Raft reads it through raft.Storage (InitialState, Entries,
// Term, FirstIndex, LastIndex, Snapshot). The node driver writes it with Append,
// SetHardState, ApplySnapshot, CreateSnapshot, Compact and Bootstrap, each of which writes
// into a *pebble.Batch the caller owns and commits, so one batch can carry the log, the hard
// state and (from other packages) applied state together. Writes are committed unsynced
// (pebble.NoSync) and made durable by Sync, a separate step the driver takes before it
// releases the messages that depend on them (raft.Ready.MessagesAfterSync). Sync writes an
// empty WAL record with pebble.Sync: Pebble's WAL is one ordered stream, so syncing it
// makes every earlier NoSync commit durable too. (An empty batch committed with pebble.Sync
// does not do that: Pebble returns early for an empty batch without touching the WAL.)
//
// Contract of the write side: a write method takes effect in the Log's view at once, so the
// caller commits the batch (NoSync is enough) before anything reads the Log again (a caller
// that discards a batch instead calls Reload). One
// Ready's writes (ApplySnapshot, Append, SetHardState, in that order) may share a batch: they
// read only the cache and earlier committed entries. Other chains of writes in one batch
// (say, two appends, the second replacing part of the first) need an indexed batch
// (db.NewIndexedBatch), through which the writes read. A write that returns an error has
// written nothing into the batch. The Log is not safe for concurrent use, like raft itself:
// one goroutine reads and writes it.
//
// Durability: Sync is the promise; Pebble may make unsynced commits durable earlier (a WAL
// rotation, when a memtable fills, syncs the WAL it closes), but always as a prefix of the
// commits, so a crash recovers the state after the last Sync or after a later commit, never
// a mix (TestCrashWithWALRotations).
//
// # Layout (raftlog owns every key that starts with "raft/")
//
//	raft/format            -> format version (uvarint); checked at Open, unknown -> refused
//	raft/hardstate         -> term, vote, commit (uvarints)
//	raft/truncated         -> index, term of the compaction point (uvarints)
//	raft/snapshot          -> index, term, voters, learners of the latest snapshot
//	raft/e/<index, 8B BE>  -> term (uvarint), entry type (1 byte), data
//
// The log is the entries (truncated.index, last]; the entry at truncated.index is known by
// its term only. The snapshot's Data is not stored here: the state machine's snapshot is the
// store itself, which kv/node is to stream in chunks (issue 9); Snapshot returns the metadata
// with nil Data.
//
// # Invariants
//
// Checked when written (panics, as they are driver bugs): the hard state's term never
// decreases, its commit never goes back and never beyond the last index, a member never
// changes its vote within a term; an append or snapshot never removes an entry at or below
// the stored commit index. Checked as input (errors, nothing written): appended entries are
// contiguous, their terms never decrease and they leave no gap; snapshots are newer than
// the one held; compaction stays within the snapshot. Checked when read: entries read back
// are contiguous and the cached last term equals the stored one (CheckConsistency compares
// the whole cache with Pebble). At Open, truncated index <= snapshot index <= last index,
// commit <= last index and the first entry follows the truncation point, or Open fails
// naming the key.
//
// # Decisions
//
// The in-memory cache holds only what every call needs (hard state, truncation point,
// snapshot metadata, last index and term): raft asks for the last entry's term on every
// append it receives and sends. Entries are always read from Pebble, whose memtable and
// block cache already hold the recent ones: reading 16 entries of 256 bytes costs tens of
// microseconds and an uncached Term well under one (BenchmarkEntries, BenchmarkTerm), against
// the fsync of about a millisecond that every Ready pays (BenchmarkAppend), so an entry cache
// would not pay for the risk of disagreeing with Pebble. Entries copies data out of Pebble
// into shared, capped chunks (few allocations, no aliasing of Pebble's memory).
//
// Conflicting suffixes and compactions are removed with point deletes when short and one
// range deletion otherwise (range tombstones tax later reads until compacted away).
//
// Assertions on impossible driver behaviour are panics, as in raft; bad arguments that a
// correct caller can still pass (a stale snapshot, an out-of-range compaction, a gap) are
// errors with raft's sentinel errors where raft.MemoryStorage uses them, so the two agree.
//
// Imports: raft and Pebble; nothing of Ballast's outside raft and kv.
package raftlog
