package lease

import (
	"runtime"
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

// BenchmarkCheckpoints measures Checkpoints(1000) on a primary with 100k leases whose
// checkpoints are all due (one interval after they were granted).
func BenchmarkCheckpoints(b *testing.B) {
	m := benchMember(b, benchLeases)
	m.clock.advance(m.l.cfg.CheckpointInterval)
	b.ReportAllocs()
	b.ResetTimer()
	emitted := 0
	for range b.N {
		cps := m.l.Checkpoints(1000)
		emitted += len(cps)
		if len(cps) == 0 {
			b.StopTimer()
			for _, le := range m.l.leases { // renew all: due again one interval later
				m.l.refresh(le, m.clock.now)
				le.unsettledSeq = 0
			}
			m.clock.advance(m.l.cfg.CheckpointInterval)
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(emitted)/float64(b.N), "checkpoints/op")
}

// BenchmarkMemoryPerLease reports the Go heap the lessor holds per lease (a primary, leases
// without keys), measured over 100k leases; the batch is reset, not committed, so Pebble's
// memory is not counted.
func BenchmarkMemoryPerLease(b *testing.B) {
	for range b.N {
		m := newMember(b, testConfig(&manualClock{}))
		m.l.Promote(1)
		batch := m.db.NewBatch()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for id := int64(1); id <= benchLeases; id++ {
			if _, err := m.l.ApplyGrant(batch, GrantCommand{ID: id, TTLSeconds: 60}); err != nil {
				b.Fatal(err)
			}
			if id%1000 == 0 {
				batch.Reset()
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/benchLeases, "heapB/lease")
		runtime.KeepAlive(m.l)
		_ = batch.Close()
	}
}
