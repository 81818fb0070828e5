package raftlog

import (
	"fmt"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/raft"
	"github.com/cockroachdb/pebble/v2"
)

// The write side. Each method validates its input first (an error writes nothing), then
// writes into b and updates the cache; the caller commits b before the Log is read again.

// reader is where a write looks up entry terms it does not cache: through b if it is an
// indexed batch (so writes chained in one batch see each other), else the committed DB.
func (l *Log) reader(b *pebble.Batch) pebble.Reader {
	if b.Indexed() {
		return b
	}
	return l.db
}

// PointDeletesMax is how many stale entries a conflicting append removes with point
// deletes; more are removed with one range deletion (conflicts are rare, and a range
// tombstone costs every later read that crosses it until compaction).
const PointDeletesMax = 16

// Append writes entries to the log, replacing every stored entry from entries[0].Index on
// (a follower's conflicting suffix). Entries at or below the truncation point are ignored,
// as raft.MemoryStorage does. Entries that are not contiguous, whose terms decrease, or that
// leave a gap after the last index are an error. Replacing an entry at or below the stored
// commit index panics: a committed entry is never truncated.
func (l *Log) Append(b *pebble.Batch, entries []raft.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Index != entries[i-1].Index+1 {
			return fmt.Errorf("raftlog: append: entries not contiguous at index %d then %d: %w", entries[i-1].Index, entries[i].Index, raft.ErrInvalidEntries)
		}
		if entries[i].Term < entries[i-1].Term {
			return fmt.Errorf("raftlog: append: term goes back from %d to %d at index %d: %w", entries[i-1].Term, entries[i].Term, entries[i].Index, raft.ErrInvalidEntries)
		}
	}
	for i := range entries {
		if entries[i].Type > raft.EntryConfChange {
			return fmt.Errorf("raftlog: append: entry %d has unknown type %d: %w", entries[i].Index, entries[i].Type, raft.ErrInvalidEntries)
		}
	}
	first := l.st.trunc.index + 1
	if entries[len(entries)-1].Index < first {
		return nil
	}
	if entries[0].Index < first {
		entries = entries[first-entries[0].Index:]
	}
	start := entries[0].Index
	if start > l.st.lastIndex+1 {
		return fmt.Errorf("raftlog: append at index %d leaves a gap after last index %d: %w", start, l.st.lastIndex, raft.ErrUnavailable)
	}
	prevTerm, err := l.termIn(l.reader(b), start-1)
	if err != nil {
		return err
	}
	if entries[0].Term < prevTerm {
		return fmt.Errorf("raftlog: append: entry %d has term %d below the term %d of entry %d: %w", start, entries[0].Term, prevTerm, start-1, raft.ErrInvalidEntries)
	}
	if start <= l.st.hardState.Commit {
		panic(fmt.Sprintf("raftlog: append at index %d would replace committed entries (commit %d)", start, l.st.hardState.Commit))
	}

	for i := range entries {
		l.scratch = encodeEntry(l.scratch[:0], &entries[i])
		if err := b.Set(entryKey(entries[i].Index), l.scratch, nil); err != nil {
			return fmt.Errorf("raftlog: append entry %d: %w", entries[i].Index, err)
		}
	}
	last := entries[len(entries)-1]
	// (The truncation-not-durable canary, broken on purpose, keeps the replaced suffix on
	// disk: it leaves the cache and the cached last index only, so a restart finds it again.)
	if !canary.On(canary.TruncationNotDurable) {
		hi := l.st.lastIndex + 1
		if canary.On(canary.TruncationRangePartial) && hi > last.Index+1+PointDeletesMax {
			hi = last.Index + 1 + PointDeletesMax // broken on purpose: only the first 16 stale entries go
		}
		if err := l.deleteEntries(b, last.Index+1, hi); err != nil {
			return err
		}
	}
	l.st.lastIndex, l.st.lastTerm = last.Index, last.Term
	l.tail.append(entries)
	l.tail.check(l.st.lastIndex, l.st.lastTerm)
	return nil
}

// deleteEntries deletes the entry keys [lo, hi).
func (l *Log) deleteEntries(b *pebble.Batch, lo, hi uint64) error {
	if lo >= hi {
		return nil
	}
	if hi-lo > PointDeletesMax {
		if err := b.DeleteRange(entryKey(lo), entryKey(hi), nil); err != nil {
			return fmt.Errorf("raftlog: delete entries [%d, %d): %w", lo, hi, err)
		}
		return nil
	}
	for i := lo; i < hi; i++ {
		if err := b.Delete(entryKey(i), nil); err != nil {
			return fmt.Errorf("raftlog: delete entry %d: %w", i, err)
		}
	}
	return nil
}

// SetHardState writes hs. It panics if the term would decrease, the commit index go back or
// beyond the last index (write the Ready's entries first), or the vote change within a term.
func (l *Log) SetHardState(b *pebble.Batch, hs raft.HardState) error {
	cur := l.st.hardState
	if hs.Term < cur.Term {
		panic(fmt.Sprintf("raftlog: hard state term going back from %d to %d", cur.Term, hs.Term))
	}
	if hs.Commit < cur.Commit {
		panic(fmt.Sprintf("raftlog: hard state commit going back from %d to %d", cur.Commit, hs.Commit))
	}
	if hs.Commit > l.st.lastIndex {
		panic(fmt.Sprintf("raftlog: hard state commit %d beyond last index %d", hs.Commit, l.st.lastIndex))
	}
	if hs.Term == cur.Term && cur.Vote != raft.None && hs.Vote != cur.Vote {
		panic(fmt.Sprintf("raftlog: vote in term %d changing from %d to %d", hs.Term, cur.Vote, hs.Vote))
	}
	if hs == cur {
		return nil
	}
	l.scratch = encodeHardState(l.scratch[:0], hs)
	if err := b.Set(hardStateKey, l.scratch, nil); err != nil {
		return fmt.Errorf("raftlog: write hard state: %w", err)
	}
	l.st.hardState = hs
	return nil
}

// Bootstrap records the configuration a new group starts with (InitialState returns it until
// a snapshot replaces it). It is an error on a log that holds anything already.
func (l *Log) Bootstrap(b *pebble.Batch, conf raft.ConfState) error {
	if !l.st.hardState.IsEmpty() || l.st.lastIndex != 0 || l.st.snapshot.Index != 0 ||
		len(l.st.snapshot.ConfState.Voters)+len(l.st.snapshot.ConfState.Learners) != 0 {
		return fmt.Errorf("%w: bootstrap with %s, but the log has hard state %+v, last index %d, configuration %s", ErrNotEmpty, conf, l.st.hardState, l.st.lastIndex, l.st.snapshot.ConfState)
	}
	meta := raft.SnapshotMetadata{ConfState: cloneConfState(conf)}
	return l.writeSnapshotMeta(b, meta)
}

func (l *Log) writeSnapshotMeta(b *pebble.Batch, meta raft.SnapshotMetadata) error {
	if n := len(meta.ConfState.Voters) + len(meta.ConfState.Learners); n > maxConfMembers {
		return fmt.Errorf("%w: %d members, at most %d", ErrInvalidSnapshot, n, maxConfMembers)
	}
	l.scratch = encodeSnapshotMeta(l.scratch[:0], meta)
	if err := b.Set(snapshotKey, l.scratch, nil); err != nil {
		return fmt.Errorf("raftlog: write snapshot metadata: %w", err)
	}
	meta.ConfState = cloneConfState(meta.ConfState)
	l.st.snapshot = meta
	return nil
}

// ApplySnapshot installs the metadata of a snapshot received from the leader: the log is
// reset to end at the snapshot's index (every entry is removed; the snapshot's last entry
// is known by its term). A snapshot not newer than the one held is raft.ErrSnapOutOfDate.
// A snapshot below the stored commit index panics (it would truncate committed entries).
func (l *Log) ApplySnapshot(b *pebble.Batch, meta raft.SnapshotMetadata) error {
	if meta.Index <= l.st.snapshot.Index {
		return fmt.Errorf("raftlog: snapshot at index %d, already at %d: %w", meta.Index, l.st.snapshot.Index, raft.ErrSnapOutOfDate)
	}
	if meta.Term == 0 {
		return fmt.Errorf("%w: snapshot at index %d with term 0", ErrInvalidSnapshot, meta.Index)
	}
	if n := len(meta.ConfState.Voters) + len(meta.ConfState.Learners); n > maxConfMembers {
		return fmt.Errorf("%w: %d members, at most %d", ErrInvalidSnapshot, n, maxConfMembers)
	}
	if meta.Index < l.st.hardState.Commit {
		panic(fmt.Sprintf("raftlog: snapshot at index %d would truncate committed entries (commit %d)", meta.Index, l.st.hardState.Commit))
	}
	if err := l.deleteEntries(b, l.st.trunc.index+1, l.st.lastIndex+1); err != nil {
		return err
	}
	if err := l.writeTrunc(b, truncState{index: meta.Index, term: meta.Term}); err != nil {
		return err
	}
	if err := l.writeSnapshotMeta(b, meta); err != nil {
		return err
	}
	l.st.lastIndex, l.st.lastTerm = meta.Index, meta.Term
	l.tail.reset()
	return nil
}

func (l *Log) writeTrunc(b *pebble.Batch, t truncState) error {
	l.scratch = encodeTruncState(l.scratch[:0], t)
	if err := b.Set(truncatedKey, l.scratch, nil); err != nil {
		return fmt.Errorf("raftlog: write truncation point: %w", err)
	}
	l.st.trunc = t
	return nil
}

// CreateSnapshot records that the application made a snapshot of its state machine as of
// index (which it has applied, so it is committed), with configuration conf. The log is not
// compacted (Compact does that). Errors, as raft.MemoryStorage's: raft.ErrSnapOutOfDate if
// index is not newer than the held snapshot, raft.ErrUnavailable beyond the last index,
// raft.ErrCompacted before the truncation point; and ErrBeyondSnapshot beyond the commit.
func (l *Log) CreateSnapshot(b *pebble.Batch, index uint64, conf raft.ConfState) (raft.SnapshotMetadata, error) {
	if index <= l.st.snapshot.Index {
		return raft.SnapshotMetadata{}, fmt.Errorf("raftlog: snapshot at index %d, already at %d: %w", index, l.st.snapshot.Index, raft.ErrSnapOutOfDate)
	}
	if index > l.st.hardState.Commit {
		return raft.SnapshotMetadata{}, fmt.Errorf("%w: snapshot at index %d beyond commit index %d", ErrBeyondSnapshot, index, l.st.hardState.Commit)
	}
	term, err := l.termIn(l.reader(b), index)
	if err != nil {
		return raft.SnapshotMetadata{}, fmt.Errorf("raftlog: snapshot at index %d: %w", index, err)
	}
	meta := raft.SnapshotMetadata{Index: index, Term: term, ConfState: cloneConfState(conf)}
	if err := l.writeSnapshotMeta(b, meta); err != nil {
		return raft.SnapshotMetadata{}, err
	}
	return meta, nil
}

// Compact drops the entries up to index; the entry at index stays known by its term. Errors:
// raft.ErrCompacted if already compacted that far, raft.ErrUnavailable beyond the last index,
// ErrBeyondSnapshot beyond the snapshot index (entries no snapshot covers must stay).
func (l *Log) Compact(b *pebble.Batch, index uint64) error {
	if index <= l.st.trunc.index {
		return fmt.Errorf("raftlog: compact to %d, already compacted to %d: %w", index, l.st.trunc.index, raft.ErrCompacted)
	}
	if index > l.st.lastIndex {
		return fmt.Errorf("raftlog: compact to %d beyond last index %d: %w", index, l.st.lastIndex, raft.ErrUnavailable)
	}
	if index > l.st.snapshot.Index {
		return fmt.Errorf("%w: compact to %d beyond snapshot index %d", ErrBeyondSnapshot, index, l.st.snapshot.Index)
	}
	term, err := l.termIn(l.reader(b), index)
	if err != nil {
		return err
	}
	if err := l.deleteEntries(b, l.st.trunc.index+1, index+1); err != nil {
		return err
	}
	l.tail.dropThrough(index)
	return l.writeTrunc(b, truncState{index: index, term: term})
}

// Sync makes every write committed so far durable: it appends an empty record to Pebble's
// WAL with pebble.Sync, which syncs the WAL up to and including every earlier NoSync commit.
// The driver calls it after committing a Ready's writes and before sending the messages that
// depend on them.
//
// The sync's own error comes back as the error (ApplyNoSyncWait, then SyncWait): Pebble's
// synchronous Apply hands a failed WAL write or sync to its Logger's Fatalf instead, on the
// caller's goroutine. A failed sync is final: the caller must not retry it and go on (see
// kv/node's Synced).
func (l *Log) Sync() error {
	b := l.db.NewBatch()
	_ = b.LogData(nil, nil)
	if err := l.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return fmt.Errorf("raftlog: sync: %w", err)
	}
	if err := b.SyncWait(); err != nil {
		// the batch is not released after a failed commit (as Pebble's own LogData)
		return fmt.Errorf("raftlog: sync: %w", err)
	}
	return b.Close()
}
