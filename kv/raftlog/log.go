package raftlog

import (
	"errors"
	"fmt"

	"github.com/ballastdb/ballast/raft"
	"github.com/cockroachdb/pebble/v2"
)

// Log is raft's log in a Pebble DB. See the package doc for the contract of its write side.
type Log struct {
	db *pebble.DB
	// st mirrors what Pebble holds (once the caller commits the last written batch).
	st state
	// scratch is reused for encoding values (Pebble copies them into the batch).
	scratch []byte
	// tail caches the newest entries (tail.go); like st, it takes each write at once.
	tail tail
}

// state is everything the Log caches; loadState reads it back from Pebble.
type state struct {
	hardState raft.HardState
	trunc     truncState
	snapshot  raft.SnapshotMetadata
	// lastIndex and lastTerm are the last entry (or the truncation point if the log is empty).
	lastIndex, lastTerm uint64
}

var _ raft.Storage = (*Log)(nil)

// Open loads the log stored in db. A DB with no key under "raft/" gets a new, empty log: Open
// writes the format version (synced) and the log starts with no configuration (see
// Bootstrap). An unknown format version, or stored state that contradicts itself, is an error
// naming the key, and nothing is written.
func Open(db *pebble.DB) (*Log, error) {
	_, found, err := getValue(db, formatKey)
	if err != nil {
		return nil, err
	}
	if !found {
		if err := requireNoRaftKeys(db); err != nil {
			return nil, err
		}
		if err := db.Set(formatKey, encodeFormat(nil, formatVersion), pebble.Sync); err != nil {
			return nil, fmt.Errorf("raftlog: write format version: %w", err)
		}
	}
	st, err := loadState(db)
	if err != nil {
		return nil, err
	}
	return &Log{db: db, st: st, tail: newTail()}, nil
}

// requireNoRaftKeys refuses to create a log where raft keys exist without a format key.
func requireNoRaftKeys(db *pebble.DB) error {
	iter, err := db.NewIter(&pebble.IterOptions{LowerBound: keyPrefix, UpperBound: keyPrefixEnd})
	if err != nil {
		return fmt.Errorf("raftlog: open iterator: %w", err)
	}
	defer iter.Close()
	if iter.First() {
		return fmt.Errorf("%w: key %q exists but %q is missing", ErrCorrupt, iter.Key(), formatKey)
	}
	return iter.Error()
}

// getValue returns a copy of the value at key, or found=false.
func getValue(db *pebble.DB, key []byte) (v []byte, found bool, err error) {
	val, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("raftlog: read %q: %w", key, err)
	}
	v = append([]byte(nil), val...)
	return v, true, closer.Close()
}

// loadState reads the cached state from Pebble and checks that it is consistent.
func loadState(db *pebble.DB) (state, error) {
	var st state
	v, found, err := getValue(db, formatKey)
	if err != nil {
		return st, err
	}
	if !found {
		return st, fmt.Errorf("%w: %q is missing", ErrCorrupt, formatKey)
	}
	version, err := decodeFormat(formatKey, v)
	if err != nil {
		return st, err
	}
	if version != formatVersion {
		return st, fmt.Errorf("%w: key %q holds version %d, this code reads version %d", ErrUnknownFormat, formatKey, version, formatVersion)
	}
	if v, found, err = getValue(db, hardStateKey); err != nil {
		return st, err
	} else if found {
		if st.hardState, err = decodeHardState(hardStateKey, v); err != nil {
			return st, err
		}
	}
	if v, found, err = getValue(db, truncatedKey); err != nil {
		return st, err
	} else if found {
		if st.trunc, err = decodeTruncState(truncatedKey, v); err != nil {
			return st, err
		}
	}
	if v, found, err = getValue(db, snapshotKey); err != nil {
		return st, err
	} else if found {
		if st.snapshot, err = decodeSnapshotMeta(snapshotKey, v); err != nil {
			return st, err
		}
	}
	if err := loadLastEntry(db, &st); err != nil {
		return st, err
	}
	return st, checkState(&st)
}

// loadLastEntry finds the first and last entry keys and checks them against the truncation
// point.
func loadLastEntry(db *pebble.DB, st *state) error {
	iter, err := db.NewIter(&pebble.IterOptions{LowerBound: entryPrefix, UpperBound: entryPrefixEnd})
	if err != nil {
		return fmt.Errorf("raftlog: open iterator: %w", err)
	}
	defer iter.Close()
	st.lastIndex, st.lastTerm = st.trunc.index, st.trunc.term
	if !iter.First() {
		return iter.Error()
	}
	first, err := parseEntryKey(iter.Key())
	if err != nil {
		return err
	}
	if first != st.trunc.index+1 {
		return fmt.Errorf("%w: first entry key %q is index %d, but the log is truncated at %d (key %q)", ErrCorrupt, iter.Key(), first, st.trunc.index, truncatedKey)
	}
	if !iter.Last() {
		return fmt.Errorf("raftlog: iterator lost its last entry: %w", iter.Error())
	}
	last, err := parseEntryKey(iter.Key())
	if err != nil {
		return err
	}
	v, err := iter.ValueAndErr()
	if err != nil {
		return fmt.Errorf("raftlog: read %q: %w", iter.Key(), err)
	}
	term, err := decodeEntryTerm(iter.Key(), v)
	if err != nil {
		return err
	}
	st.lastIndex, st.lastTerm = last, term
	return iter.Error()
}

// checkState checks the relations between the stored pieces.
func checkState(st *state) error {
	if st.trunc.index > st.snapshot.Index {
		return fmt.Errorf("%w: truncated at %d (key %q) beyond snapshot index %d (key %q)", ErrCorrupt, st.trunc.index, truncatedKey, st.snapshot.Index, snapshotKey)
	}
	if st.snapshot.Index > st.lastIndex {
		return fmt.Errorf("%w: snapshot index %d (key %q) beyond last index %d", ErrCorrupt, st.snapshot.Index, snapshotKey, st.lastIndex)
	}
	if st.hardState.Commit > st.lastIndex {
		return fmt.Errorf("%w: commit %d (key %q) beyond last index %d", ErrCorrupt, st.hardState.Commit, hardStateKey, st.lastIndex)
	}
	if st.lastTerm < st.trunc.term {
		return fmt.Errorf("%w: last entry term %d below the truncation term %d (key %q)", ErrCorrupt, st.lastTerm, st.trunc.term, truncatedKey)
	}
	return nil
}

// CheckConsistency reads the log's state back from Pebble and compares it with the Log's
// cache (tests and the simulator call it; it costs a few reads).
func (l *Log) CheckConsistency() error {
	st, err := loadState(l.db)
	if err != nil {
		return err
	}
	if st.hardState != l.st.hardState || st.trunc != l.st.trunc || st.lastIndex != l.st.lastIndex ||
		st.lastTerm != l.st.lastTerm || st.snapshot.Index != l.st.snapshot.Index ||
		st.snapshot.Term != l.st.snapshot.Term || !st.snapshot.ConfState.Equal(l.st.snapshot.ConfState) {
		return fmt.Errorf("raftlog: cache %+v differs from Pebble %+v (was a written batch not committed?)", l.st, st)
	}
	return nil
}

// Reload rereads the cache from Pebble: for a caller that wrote into a batch and then
// discarded it instead of committing it (the Log's view had already taken the writes).
func (l *Log) Reload() error {
	st, err := loadState(l.db)
	if err != nil {
		return err
	}
	l.st = st
	l.tail.reset()
	return nil
}

// InitialState implements raft.Storage.
func (l *Log) InitialState() (raft.HardState, raft.ConfState, error) {
	return l.st.hardState, cloneConfState(l.st.snapshot.ConfState), nil
}

// HardState returns the stored hard state.
func (l *Log) HardState() raft.HardState { return l.st.hardState }

// FirstIndex implements raft.Storage.
func (l *Log) FirstIndex() (uint64, error) { return l.st.trunc.index + 1, nil }

// LastIndex implements raft.Storage.
func (l *Log) LastIndex() (uint64, error) { return l.st.lastIndex, nil }

// Snapshot implements raft.Storage: the latest snapshot's metadata, with nil Data (the data
// is the store itself; see the package doc).
func (l *Log) Snapshot() (raft.Snapshot, error) {
	m := l.st.snapshot
	m.ConfState = cloneConfState(m.ConfState)
	return raft.Snapshot{Metadata: m}, nil
}

// SnapshotIndex is the index of the latest snapshot (Snapshot's Metadata.Index, without its
// copy of the configuration: the member asks at every Work whether to take a new one).
func (l *Log) SnapshotIndex() uint64 { return l.st.snapshot.Index }

// Term implements raft.Storage.
func (l *Log) Term(i uint64) (uint64, error) { return l.termIn(l.db, i) }

// termIn is Term reading entries from r: the DB, or an indexed batch that holds writes not
// yet committed.
func (l *Log) termIn(r pebble.Reader, i uint64) (uint64, error) {
	switch {
	case i < l.st.trunc.index:
		return 0, fmt.Errorf("term of %d, log truncated at %d: %w", i, l.st.trunc.index, raft.ErrCompacted)
	case i > l.st.lastIndex:
		return 0, fmt.Errorf("term of %d beyond last index %d: %w", i, l.st.lastIndex, raft.ErrUnavailable)
	case i == l.st.trunc.index:
		return l.st.trunc.term, nil
	case i == l.st.lastIndex:
		return l.st.lastTerm, nil
	case l.tail.covers(i):
		return l.tail.term(i), nil
	}
	key := entryKey(i)
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, fmt.Errorf("%w: entry %d (key %q) missing inside the log (%d, %d] (or written into a batch not yet committed)", ErrCorrupt, i, key, l.st.trunc.index, l.st.lastIndex)
	}
	if err != nil {
		return 0, fmt.Errorf("raftlog: read %q: %w", key, err)
	}
	defer closer.Close()
	return decodeEntryTerm(key, v)
}

// entryOverheadBytes mirrors raft's per-entry size overhead (raft's Entry.sizeBytes is
// unexported): Entries must cut at the same place as raft.MemoryStorage does. The
// randomized test against MemoryStorage checks that the two agree.
const entryOverheadBytes = 24

// Entries implements raft.Storage: the entries [lo, hi), at most maxBytes of them counted as
// raft counts (data plus a fixed overhead), but at least one. The Entry structs are fresh
// copies; their Data must not be modified (recent entries share it with the tail cache).
func (l *Log) Entries(lo, hi, maxBytes uint64) ([]raft.Entry, error) {
	switch {
	case lo <= l.st.trunc.index:
		return nil, fmt.Errorf("entries from %d, log truncated at %d: %w", lo, l.st.trunc.index, raft.ErrCompacted)
	case hi > l.st.lastIndex+1:
		return nil, fmt.Errorf("entries [%d, %d) beyond last index %d: %w", lo, hi, l.st.lastIndex, raft.ErrUnavailable)
	case lo > hi:
		return nil, fmt.Errorf("entries [%d, %d): lo above hi: %w", lo, hi, raft.ErrUnavailable)
	case lo == hi:
		return nil, nil
	case l.tail.covers(lo):
		return l.tail.entries(lo, hi, maxBytes), nil
	}
	iter, err := l.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(lo), UpperBound: entryKey(hi)})
	if err != nil {
		return nil, fmt.Errorf("raftlog: open iterator: %w", err)
	}
	defer iter.Close()
	ents := make([]raft.Entry, 0, min(hi-lo, 64))
	var sizeBytes uint64
	var data slab
	next := lo
	for valid := iter.First(); valid; valid = iter.Next() {
		e, err := l.readEntry(iter, next, &data)
		if err != nil {
			return nil, err
		}
		if n := len(ents); n > 0 && e.Term < ents[n-1].Term {
			return nil, fmt.Errorf("%w: entry %d (key %q) has term %d below its predecessor's %d", ErrCorrupt, e.Index, iter.Key(), e.Term, ents[n-1].Term)
		}
		sizeBytes += uint64(len(e.Data)) + entryOverheadBytes
		if len(ents) > 0 && sizeBytes > maxBytes {
			return ents, nil
		}
		ents = append(ents, e)
		next++
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("raftlog: read entries [%d, %d): %w", lo, hi, err)
	}
	if next != hi {
		return nil, fmt.Errorf("%w: entry %d (key %q) missing inside the log (%d, %d] (or written into a batch not yet committed)", ErrCorrupt, next, entryKey(next), l.st.trunc.index, l.st.lastIndex)
	}
	return ents, nil
}

// readEntry decodes the entry under the iterator, which must be the entry at want, and
// checks the last entry's term against the cache.
func (l *Log) readEntry(iter *pebble.Iterator, want uint64, data *slab) (raft.Entry, error) {
	index, err := parseEntryKey(iter.Key())
	if err != nil {
		return raft.Entry{}, err
	}
	if index != want {
		return raft.Entry{}, fmt.Errorf("%w: entry %d (key %q) missing inside the log (%d, %d], found %d", ErrCorrupt, want, entryKey(want), l.st.trunc.index, l.st.lastIndex, index)
	}
	v, err := iter.ValueAndErr()
	if err != nil {
		return raft.Entry{}, fmt.Errorf("raftlog: read %q: %w", iter.Key(), err)
	}
	e, err := decodeEntry(iter.Key(), v, index, data)
	if err != nil {
		return raft.Entry{}, err
	}
	if index == l.st.lastIndex && e.Term != l.st.lastTerm {
		panic(fmt.Sprintf("raftlog: cached last term %d at index %d, Pebble holds term %d", l.st.lastTerm, index, e.Term))
	}
	return e, nil
}

func cloneConfState(c raft.ConfState) raft.ConfState {
	return raft.ConfState{Voters: cloneIDs(c.Voters), Learners: cloneIDs(c.Learners)}
}

func cloneIDs(ids []uint64) []uint64 {
	if len(ids) == 0 {
		return nil
	}
	return append([]uint64(nil), ids...)
}
