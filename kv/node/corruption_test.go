package node

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// flipByte inverts one byte of the file at path and syncs it.
func flipByte(t *testing.T, fs vfs.FS, path string, off int64) {
	t.Helper()
	f, err := fs.Open(path)
	require.NoError(t, err)
	data, err := io.ReadAll(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Less(t, off, int64(len(data)), "%s has %d bytes", path, len(data))
	data[off] ^= 0xff
	w, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Sync())
	require.NoError(t, w.Close())
}

func fileSize(t *testing.T, fs vfs.FS, path string) int64 {
	t.Helper()
	st, err := fs.Stat(path)
	require.NoError(t, err)
	return st.Size()
}

// A stopped member's sstable or MANIFEST gets one byte flipped; when it opens again it must
// refuse with ErrCorruption naming the damage, never serve. The control case (no flip) opens
// and reads its data back, so the refusals are the corruption's doing.
func TestCorruptionAtRestRefusesToOpen(t *testing.T) {
	const footer = 64 // the sstable footer of older table formats has no checksum
	for _, tc := range []struct {
		name   string
		target string                 // "sst", "manifest" or "" for none
		offset func(size int64) int64 // where to flip
	}{
		{"control", "", nil},
		{"sstable first byte", "sst", func(int64) int64 { return 0 }},
		{"sstable middle", "sst", func(n int64) int64 { return (n - footer) / 2 }},
		{"sstable before footer", "sst", func(n int64) int64 { return n - footer - 1 }},
		{"manifest first byte", "manifest", func(int64) int64 { return 0 }},
		{"manifest middle", "manifest", func(n int64) int64 { return n / 2 }},
		{"manifest last byte", "manifest", func(n int64) int64 { return n - 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fs := stoppedAfterWrites(t)
			tables, manifest, err := StoreFiles(fs, "member")
			require.NoError(t, err)
			require.NotEmpty(t, tables, "the flush left no sstable")
			require.NotEmpty(t, manifest)
			var path string
			switch tc.target {
			case "sst":
				path = fs.PathJoin("member", tables[len(tables)-1])
			case "manifest":
				path = fs.PathJoin("member", manifest)
			}
			if path != "" {
				flipByte(t, fs, path, tc.offset(fileSize(t, fs, path)))
			}
			m, err := Open(c.config(victim))
			if path == "" {
				require.NoError(t, err)
				c.members[victim] = m
				v, _, ok := c.localValue(victim, "k29")
				require.True(t, ok)
				require.Equal(t, "v29", v)
				return
			}
			require.Error(t, err, "member opened on a damaged %s", tc.target)
			require.ErrorIs(t, err, ErrCorruption)
			require.Nil(t, m)
			t.Logf("refused: %v", err)
			// the damage stays: a second open refuses too
			_, err = Open(c.config(victim))
			require.ErrorIs(t, err, ErrCorruption)
		})
	}
}

// A corruption Pebble reports while the member runs (a read path or a background
// compaction) stops that member at its next Work with ErrCorruption; its waiting requests
// fail with ErrStopped.
func TestCorruptionReportStopsMember(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	_, err := c.do(leader, put("a", "1"))
	require.NoError(t, err)
	f := c.followers(leader)[0]
	m := c.members[f]
	require.Nil(t, m.Stopped())
	m.corrupt.report(fmt.Errorf("%w: test report", ErrCorruption))
	_, err = m.Work()
	require.ErrorIs(t, err, ErrCorruption)
	require.ErrorIs(t, m.Stopped(), ErrCorruption)
	var got error
	m.Submit(put("b", "2"), func(_ Response, err error) { got = err })
	require.True(t, errors.Is(got, ErrStopped), "submit after the stop: %v", got)
}

// BenchmarkVerifyTables measures the checksum pass Open makes over every live sstable (the
// cost of finding corruption at Open), on a 32 MiB in-memory store of incompressible values,
// in bytes of sstables per second.
func BenchmarkVerifyTables(b *testing.B) {
	fs := vfs.NewMem()
	db, err := pebble.Open("member", pebbleOptions(Config{FS: fs}, &corruptionWatch{}, newPebbleFatal()))
	require.NoError(b, err)
	defer db.Close()
	r := rand.New(rand.NewPCG(1, 2))
	value := make([]byte, 1024)
	for i := range 32 << 10 {
		for j := range value {
			value[j] = byte(r.Uint32())
		}
		require.NoError(b, db.Set(fmt.Appendf(nil, "mvcc/k/%08d", i), value, pebble.NoSync))
	}
	require.NoError(b, db.Flush())
	var size int64
	levels, err := db.SSTables()
	require.NoError(b, err)
	for _, ts := range levels {
		for _, t := range ts {
			size += int64(t.Size)
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		if err := verifyTables(db, fs, "member"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEveryFlipInTheRangeIsFound flips, one at a time, bytes across the ranges the
// simulator damages (an sstable short of its last 64 bytes, every byte of the MANIFEST) and
// requires each to be refused at Open; the byte is restored after each try. The sstable is
// sampled with a stride to keep the test short.
func TestEveryFlipInTheRangeIsFound(t *testing.T) {
	c, fs := stoppedAfterWrites(t)
	for _, tc := range []struct {
		kind         string
		stride, tail int64
	}{
		{"sstable", 13, 64},
		{"MANIFEST", 1, 0},
	} {
		// each Pebble open writes a new MANIFEST: name the files afresh
		tables, manifest, err := StoreFiles(fs, "member")
		require.NoError(t, err)
		file := manifest
		if tc.kind == "sstable" {
			file = tables[0]
		}
		path := fs.PathJoin("member", file)
		size := fileSize(t, fs, path)
		tried := 0
		for off := int64(0); off < size-tc.tail; off += tc.stride {
			flipByte(t, fs, path, off)
			_, err := Open(c.config(victim))
			require.ErrorIs(t, err, ErrCorruption, "%s: byte %d of %d flipped, member opened", file, off, size)
			flipByte(t, fs, path, off) // restore
			tried++
		}
		t.Logf("%s %s: %d flips of %d bytes, all refused", tc.kind, file, tried, size)
	}
	m, err := Open(c.config(victim)) // restored: opens
	require.NoError(t, err)
	c.members[victim] = m
}

// A storage error that is Pebble's corruption (a read met a damaged block while applying or
// compacting) stops the member with ErrCorruption too, still an ErrStorage.
func TestStorageFailureOnCorruptionIsErrCorruption(t *testing.T) {
	c := newCluster(t, 1)
	m := c.members[1]
	for _, tc := range []struct {
		name    string
		err     error
		corrupt bool
	}{
		{"pebble corruption", fmt.Errorf("read block: %w", pebble.ErrCorruption), true},
		{"other storage error", errors.New("disk full"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.storageFailure(tc.err)
			require.ErrorIs(t, err, ErrStorage)
			require.Equal(t, tc.corrupt, errors.Is(err, ErrCorruption), "%v", err)
		})
	}
}

// victim is the member the corruption tests stop and damage.
const victim = 3

// stoppedAfterWrites returns a 3-member cluster after 30 puts, with member victim stopped,
// and victim's file system.
func stoppedAfterWrites(t *testing.T) (*testCluster, *vfs.MemFS) {
	t.Helper()
	c := newCluster(t, 3)
	leader := c.leader()
	for i := range 30 {
		_, err := c.do(leader, put(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)))
		require.NoError(t, err)
	}
	c.stabilize()
	c.stop(victim)
	return c, c.fs[victim]
}
