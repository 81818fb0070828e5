package raftlog

import (
	"fmt"

	"github.com/ballastdb/ballast/raft"
)

// The tail cache keeps the newest entries of the log in memory, as written, so that the reads
// raft makes of recent entries (appends to followers, committed entries to apply, terms for
// the log-matching check) do not each open a Pebble iterator and decode: in the simulator's
// BenchmarkSteady1000 those reads were 11% of the CPU profile (Entries 6.4%, Term 4.7%).
// Pebble stays the only source of truth: the cache mirrors what the write methods put into
// the batch (as l.st does), is dropped wherever l.st is reloaded, and entries older than the
// cache are read from Pebble as before. etcd's raft keeps the whole log in MemoryStorage;
// this keeps a bounded window of it.

// Bounds of the tail cache: entries beyond either are dropped from its front.
const (
	tailMaxEntries = 4096
	tailMaxBytes   = 4 << 20
)

// tail is a contiguous run of entries that ends at the log's last index (when not empty).
type tail struct {
	ents  []raft.Entry
	bytes int
	// maxEntries and maxBytes are the bounds (the constants above; tests set small ones).
	maxEntries, maxBytes int
}

func newTail() tail { return tail{maxEntries: tailMaxEntries, maxBytes: tailMaxBytes} }

// LimitTailCache bounds the tail cache to maxEntries entries (at least 1; 0 keeps the
// default of tailMaxEntries). The simulator draws tiny bounds so that raft's reads of older
// entries go to Pebble in many runs, not only in a log longer than the default window.
func (l *Log) LimitTailCache(maxEntries int) {
	if maxEntries <= 0 {
		return
	}
	l.tail.reset()
	l.tail.maxEntries = maxEntries
}

// covers reports whether entry i is in the cache.
func (t *tail) covers(i uint64) bool {
	return len(t.ents) > 0 && i >= t.ents[0].Index && i <= t.ents[len(t.ents)-1].Index
}

func (t *tail) reset() { t.ents, t.bytes = nil, 0 }

// append records entries that Append wrote (contiguous, starting at or below the last cached
// index + 1); entries from entries[0].Index on are replaced, as in the log.
func (t *tail) append(entries []raft.Entry) {
	start := entries[0].Index
	switch {
	case len(t.ents) == 0, start < t.ents[0].Index, start > t.ents[len(t.ents)-1].Index+1:
		t.reset()
	default:
		keep := int(start - t.ents[0].Index)
		for _, e := range t.ents[keep:] {
			t.bytes -= len(e.Data)
		}
		clear(t.ents[keep:])
		t.ents = t.ents[:keep]
	}
	size := 0
	for i := range entries {
		size += len(entries[i].Data)
	}
	// One copy of the data, owned by the cache: the caller may reuse its buffers.
	data := make([]byte, 0, size)
	for _, e := range entries {
		if e.Data != nil {
			off := len(data)
			data = append(data, e.Data...)
			e.Data = data[off:len(data):len(data)]
		}
		t.ents = append(t.ents, e)
		t.bytes += len(e.Data)
	}
	t.trim()
}

// dropThrough removes the cached entries up to and including index (Compact).
func (t *tail) dropThrough(index uint64) {
	for len(t.ents) > 0 && t.ents[0].Index <= index {
		t.bytes -= len(t.ents[0].Data)
		t.ents[0] = raft.Entry{}
		t.ents = t.ents[1:]
	}
	if len(t.ents) == 0 {
		t.reset()
	}
}

// trim drops entries from the front until the cache is within its bounds; the newest entry
// always stays.
func (t *tail) trim() {
	for len(t.ents) > 1 && (len(t.ents) > t.maxEntries || t.bytes > t.maxBytes) {
		t.bytes -= len(t.ents[0].Data)
		t.ents[0] = raft.Entry{}
		t.ents = t.ents[1:]
	}
}

// term is the term of cached entry i; the caller checked covers(i).
func (t *tail) term(i uint64) uint64 { return t.ents[i-t.ents[0].Index].Term }

// entries returns the cached entries [lo, hi), cut at maxBytes as Entries does; the caller
// checked that lo is cached and hi-1 is at most the last index. The Entry structs are fresh;
// their Data is shared with the cache and must not be modified.
func (t *tail) entries(lo, hi, maxBytes uint64) []raft.Entry {
	src := t.ents[lo-t.ents[0].Index : hi-t.ents[0].Index]
	var sizeBytes uint64
	n := 0
	for i := range src {
		sizeBytes += uint64(len(src[i].Data)) + entryOverheadBytes
		if n > 0 && sizeBytes > maxBytes {
			break
		}
		n++
	}
	return append([]raft.Entry(nil), src[:n]...)
}

// check panics when the cache does not end at the log's last entry: it would serve entries
// of a suffix that was replaced.
func (t *tail) check(lastIndex, lastTerm uint64) {
	if len(t.ents) == 0 {
		return
	}
	if e := t.ents[len(t.ents)-1]; e.Index != lastIndex || e.Term != lastTerm {
		panic(fmt.Sprintf("raftlog: tail cache ends at entry %d term %d, the log at %d term %d", e.Index, e.Term, lastIndex, lastTerm))
	}
}
