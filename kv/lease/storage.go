package lease

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// On-disk layout, all under Prefix:
//
//	lease/format              uvarint FormatVersion
//	lease/id/<8-byte big-endian uint64(id)>
//	                          uvarint TTL seconds, then uvarint checkpointed remaining TTL in
//	                          nanoseconds (0 = none: the full TTL)
const (
	// Prefix is the key prefix kv/lease owns in the member's Pebble DB.
	Prefix = "lease/"
	// FormatVersion is the layout this code reads and writes.
	FormatVersion uint64 = 1
)

var (
	formatKey   = []byte(Prefix + "format")
	leaseKeyDir = []byte(Prefix + "id/")
)

func leaseKey(id int64) []byte {
	k := make([]byte, len(leaseKeyDir)+8)
	copy(k, leaseKeyDir)
	binary.BigEndian.PutUint64(k[len(leaseKeyDir):], uint64(id))
	return k
}

// record is what is stored per lease.
type record struct {
	id         int64
	ttlSeconds int64
	// remaining is the last checkpointed remaining TTL; 0 means none (the full TTL).
	remaining time.Duration
}

func (r record) encode() []byte {
	v := make([]byte, 0, 2*binary.MaxVarintLen64)
	v = binary.AppendUvarint(v, uint64(r.ttlSeconds))
	return binary.AppendUvarint(v, uint64(r.remaining))
}

func decodeRecord(key, value []byte) (record, error) {
	if len(key) != len(leaseKeyDir)+8 {
		return record{}, fmt.Errorf("lease: malformed lease key %q", key)
	}
	r := record{id: int64(binary.BigEndian.Uint64(key[len(leaseKeyDir):]))}
	ttl, n := binary.Uvarint(value)
	if n <= 0 {
		return record{}, fmt.Errorf("lease: record of lease %d has a malformed TTL", r.id)
	}
	remaining, m := binary.Uvarint(value[n:])
	if m <= 0 || n+m != len(value) {
		return record{}, fmt.Errorf("lease: record of lease %d has a malformed remaining TTL", r.id)
	}
	r.ttlSeconds, r.remaining = int64(ttl), time.Duration(remaining)
	if r.id == 0 || r.ttlSeconds < 1 || r.ttlSeconds > MaxTTLSeconds || r.remaining < 0 ||
		r.remaining > time.Duration(r.ttlSeconds)*time.Second {
		return record{}, fmt.Errorf("lease: record of lease %d is out of range (TTL %ds, remaining %v)",
			r.id, r.ttlSeconds, r.remaining)
	}
	return r, nil
}

// readFormat returns the stored format version and whether one is stored.
func readFormat(r pebble.Reader) (uint64, bool, error) {
	value, closer, err := r.Get(formatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("lease: read format version: %w", err)
	}
	defer closer.Close()
	version, n := binary.Uvarint(value)
	if n <= 0 || n != len(value) {
		return 0, false, fmt.Errorf("lease: malformed format version %x under %q", value, formatKey)
	}
	return version, true, nil
}

// loadRecords reads every lease record, in key order.
func loadRecords(r pebble.Reader) ([]record, error) {
	upper := append([]byte(nil), leaseKeyDir...)
	upper[len(upper)-1]++
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: leaseKeyDir, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("lease: scan leases: %w", err)
	}
	var records []record
	for valid := it.First(); valid; valid = it.Next() {
		value, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("lease: read lease record: %w", err)
		}
		rec, err := decodeRecord(it.Key(), value)
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		records = append(records, rec)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("lease: scan leases: %w", err)
	}
	return records, nil
}

// hasAnyKey reports whether anything is stored under Prefix.
func hasAnyKey(r pebble.Reader) (bool, error) {
	upper := []byte(Prefix)
	upper[len(upper)-1]++
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte(Prefix), UpperBound: upper})
	if err != nil {
		return false, fmt.Errorf("lease: scan %q: %w", Prefix, err)
	}
	found := it.First()
	if err := it.Close(); err != nil {
		return false, fmt.Errorf("lease: scan %q: %w", Prefix, err)
	}
	return found, nil
}

func writeRecord(b *pebble.Batch, r record) error {
	if err := b.Set(leaseKey(r.id), r.encode(), nil); err != nil {
		return fmt.Errorf("lease: write lease %d: %w", r.id, err)
	}
	return nil
}

func deleteRecord(b *pebble.Batch, id int64) error {
	if err := b.Delete(leaseKey(id), nil); err != nil {
		return fmt.Errorf("lease: delete lease %d: %w", id, err)
	}
	return nil
}

func encodeUvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }
