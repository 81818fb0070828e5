package sim

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

var memFSSeed = flag.Uint64("memfs.seed", 0, "TestMemFSMatchesModel's base seed (0: from the clock)")

// The reference model of a crash-tracking disk, the obvious way: a sync copies the whole
// file or the whole directory.
type modelFile struct{ data, synced []byte }

type modelDir struct{ entries, synced map[string]*modelFile }

type modelHandle struct {
	file *modelFile
	pos  int
}

// memFSRun drives one seeded sequence of operations on the memFS under test, on the model
// and, in runs without hard links, on Pebble's crashable MemFS, and checks after every crash
// and at the end that they hold the same names and bytes. Runs on Pebble's MemFS leave out
// what it treats differently, which Pebble itself never does: links, and renames across
// directories.
type memFSRun struct {
	t      *testing.T
	rng    *rand.Rand
	seed   uint64
	ours   *memFS
	pebble *vfs.MemFS
	dirs   map[string]*modelDir // "" is the root, "d" a directory in it
	// handles[i] is one open file, seen through each FS and the model
	oursFiles, pebbleFiles []vfs.File
	handles                []*modelHandle
	log                    []string
}

var memFSSteps = 200

var memFSDirs = []string{"", "d"}

func (r *memFSRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("seed %d (rerun with -memfs.seed %d), after:\n%v\n%s", r.seed, r.seed, r.log, fmt.Sprintf(format, args...))
}

func (r *memFSRun) check(err error) {
	r.t.Helper()
	if err != nil {
		r.fail("%v", err)
	}
}

func (r *memFSRun) both(do func(fs vfs.FS) error) {
	r.t.Helper()
	for _, fs := range r.fss() {
		r.check(do(fs))
	}
}

// bothFiles does do on handle i of every FS under comparison.
func (r *memFSRun) bothFiles(i int, do func(f vfs.File) error) {
	r.t.Helper()
	r.check(do(r.oursFiles[i]))
	if r.pebble != nil {
		r.check(do(r.pebbleFiles[i]))
	}
}

// fss are the FSs under comparison: ours, and Pebble's MemFS in runs without links.
func (r *memFSRun) fss() []vfs.FS {
	if r.pebble == nil {
		return []vfs.FS{r.ours}
	}
	return []vfs.FS{r.ours, r.pebble}
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// pick is an existing name in a random directory, or ok false.
func (r *memFSRun) pick() (dir, name string, ok bool) {
	dir = memFSDirs[r.rng.IntN(len(memFSDirs))]
	names := slices.Sorted(maps.Keys(r.dirs[dir].entries))
	if len(names) == 0 {
		return "", "", false
	}
	return dir, names[r.rng.IntN(len(names))], true
}

func (r *memFSRun) anyName() (dir, name string) {
	return memFSDirs[r.rng.IntN(len(memFSDirs))], string(rune('a' + r.rng.IntN(4)))
}

func (r *memFSRun) open(do func(fs vfs.FS) (vfs.File, error), f *modelFile) {
	r.t.Helper()
	of, err := do(r.ours)
	r.check(err)
	var pf vfs.File
	if r.pebble != nil {
		pf, err = do(r.pebble)
		r.check(err)
	}
	r.oursFiles, r.pebbleFiles = append(r.oursFiles, of), append(r.pebbleFiles, pf)
	r.handles = append(r.handles, &modelHandle{file: f})
}

func modelWriteAt(f *modelFile, p []byte, off int) {
	if end := off + len(p); end > len(f.data) {
		f.data = append(f.data, make([]byte, end-len(f.data))...)
	}
	copy(f.data[off:], p)
}

func (r *memFSRun) step() {
	r.t.Helper()
	op := r.rng.IntN(100)
	switch {
	case op < 10: // create
		dir, name := r.anyName()
		if e := r.dirs[dir].entries[name]; e == nil && dir == "" && name == "d" {
			return
		}
		r.log = append(r.log, "create "+join(dir, name))
		f := &modelFile{}
		r.dirs[dir].entries[name] = f
		r.open(func(fs vfs.FS) (vfs.File, error) { return fs.Create(join(dir, name), vfs.WriteCategoryUnspecified) }, f)
	case op < 15: // open an existing file for writing at offset 0
		dir, name, ok := r.pick()
		if !ok {
			return
		}
		r.log = append(r.log, "openrw "+join(dir, name))
		r.open(func(fs vfs.FS) (vfs.File, error) {
			return fs.OpenReadWrite(join(dir, name), vfs.WriteCategoryUnspecified)
		}, r.dirs[dir].entries[name])
	case op < 45: // write at the handle's offset, or at a random one
		if len(r.handles) == 0 {
			return
		}
		i := r.rng.IntN(len(r.handles))
		h := r.handles[i]
		p := make([]byte, 1+r.rng.IntN(8))
		for j := range p {
			p[j] = byte('A' + r.rng.IntN(26))
		}
		if r.rng.IntN(3) == 0 {
			off := r.rng.IntN(len(h.file.data) + 3)
			r.log = append(r.log, fmt.Sprintf("h%d writeat %d %q", i, off, p))
			r.bothFiles(i, func(f vfs.File) error { _, err := f.WriteAt(p, int64(off)); return err })
			modelWriteAt(h.file, p, off)
			return
		}
		r.log = append(r.log, fmt.Sprintf("h%d write %q", i, p))
		r.bothFiles(i, func(f vfs.File) error { _, err := f.Write(slices.Clone(p)); return err })
		modelWriteAt(h.file, p, h.pos)
		h.pos += len(p)
	case op < 60: // sync a file
		if len(r.handles) == 0 {
			return
		}
		i := r.rng.IntN(len(r.handles))
		r.log = append(r.log, fmt.Sprintf("h%d sync", i))
		r.bothFiles(i, vfs.File.Sync)
		r.handles[i].file.synced = slices.Clone(r.handles[i].file.data)
	case op < 70: // sync a directory
		dir := memFSDirs[r.rng.IntN(len(memFSDirs))]
		r.log = append(r.log, "syncdir "+dir)
		r.both(func(fs vfs.FS) error {
			d, err := fs.OpenDir(dir)
			if err != nil {
				return err
			}
			return d.Sync()
		})
		r.dirs[dir].synced = maps.Clone(r.dirs[dir].entries)
	case op < 78: // rename, or reuse for write
		dir, name, ok := r.pick()
		toDir, toName := r.anyName()
		if r.pebble != nil {
			// within one directory, as Pebble renames: a file moved to another directory
			// whose two directories were synced at different times comes back under both
			// names, one file here (a hard link), two files in Pebble's MemFS
			toDir = dir
		}
		if !ok || (toDir == "" && toName == "d") || (dir == toDir && name == toName) {
			return
		}
		f := r.dirs[dir].entries[name]
		delete(r.dirs[dir].entries, name)
		r.dirs[toDir].entries[toName] = f
		from, to := join(dir, name), join(toDir, toName)
		if r.rng.IntN(2) == 0 {
			r.log = append(r.log, "rename "+from+" "+to)
			r.both(func(fs vfs.FS) error { return fs.Rename(from, to) })
			return
		}
		r.log = append(r.log, "reuse "+from+" "+to)
		r.open(func(fs vfs.FS) (vfs.File, error) {
			return fs.ReuseForWrite(from, to, vfs.WriteCategoryUnspecified)
		}, f)
	case op < 84: // remove
		dir, name, ok := r.pick()
		if !ok {
			return
		}
		r.log = append(r.log, "remove "+join(dir, name))
		delete(r.dirs[dir].entries, name)
		r.both(func(fs vfs.FS) error { return fs.Remove(join(dir, name)) })
	case op < 90: // link (not in runs on Pebble's MemFS, whose CrashClone makes a linked file two)
		if r.pebble != nil {
			return
		}
		dir, name, ok := r.pick()
		toDir, toName := r.anyName()
		if !ok || r.dirs[toDir].entries[toName] != nil || (toDir == "" && toName == "d") {
			return
		}
		r.log = append(r.log, "link "+join(dir, name)+" "+join(toDir, toName))
		r.dirs[toDir].entries[toName] = r.dirs[dir].entries[name]
		r.both(func(fs vfs.FS) error { return fs.Link(join(dir, name), join(toDir, toName)) })
	case op < 96: // close a handle
		if len(r.handles) == 0 {
			return
		}
		i := r.rng.IntN(len(r.handles))
		r.log = append(r.log, fmt.Sprintf("h%d close", i))
		r.bothFiles(i, vfs.File.Close)
		r.oursFiles = slices.Delete(r.oursFiles, i, i+1)
		r.pebbleFiles = slices.Delete(r.pebbleFiles, i, i+1)
		r.handles = slices.Delete(r.handles, i, i+1)
	default:
		r.crash()
	}
}

// crash is a power loss on all three; the old handles are gone with the process.
func (r *memFSRun) crash() {
	r.t.Helper()
	r.log = append(r.log, "crash")
	r.ours = r.ours.crashClone()
	if r.pebble != nil {
		r.pebble = r.pebble.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	}
	clones := map[*modelFile]*modelFile{}
	for _, d := range r.dirs {
		d.entries = map[string]*modelFile{}
		for name, f := range d.synced {
			c := clones[f]
			if c == nil {
				c = &modelFile{data: slices.Clone(f.synced), synced: slices.Clone(f.synced)}
				clones[f] = c
			}
			d.entries[name] = c
		}
		d.synced = maps.Clone(d.entries)
	}
	r.oursFiles, r.pebbleFiles, r.handles = nil, nil, nil
	r.verify()
}

// verify checks that both FSs hold the model's names and bytes.
func (r *memFSRun) verify() {
	r.t.Helper()
	for _, dir := range memFSDirs {
		want := slices.Sorted(maps.Keys(r.dirs[dir].entries))
		if dir == "" {
			want = append(want, "d")
			slices.Sort(want)
		}
		for _, fs := range r.fss() {
			got, err := fs.List(dir)
			r.check(err)
			if fs != vfs.FS(r.ours) {
				slices.Sort(got) // a MemFS clone lists in map order; ours is sorted
			}
			if !slices.Equal(got, want) {
				r.fail("%T: List(%q) = %v, the model has %v", fs, dir, got, want)
			}
			for name, f := range r.dirs[dir].entries {
				file, err := fs.Open(join(dir, name))
				r.check(err)
				b, err := io.ReadAll(file)
				r.check(err)
				r.check(file.Close())
				if string(b) != string(f.data) {
					r.fail("%T: %s holds %q, the model %q", fs, join(dir, name), b, f.data)
				}
				st, err := fs.Stat(join(dir, name))
				r.check(err)
				if st.Size() != int64(len(f.data)) || st.IsDir() {
					r.fail("%T: Stat(%s) size %d dir %v, the model %d", fs, join(dir, name), st.Size(), st.IsDir(), len(f.data))
				}
			}
		}
	}
}

// TestMemFSMatchesModel runs seeded sequences of creates, writes (appends and writes over
// earlier bytes), file and directory syncs, renames, reuses, removes, links and crashes on
// memFS and on a model whose syncs copy whole files: after every crash exactly the synced
// state survives. Every other run leaves out links and renames across directories and also
// runs on Pebble's crashable MemFS, which must agree (the simulator relied on its semantics).
func TestMemFSMatchesModel(t *testing.T) {
	base := *memFSSeed
	if base == 0 {
		base = uint64(time.Now().UnixNano())
	}
	t.Logf("base seed %d", base)
	runs := 300
	if *memFSSeed != 0 {
		runs = 1
	}
	for i := range runs {
		seed := base + uint64(i)
		r := &memFSRun{t: t, rng: rand.New(rand.NewPCG(seed, 0)), seed: seed,
			ours: newCrashableMem(), dirs: map[string]*modelDir{}}
		if i%2 == 0 {
			r.pebble = vfs.NewCrashableMem()
		}
		for _, dir := range memFSDirs {
			r.dirs[dir] = &modelDir{entries: map[string]*modelFile{}, synced: map[string]*modelFile{}}
		}
		// d exists in the root's synced entries from the start
		r.both(func(fs vfs.FS) error {
			if err := fs.MkdirAll("d", 0o755); err != nil {
				return err
			}
			root, err := fs.OpenDir("")
			if err != nil {
				return err
			}
			return root.Sync()
		})
		for range memFSSteps {
			r.step()
		}
		r.verify()
		r.crash()
	}
}

// TestMemFSCrashKeepsSynced walks the cases by hand: appends after a sync (the WAL), writes
// over synced bytes before and after their sync (a recycled WAL), a clone crashed again, a
// file synced in a directory that was not, and a directory created but not synced in its
// parent.
func TestMemFSCrashKeepsSynced(t *testing.T) {
	read := func(fs *memFS, name string) string {
		f, err := fs.Open(name)
		require.NoError(t, err)
		b, err := io.ReadAll(f)
		require.NoError(t, err)
		return string(b)
	}
	syncDir := func(fs *memFS, name string) {
		d, err := fs.OpenDir(name)
		require.NoError(t, err)
		require.NoError(t, d.Sync())
	}
	fs := newCrashableMem()
	require.NoError(t, fs.MkdirAll("d", 0o755))
	syncDir(fs, "")
	f, err := fs.Create("d/wal", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write([]byte("abc"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	syncDir(fs, "d")
	_, err = f.Write([]byte("def"))
	require.NoError(t, err)
	require.Equal(t, "abc", read(fs.crashClone(), "d/wal"))

	require.NoError(t, f.Sync())
	_, err = f.WriteAt([]byte("X"), 1)
	require.NoError(t, err)
	require.Equal(t, "aXcdef", read(fs, "d/wal"))
	c := fs.crashClone()
	require.Equal(t, "abcdef", read(c, "d/wal"))

	cf, err := c.OpenReadWrite("d/wal", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = cf.Write([]byte("ZZ"))
	require.NoError(t, err)
	require.Equal(t, "abcdef", read(c.crashClone(), "d/wal"))
	require.NoError(t, cf.Sync())
	require.Equal(t, "ZZcdef", read(c.crashClone(), "d/wal"))
	require.Equal(t, "abcdef", read(fs.crashClone(), "d/wal"), "the clone shares nothing with its origin")

	require.NoError(t, f.Sync())
	require.Equal(t, "aXcdef", read(fs.crashClone(), "d/wal"))

	g, err := fs.Create("d/new", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	require.NoError(t, g.Sync())
	_, err = fs.crashClone().Stat("d/new")
	require.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, fs.MkdirAll("e", 0o755))
	syncDir(fs, "e")
	_, err = fs.crashClone().Stat("e")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestMemFSLockAndList: List is sorted, Lock creates its file and refuses a second holder
// until the first lets go, and a clone starts with no locks.
func TestMemFSLockAndList(t *testing.T) {
	fs := newCrashableMem()
	for _, name := range []string{"c", "a", "b"} {
		_, err := fs.Create(name, vfs.WriteCategoryUnspecified)
		require.NoError(t, err)
	}
	l, err := fs.Lock("LOCK")
	require.NoError(t, err)
	names, err := fs.List("")
	require.NoError(t, err)
	require.Equal(t, []string{"LOCK", "a", "b", "c"}, names)
	_, err = fs.Lock("LOCK")
	require.Error(t, err)
	syncRoot, err := fs.OpenDir("")
	require.NoError(t, err)
	require.NoError(t, syncRoot.Sync())
	l2, err := fs.crashClone().Lock("LOCK")
	require.NoError(t, err)
	require.NoError(t, l2.Close())
	require.NoError(t, l.Close())
	l, err = fs.Lock("LOCK")
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

// TestSyncAllKeepsEverything: a graceful restart (restarts.go) keeps what the member wrote and had not
// synced (a crash at that instant would lose it): its disk is synced whole as it stops.
func TestSyncAllKeepsEverything(t *testing.T) {
	fs := newCrashableMem()
	require.NoError(t, fs.MkdirAll("d", 0o755))
	f, err := fs.Create("d/wal", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write([]byte("synced"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	for _, dir := range []string{"", "d"} {
		d, err := fs.OpenDir(dir)
		require.NoError(t, err)
		require.NoError(t, d.Sync())
	}
	_, err = f.Write([]byte("+unsynced"))
	require.NoError(t, err)
	require.NoError(t, fs.MkdirAll("d2", 0o755)) // a new directory entry, not synced
	read := func(fs *memFS, name string) string {
		f, err := fs.Open(name)
		if err != nil {
			return "<" + err.Error() + ">"
		}
		b := make([]byte, 64)
		n, _ := f.Read(b)
		return string(b[:n])
	}
	require.Equal(t, "synced", read(fs.crashClone(), "d/wal"), "a crash keeps only what was synced")
	fs.syncAll()
	c := fs.crashClone()
	require.Equal(t, "synced+unsynced", read(c, "d/wal"))
	_, err = c.Stat("d2")
	require.NoError(t, err, "the directory created before the graceful stop")
}
