package raft

import (
	"errors"
	"fmt"
)

// raftLog is raft's view of the log: the application's durable Storage followed by the
// unstable tail (entries and possibly a snapshot not yet handed out and acknowledged as
// durable), plus the commit and applied indexes.
//
// Invariants (asserted): applied <= committed <= lastIndex; committed never decreases; a
// committed entry is never truncated; appended entries are contiguous and follow an entry
// whose term matched (log matching).
type raftLog struct {
	storage  Storage
	unstable unstable
	// committed is the highest index known to be stored on a quorum.
	committed uint64
	// applied is the highest index the application has acknowledged applying (via Advance).
	applied uint64
	// maxApplyBytesPerReady bounds the committed entries one Ready hands out.
	maxApplyBytesPerReady uint64
}

// unstable is the tail of the log that the application has not yet made durable.
type unstable struct {
	// snapshot, if set, replaces everything before entries.
	snapshot *Snapshot
	entries  []Entry
	// offset is the index of entries[0] (or where it would go).
	offset uint64
}

func newLog(storage Storage, maxApplyBytesPerReady uint64) *raftLog {
	first, err := storage.FirstIndex()
	mustStorage(err)
	last, err := storage.LastIndex()
	mustStorage(err)
	if maxApplyBytesPerReady == 0 {
		maxApplyBytesPerReady = noLimit
	}
	return &raftLog{
		storage:               storage,
		unstable:              unstable{offset: last + 1},
		committed:             first - 1,
		applied:               first - 1,
		maxApplyBytesPerReady: maxApplyBytesPerReady,
	}
}

// mustStorage panics with StorageFailure on a storage failure: raft cannot go on without its
// log.
func mustStorage(err error) {
	if err != nil {
		panic(StorageFailure{err})
	}
}

func (l *raftLog) firstIndex() uint64 {
	if l.unstable.snapshot != nil {
		return l.unstable.snapshot.Metadata.Index + 1
	}
	i, err := l.storage.FirstIndex()
	mustStorage(err)
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if n := len(l.unstable.entries); n > 0 {
		return l.unstable.offset + uint64(n) - 1
	}
	if l.unstable.snapshot != nil {
		return l.unstable.snapshot.Metadata.Index
	}
	i, err := l.storage.LastIndex()
	mustStorage(err)
	return i
}

// stableLastIndex is the last index known durable: entries up to it may be applied.
func (l *raftLog) stableLastIndex() uint64 {
	if l.unstable.snapshot != nil {
		return l.applied
	}
	return l.unstable.offset - 1
}

// term returns the term of the entry at i, ErrCompacted before the first index (minus one)
// and ErrUnavailable after the last.
func (l *raftLog) term(i uint64) (uint64, error) {
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	if i >= l.unstable.offset && i < l.unstable.offset+uint64(len(l.unstable.entries)) {
		return l.unstable.entries[i-l.unstable.offset].Term, nil
	}
	if s := l.unstable.snapshot; s != nil && i == s.Metadata.Index {
		return s.Metadata.Term, nil
	}
	t, err := l.storage.Term(i)
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0, err
	}
	mustStorage(err)
	return t, nil
}

// termOrZero is term for callers that treat an unknown term as "matches nothing".
func (l *raftLog) termOrZero(i uint64) uint64 {
	t, err := l.term(i)
	if err != nil {
		return 0
	}
	return t
}

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raft: term of the last entry %d unknown: %v", l.lastIndex(), err))
	}
	return t
}

func (l *raftLog) matchTerm(i, term uint64) bool {
	t, err := l.term(i)
	return err == nil && t == term
}

// maybeAppend appends ents after the entry (prevIndex, prevTerm) if that entry matches,
// truncating any conflicting suffix, and advances the commit index to min(leaderCommit, last
// new index). It returns the last index known to match the leader and whether it matched.
func (l *raftLog) maybeAppend(prevIndex, prevTerm, leaderCommit uint64, ents []Entry) (uint64, bool) {
	if !l.matchTerm(prevIndex, prevTerm) {
		return 0, false
	}
	for i := range ents {
		if ents[i].Index != prevIndex+1+uint64(i) {
			panic(fmt.Sprintf("raft: log matching violated: entry %d of an append after %d has index %d", i, prevIndex, ents[i].Index))
		}
	}
	lastNew := prevIndex + uint64(len(ents))
	if conflict := l.findConflict(ents); conflict != 0 {
		l.append(ents[conflict-prevIndex-1:]...)
	}
	l.commitTo(min(leaderCommit, lastNew))
	return lastNew, true
}

// append adds ents to the unstable tail, replacing any entries from ents[0].Index on.
func (l *raftLog) append(ents ...Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if first := ents[0].Index; first <= l.committed {
		panic(fmt.Sprintf("raft: truncating committed entry %d (committed %d)", first, l.committed))
	}
	if first := ents[0].Index; first > l.lastIndex()+1 {
		panic(fmt.Sprintf("raft: append at %d leaves a gap after last index %d", first, l.lastIndex()))
	}
	if prev := ents[0].Index - 1; ents[0].Term < l.termOrZero(prev) {
		panic(fmt.Sprintf("raft: appended entry %d/%d has a lower term than its predecessor", ents[0].Term, ents[0].Index))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents that the log does not already
// hold (different term, or beyond the end), or 0 if the log holds all of them.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for i := range ents {
		if !l.matchTerm(ents[i].Index, ents[i].Term) {
			return ents[i].Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <= term, with that
// term. A follower answers a rejected append with it, and a leader reads a rejection's hint
// with it: every entry above the result is known not to match, so a whole term is skipped.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			// Compacted: unknown, stop here (the snapshot's entries are committed anyway).
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// entries returns the entries from lo to the end, at most maxBytes of them (at least one).
func (l *raftLog) entries(lo, maxBytes uint64) ([]Entry, error) {
	if lo > l.lastIndex() {
		return nil, nil
	}
	return l.slice(lo, l.lastIndex()+1, maxBytes)
}

// slice returns entries [lo, hi), at most maxBytes of them by size (but at least one).
func (l *raftLog) slice(lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo < l.firstIndex() {
		return nil, ErrCompacted
	}
	if hi > l.lastIndex()+1 || lo > hi {
		panic(fmt.Sprintf("raft: slice [%d, %d) out of bounds (last index %d)", lo, hi, l.lastIndex()))
	}
	if lo == hi {
		return nil, nil
	}
	var ents []Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxBytes)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		}
		mustStorage(err)
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil // the size limit was reached
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		u := l.unstable.entries[max(lo, l.unstable.offset)-l.unstable.offset : hi-l.unstable.offset]
		if len(ents) == 0 {
			ents = u
		} else {
			// Copy so that appending never writes into the storage's slice.
			ents = append(append(make([]Entry, 0, len(ents)+len(u)), ents...), u...)
		}
	}
	return limitSize(ents, maxBytes), nil
}

// commitTo raises the commit index to i; it never lowers it.
func (l *raftLog) commitTo(i uint64) {
	if i <= l.committed {
		return
	}
	if i > l.lastIndex() {
		panic(fmt.Sprintf("raft: commit index %d beyond last index %d", i, l.lastIndex()))
	}
	l.committed = i
}

// maybeCommit commits up to index if the entry there may be committed by counting replicas in
// the leader's term (see commitAllowed). It reports whether the commit index moved.
func (l *raftLog) maybeCommit(index, leaderTerm uint64) bool {
	if index <= l.committed || !commitAllowed(l.termOrZero(index), leaderTerm) {
		return false
	}
	l.commitTo(index)
	return true
}

// nextCommittedEntries returns the committed, durable entries not yet applied, bounded by
// maxApplyBytesPerReady.
func (l *raftLog) nextCommittedEntries() []Entry {
	hi := min(l.committed, l.stableLastIndex())
	if l.unstable.snapshot != nil || hi <= l.applied {
		return nil
	}
	ents, err := l.slice(l.applied+1, hi+1, l.maxApplyBytesPerReady)
	if err != nil {
		panic(fmt.Sprintf("raft: committed entries [%d, %d] unavailable: %v", l.applied+1, hi, err))
	}
	return ents
}

func (l *raftLog) hasNextCommittedEntries() bool {
	return l.unstable.snapshot == nil && min(l.committed, l.stableLastIndex()) > l.applied
}

// appliedTo records that the application applied everything up to i, which must continue
// exactly where the last application stopped or jump to an installed snapshot.
func (l *raftLog) appliedTo(i uint64) {
	if i < l.applied || i > l.committed {
		panic(fmt.Sprintf("raft: applied index %d out of range [%d, %d]", i, l.applied, l.committed))
	}
	l.applied = i
}

// stableTo records that the entries up to (index, term) are durable.
func (l *raftLog) stableTo(index, term uint64) {
	u := &l.unstable
	if index < u.offset || index >= u.offset+uint64(len(u.entries)) {
		return
	}
	if u.entries[index-u.offset].Term != term {
		// Replaced by a newer append since it was handed out; the replacement follows.
		return
	}
	u.entries = u.entries[index+1-u.offset:]
	u.offset = index + 1
}

// stableSnapTo records that the unstable snapshot at index is durable.
func (l *raftLog) stableSnapTo(index uint64) {
	if s := l.unstable.snapshot; s != nil && s.Metadata.Index == index {
		l.unstable.snapshot = nil
	}
}

// restore replaces the whole log by snap.
func (l *raftLog) restore(snap Snapshot) {
	if snap.Metadata.Index <= l.committed {
		panic(fmt.Sprintf("raft: restoring snapshot at %d below commit index %d", snap.Metadata.Index, l.committed))
	}
	l.committed = snap.Metadata.Index
	l.unstable.snapshot = &snap
	l.unstable.entries = nil
	l.unstable.offset = snap.Metadata.Index + 1
}

// unstableChunkEntries is the least capacity the unstable tail grows by.
const unstableChunkEntries = 256

// truncateAndAppend puts ents into the tail, dropping what they replace. Replaced entries
// may still be referenced by handed-out messages or Ready, so they are never overwritten in
// place: a truncation copies.
func (u *unstable) truncateAndAppend(ents []Entry) {
	first := ents[0].Index
	switch {
	case first == u.offset+uint64(len(u.entries)):
		if len(u.entries)+len(ents) > cap(u.entries) {
			// Grow in chunks: stableTo slices entries off the front, so without a floor
			// every proposal would allocate a tiny new array.
			grown := make([]Entry, len(u.entries), max(2*(len(u.entries)+len(ents)), unstableChunkEntries))
			copy(grown, u.entries)
			u.entries = grown
		}
		u.entries = append(u.entries, ents...)
	case first <= u.offset:
		u.offset = first
		u.entries = append([]Entry(nil), ents...)
	default:
		kept := u.entries[:first-u.offset]
		u.entries = append(append(make([]Entry, 0, len(kept)+len(ents)), kept...), ents...)
	}
}
