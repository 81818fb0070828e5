package lease

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Export and import of the stored leases, for etcd-format snapshots (kv/snapshot): the
// fields of etcd's leasepb.Lease.

// Stored is one lease as a snapshot carries it.
type Stored struct {
	ID         int64
	TTLSeconds int64
	// RemainingTTLSeconds is the last checkpointed remaining TTL in whole seconds (rounded
	// up), 0 when none was checkpointed (the full TTL), as etcd's RemainingTTL.
	RemainingTTLSeconds int64
}

// Export calls visit with every lease stored in r, in ID order (as unsigned 64-bit
// big-endian keys, etcd's lease bucket order). It holds one lease at a time.
func Export(r pebble.Reader, visit func(Stored) error) error {
	upper := append([]byte(nil), leaseKeyDir...)
	upper[len(upper)-1]++
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: leaseKeyDir, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("lease: scan leases: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		value, err := it.ValueAndErr()
		if err == nil {
			var rec record
			if rec, err = decodeRecord(it.Key(), value); err == nil {
				remaining := int64((rec.remaining + time.Second - 1) / time.Second)
				err = visit(Stored{ID: rec.id, TTLSeconds: rec.ttlSeconds, RemainingTTLSeconds: remaining})
			}
		}
		if err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("lease: scan leases: %w", err)
	}
	return nil
}

// Import writes l into w (a store being restored: the caller writes into one that holds no
// lease yet), refusing a lease out of Ballast's range with an error naming it. A TTL below
// the cluster's minimum is kept: the lessor raises it when the lease is next renewed.
func Import(w pebble.Writer, l Stored) error {
	if l.ID == 0 || l.TTLSeconds < 1 || l.TTLSeconds > MaxTTLSeconds || l.RemainingTTLSeconds < 0 || l.RemainingTTLSeconds > l.TTLSeconds {
		return fmt.Errorf("lease: import: lease %d has TTL %ds and remaining TTL %ds (want 1 <= TTL <= %d, 0 <= remaining <= TTL)",
			l.ID, l.TTLSeconds, l.RemainingTTLSeconds, MaxTTLSeconds)
	}
	if err := w.Set(formatKey, encodeUvarint(FormatVersion), nil); err != nil {
		return err
	}
	rec := record{id: l.ID, ttlSeconds: l.TTLSeconds, remaining: time.Duration(l.RemainingTTLSeconds) * time.Second}
	return w.Set(leaseKey(rec.id), rec.encode(), nil)
}
