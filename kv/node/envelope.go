package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/ballastdb/ballast/kv/wire"
	"github.com/ballastdb/ballast/raft"
)

// Envelope is one message between members, as bytes: the transport carries Data to member
// To and hands it to that member's Receive. Members never share memory.
type Envelope struct {
	To   uint64
	Data []byte
}

// Frame kinds. A frame is one kind byte and its body: a raft message (kv/wire's checksummed
// encoding), or a client proposal a follower forwards to the leader (etcd forwards them the
// same way, as raft's MsgProp): a CRC-32C of the proposal, then the proposal, which is the
// entry data the leader proposes unchanged.
const (
	frameRaft    byte = 1
	frameForward byte = 2
	// frameLeaseCall and frameLeaseAnswer carry a lease call (keep-alive, time-to-live,
	// leases) to the leader and its answer back (lease_keepalive.go), checksummed the same way.
	frameLeaseCall   byte = 3
	frameLeaseAnswer byte = 4
	// frameSnapChunk carries a bounded chunk of the leader's store to a follower that needs a
	// snapshot, and frameSnapAck the follower's answer (snapshot.go), checksummed the same way.
	frameSnapChunk byte = 5
	frameSnapAck   byte = 6
)

// maxForwardBytes bounds a forwarded proposal: the largest request plus its framing.
const maxForwardBytes = 64 << 20

var (
	errFrame = errors.New("node: malformed message")
	castagno = crc32.MakeTable(crc32.Castagnoli)
)

func encodeRaftFrame(codec wire.Codec, m *raft.Message) ([]byte, error) {
	// one allocation of the frame's size (a one-byte slice grown by Append was two)
	buf := make([]byte, 1, 1+codec.FrameBytes(m))
	buf[0] = frameRaft
	return codec.Append(buf, m)
}

func encodeForwardFrame(proposal []byte) []byte {
	return encodeChecksummedFrame(frameForward, proposal)
}

// encodeChecksummedFrame is kind, the CRC-32C of body, then body.
func encodeChecksummedFrame(kind byte, body []byte) []byte {
	out := make([]byte, 1+4, 1+4+len(body))
	out[0] = kind
	binary.BigEndian.PutUint32(out[1:], crc32.Checksum(body, castagno))
	return append(out, body...)
}

// decodeFrame splits a frame into its kind and body, checking a forwarded proposal's checksum.
// The body aliases data.
func decodeFrame(data []byte) (kind byte, body []byte, err error) {
	if len(data) < 1 {
		return 0, nil, fmt.Errorf("%w: empty frame", errFrame)
	}
	switch data[0] {
	case frameRaft:
		return frameRaft, data[1:], nil
	case frameForward, frameLeaseCall, frameLeaseAnswer, frameSnapChunk, frameSnapAck:
		if len(data) < 5 {
			return 0, nil, fmt.Errorf("%w: frame of kind %d and %d bytes is shorter than its checksum", errFrame, data[0], len(data))
		}
		if len(data) > maxForwardBytes {
			return 0, nil, fmt.Errorf("%w: frame of kind %d and %d bytes exceeds %d", errFrame, data[0], len(data), maxForwardBytes)
		}
		body := data[5:]
		if want, got := binary.BigEndian.Uint32(data[1:5]), crc32.Checksum(body, castagno); want != got {
			return 0, nil, fmt.Errorf("%w: frame of kind %d: checksum %08x, computed %08x", errFrame, data[0], want, got)
		}
		return data[0], body, nil
	}
	return 0, nil, fmt.Errorf("%w: unknown frame kind %d", errFrame, data[0])
}

// IsBulkFrame reports whether a frame a Work or Synced produced is bulk data (a snapshot
// chunk), which a transport should carry on a path of its own so it never delays heartbeats,
// votes and appends. Acknowledgements of chunks are small and go the ordinary way.
func IsBulkFrame(data []byte) bool { return len(data) > 0 && data[0] == frameSnapChunk }
