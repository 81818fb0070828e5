package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/lease"
)

// Entry data kinds. The data of a normal raft entry is one kind byte and its body, so the
// format can grow without guessing: a client request (etcd's InternalRaftRequest, with the
// request ID in Header.ID), or a lease checkpoint of the primary (Ballast's own, since it
// carries the primary's term and sequence number, which etcd's LeaseCheckpoint has not), or
// the primary's revoke of an expired lease (lease_expiry.go: reported as an expiry).
const (
	entryRequest    byte = 1
	entryCheckpoint byte = 2
	entryExpiry     byte = 3
)

var errEntry = errors.New("node: malformed entry")

var marshalDeterministic = proto.MarshalOptions{Deterministic: true}

func encodeRequestEntry(req *pb.InternalRaftRequest) ([]byte, error) {
	return marshalDeterministic.MarshalAppend([]byte{entryRequest}, req)
}

func encodeCheckpointEntry(cps []lease.Checkpoint) []byte {
	out := []byte{entryCheckpoint}
	out = binary.AppendUvarint(out, uint64(len(cps)))
	for _, cp := range cps {
		out = binary.AppendVarint(out, cp.ID)
		out = binary.AppendVarint(out, int64(cp.RemainingTTL))
		out = binary.AppendUvarint(out, cp.Term)
		out = binary.AppendUvarint(out, cp.Seq)
	}
	return out
}

// decodedEntry is one of its fields, by kind.
type decodedEntry struct {
	request     *pb.InternalRaftRequest
	checkpoints []lease.Checkpoint
	expiry      *pb.InternalRaftRequest // a lease revoke of the primary's, for an expired lease
}

func decodeEntry(data []byte) (decodedEntry, error) {
	if len(data) == 0 {
		return decodedEntry{}, nil // the empty entry a new leader appends
	}
	switch data[0] {
	case entryRequest:
		req := new(pb.InternalRaftRequest)
		if err := proto.Unmarshal(data[1:], req); err != nil {
			return decodedEntry{}, fmt.Errorf("%w: request: %v", errEntry, err)
		}
		return decodedEntry{request: req}, nil
	case entryCheckpoint:
		buf := data[1:]
		n, k := binary.Uvarint(buf)
		if k <= 0 || n > uint64(len(buf)) {
			return decodedEntry{}, fmt.Errorf("%w: checkpoint count", errEntry)
		}
		buf = buf[k:]
		cps := make([]lease.Checkpoint, 0, n)
		for range n {
			var cp lease.Checkpoint
			var remaining int64
			var ok bool
			if cp.ID, buf, ok = varint(buf); !ok {
				return decodedEntry{}, fmt.Errorf("%w: checkpoint lease ID", errEntry)
			}
			if remaining, buf, ok = varint(buf); !ok {
				return decodedEntry{}, fmt.Errorf("%w: checkpoint remaining TTL", errEntry)
			}
			cp.RemainingTTL = time.Duration(remaining)
			if cp.Term, buf, ok = uvarint(buf); !ok {
				return decodedEntry{}, fmt.Errorf("%w: checkpoint term", errEntry)
			}
			if cp.Seq, buf, ok = uvarint(buf); !ok {
				return decodedEntry{}, fmt.Errorf("%w: checkpoint sequence", errEntry)
			}
			cps = append(cps, cp)
		}
		if len(buf) != 0 {
			return decodedEntry{}, fmt.Errorf("%w: %d trailing bytes after checkpoints", errEntry, len(buf))
		}
		return decodedEntry{checkpoints: cps}, nil
	case entryExpiry:
		return decodeExpiryEntry(data[1:])
	}
	return decodedEntry{}, fmt.Errorf("%w: unknown kind %d", errEntry, data[0])
}

func varint(buf []byte) (int64, []byte, bool) {
	v, k := binary.Varint(buf)
	if k <= 0 {
		return 0, buf, false
	}
	return v, buf[k:], true
}

func uvarint(buf []byte) (uint64, []byte, bool) {
	v, k := binary.Uvarint(buf)
	if k <= 0 {
		return 0, buf, false
	}
	return v, buf[k:], true
}
