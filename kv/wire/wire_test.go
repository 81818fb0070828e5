package wire

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"reflect"
	"sort"
	"testing"

	"github.com/ballastdb/ballast/raft"
	"github.com/stretchr/testify/require"
)

func TestRoundTripRandomMessages(t *testing.T) {
	rng := newRand(testSeed(t, 1))
	var c Codec
	var buf []byte
	for i := 0; i < 5000; i++ {
		m := randMessage(rng)
		var err error
		buf, err = c.Append(buf[:0], &m)
		require.NoError(t, err, "message %d: %s", i, m)
		n, err := c.FrameLen(buf)
		require.NoError(t, err)
		require.Equal(t, len(buf), n)
		require.Equal(t, len(buf), c.FrameBytes(&m), "message %d: FrameBytes", i)

		got, err := c.Decode(buf)
		require.NoError(t, err, "message %d: %s", i, m)
		require.Equal(t, m, got, "message %d", i)
		aliased, err := c.DecodeAliased(buf)
		require.NoError(t, err)
		require.Equal(t, m, aliased, "message %d", i)

		again, err := c.Encode(&got)
		require.NoError(t, err)
		require.Equal(t, buf, again, "message %d: the encoding is canonical", i)
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	m := appMessage(2, 10)
	prefix := []byte("prefix")
	frame, err := Codec{}.Append(append([]byte(nil), prefix...), &m)
	require.NoError(t, err)
	require.Equal(t, prefix, frame[:len(prefix)])
	got, err := Codec{}.Decode(frame[len(prefix):])
	require.NoError(t, err)
	require.Equal(t, m, got)
}

// TestDecodeOwnsMemory: Decode's message survives the caller reusing the frame buffer;
// DecodeAliased's byte fields are the frame's bytes (as documented); no byte field can grow
// into its neighbour.
func TestDecodeOwnsMemory(t *testing.T) {
	m := appMessage(3, 8)
	m.Context = []byte("ctx")
	frame := mustEncode(t, m)

	owned, err := Codec{}.Decode(frame)
	require.NoError(t, err)
	aliased, err := Codec{}.DecodeAliased(frame)
	require.NoError(t, err)
	for i := range frame {
		frame[i] = 0xEE
	}
	require.Equal(t, m, owned, "Decode's message must not alias the frame")
	require.Equal(t, byte(0xEE), aliased.Entries[0].Data[0], "DecodeAliased's data aliases the frame")

	for _, e := range owned.Entries {
		require.Equal(t, len(e.Data), cap(e.Data), "entry data is a capped slice")
	}
	require.Equal(t, len(owned.Context), cap(owned.Context))
	_ = append(owned.Entries[0].Data, 'x')
	require.Equal(t, m.Entries[1].Data, owned.Entries[1].Data, "appending to one entry's data leaves the next intact")
}

// TestEveryFieldIsEncoded fails when raft adds a field this encoding does not know about.
func TestEveryFieldIsEncoded(t *testing.T) {
	for _, tc := range []struct {
		typ    any
		fields []string
	}{
		{raft.Message{}, []string{"Commit", "Context", "Entries", "From", "Index", "LeaderTransfer", "LogTerm", "ReadRound", "Reject", "RejectHint", "Snapshot", "Term", "To", "Type"}},
		{raft.Entry{}, []string{"Data", "Index", "Term", "Type"}},
		{raft.Snapshot{}, []string{"Data", "Metadata"}},
		{raft.SnapshotMetadata{}, []string{"ConfState", "Index", "Term"}},
		{raft.ConfState{}, []string{"Learners", "Voters"}},
	} {
		typ := reflect.TypeOf(tc.typ)
		var got []string
		for i := 0; i < typ.NumField(); i++ {
			got = append(got, typ.Field(i).Name)
		}
		sort.Strings(got)
		require.Equal(t, tc.fields, got, "fields of %s: update the encoding (and Version) for the new field", typ)
	}
	require.Equal(t, "MsgTimeoutNow", lastMessageType.String())
	require.Equal(t, "MessageType(13)", (lastMessageType + 1).String(), "raft has a message type beyond %s", lastMessageType)
}

// frameOf builds a frame around body with a correct checksum.
func frameOf(body []byte) []byte {
	f := make([]byte, HeaderBytes, HeaderBytes+len(body))
	f[0], f[1] = Magic, Version
	binary.LittleEndian.PutUint32(f[2:6], uint32(len(body)))
	binary.LittleEndian.PutUint32(f[6:10], crc32.Checksum(body, castagnoli))
	return append(f, body...)
}

// body of a heartbeat 1->2 term 3: type, flags, 8 uvarints, no entries.
func heartbeatBody() []byte {
	return []byte{byte(raft.MsgHeartbeat), 0, 1, 2, 3, 0, 0, 0, 0, 0, 0}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	good := mustEncode(t, appMessage(2, 4))
	hb := heartbeatBody()
	with := func(b []byte, fn func([]byte)) []byte {
		b = append([]byte(nil), b...)
		fn(b)
		return b
	}
	for _, tc := range []struct {
		name    string
		frame   []byte
		max     int
		wantErr error
		inMsg   string
	}{
		{"empty", nil, 0, ErrShortBuffer, "0 bytes, the header needs 10"},
		{"short header", good[:9], 0, ErrShortBuffer, "9 bytes"},
		{"short body", good[:len(good)-1], 0, ErrShortBuffer, "have"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), 0, ErrMalformed, "1 bytes after a frame"},
		{"bad magic", with(good, func(b []byte) { b[0] = 0x42 }), 0, ErrBadMagic, "0x42"},
		{"bad version", with(good, func(b []byte) { b[1] = 9 }), 0, ErrBadVersion, "9"},
		{"too large", good, 20, ErrTooLarge, "at most 20"},
		{"length beyond 32-bit max", with(good, func(b []byte) { binary.LittleEndian.PutUint32(b[2:6], ^uint32(0)) }), 0, ErrTooLarge, "at most"},
		{"checksum mismatch", with(good, func(b []byte) { b[len(b)-1] ^= 1 }), 0, ErrChecksum, "CRC-32C"},
		{"checksum field damaged", with(good, func(b []byte) { b[7] ^= 1 }), 0, ErrChecksum, "header says"},
		{"empty body", frameOf(nil), 0, ErrMalformed, "body ends before message type"},
		{"no flags", frameOf([]byte{1}), 0, ErrMalformed, "body ends before flags"},
		{"message type 0", frameOf([]byte{0, 0}), 0, ErrUnknownType, "message type 0"},
		{"message type beyond raft's", frameOf([]byte{byte(lastMessageType) + 1, 0}), 0, ErrUnknownType, "message type 13"},
		{"unknown flags", frameOf(with(hb, func(b []byte) { b[1] = 0x80 })), 0, ErrMalformed, "unknown flag bits 0x80"},
		{"body ends in a uvarint", frameOf(hb[:5]), 0, ErrMalformed, "body ends inside LogTerm"},
		{"uvarint overflow", frameOf(append([]byte{byte(raft.MsgHeartbeat), 0}, bytes.Repeat([]byte{0xff}, 11)...)), 0, ErrMalformed, "From overflows 64 bits"},
		{"non-minimal uvarint", frameOf([]byte{byte(raft.MsgHeartbeat), 0, 0x81, 0x00, 2, 3, 0, 0, 0, 0, 0, 0}), 0, ErrMalformed, "From is a non-minimal uvarint"},
		{"missing entry count", frameOf(hb[:len(hb)-1]), 0, ErrMalformed, "entry count"},
		{"trailing body bytes", frameOf(append(append([]byte(nil), hb...), 0)), 0, ErrMalformed, "1 trailing bytes"},
		{"entries on a heartbeat", frameOf(append(hb[:len(hb)-1:len(hb)-1], 1, 3, 0, 0)), 0, ErrMalformed, "only MsgApp carries entries"},
		{"entry count beyond body", frameOf([]byte{byte(raft.MsgApp), 0, 1, 2, 3, 3, 0, 0, 0, 0, 100, 3, 0, 0}), 0, ErrMalformed, "entry count 100 does not fit"},
		{"unknown entry type", frameOf([]byte{byte(raft.MsgApp), 0, 1, 2, 3, 3, 0, 0, 0, 0, 1, 3, 7, 0}), 0, ErrUnknownType, "entry type 7"},
		{"entry data beyond body", frameOf([]byte{byte(raft.MsgApp), 0, 1, 2, 3, 3, 0, 0, 0, 0, 1, 3, 0, 5, 1}), 0, ErrMalformed, "entry Data length 5 does not fit"},
		{"entry index overflow", frameOf(append(append([]byte{byte(raft.MsgApp), 0, 1, 2, 3, 3}, binary.AppendUvarint(nil, ^uint64(0))...), 0, 0, 0, 1, 3, 0, 0)), 0, ErrMalformed, "overflow the index"},
		{"context length beyond body", frameOf(append(with(hb, func(b []byte) { b[1] = flagContext })[:len(hb)-1:len(hb)-1], 9, 1, 0)), 0, ErrMalformed, "Context length 9"},
		{"snapshot flag on a heartbeat", frameOf(append(with(hb, func(b []byte) { b[1] = flagSnapshot }), 1, 1, 0, 0, 0)), 0, ErrMalformed, "MsgHeartbeat with snapshot=true"},
		{"MsgSnap without snapshot", frameOf([]byte{byte(raft.MsgSnap), 0, 1, 2, 3, 0, 0, 0, 0, 0, 0}), 0, ErrMalformed, "MsgSnap with snapshot=false"},
		{"snapshot voter count beyond body", frameOf([]byte{byte(raft.MsgSnap), flagSnapshot, 1, 2, 3, 0, 0, 0, 0, 0, 0, 5, 5, 9}), 0, ErrMalformed, "snapshot Voters count 9"},
		{"snapshot cut short", frameOf([]byte{byte(raft.MsgSnap), flagSnapshot, 1, 2, 3, 0, 0, 0, 0, 0, 0, 5, 5, 1, 2, 0}), 0, ErrMalformed, "snapshot Data length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Codec{MaxFrameBytes: tc.max}.Decode(tc.frame)
			require.ErrorIs(t, err, tc.wantErr)
			require.ErrorContains(t, err, tc.inMsg)
			_, err = Codec{MaxFrameBytes: tc.max}.DecodeAliased(tc.frame)
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
	// The well-formed frames of the table's building blocks do decode.
	_, err := Codec{}.Decode(frameOf(hb))
	require.NoError(t, err)
	snap, err := Codec{}.Decode(frameOf([]byte{byte(raft.MsgSnap), flagSnapshot, 1, 2, 3, 0, 0, 0, 0, 0, 0, 5, 5, 1, 2, 0, 0}))
	require.NoError(t, err)
	require.Equal(t, raft.SnapshotMetadata{Index: 5, Term: 5, ConfState: raft.ConfState{Voters: []uint64{2}}}, snap.Snapshot.Metadata)
}

func TestEncodeRefusesWhatDecodeWould(t *testing.T) {
	for _, tc := range []struct {
		name    string
		m       raft.Message
		max     int
		wantErr error
	}{
		{"type 0", raft.Message{}, 0, ErrUnknownType},
		{"type beyond raft's", raft.Message{Type: lastMessageType + 1}, 0, ErrUnknownType},
		{"entries on a vote", raft.Message{Type: raft.MsgVote, Entries: []raft.Entry{{Index: 1}}}, 0, ErrMalformed},
		{"entries not after Index", raft.Message{Type: raft.MsgApp, Index: 5, Entries: []raft.Entry{{Index: 5}}}, 0, ErrMalformed},
		{"entries not contiguous", raft.Message{Type: raft.MsgApp, Index: 5, Entries: []raft.Entry{{Index: 6}, {Index: 8}}}, 0, ErrMalformed},
		{"entry index overflow", raft.Message{Type: raft.MsgApp, Index: ^uint64(0), Entries: []raft.Entry{{Index: 0}}}, 0, ErrMalformed},
		{"unknown entry type", raft.Message{Type: raft.MsgApp, Entries: []raft.Entry{{Index: 1, Type: 5}}}, 0, ErrUnknownType},
		{"MsgSnap without snapshot", raft.Message{Type: raft.MsgSnap}, 0, ErrMalformed},
		{"snapshot on MsgApp", raft.Message{Type: raft.MsgApp, Snapshot: &raft.Snapshot{}}, 0, ErrMalformed},
		{"too large", appMessage(4, 100), 200, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := Codec{MaxFrameBytes: tc.max}.Append(dst, &tc.m)
			require.ErrorIs(t, err, tc.wantErr)
			require.Equal(t, []byte("keep"), out)
		})
	}
}

// TestFrameLenSplitsAStream reads frames back to back from one buffer, as a transport reading
// a connection would.
func TestFrameLenSplitsAStream(t *testing.T) {
	rng := newRand(testSeed(t, 2))
	var stream []byte
	var want []raft.Message
	for i := 0; i < 50; i++ {
		m := randMessage(rng)
		var err error
		stream, err = Codec{}.Append(stream, &m)
		require.NoError(t, err)
		want = append(want, m)
	}
	var got []raft.Message
	for len(stream) > 0 {
		n, err := Codec{}.FrameLen(stream)
		require.NoError(t, err)
		m, err := Codec{}.Decode(stream[:n])
		require.NoError(t, err)
		got = append(got, m)
		stream = stream[n:]
	}
	require.Equal(t, want, got)
}
