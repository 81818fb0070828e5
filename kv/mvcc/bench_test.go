package mvcc

import (
	"fmt"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Benchmarks run on Pebble over vfs.NewMem with kvtest's options (4 MiB memtable) and a
// 64 MiB block cache: they measure mvcc's own cost per call, one committed batch per write
// as the apply loop does, without disk latency.

// benchCacheBytes is a block cache big enough for the benchmark data, so reads measure
// mvcc and Pebble's iterators rather than decompressing blocks evicted from a tiny cache.
const benchCacheBytes = 64 << 20

func benchEnv(b *testing.B) *env {
	opts := kvtest.Options(vfs.NewMem())
	opts.CacheSize = benchCacheBytes
	db, err := pebble.Open("db", opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	s, err := Open(db, Config{})
	if err != nil {
		b.Fatal(err)
	}
	return &env{t: b, db: db, s: s, leases: leaseSet{}}
}

func benchKey(i int) []byte { return []byte(fmt.Sprintf("key/%08d", i)) }

// load puts n keys, 1000 commands per committed batch.
func load(b *testing.B, e *env, n int, value []byte) {
	for i := 0; i < n; {
		batch := e.db.NewIndexedBatch()
		for j := 0; j < 1000 && i < n; j, i = j+1, i+1 {
			if _, _, err := e.s.Put(batch, &pb.PutRequest{Key: benchKey(i), Value: value}, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			b.Fatal(err)
		}
		_ = batch.Close()
	}
}

func BenchmarkPut(b *testing.B) {
	e := benchEnv(b)
	value := make([]byte, 100)
	const keySpace = 10000
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		batch := e.db.NewIndexedBatch()
		if _, _, err := e.s.Put(batch, &pb.PutRequest{Key: benchKey(i % keySpace), Value: value}, nil); err != nil {
			b.Fatal(err)
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			b.Fatal(err)
		}
		_ = batch.Close()
	}
	cpu.report(b)
}

func benchRange(b *testing.B, keys int) {
	e := benchEnv(b)
	load(b, e, 10000, make([]byte, 100))
	req := &pb.RangeRequest{Key: benchKey(0), RangeEnd: benchKey(keys)}
	if keys == 1 {
		req.RangeEnd = nil
	}
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		resp, err := e.s.Range(e.db, req)
		if err != nil || len(resp.Kvs) != keys {
			b.Fatalf("range: %d keys, err %v", len(resp.GetKvs()), err)
		}
	}
	cpu.report(b)
}

func BenchmarkRange1(b *testing.B)    { benchRange(b, 1) }
func BenchmarkRange1000(b *testing.B) { benchRange(b, 1000) }

// BenchmarkRange1000Past reads 1000 keys at an older revision, each key with 3 versions.
func BenchmarkRange1000Past(b *testing.B) {
	e := benchEnv(b)
	value := make([]byte, 100)
	load(b, e, 1000, value)
	rev := e.s.CurrentRevision()
	load(b, e, 1000, value)
	load(b, e, 1000, value)
	req := &pb.RangeRequest{Key: benchKey(0), RangeEnd: benchKey(1000), Revision: rev}
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		resp, err := e.s.Range(e.db, req)
		if err != nil || len(resp.Kvs) != 1000 {
			b.Fatalf("range: %d keys, err %v", len(resp.GetKvs()), err)
		}
	}
	cpu.report(b)
}

// BenchmarkTxn is a compare-and-swap: compare the mod revision of one key, put two keys.
func BenchmarkTxn(b *testing.B) {
	e := benchEnv(b)
	load(b, e, 10000, make([]byte, 100))
	value := make([]byte, 100)
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		k := i % 5000
		req := &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: benchKey(k), Target: pb.Compare_MOD, Result: pb.Compare_GREATER,
				TargetUnion: &pb.Compare_ModRevision{ModRevision: 0}}},
			Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: benchKey(k), Value: value}}},
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: benchKey(k + 5000), Value: value}}},
			},
		}
		batch := e.db.NewIndexedBatch()
		resp, _, err := e.s.Txn(batch, req, nil)
		if err != nil || !resp.Succeeded {
			b.Fatalf("txn: %v", err)
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			b.Fatal(err)
		}
		_ = batch.Close()
	}
	cpu.report(b)
}

func BenchmarkEventsBetween100(b *testing.B) {
	e := benchEnv(b)
	load(b, e, 10000, make([]byte, 100))
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		evs, err := e.s.EventsBetween(e.db, []byte("key/"), []byte("key0"), 5000, 5099, 0)
		if err != nil || len(evs) != 100 {
			b.Fatalf("events: %d, err %v", len(evs), err)
		}
	}
	cpu.report(b)
}

// BenchmarkMemoryPerMillionKeys loads MVCC_MEM_KEYS keys (default 1,000,000) with 100-byte
// values into Pebble on a temporary directory and reports the Go heap they leave behind per
// key (the Store keeps no key index: this is Pebble's memtable and block cache, bounded by
// their configured sizes, so it falls as keys grow), Pebble's own memory accounting and the
// on-disk bytes per key. Run it with -benchtime=1x.
func BenchmarkMemoryPerMillionKeys(b *testing.B) {
	n := 1_000_000
	if v := envIntB(b, "MVCC_MEM_KEYS"); v > 0 {
		n = v
	}
	for i := 0; i < b.N; i++ {
		// A real directory: an in-memory filesystem would hold the data itself on the heap.
		db, err := pebble.Open(filepath.Join(b.TempDir(), "db"), kvtest.Options(vfs.Default))
		if err != nil {
			b.Fatal(err)
		}
		s, err := Open(db, Config{})
		if err != nil {
			b.Fatal(err)
		}
		e := &env{t: b, db: db, s: s}
		before := heapInUse()
		load(b, e, n, make([]byte, 100))
		after := heapInUse()
		m := db.Metrics()
		b.ReportMetric(float64(after-before)/float64(n), "heap-bytes/key")
		b.ReportMetric(float64(m.DiskSpaceUsage())/float64(n), "disk-bytes/key")
		b.ReportMetric(float64(m.MemTable.Size+uint64(m.BlockCache.Size))/float64(n), "pebble-mem-bytes/key")
		b.ReportMetric(float64(storeStructBytes)/float64(n), "store-bytes/key")
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// storeStructBytes is all the memory a Store holds, whatever the number of keys: its config
// and two revisions.
const storeStructBytes = 32

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func envIntB(b *testing.B, name string) int {
	var v int
	if s := lookupEnv(name); s != "" {
		if _, err := fmt.Sscan(s, &v); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
	}
	return v
}

// BenchmarkCompactStep measures compaction work: 10,000 keys with 5 versions each, compacted
// at the newest revision in steps of 1,000 examined versions; reported per version examined.
func BenchmarkCompactStep(b *testing.B) {
	const keys, versionsPerKey, stepEntries = 10000, 5, 1000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := benchEnv(b)
		for v := 0; v < versionsPerKey; v++ {
			load(b, e, keys, make([]byte, 100))
		}
		if err := e.compact(e.s.CurrentRevision()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		steps := e.compactAll(stepEntries)
		b.ReportMetric(float64(steps), "steps/op")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*keys*versionsPerKey), "ns/version")
}

// BenchmarkHashKV hashes 10,000 keys with 2 versions each.
func BenchmarkHashKV(b *testing.B) {
	e := benchEnv(b)
	load(b, e, 10000, make([]byte, 100))
	load(b, e, 10000, make([]byte, 100))
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if _, err := e.s.HashKV(e.db, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20000), "ns/version")
	cpu.report(b)
}

// cpuClock measures the process's CPU time (user + system, Pebble's background work
// included), a figure that, unlike ns/op, does not grow when other processes share the cores.
type cpuClock struct{ start int64 }

func processCPUNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func startCPU(b *testing.B) cpuClock {
	b.ResetTimer()
	return cpuClock{start: processCPUNanos()}
}

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPUNanos()-c.start)/float64(b.N), "cpu-ns/op")
}
