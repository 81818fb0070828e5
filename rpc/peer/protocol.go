package peer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"google.golang.org/grpc/codes"
)

// The byte layout of the protocol is documented in doc.go; these are its constants.
const (
	// ProtocolVersion is the version this transport speaks. A peer of another version is
	// refused at the handshake (statusVersion): no mixed-version streams.
	ProtocolVersion uint16 = 1

	handshakeBytes   = 36
	frameHeaderBytes = 8

	// MaxFrameBytes bounds one frame's payload: kv/node's largest frame (a forwarded
	// proposal of up to 64 MiB) plus 1 MiB of framing. A longer length prefix is refused
	// before anything is allocated for it.
	MaxFrameBytes = 64<<20 + 1<<20

	// maxMethodBytes bounds a call's method name (one length byte).
	maxMethodBytes = 255
	// readStepBytes is how much of a frame's payload is allocated ahead of the bytes that
	// arrived: a length prefix alone (a lie, or a cut connection) costs at most this much.
	readStepBytes = 1 << 20
)

var magic = [4]byte{'B', 'L', 'S', 'T'}

// Stream classes: what a connection carries after its handshake.
const (
	classControl byte = 1 // raft messages and every other non-bulk frame, one way
	classBulk    byte = 2 // snapshot chunks (Config.IsBulk), one way
	classCall    byte = 3 // one request frame, one response frame
)

func className(class byte) string {
	switch class {
	case classControl:
		return "control"
	case classBulk:
		return "bulk"
	case classCall:
		return "call"
	}
	return fmt.Sprintf("class-%d", class)
}

// Handshake statuses: 0 in a hello and in an accepting reply; any other value refuses the
// connection (in a reply), or ends an established stream (a notice the server writes on it).
const (
	statusOK byte = iota
	statusWrongCluster
	statusRemoved
	statusWrongMember
	statusVersion
	statusGuestStream
	statusBadClass
	statusDuplicateID
	statusMax // first unknown status
)

func statusText(s byte) string {
	switch s {
	case statusOK:
		return "accepted"
	case statusWrongCluster:
		return "member of another cluster"
	case statusRemoved:
		return "member was removed from the cluster"
	case statusWrongMember:
		return "the receiver is not the member the sender expected"
	case statusVersion:
		return "unsupported protocol version"
	case statusGuestStream:
		return "a guest (no member ID) may only make calls"
	case statusBadClass:
		return "unknown stream class"
	case statusDuplicateID:
		return "the sender claims the receiver's own member ID"
	}
	return fmt.Sprintf("unknown status %d", s)
}

var (
	// ErrFrame wraps every refusal of a malformed frame or handshake: bad magic, checksum,
	// length or layout. The connection it came on is closed; the transport goes on.
	ErrFrame = errors.New("peer: malformed frame")
	// ErrFrameTooLarge wraps the refusal of a frame longer than MaxFrameBytes (sending or
	// receiving).
	ErrFrameTooLarge = errors.New("peer: frame too large")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// handshake is the fixed 36-byte message each side sends first: the dialer's hello, the
// listener's reply, and, with a nonzero status, the listener's notice that ends a stream.
type handshake struct {
	Version  uint16
	Class    byte
	Status   byte
	Cluster  uint64
	Sender   uint64 // 0: a guest (a member that does not know its ID yet)
	Receiver uint64 // the member the sender expects to reach (0 from a guest: any)
}

func (h handshake) encode() []byte {
	b := make([]byte, handshakeBytes)
	copy(b, magic[:])
	binary.BigEndian.PutUint16(b[4:], h.Version)
	b[6] = h.Class
	b[7] = h.Status
	binary.BigEndian.PutUint64(b[8:], h.Cluster)
	binary.BigEndian.PutUint64(b[16:], h.Sender)
	binary.BigEndian.PutUint64(b[24:], h.Receiver)
	binary.BigEndian.PutUint32(b[32:], crc32.Checksum(b[:32], castagnoli))
	return b
}

// decodeHandshake checks the magic and the checksum and returns the fields as they are:
// whether the version, class and status are acceptable is the receiver's decision (a
// listener answers a peer of another version with statusVersion, which needs the fields).
func decodeHandshake(b []byte) (handshake, error) {
	if len(b) != handshakeBytes {
		return handshake{}, fmt.Errorf("%w: handshake of %d bytes, want %d", ErrFrame, len(b), handshakeBytes)
	}
	if !bytes.Equal(b[:4], magic[:]) {
		return handshake{}, fmt.Errorf("%w: handshake magic %q, want %q (not a Ballast peer)", ErrFrame, b[:4], magic[:])
	}
	if want, got := binary.BigEndian.Uint32(b[32:]), crc32.Checksum(b[:32], castagnoli); want != got {
		return handshake{}, fmt.Errorf("%w: handshake checksum %08x, computed %08x", ErrFrame, want, got)
	}
	return handshake{
		Version:  binary.BigEndian.Uint16(b[4:]),
		Class:    b[6],
		Status:   b[7],
		Cluster:  binary.BigEndian.Uint64(b[8:]),
		Sender:   binary.BigEndian.Uint64(b[16:]),
		Receiver: binary.BigEndian.Uint64(b[24:]),
	}, nil
}

func readHandshake(r io.Reader) (handshake, error) {
	var b [handshakeBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return handshake{}, fmt.Errorf("peer: reading handshake: %w", err)
	}
	return decodeHandshake(b[:])
}

// appendFrameHeader appends a frame's header for payload: its length and CRC-32C.
func appendFrameHeader(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
}

func checkFrameSize(n int) error {
	if n == 0 {
		return fmt.Errorf("%w: empty frame", ErrFrame)
	}
	if n > MaxFrameBytes {
		return fmt.Errorf("%w: frame of %d bytes exceeds the limit of %d", ErrFrameTooLarge, n, MaxFrameBytes)
	}
	return nil
}

// writeFrame writes one frame (header, payload) to w; w is buffered, so several frames share
// one flush.
func writeFrame(w io.Writer, payload []byte) error {
	if err := checkFrameSize(len(payload)); err != nil {
		return err
	}
	var hdr [frameHeaderBytes]byte
	if _, err := w.Write(appendFrameHeader(hdr[:0], payload)); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame from r and returns its payload, which it owns (a fresh slice:
// Deliver keeps it). io.EOF only at a frame boundary; a cut inside a frame is an
// ErrFrame. The payload is allocated as it arrives, in readStepBytes steps, so a length
// prefix that lies costs little.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [frameHeaderBytes]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: truncated frame header (%d of %d bytes)", ErrFrame, n, frameHeaderBytes)
		}
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[0:4]))
	if err := checkFrameSize(n); err != nil {
		return nil, err
	}
	payload := make([]byte, 0, min(n, readStepBytes))
	for len(payload) < n {
		if len(payload) == cap(payload) {
			grown := make([]byte, len(payload), min(n, 2*cap(payload)))
			copy(grown, payload)
			payload = grown
		}
		got, err := io.ReadFull(r, payload[len(payload):cap(payload)])
		payload = payload[:len(payload)+got]
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("%w: truncated frame (%d of %d payload bytes)", ErrFrame, len(payload), n)
			}
			return nil, err
		}
	}
	if want, got := binary.BigEndian.Uint32(hdr[4:8]), crc32.Checksum(payload, castagnoli); want != got {
		return nil, fmt.Errorf("%w: frame of %d bytes: checksum %08x, computed %08x", ErrFrame, n, want, got)
	}
	return payload, nil
}

// A call request's payload: the caller's time budget in milliseconds (0: none), the method
// name's length (1..255) and the name, then the protobuf body.
func encodeCallRequest(budgetMs uint32, method string, body []byte) ([]byte, error) {
	if len(method) == 0 || len(method) > maxMethodBytes {
		return nil, fmt.Errorf("peer: call method %q: its length must be 1 to %d bytes", method, maxMethodBytes)
	}
	out := make([]byte, 0, 5+len(method)+len(body))
	out = binary.BigEndian.AppendUint32(out, budgetMs)
	out = append(out, byte(len(method)))
	out = append(out, method...)
	return append(out, body...), nil
}

func decodeCallRequest(p []byte) (budgetMs uint32, method string, body []byte, err error) {
	if len(p) < 5 {
		return 0, "", nil, fmt.Errorf("%w: call request of %d bytes is shorter than its header", ErrFrame, len(p))
	}
	budgetMs = binary.BigEndian.Uint32(p)
	n := int(p[4])
	if n == 0 || len(p) < 5+n {
		return 0, "", nil, fmt.Errorf("%w: call request of %d bytes names a method of %d bytes", ErrFrame, len(p), n)
	}
	return budgetMs, string(p[5 : 5+n]), p[5+n:], nil
}

// A call response's payload: 0 and the protobuf body, or 1, the gRPC code (4 bytes) and the
// error's message.
const (
	callOK    byte = 0
	callError byte = 1
)

func encodeCallResponse(body []byte, rerr *RemoteError) []byte {
	if rerr != nil {
		out := make([]byte, 0, 5+len(rerr.Message))
		out = append(out, callError)
		out = binary.BigEndian.AppendUint32(out, uint32(rerr.Code))
		return append(out, rerr.Message...)
	}
	out := make([]byte, 0, 1+len(body))
	out = append(out, callOK)
	return append(out, body...)
}

// decodeCallResponse returns the body, or the remote error the callee answered.
func decodeCallResponse(p []byte) ([]byte, *RemoteError, error) {
	if len(p) < 1 {
		return nil, nil, fmt.Errorf("%w: empty call response", ErrFrame)
	}
	switch p[0] {
	case callOK:
		return p[1:], nil, nil
	case callError:
		if len(p) < 5 {
			return nil, nil, fmt.Errorf("%w: call error response of %d bytes is shorter than its code", ErrFrame, len(p))
		}
		return nil, &RemoteError{Code: codes.Code(binary.BigEndian.Uint32(p[1:5])), Message: string(p[5:])}, nil
	}
	return nil, nil, fmt.Errorf("%w: call response kind %d", ErrFrame, p[0])
}
