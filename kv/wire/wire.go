package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/ballastdb/ballast/raft"
)

// Frame constants.
const (
	// Magic is the first byte of every frame.
	Magic byte = 0xBA
	// Version is the encoding version this package writes and reads.
	Version byte = 1
	// HeaderBytes is the size of the fixed header before the body.
	HeaderBytes = 10
	// DefaultMaxFrameBytes bounds a frame when Codec.MaxFrameBytes is zero: far above an
	// append message's size (raft bounds those by MaxBytesPerMsg), and enough for a MsgSnap
	// whose Data is a descriptor or a bounded chunk rather than a whole store.
	DefaultMaxFrameBytes = 64 << 20
)

// Errors. Every decoding error wraps one of them and says, with values, what was wrong.
var (
	// ErrShortBuffer: fewer bytes than the header, or than the header says the body has.
	ErrShortBuffer = errors.New("wire: short buffer")
	// ErrBadMagic: the first byte is not Magic (not a frame, or misaligned in a stream).
	ErrBadMagic = errors.New("wire: bad magic byte")
	// ErrBadVersion: an encoding version this code does not read.
	ErrBadVersion = errors.New("wire: unknown encoding version")
	// ErrTooLarge: a frame beyond the configured maximum.
	ErrTooLarge = errors.New("wire: frame too large")
	// ErrChecksum: the body does not match its CRC-32C.
	ErrChecksum = errors.New("wire: checksum mismatch")
	// ErrUnknownType: a message or entry type raft does not define.
	ErrUnknownType = errors.New("wire: unknown type")
	// ErrMalformed: the body does not decode (bad or non-minimal uvarint, count beyond the
	// body, trailing bytes, unknown flags, fields a message type does not carry).
	ErrMalformed = errors.New("wire: malformed message")
)

// Flag bits of the flags byte.
const (
	flagReject byte = 1 << iota
	flagLeaderTransfer
	flagSnapshot
	flagContext
	flagsKnown = flagReject | flagLeaderTransfer | flagSnapshot | flagContext
)

// lastMessageType is the highest raft.MessageType this version encodes.
const lastMessageType = raft.MsgTimeoutNow

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Codec encodes and decodes frames. The zero value is ready to use.
type Codec struct {
	// MaxFrameBytes bounds a whole frame, header included (0: DefaultMaxFrameBytes). Both
	// directions check it: Append refuses to build a frame the peer would refuse.
	MaxFrameBytes int
}

// maxFrameBytesLimit is the largest frame the header can describe (a 32-bit body length).
const maxFrameBytesLimit = HeaderBytes + (1<<32 - 1)

func (c Codec) maxFrameBytes() int {
	if c.MaxFrameBytes <= 0 {
		return DefaultMaxFrameBytes
	}
	return int(min(uint64(c.MaxFrameBytes), maxFrameBytesLimit))
}

// FrameLen returns the length of the whole frame whose header starts buf (which needs at
// least HeaderBytes bytes), checking magic, version and the maximum size.
func (c Codec) FrameLen(buf []byte) (int, error) {
	if len(buf) < HeaderBytes {
		return 0, fmt.Errorf("%w: %d bytes, the header needs %d", ErrShortBuffer, len(buf), HeaderBytes)
	}
	if buf[0] != Magic {
		return 0, fmt.Errorf("%w: 0x%02x, want 0x%02x", ErrBadMagic, buf[0], Magic)
	}
	if buf[1] != Version {
		return 0, fmt.Errorf("%w: %d, this code reads version %d", ErrBadVersion, buf[1], Version)
	}
	bodyLen := uint64(binary.LittleEndian.Uint32(buf[2:6]))
	if frameLen := HeaderBytes + bodyLen; frameLen > uint64(c.maxFrameBytes()) {
		return 0, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, frameLen, c.maxFrameBytes())
	}
	return HeaderBytes + int(bodyLen), nil
}

// Decode decodes one frame (exactly: no bytes after it). The message owns its memory; the
// caller may reuse frame at once.
func (c Codec) Decode(frame []byte) (raft.Message, error) {
	return c.decode(frame, true)
}

// DecodeAliased is Decode without the copy: the message's byte fields alias frame, which
// must stay unchanged for as long as the message is in use.
func (c Codec) DecodeAliased(frame []byte) (raft.Message, error) {
	return c.decode(frame, false)
}

func (c Codec) decode(frame []byte, copyBody bool) (raft.Message, error) {
	n, err := c.FrameLen(frame)
	if err != nil {
		return raft.Message{}, err
	}
	if len(frame) < n {
		return raft.Message{}, fmt.Errorf("%w: frame of %d bytes, have %d", ErrShortBuffer, n, len(frame))
	}
	if len(frame) > n {
		return raft.Message{}, fmt.Errorf("%w: %d bytes after a frame of %d", ErrMalformed, len(frame)-n, n)
	}
	body := frame[HeaderBytes:n]
	want := binary.LittleEndian.Uint32(frame[6:10])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return raft.Message{}, fmt.Errorf("%w: body of %d bytes has CRC-32C 0x%08x, header says 0x%08x", ErrChecksum, len(body), got, want)
	}
	if copyBody {
		body = append([]byte(nil), body...)
	}
	return decodeBody(body)
}
