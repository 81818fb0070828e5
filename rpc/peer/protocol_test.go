package peer

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadFrameErrors: each way a frame can be wrong gives its own error.
func TestReadFrameErrors(t *testing.T) {
	valid := frameBytes([]byte("payload"))
	badCRC := bytes.Clone(valid)
	badCRC[len(badCRC)-1] ^= 1
	for _, c := range []struct {
		name  string
		input []byte
		is    error
		text  string
	}{
		{"nothing", nil, io.EOF, "EOF"},
		{"a cut header", valid[:3], ErrFrame, "truncated frame header (3 of 8 bytes)"},
		{"a cut payload", valid[:10], ErrFrame, "truncated frame (2 of 7 payload bytes)"},
		{"empty", make([]byte, 8), ErrFrame, "empty frame"},
		{"over the limit", []byte{0x04, 0x10, 0x00, 0x01, 0, 0, 0, 0}, ErrFrameTooLarge, "frame of 68157441 bytes exceeds the limit of 68157440"},
		{"a bad checksum", badCRC, ErrFrame, "checksum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := readFrame(bytes.NewReader(c.input))
			require.ErrorIs(t, err, c.is)
			require.ErrorContains(t, err, c.text)
		})
	}
	t.Run("a lying length allocates as bytes arrive", func(t *testing.T) {
		// 64 MiB announced, 10 bytes sent: the reader fails on the cut, having allocated
		// at most readStepBytes (AllocsPerRun would count, not size; this checks the path).
		input := append([]byte{0x04, 0x00, 0x00, 0x00, 0, 0, 0, 0}, make([]byte, 10)...)
		_, err := readFrame(bytes.NewReader(input))
		require.ErrorContains(t, err, "truncated frame (10 of 67108864 payload bytes)")
	})
	t.Run("a payload larger than one read step", func(t *testing.T) {
		payload := bytes.Repeat([]byte("0123456789abcdef"), (3*readStepBytes)/16+5)
		got, err := readFrame(bytes.NewReader(frameBytes(payload)))
		require.NoError(t, err)
		require.Equal(t, payload, got)
	})
	t.Run("writeFrame refuses what readFrame would", func(t *testing.T) {
		require.ErrorIs(t, writeFrame(io.Discard, nil), ErrFrame)
		require.ErrorIs(t, writeFrame(io.Discard, make([]byte, MaxFrameBytes+1)), ErrFrameTooLarge)
	})
}

// TestHandshakeLayout: the encoding is the documented byte layout, and decoding refuses
// what is not it.
func TestHandshakeLayout(t *testing.T) {
	h := handshake{Version: 1, Class: classBulk, Status: statusRemoved, Cluster: 0x0102030405060708, Sender: 0x1112131415161718, Receiver: 0x2122232425262728}
	b := h.encode()
	require.Equal(t, []byte("BLST"), b[0:4])
	require.Equal(t, []byte{0, 1, classBulk, statusRemoved}, b[4:8])
	require.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, b[8:16])
	require.Equal(t, []byte{0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18}, b[16:24])
	require.Equal(t, []byte{0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28}, b[24:32])
	got, err := decodeHandshake(b)
	require.NoError(t, err)
	require.Equal(t, h, got)
	for _, c := range []struct {
		name  string
		input []byte
		text  string
	}{
		{"short", b[:35], "handshake of 35 bytes, want 36"},
		{"long", append(bytes.Clone(b), 0), "handshake of 37 bytes, want 36"},
		{"another protocol", append([]byte("ETCD"), b[4:]...), `handshake magic "ETCD", want "BLST" (not a Ballast peer)`},
		{"a flipped bit", append(bytes.Clone(b[:20]), append([]byte{b[20] ^ 1}, b[21:]...)...), "handshake checksum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeHandshake(c.input)
			require.ErrorIs(t, err, ErrFrame)
			require.ErrorContains(t, err, c.text)
		})
	}
}

// TestCallPayloads: requests and answers round-trip; bad ones are refused.
func TestCallPayloads(t *testing.T) {
	req, err := encodeCallRequest(1234, "MemberList", []byte{1, 2})
	require.NoError(t, err)
	budget, method, body, err := decodeCallRequest(req)
	require.NoError(t, err)
	require.Equal(t, uint32(1234), budget)
	require.Equal(t, "MemberList", method)
	require.Equal(t, []byte{1, 2}, body)
	_, err = encodeCallRequest(0, string(make([]byte, 256)), nil)
	require.ErrorContains(t, err, "length must be 1 to 255 bytes")
	for _, bad := range [][]byte{nil, {0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 5, 'a'}} {
		_, _, _, err := decodeCallRequest(bad)
		require.ErrorIs(t, err, ErrFrame, "%v", bad)
	}
	for _, bad := range [][]byte{nil, {1, 0, 0}, {2}} {
		_, _, err := decodeCallResponse(bad)
		require.ErrorIs(t, err, ErrFrame, "%v", bad)
	}
}
