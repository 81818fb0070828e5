package mvcc

import (
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// kvDecoder decodes stored records into KeyValues with few allocations: structs come from
// a slab and the key and value bytes from a shared arena, each slice capped so an append by
// the caller reallocates instead of overwriting its neighbour. Slab and arena start small and
// double up to slabKVsMax and arenaChunkBytesMax, so a one-key read allocates little and a
// range of n keys costs O(n/slabKVsMax) allocations instead of 3n with proto.Unmarshal.
type kvDecoder struct {
	slab       []mvccpb.KeyValue
	arena      []byte
	slabSize   int
	arenaChunk int
}

const (
	slabKVsMax         = 64
	arenaChunkBytesMin = 256
	arenaChunkBytesMax = 16 << 10
)

// The field numbers of mvccpb.KeyValue.
const (
	fieldKey            = 1
	fieldCreateRevision = 2
	fieldModRevision    = 3
	fieldVersion        = 4
	fieldValue          = 5
	fieldLease          = 6
)

func (d *kvDecoder) newKV() *mvccpb.KeyValue {
	if len(d.slab) == 0 {
		d.slabSize = min(max(2*d.slabSize, 1), slabKVsMax)
		d.slab = make([]mvccpb.KeyValue, d.slabSize)
	}
	kv := &d.slab[0]
	d.slab = d.slab[1:]
	return kv
}

// copyBytes copies b into the arena; an empty field stays nil, as proto.Unmarshal leaves it.
func (d *kvDecoder) copyBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > cap(d.arena)-len(d.arena) {
		if len(b) > arenaChunkBytesMax/4 {
			return append([]byte(nil), b...) // large values get their own allocation
		}
		d.arenaChunk = min(max(2*d.arenaChunk, arenaChunkBytesMin, 2*len(b)), arenaChunkBytesMax)
		d.arena = make([]byte, 0, d.arenaChunk)
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// decode parses a record (kind byte + marshaled KeyValue). It accepts exactly what
// encodeRecord writes, fields in any order, and rejects anything else.
func (d *kvDecoder) decode(value []byte) (*mvccpb.KeyValue, error) {
	kv := d.newKV()
	b := value[1:]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("mvcc: decode record: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case (num == fieldKey || num == fieldValue) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("mvcc: decode record field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			if num == fieldKey {
				kv.Key = d.copyBytes(v)
			} else {
				kv.Value = d.copyBytes(v)
			}
		case num >= fieldCreateRevision && num <= fieldLease && num != fieldValue && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("mvcc: decode record field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case fieldCreateRevision:
				kv.CreateRevision = int64(v)
			case fieldModRevision:
				kv.ModRevision = int64(v)
			case fieldVersion:
				kv.Version = int64(v)
			case fieldLease:
				kv.Lease = int64(v)
			}
		default:
			return nil, fmt.Errorf("mvcc: decode record: unexpected field %d of wire type %d", num, typ)
		}
	}
	return kv, nil
}
