package snapshot

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/mvcc"
)

// BenchmarkWrite builds the snapshot of a store of 200,000 keys (100-byte random values, one
// version each, on a real-disk Pebble) and reports the file's size, the time to build it,
// the time to import it into an empty store, and the largest Go heap seen while building
// (sampled every 5 ms): the memory bound, against the store's size.
func BenchmarkWrite(b *testing.B) {
	const keys = 200_000
	db, err := pebble.Open(b.TempDir(), &pebble.Options{})
	require.NoError(b, err)
	defer db.Close()
	s, err := mvcc.Open(db, mvcc.Config{})
	require.NoError(b, err)
	rng := rand.New(rand.NewPCG(1, 2))
	value := make([]byte, 100)
	for i := 0; i < keys; i += 100 {
		batch := db.NewIndexedBatch()
		for j := i; j < i+100; j++ {
			for k := range value {
				value[k] = byte(rng.IntN(256))
			}
			_, _, err := s.Put(batch, &pb.PutRequest{Key: fmt.Appendf(nil, "key/%08d", j), Value: value}, nil)
			require.NoError(b, err)
		}
		require.NoError(b, batch.Commit(pebble.NoSync))
		batch.Close()
	}
	require.NoError(b, db.Flush())
	for range b.N {
		runtime.GC()
		var peak atomic.Uint64
		done := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		snap := db.NewSnapshot()
		start := time.Now()
		f, err := Write(context.Background(), b.TempDir(), Source{Reader: snap, ConsistentIndex: 1, Term: 1})
		took := time.Since(start)
		close(done)
		snap.Close()
		require.NoError(b, err)
		r, err := Open(f.Path, true)
		require.NoError(b, err)
		dst, err := pebble.Open(b.TempDir(), &pebble.Options{})
		require.NoError(b, err)
		start = time.Now()
		got, err := r.Import(dst)
		importTook := time.Since(start)
		require.NoError(b, err)
		require.EqualValues(b, keys, got.Versions)
		require.NoError(b, r.Close())
		require.NoError(b, dst.Close())
		require.NoError(b, f.Remove())
		b.ReportMetric(float64(f.DBSize)/(1<<20), "file-MiB")
		b.ReportMetric(took.Seconds(), "write-s")
		b.ReportMetric(importTook.Seconds(), "import-s")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	}
}
