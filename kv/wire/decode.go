package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/ballastdb/ballast/raft"
)

// bodyReader reads a body, remembering the first error and the offset it happened at.
type bodyReader struct {
	body []byte
	off  int
	err  error
}

func (r *bodyReader) fail(err error, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s (at body offset %d)", err, fmt.Sprintf(format, args...), r.off)
	}
}

func (r *bodyReader) remaining() int { return len(r.body) - r.off }

func (r *bodyReader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.remaining() < 1 {
		r.fail(ErrMalformed, "body ends before %s", what)
		return 0
	}
	b := r.body[r.off]
	r.off++
	return b
}

// uvarint reads a minimal uvarint.
func (r *bodyReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.body[r.off:])
	switch {
	case n == 0:
		r.fail(ErrMalformed, "body ends inside %s", what)
		return 0
	case n < 0:
		r.fail(ErrMalformed, "%s overflows 64 bits", what)
		return 0
	case n != uvarintLen(v):
		r.fail(ErrMalformed, "%s is a non-minimal uvarint (%d bytes for %d)", what, n, v)
		return 0
	}
	r.off += n
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// count reads a count of items of at least minItemBytes each, refusing one the rest of the
// body cannot hold (so no allocation is sized by a forged count).
func (r *bodyReader) count(what string, minItemBytes int) int {
	n := r.uvarint(what)
	if r.err != nil {
		return 0
	}
	if n > uint64(r.remaining()/minItemBytes) {
		r.fail(ErrMalformed, "%s %d does not fit in the %d bytes left", what, n, r.remaining())
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string as a capped slice of the body; empty is nil.
// lengthWhat names the length in errors (no string is built on the success path).
func (r *bodyReader) bytes(lengthWhat string) []byte {
	n := r.count(lengthWhat, 1)
	if r.err != nil || n == 0 {
		return nil
	}
	b := r.body[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

func (r *bodyReader) ids(what, countWhat string) []uint64 {
	n := r.count(countWhat, 1)
	if r.err != nil || n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = r.uvarint(what)
	}
	return ids
}

// minEntryBytes is the smallest encoded entry: term, type, data length.
const minEntryBytes = 3

func decodeBody(body []byte) (raft.Message, error) {
	r := &bodyReader{body: body}
	var m raft.Message
	t := r.byte("message type")
	flags := r.byte("flags")
	if r.err != nil {
		return raft.Message{}, r.err
	}
	if t == 0 || raft.MessageType(t) > lastMessageType {
		return raft.Message{}, fmt.Errorf("%w: message type %d", ErrUnknownType, t)
	}
	m.Type = raft.MessageType(t)
	if flags&^flagsKnown != 0 {
		return raft.Message{}, fmt.Errorf("%w: unknown flag bits 0x%02x in %s", ErrMalformed, flags&^flagsKnown, m.Type)
	}
	m.Reject = flags&flagReject != 0
	m.LeaderTransfer = flags&flagLeaderTransfer != 0
	m.From = r.uvarint("From")
	m.To = r.uvarint("To")
	m.Term = r.uvarint("Term")
	m.LogTerm = r.uvarint("LogTerm")
	m.Index = r.uvarint("Index")
	m.Commit = r.uvarint("Commit")
	m.RejectHint = r.uvarint("RejectHint")
	m.ReadRound = r.uvarint("ReadRound")
	if flags&flagContext != 0 {
		m.Context = r.bytes("Context length")
		if m.Context == nil && r.err == nil {
			m.Context = []byte{}
		}
	}
	m.Entries = decodeEntries(r, &m)
	if flags&flagSnapshot != 0 {
		m.Snapshot = decodeSnapshot(r)
	}
	if r.err != nil {
		return raft.Message{}, r.err
	}
	if r.remaining() != 0 {
		return raft.Message{}, fmt.Errorf("%w: %d trailing bytes after %s", ErrMalformed, r.remaining(), m.Type)
	}
	if err := checkMessage(&m); err != nil {
		return raft.Message{}, err
	}
	return m, nil
}

func decodeEntries(r *bodyReader, m *raft.Message) []raft.Entry {
	n := r.count("entry count", minEntryBytes)
	if r.err != nil || n == 0 {
		return nil
	}
	if m.Type != raft.MsgApp {
		r.fail(ErrMalformed, "%s carries %d entries; only MsgApp carries entries", m.Type, n)
		return nil
	}
	if uint64(n) > ^uint64(0)-m.Index {
		r.fail(ErrMalformed, "%d entries after index %d overflow the index", n, m.Index)
		return nil
	}
	ents := make([]raft.Entry, n)
	for i := range ents {
		e := &ents[i]
		e.Index = m.Index + 1 + uint64(i)
		e.Term = r.uvarint("entry Term")
		t := r.byte("entry Type")
		if r.err == nil && t > byte(raft.EntryConfChange) {
			r.fail(ErrUnknownType, "entry %d has entry type %d", e.Index, t)
		}
		e.Type = raft.EntryType(t)
		e.Data = r.bytes("entry Data length")
		if r.err != nil {
			return nil
		}
	}
	return ents
}

func decodeSnapshot(r *bodyReader) *raft.Snapshot {
	s := &raft.Snapshot{}
	s.Metadata.Index = r.uvarint("snapshot Index")
	s.Metadata.Term = r.uvarint("snapshot Term")
	s.Metadata.ConfState.Voters = r.ids("snapshot Voters", "snapshot Voters count")
	s.Metadata.ConfState.Learners = r.ids("snapshot Learners", "snapshot Learners count")
	s.Data = r.bytes("snapshot Data length")
	return s
}
