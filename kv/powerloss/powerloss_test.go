package powerloss

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// onDisk is what the disk beneath holds of name: what a power loss (this process dying)
// leaves.
func onDisk(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return b
}

// Bytes written and not synced are read back through the FS but are not on the disk; a sync
// puts them there.
func TestUnsyncedBytesStayInMemory(t *testing.T) {
	fs := New(vfs.Default)
	name := filepath.Join(t.TempDir(), "000001.log")
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write([]byte("durable "))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	_, err = f.Write([]byte("lost"))
	require.NoError(t, err)

	require.Equal(t, "durable ", string(onDisk(t, name)), "the unsynced write is not beneath")
	got := make([]byte, 12)
	n, err := f.ReadAt(got, 0)
	require.NoError(t, err)
	require.Equal(t, "durable lost", string(got[:n]), "reads through the FS see it")
	info, err := fs.Stat(name)
	require.NoError(t, err)
	require.EqualValues(t, 12, info.Size())
	r, err := fs.Open(name)
	require.NoError(t, err)
	all, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "durable lost", string(all), "a reader of the same name sees it")
	require.NoError(t, r.Close())

	require.NoError(t, f.Sync())
	require.Equal(t, "durable lost", string(onDisk(t, name)))
	require.Equal(t, Stats{SyncedBytes: 12}, fs.Stats())
	require.NoError(t, f.Close())
}

// A recycled WAL file is written from offset 0 over its old bytes: reads see the new bytes
// over the old ones, the disk keeps the old ones until the sync.
func TestReuseForWriteOverwritesFromZero(t *testing.T) {
	dir := t.TempDir()
	old, recycled := filepath.Join(dir, "000001.log"), filepath.Join(dir, "000002.log")
	require.NoError(t, os.WriteFile(old, []byte("0123456789"), 0o644))
	fs := New(vfs.Default)
	f, err := fs.ReuseForWrite(old, recycled, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write([]byte("abc"))
	require.NoError(t, err)
	got := make([]byte, 10)
	_, err = f.ReadAt(got, 0)
	require.NoError(t, err)
	require.Equal(t, "abc3456789", string(got))
	require.Equal(t, "0123456789", string(onDisk(t, recycled)))
	require.NoError(t, f.Sync())
	require.Equal(t, "abc3456789", string(onDisk(t, recycled)))
	require.NoError(t, f.Close())
}

// Random writes, positional writes, reads and syncs on one file, against a model of what a
// reader sees and what the disk holds.
func TestRandomAgainstModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for round := range 20 {
		fs := New(vfs.Default)
		name := filepath.Join(t.TempDir(), "f")
		f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
		require.NoError(t, err)
		var visible, durable []byte
		var off int
		put := func(at int, p []byte) {
			if end := at + len(p); end > len(visible) {
				visible = append(visible, make([]byte, end-len(visible))...)
			}
			copy(visible[at:], p)
		}
		for step := range 200 {
			p := make([]byte, 1+rng.IntN(64))
			for i := range p {
				p[i] = byte('a' + rng.IntN(26))
			}
			switch k := rng.IntN(10); {
			case k < 4:
				_, err := f.Write(p)
				require.NoError(t, err)
				put(off, p)
				off += len(p)
			case k < 6:
				at := rng.IntN(len(visible) + 32)
				_, err := f.WriteAt(p, int64(at))
				require.NoError(t, err)
				put(at, p)
			case k < 8:
				at := rng.IntN(len(visible) + 8)
				buf := make([]byte, 1+rng.IntN(96))
				n, err := f.ReadAt(buf, int64(at))
				want := []byte{}
				if at < len(visible) {
					want = visible[at:min(len(visible), at+len(buf))]
				}
				require.Equal(t, string(want), string(buf[:n]), "seed %d round %d step %d: read %d at %d", seed, round, step, len(buf), at)
				if n < len(buf) {
					require.ErrorIs(t, err, io.EOF)
				} else {
					require.NoError(t, err)
				}
			default:
				require.NoError(t, f.Sync())
				durable = append([]byte(nil), visible...)
			}
			require.Equal(t, string(durable), string(onDisk(t, name)), "seed %d round %d step %d: the disk holds what was synced", seed, round, step)
		}
		require.NoError(t, f.Close())
	}
}

// TestMain lets the test binary act as the process that dies (see TestKill).
func TestMain(m *testing.M) {
	if dir := os.Getenv("POWERLOSS_CHILD_DIR"); dir != "" {
		child(dir, os.Getenv("POWERLOSS_CHILD_MODE"))
		return
	}
	os.Exit(m.Run())
}

// child does its mode's writes, says "ready" and waits to be killed:
//   - file-powerloss, file-plain: "durable " synced then "lost" written, to one file, on this FS
//     or the plain disk;
//   - pebble: 200 keys committed with Sync by Pebble on this FS, then 200 more without.
func child(dir, mode string) {
	var fs vfs.FS = vfs.Default
	if mode != "file-plain" {
		fs = New(vfs.Default)
	}
	switch mode {
	case "pebble":
		db, err := pebble.Open(dir, &pebble.Options{FS: fs})
		if err != nil {
			panic(err)
		}
		for i := range 400 {
			opt := pebble.Sync
			if i >= 200 {
				opt = pebble.NoSync
			}
			if err := db.Set(fmt.Appendf(nil, "k%03d", i), []byte("v"), opt); err != nil {
				panic(err)
			}
		}
	default:
		f, err := fs.Create(filepath.Join(dir, "file"), vfs.WriteCategoryUnspecified)
		if err != nil {
			panic(err)
		}
		if _, err := f.Write([]byte("durable ")); err != nil {
			panic(err)
		}
		if err := f.Sync(); err != nil {
			panic(err)
		}
		if _, err := f.Write([]byte("lost")); err != nil {
			panic(err)
		}
	}
	os.Stdout.WriteString("ready\n")
	time.Sleep(time.Minute)
}

// runAndKill runs a child in mode on dir and kills it (SIGKILL) once it is ready.
func runAndKill(t *testing.T, dir, mode string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "POWERLOSS_CHILD_DIR="+dir, "POWERLOSS_CHILD_MODE="+mode)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line := make([]byte, 6)
	_, err = io.ReadFull(out, line)
	require.NoError(t, err)
	require.Equal(t, "ready\n", string(line))
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
}

// A kill -9 of a process writing through this FS loses what it wrote and did not sync; on the
// plain disk the page cache keeps it (which is why a kill -9 alone never catches a member
// that acknowledges before its sync).
func TestKill(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"file-powerloss", "durable "},
		{"file-plain", "durable lost"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			dir := t.TempDir()
			runAndKill(t, dir, tc.mode)
			require.Equal(t, tc.want, string(onDisk(t, filepath.Join(dir, "file"))))
		})
	}
}

// Pebble runs on this FS: after a kill -9 the store opens (on the plain disk) with every
// synced commit, and with no unsynced one past the first missing (a prefix of the commits:
// the WAL is never torn in the middle).
func TestPebbleKill(t *testing.T) {
	dir := t.TempDir()
	runAndKill(t, dir, "pebble")
	db, err := pebble.Open(dir, &pebble.Options{FS: vfs.Default})
	require.NoError(t, err)
	defer db.Close()
	present := 0
	for i := range 400 {
		_, closer, err := db.Get(fmt.Appendf(nil, "k%03d", i))
		if err == nil {
			closer.Close()
			require.Equal(t, present, i, "k%03d is there but an earlier key is not", i)
			present++
			continue
		}
		require.ErrorIs(t, err, pebble.ErrNotFound)
	}
	require.GreaterOrEqual(t, present, 200, "every synced commit survives")
	t.Logf("%d of 400 keys survived (200 synced)", present)
}

// The slow-disk file's delay is read when the file appears or changes, and a missing,
// malformed or negative one is no delay.
func TestSlowDiskFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chaos-slow-disk")
	fs := New(vfs.Default).SlowDiskFile(path)
	require.Zero(t, fs.syncDelay(), "no file")
	for _, tc := range []struct {
		content string
		want    time.Duration
	}{{"100ms\n", 100 * time.Millisecond}, {"2s", 2 * time.Second}, {"0", 0}, {"soon", 0}, {"-1s", 0}, {"150ms", 150 * time.Millisecond}} {
		require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o644))
		// A rewrite within the file system's timestamp granularity keeps the mtime: the
		// size differs in every step here, so the change is seen either way.
		require.Equal(t, tc.want, fs.syncDelay(), "content %q", tc.content)
	}
	require.NoError(t, os.Remove(path))
	require.Zero(t, fs.syncDelay(), "removed")
	require.Zero(t, New(vfs.Default).syncDelay(), "no slow-disk file configured")
}
