package sim

import (
	"io"
	"os"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// readAll is the content of path on fs.
func readAll(t *testing.T, fs *memFS, path string) string {
	t.Helper()
	f, err := fs.Open(path)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return string(b)
}

func crash(fs *memFS) *memFS { return fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0}) }

// TestMemFSCrashKeepsSynced: a power loss keeps what was synced and loses the rest, for
// appends after a sync (the WAL's pattern), for writes over synced bytes before and after
// their sync (a sync copies only what changed since the last), and for directory entries.
func TestMemFSCrashKeepsSynced(t *testing.T) {
	fs := newCrashableMem()
	require.NoError(t, fs.MkdirAll("d", 0o755))
	root, err := fs.OpenDir("")
	require.NoError(t, err)
	require.NoError(t, root.Sync())
	dir, err := fs.OpenDir("d")
	require.NoError(t, err)
	f, err := fs.Create("d/wal", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write([]byte("abc"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, dir.Sync())
	_, err = f.Write([]byte("def")) // appended, not synced
	require.NoError(t, err)
	require.Equal(t, "abc", readAll(t, crash(fs), "d/wal"))

	require.NoError(t, f.Sync())
	_, err = f.WriteAt([]byte("X"), 1) // over synced bytes, not synced
	require.NoError(t, err)
	require.Equal(t, "aXcdef", readAll(t, fs, "d/wal"))
	c := crash(fs)
	require.Equal(t, "abcdef", readAll(t, c, "d/wal"))

	// the clone, written over and crashed again, keeps its own synced state
	cf, err := c.OpenReadWrite("d/wal", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = cf.Write([]byte("ZZ"))
	require.NoError(t, err)
	require.Equal(t, "abcdef", readAll(t, crash(c), "d/wal"))
	require.Equal(t, "abcdef", readAll(t, crash(fs), "d/wal"))

	// a synced write over synced bytes (Pebble reusing an old WAL file) is kept
	require.NoError(t, f.Sync())
	require.Equal(t, "aXcdef", readAll(t, crash(fs), "d/wal"))

	// a file created but its directory never synced again is gone
	g, err := fs.Create("d/new", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = g.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, g.Sync())
	_, err = crash(fs).Stat("d/new")
	require.ErrorIs(t, err, os.ErrNotExist)
}
