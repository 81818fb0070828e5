package raftlog

import (
	"encoding/binary"
	"fmt"

	"github.com/ballastdb/ballast/raft"
)

// Value encodings. All integers are uvarints; every decoder checks that it used the whole
// value, so a truncated or padded value is reported as corrupt instead of read as garbage.

// maxConfMembers bounds the member lists of a stored configuration, so a corrupt count cannot
// make a decoder allocate without limit.
const maxConfMembers = 1 << 16

type decoder struct {
	key []byte
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: value at key %q: %s", ErrCorrupt, d.key, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad uvarint for %s", what)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.fail("missing %s", what)
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) ids(what string) []uint64 {
	n := d.uvarint(what + " count")
	if d.err != nil {
		return nil
	}
	if n > maxConfMembers || n > uint64(len(d.buf)) {
		d.fail("%s count %d beyond the value", what, n)
		return nil
	}
	if n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = d.uvarint(what)
	}
	return ids
}

// done reports the first error, or an error if bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	return d.err
}

func encodeHardState(dst []byte, hs raft.HardState) []byte {
	dst = binary.AppendUvarint(dst, hs.Term)
	dst = binary.AppendUvarint(dst, hs.Vote)
	return binary.AppendUvarint(dst, hs.Commit)
}

func decodeHardState(key, v []byte) (raft.HardState, error) {
	d := decoder{key: key, buf: v}
	hs := raft.HardState{Term: d.uvarint("term"), Vote: d.uvarint("vote"), Commit: d.uvarint("commit")}
	return hs, d.done()
}

// truncState is the compaction point: the entry at index is known by its term only.
type truncState struct {
	index, term uint64
}

func encodeTruncState(dst []byte, t truncState) []byte {
	dst = binary.AppendUvarint(dst, t.index)
	return binary.AppendUvarint(dst, t.term)
}

func decodeTruncState(key, v []byte) (truncState, error) {
	d := decoder{key: key, buf: v}
	t := truncState{index: d.uvarint("index"), term: d.uvarint("term")}
	return t, d.done()
}

func encodeSnapshotMeta(dst []byte, m raft.SnapshotMetadata) []byte {
	dst = binary.AppendUvarint(dst, m.Index)
	dst = binary.AppendUvarint(dst, m.Term)
	for _, ids := range [][]uint64{m.ConfState.Voters, m.ConfState.Learners} {
		dst = binary.AppendUvarint(dst, uint64(len(ids)))
		for _, id := range ids {
			dst = binary.AppendUvarint(dst, id)
		}
	}
	return dst
}

func decodeSnapshotMeta(key, v []byte) (raft.SnapshotMetadata, error) {
	d := decoder{key: key, buf: v}
	var m raft.SnapshotMetadata
	m.Index = d.uvarint("index")
	m.Term = d.uvarint("term")
	m.ConfState.Voters = d.ids("voters")
	m.ConfState.Learners = d.ids("learners")
	return m, d.done()
}

// encodeEntry encodes everything but the index, which is in the key.
func encodeEntry(dst []byte, e *raft.Entry) []byte {
	dst = binary.AppendUvarint(dst, e.Term)
	dst = append(dst, byte(e.Type))
	return append(dst, e.Data...)
}

// decodeEntryTerm reads only the term of an entry value.
func decodeEntryTerm(key, v []byte) (uint64, error) {
	d := decoder{key: key, buf: v}
	term := d.uvarint("entry term")
	return term, d.err
}

// decodeEntry decodes an entry value. Data is copied into s (never aliases v, which belongs
// to Pebble); empty data decodes as nil.
func decodeEntry(key, v []byte, index uint64, s *slab) (raft.Entry, error) {
	d := decoder{key: key, buf: v}
	e := raft.Entry{Index: index, Term: d.uvarint("entry term")}
	t := d.byte("entry type")
	if d.err != nil {
		return raft.Entry{}, d.err
	}
	if t > byte(raft.EntryConfChange) {
		d.fail("unknown entry type %d", t)
		return raft.Entry{}, d.err
	}
	e.Type = raft.EntryType(t)
	e.Data = s.copy(d.buf)
	return e, nil
}

// slabBytes is the chunk size in which Entries copies entry data out of Pebble: one
// allocation for many small entries.
const slabBytes = 8 << 10

// slab hands out capped copies carved from shared chunks.
type slab struct{ buf []byte }

// copy returns a copy of b whose capacity equals its length (appending to it never writes
// into a neighbour), or nil for empty b.
func (s *slab) copy(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if cap(s.buf)-len(s.buf) < len(b) {
		s.buf = make([]byte, 0, max(len(b), slabBytes))
	}
	start := len(s.buf)
	s.buf = append(s.buf, b...)
	return s.buf[start:len(s.buf):len(s.buf)]
}

func encodeFormat(dst []byte, version uint64) []byte { return binary.AppendUvarint(dst, version) }

func decodeFormat(key, v []byte) (uint64, error) {
	d := decoder{key: key, buf: v}
	version := d.uvarint("format version")
	return version, d.done()
}
