package raft

import "fmt"

// Storage is the application's durable log, as raft reads it. Raft never writes through it:
// the application writes what Ready hands out (HardState, Entries, Snapshot) and Storage then
// returns it. Methods return ErrCompacted / ErrUnavailable for indexes outside the log; any
// other error is an I/O failure, on which raft panics (it cannot continue without its log).
//
// The log held by a Storage is the entries (FirstIndex-1, LastIndex]; the entry at
// FirstIndex-1 is known only by its term (Term answers for it): it is the last entry of the
// snapshot.
type Storage interface {
	// InitialState returns the saved HardState and the configuration of the snapshot (or,
	// with no snapshot, the bootstrap configuration).
	InitialState() (HardState, ConfState, error)
	// Entries returns the entries [lo, hi), at most maxBytes of them by size (but at least
	// one if any are in range).
	Entries(lo, hi, maxBytes uint64) ([]Entry, error)
	// Term returns the term of the entry at index i, for i in [FirstIndex-1, LastIndex].
	Term(i uint64) (uint64, error)
	// LastIndex returns the index of the last entry.
	LastIndex() (uint64, error)
	// FirstIndex returns the index of the first entry still held (snapshot index + 1).
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot (ErrSnapshotTemporarilyUnavailable if it is
	// being made; raft then retries later).
	Snapshot() (Snapshot, error)
}

// MemoryStorage is an in-memory Storage for tests, the simulator's reference runs and the
// transcript harness. It is not safe for concurrent use (raft is single-threaded; so is its
// driver in the simulator). Its entries slice always starts with a placeholder for the
// snapshot's last entry (index and term only).
type MemoryStorage struct {
	hardState HardState
	snapshot  Snapshot
	// entries[0] stands for the snapshot's last entry; entries[i] has index entries[0].Index+i.
	entries []Entry
}

// NewMemoryStorage returns an empty log whose bootstrap configuration is conf (the members a
// new group starts with; pass the zero ConfState for a member that will be restored from a
// snapshot).
func NewMemoryStorage(conf ConfState) *MemoryStorage {
	return &MemoryStorage{
		entries:  make([]Entry, 1),
		snapshot: Snapshot{Metadata: SnapshotMetadata{ConfState: cloneConfState(conf)}},
	}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	return ms.hardState, cloneConfState(ms.snapshot.Metadata.ConfState), nil
}

// SetHardState saves the hard state.
func (ms *MemoryStorage) SetHardState(hs HardState) error {
	ms.hardState = hs
	return nil
}

func (ms *MemoryStorage) offset() uint64 { return ms.entries[0].Index }

func (ms *MemoryStorage) lastIndex() uint64 { return ms.offset() + uint64(len(ms.entries)) - 1 }

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo <= ms.offset() {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, fmt.Errorf("entries [%d, %d) beyond last index %d: %w", lo, hi, ms.lastIndex(), ErrUnavailable)
	}
	if lo > hi {
		return nil, fmt.Errorf("entries [%d, %d): lo above hi: %w", lo, hi, ErrUnavailable)
	}
	ents := ms.entries[lo-ms.offset() : hi-ms.offset()]
	return limitSize(ents, maxBytes), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	if i < ms.offset() {
		return 0, ErrCompacted
	}
	if i > ms.lastIndex() {
		return 0, ErrUnavailable
	}
	return ms.entries[i-ms.offset()].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) { return ms.lastIndex(), nil }

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) { return ms.offset() + 1, nil }

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) { return ms.snapshot, nil }

// ApplySnapshot replaces the whole log by snap (as a follower does when Ready hands out a
// snapshot). An older snapshot than the one held fails with ErrSnapOutOfDate.
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	if snap.Metadata.Index <= ms.snapshot.Metadata.Index {
		return fmt.Errorf("snapshot at index %d, already at %d: %w", snap.Metadata.Index, ms.snapshot.Metadata.Index, ErrSnapOutOfDate)
	}
	snap.Metadata.ConfState = cloneConfState(snap.Metadata.ConfState)
	ms.snapshot = snap
	ms.entries = []Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	return nil
}

// CreateSnapshot records a snapshot of the application state data as of the applied index i,
// with configuration conf. The log is not compacted (call Compact for that). It fails with
// ErrSnapOutOfDate if i is not newer than the held snapshot and with ErrUnavailable if i is
// beyond the last entry.
func (ms *MemoryStorage) CreateSnapshot(i uint64, conf ConfState, data []byte) (Snapshot, error) {
	if i <= ms.snapshot.Metadata.Index {
		return Snapshot{}, fmt.Errorf("snapshot at index %d, already at %d: %w", i, ms.snapshot.Metadata.Index, ErrSnapOutOfDate)
	}
	if i > ms.lastIndex() {
		return Snapshot{}, fmt.Errorf("snapshot at index %d beyond last index %d: %w", i, ms.lastIndex(), ErrUnavailable)
	}
	if i < ms.offset() {
		return Snapshot{}, fmt.Errorf("snapshot at index %d before compacted index %d: %w", i, ms.offset(), ErrCompacted)
	}
	ms.snapshot = Snapshot{
		Data: data,
		Metadata: SnapshotMetadata{
			Index:     i,
			Term:      ms.entries[i-ms.offset()].Term,
			ConfState: cloneConfState(conf),
		},
	}
	return ms.snapshot, nil
}

// Compact discards the entries before compactIndex (the entry at compactIndex stays known by
// its term only). The application compacts only what a snapshot covers. It fails with
// ErrCompacted if already compacted that far and ErrUnavailable if beyond the last entry.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	if compactIndex <= ms.offset() {
		return fmt.Errorf("compact to %d, already compacted to %d: %w", compactIndex, ms.offset(), ErrCompacted)
	}
	if compactIndex > ms.lastIndex() {
		return fmt.Errorf("compact to %d beyond last index %d: %w", compactIndex, ms.lastIndex(), ErrUnavailable)
	}
	i := compactIndex - ms.offset()
	kept := make([]Entry, 1, uint64(len(ms.entries))-i)
	kept[0] = Entry{Index: ms.entries[i].Index, Term: ms.entries[i].Term}
	ms.entries = append(kept, ms.entries[i+1:]...)
	return nil
}

// Append writes entries to the log, replacing any existing entries from the first new index
// on (as a follower does when its log conflicts with the leader's). Entries already compacted
// are ignored. A gap after the last entry fails with ErrUnavailable and stores nothing.
func (ms *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Index != entries[i-1].Index+1 {
			return fmt.Errorf("append: entries not contiguous at index %d then %d: %w", entries[i-1].Index, entries[i].Index, ErrInvalidEntries)
		}
	}
	first := ms.offset() + 1
	last := entries[len(entries)-1].Index
	if last < first {
		return nil
	}
	if entries[0].Index < first {
		entries = entries[first-entries[0].Index:]
	}
	if entries[0].Index > ms.lastIndex()+1 {
		return fmt.Errorf("append at index %d leaves a gap after last index %d: %w", entries[0].Index, ms.lastIndex(), ErrUnavailable)
	}
	keep := entries[0].Index - ms.offset()
	if keep == uint64(len(ms.entries)) {
		// A plain append writes only beyond the end: slices handed out earlier are unchanged.
		ms.entries = append(ms.entries, entries...)
		return nil
	}
	// Overwriting a suffix: copy into a fresh array so that slices handed out earlier by
	// Entries stay unchanged.
	ms.entries = append(ms.entries[:keep:keep], entries...)
	return nil
}

// limitSize returns the longest prefix of ents whose total size is within maxBytes, but at
// least one entry.
func limitSize(ents []Entry, maxBytes uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := ents[0].sizeBytes()
	for i := 1; i < len(ents); i++ {
		size += ents[i].sizeBytes()
		if size > maxBytes {
			return ents[:i]
		}
	}
	return ents
}

func cloneConfState(c ConfState) ConfState {
	return ConfState{Voters: cloneIDs(c.Voters), Learners: cloneIDs(c.Learners)}
}

func cloneIDs(ids []uint64) []uint64 {
	if len(ids) == 0 {
		return nil
	}
	return append([]uint64(nil), ids...)
}
