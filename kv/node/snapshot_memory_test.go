package node

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/raft"
)

// installPeakHeap has a member on the real disk (a temp dir) receive a snapshot stream of
// total bytes of pairs in chunks of chunkBytes (frames through Receive, as from a leader),
// staged in tables of tableBytes, and ingest it. It returns the peak heap in use above the
// heap before the stream, sampled after every chunk and after the ingest, and the tables
// written. The pairs are synthetic mvcc/ keys (incompressible 1 KiB values): the member is
// not reopened on them; this measures the receiving and the install, not the store.
func installPeakHeap(tb testing.TB, total, chunkBytes, tableBytes int) (peak uint64, tables int) {
	tb.Helper()
	cfg := Config{ID: 1, InitialMembers: []uint64{1}, FS: vfs.Default, Dir: tb.TempDir(), Clock: &manualClock{},
		Rand: rand.New(rand.NewPCG(1, 1)), snapshotChunkBytes: chunkBytes, snapshotTableBytes: tableBytes}
	m, err := Open(cfg)
	require.NoError(tb, err)
	defer m.Close()
	rng := rand.New(rand.NewPCG(2, 2))
	value := make([]byte, 1<<10)
	const index, term = 1 << 40, 9
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	runtime.GC()
	base := heap()
	key, sent := 0, 0
	for seq := uint32(0); sent < total; seq++ {
		c := snapChunk{from: 2, stream: 7, index: index, term: term, seq: seq}
		body := c.appendHeader(make([]byte, 0, chunkBytes+2<<10))
		for n := 0; n < chunkBytes && sent < total; key++ {
			for i := range value {
				value[i] = byte(rng.Uint32())
			}
			k := fmt.Appendf(nil, "mvcc/k/%012d", key)
			body = appendBytes(appendBytes(body, k), value)
			n += len(k) + len(value)
			sent += len(k) + len(value)
		}
		if sent >= total {
			body[snapChunkLastOffset] = 1
		}
		require.NoError(tb, m.Receive(encodeChecksummedFrame(frameSnapChunk, body)))
		m.outbox = m.outbox[:0] // the acks
		peak = max(peak, heap())
	}
	require.True(tb, m.snap.stage.complete)
	tables = m.snap.tables.tables()
	require.NoError(tb, m.stage().ingest(m.db, raft.SnapshotMetadata{Index: index, Term: term, ConfState: raft.ConfState{Voters: []uint64{1}}}))
	peak = max(peak, heap())
	applied, err := readUint64(m.db, nodeAppliedKey)
	require.NoError(tb, err)
	require.Equal(tb, uint64(index), applied, "the install set the applied index")
	if peak < base {
		return 0, tables
	}
	return peak - base, tables
}

// Receiving and installing a snapshot holds a bounded amount of memory whatever its size:
// 48 MiB of pairs in 64 KiB chunks and 4 MiB tables raise the heap in use by far less than
// the snapshot (a batch install held all of it, twice over once committed to the memtable).
func TestSnapshotInstallMemoryBounded(t *testing.T) {
	const total = 48 << 20
	peak, tables := installPeakHeap(t, total, 64<<10, 4<<20)
	t.Logf("install of %d MiB: peak heap growth %.1f MiB over %d tables", total>>20, float64(peak)/(1<<20), tables)
	require.Greater(t, tables, 10)
	require.Less(t, peak, uint64(total/4), "the heap grew by %d bytes for a %d-byte snapshot", peak, total)
}

// BenchmarkSnapshotInstall256MiB reports the peak heap growth of receiving and installing a
// 256 MiB snapshot with the production chunk (1 MiB) and table (64 MiB) sizes.
//
//	go test -run '^$' -bench SnapshotInstall256MiB -benchtime 1x ./kv/node/
func BenchmarkSnapshotInstall256MiB(b *testing.B) {
	for range b.N {
		peak, tables := installPeakHeap(b, 256<<20, maxSnapshotChunkBytes, defaultSnapshotTableBytes)
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(tables), "tables")
	}
}
