package faultfs

import (
	"io"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func create(t *testing.T, fs vfs.FS, name string) vfs.File {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	return f
}

// contents is what a power loss now would leave of the file: its synced bytes.
func contents(t *testing.T, mem *vfs.MemFS, name string) string {
	t.Helper()
	clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	f, err := clone.Open(name)
	if err != nil {
		return "<missing>"
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return string(b)
}

func syncDir(t *testing.T, fs vfs.FS) {
	t.Helper()
	d, err := fs.OpenDir("")
	require.NoError(t, err)
	require.NoError(t, d.Sync())
	require.NoError(t, d.Close())
}

// A failed sync persists nothing of what was written since the last good one, and a retry
// that reports success persists nothing either (the fsyncgate model).
func TestSyncErrorLeavesDataUnsynced(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs := New(mem)
	f := create(t, fs, "000001.log")
	syncDir(t, fs)
	_, err := f.Write([]byte("durable "))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	_, err = f.Write([]byte("lost"))
	require.NoError(t, err)

	fs.Arm(SyncError)
	fs.BeginStep()
	require.ErrorIs(t, f.Sync(), ErrInjected)
	require.Equal(t, SyncError, fs.EndStep())
	require.Equal(t, None, fs.Armed(), "a fault fires once")
	require.Equal(t, "durable ", contents(t, mem, "000001.log"))

	require.NoError(t, f.SyncData(), "a retried sync reports success")
	require.Equal(t, "durable ", contents(t, mem, "000001.log"), "and persists nothing")
	c := fs.Counts()
	require.Equal(t, 1, c.Syncs)
	require.Equal(t, 1, c.Fired[SyncError])
}

// An armed fault fires only inside a step and only on the WAL: Pebble's background work
// (sstables, MANIFEST) and WAL operations outside steps pass through.
func TestFaultsOnlyInStepsOnTheWAL(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs := New(mem)
	wal := create(t, fs, "000002.log")
	sst := create(t, fs, "000003.sst")
	manifest := create(t, fs, "MANIFEST-000001")
	syncDir(t, fs)
	for _, k := range []Fault{SyncError, WriteError, ShortWrite} {
		fs.Arm(k)
		_, err := wal.Write([]byte("a"))
		require.NoError(t, err, "%s outside a step", k)
		require.NoError(t, wal.Sync(), "%s outside a step", k)
		fs.BeginStep()
		for _, f := range []vfs.File{sst, manifest} {
			_, err := f.Write([]byte("b"))
			require.NoError(t, err, "%s on a background file", k)
			require.NoError(t, f.Sync(), "%s on a background file", k)
		}
		require.Equal(t, None, fs.EndStep())
		require.Equal(t, k, fs.Armed(), "still armed")
	}
	require.Equal(t, Counts{}, fs.Counts(), "nothing counted outside steps or off the WAL")
	require.Equal(t, "aaa", contents(t, mem, "000002.log"))
	require.Equal(t, "bbb", contents(t, mem, "000003.sst"))
}

func TestWriteFaults(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs := New(mem)
	f := create(t, fs, "000004.log")

	fs.Arm(WriteError)
	fs.BeginStep()
	n, err := f.Write([]byte("abcd"))
	require.ErrorIs(t, err, ErrInjected)
	require.Zero(t, n)
	require.Equal(t, WriteError, fs.EndStep())

	fs.Arm(ShortWrite)
	fs.BeginStep()
	n, err = f.Write([]byte("efgh"))
	require.ErrorIs(t, err, io.ErrShortWrite)
	require.Equal(t, 2, n)
	require.Equal(t, ShortWrite, fs.EndStep())

	fs.BeginStep()
	_, err = f.Write([]byte("ij"))
	require.NoError(t, err, "disarmed after firing")
	require.NoError(t, f.Sync())
	require.Equal(t, None, fs.EndStep())

	st, err := mem.Stat("000004.log")
	require.NoError(t, err)
	require.EqualValues(t, len("efij"), st.Size(), "the failed write wrote nothing, the short one half")
	c := fs.Counts()
	require.Equal(t, Counts{Writes: 3, Syncs: 1, Fired: [faults]int{WriteError: 1, ShortWrite: 1}}, c)
}

// A recycled WAL file (Pebble's ReuseForWrite) is wrapped under its new name.
func TestReusedWALIsWrapped(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs := New(mem)
	require.NoError(t, create(t, fs, "000005.log").Close())
	f, err := fs.ReuseForWrite("000005.log", "000006.log", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	fs.Arm(SyncError)
	fs.BeginStep()
	require.ErrorIs(t, f.Sync(), ErrInjected)
	require.Equal(t, SyncError, fs.EndStep())
}

// A read error fires on an sstable read inside a step only, once, and reads nothing; the
// WAL's reads and reads outside steps pass.
func TestReadErrorOnlyOnSSTablesInSteps(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs := New(mem)
	for _, name := range []string{"000001.sst", "000002.log"} {
		f := create(t, fs, name)
		_, err := f.Write([]byte("block"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	read := func(name string) error {
		f, err := fs.Open(name)
		require.NoError(t, err)
		defer f.Close()
		buf := make([]byte, 5)
		_, err = f.ReadAt(buf, 0)
		return err
	}
	fs.Arm(ReadError)
	require.NoError(t, read("000001.sst"), "outside a step nothing fires")
	fs.BeginStep()
	require.NoError(t, read("000002.log"), "the WAL's reads are not eligible")
	require.ErrorIs(t, read("000001.sst"), ErrInjected)
	require.NoError(t, read("000001.sst"), "a fault fires once")
	require.Equal(t, ReadError, fs.EndStep())
	c := fs.Counts()
	require.Equal(t, 2, c.Reads)
	require.Equal(t, 1, c.Fired[ReadError])
}
