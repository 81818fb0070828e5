package wire

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/ballastdb/ballast/raft"
)

// Append appends the frame of m to dst. A message that the decoder would refuse (unknown
// type, fields its type does not carry, non-contiguous entries, too large) is an error, and
// dst is returned unchanged.
func (c Codec) Append(dst []byte, m *raft.Message) ([]byte, error) {
	if err := checkMessage(m); err != nil {
		return dst, err
	}
	frameLen := HeaderBytes + bodySize(m)
	if frameLen > c.maxFrameBytes() {
		return dst, fmt.Errorf("%w: %s encodes to %d bytes, at most %d", ErrTooLarge, m.Type, frameLen, c.maxFrameBytes())
	}
	start := len(dst)
	if cap(dst)-start < frameLen {
		grown := make([]byte, start, start+frameLen)
		copy(grown, dst)
		dst = grown
	}
	dst = append(dst, make([]byte, HeaderBytes)...)
	dst = appendBody(dst, m)
	if got := len(dst) - start; got != frameLen {
		panic(fmt.Sprintf("wire: %s encoded to %d bytes, sized as %d", m.Type, got, frameLen))
	}
	bodyLen := frameLen - HeaderBytes
	h := dst[start : start+HeaderBytes]
	h[0], h[1] = Magic, Version
	binary.LittleEndian.PutUint32(h[2:6], uint32(bodyLen))
	binary.LittleEndian.PutUint32(h[6:10], crc32.Checksum(dst[start+HeaderBytes:], castagnoli))
	return dst, nil
}

// FrameBytes is the size of m's frame, for a caller that puts it after bytes of its own in
// one buffer (Append grows dst to the frame's size only when it has too little room).
func (c Codec) FrameBytes(m *raft.Message) int { return HeaderBytes + bodySize(m) }

// Encode returns the frame of m in a new buffer.
func (c Codec) Encode(m *raft.Message) ([]byte, error) { return c.Append(nil, m) }

// checkMessage applies the rules decodeBody enforces, so that Append never builds a frame
// the peer refuses.
func checkMessage(m *raft.Message) error {
	if m.Type == 0 || m.Type > lastMessageType {
		return fmt.Errorf("%w: message type %d", ErrUnknownType, m.Type)
	}
	if len(m.Entries) > 0 && m.Type != raft.MsgApp {
		return fmt.Errorf("%w: %s carries %d entries; only MsgApp carries entries", ErrMalformed, m.Type, len(m.Entries))
	}
	if (m.Snapshot != nil) != (m.Type == raft.MsgSnap) {
		return fmt.Errorf("%w: %s with snapshot=%t; MsgSnap, and only MsgSnap, carries one", ErrMalformed, m.Type, m.Snapshot != nil)
	}
	if uint64(len(m.Entries)) > ^uint64(0)-m.Index {
		return fmt.Errorf("%w: %d entries after index %d overflow the index", ErrMalformed, len(m.Entries), m.Index)
	}
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Index != m.Index+1+uint64(i) {
			return fmt.Errorf("%w: entry %d of %s has index %d, want %d (entries follow Index %d)", ErrMalformed, i, m.Type, e.Index, m.Index+1+uint64(i), m.Index)
		}
		if e.Type > raft.EntryConfChange {
			return fmt.Errorf("%w: entry %d has entry type %d", ErrUnknownType, e.Index, e.Type)
		}
	}
	return nil
}

// bodySize is the exact size of the body appendBody writes.
func bodySize(m *raft.Message) int {
	n := 2
	for _, v := range [...]uint64{m.From, m.To, m.Term, m.LogTerm, m.Index, m.Commit, m.RejectHint, m.ReadRound} {
		n += uvarintLen(v)
	}
	if m.Context != nil {
		n += bytesLen(m.Context)
	}
	n += uvarintLen(uint64(len(m.Entries)))
	for i := range m.Entries {
		n += uvarintLen(m.Entries[i].Term) + 1 + bytesLen(m.Entries[i].Data)
	}
	if s := m.Snapshot; s != nil {
		n += uvarintLen(s.Metadata.Index) + uvarintLen(s.Metadata.Term) + bytesLen(s.Data)
		for _, ids := range [...][]uint64{s.Metadata.ConfState.Voters, s.Metadata.ConfState.Learners} {
			n += uvarintLen(uint64(len(ids)))
			for _, id := range ids {
				n += uvarintLen(id)
			}
		}
	}
	return n
}

func bytesLen(b []byte) int { return uvarintLen(uint64(len(b))) + len(b) }

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendBody(dst []byte, m *raft.Message) []byte {
	var flags byte
	if m.Reject {
		flags |= flagReject
	}
	if m.LeaderTransfer {
		flags |= flagLeaderTransfer
	}
	if m.Snapshot != nil {
		flags |= flagSnapshot
	}
	if m.Context != nil {
		flags |= flagContext
	}
	dst = append(dst, byte(m.Type), flags)
	for _, v := range [...]uint64{m.From, m.To, m.Term, m.LogTerm, m.Index, m.Commit, m.RejectHint, m.ReadRound} {
		dst = binary.AppendUvarint(dst, v)
	}
	if m.Context != nil {
		dst = appendBytes(dst, m.Context)
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		dst = binary.AppendUvarint(dst, e.Term)
		dst = append(dst, byte(e.Type))
		dst = appendBytes(dst, e.Data)
	}
	if s := m.Snapshot; s != nil {
		dst = binary.AppendUvarint(dst, s.Metadata.Index)
		dst = binary.AppendUvarint(dst, s.Metadata.Term)
		for _, ids := range [...][]uint64{s.Metadata.ConfState.Voters, s.Metadata.ConfState.Learners} {
			dst = binary.AppendUvarint(dst, uint64(len(ids)))
			for _, id := range ids {
				dst = binary.AppendUvarint(dst, id)
			}
		}
		dst = appendBytes(dst, s.Data)
	}
	return dst
}
