package lease

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// benchLeases is the lessor size of the "100k leases" benchmarks.
const benchLeases = 100_000

// benchMember returns a primary with n leases granted (TTL 60 s, one batch per 1,000).
func benchMember(b *testing.B, n int) *member {
	b.Helper()
	m := newMember(b, testConfig(&manualClock{}))
	m.l.Promote(1)
	for start := 1; start <= n; start += 1000 {
		batch := m.db.NewBatch()
		for id := start; id < start+1000 && id <= n; id++ {
			if _, err := m.l.ApplyGrant(batch, GrantCommand{ID: int64(id), TTLSeconds: 60}); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

// BenchmarkGrant measures ApplyGrant into a batch on a primary that already holds 100k
// leases (the batch is committed every 1,000 grants, not synced).
func BenchmarkGrant(b *testing.B) {
	m := benchMember(b, benchLeases)
	batch := m.db.NewBatch()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := m.l.ApplyGrant(batch, GrantCommand{ID: int64(benchLeases + 1 + i), TTLSeconds: 60}); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			batch = m.db.NewBatch()
		}
	}
	b.StopTimer()
	_ = batch.Close()
}

// BenchmarkKeepAlive measures a keep-alive renewed from memory among 100k leases.
func BenchmarkKeepAlive(b *testing.B) {
	m := benchMember(b, benchLeases)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.clock.advance(time.Microsecond)
		res, err := m.l.KeepAlive(int64(1 + i%benchLeases))
		if err != nil || res.Action != AnswerNow {
			b.Fatalf("keep-alive: %v %v", res.Action, err)
		}
	}
}

// BenchmarkExpired measures Expired(1000) with 100k leases: the first call of each
// iteration finds 1,000 expired ones, as a primary's revoke loop would.
func BenchmarkExpired(b *testing.B) {
	m := benchMember(b, benchLeases)
	m.clock.advance(61 * time.Second) // every lease is expired
	b.ReportAllocs()
	b.ResetTimer()
	named := 0
	for range b.N {
		ids := m.l.Expired(1000)
		named += len(ids)
		if len(ids) == 0 {
			b.StopTimer()
			m.clock.advance(DefaultExpiredRetryInterval) // they all come back for a retry
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(named)/float64(b.N), "leases/op")
}

// BenchmarkExpiredNoneDue measures the common case: 100k leases, none expired.
func BenchmarkExpiredNoneDue(b *testing.B) {
	m := benchMember(b, benchLeases)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if ids := m.l.Expired(1000); len(ids) != 0 {
			b.Fatal("nothing should be due")
		}
	}
}
