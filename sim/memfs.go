package sim

// memfs.go is the members' disk: an in-memory vfs.FS that remembers what was synced, so a
// power loss (crashClone) keeps exactly that. It exists because Pebble's own crashable
// MemFS copies a whole file into its synced state at every Sync, and the member syncs its
// WAL at every Synced: a recycled WAL file is copied at its full old length each time, a
// measurable share of the simulator's CPU. Here a file keeps the range written since its
// last sync, and a sync copies only that range and what the file grew by.
//
// The model (what the simulator relies on, the same as Pebble's MemFS for UnsyncedDataPercent 0):
//   - a file's synced bytes are what its last Sync (or SyncData) saw; SyncTo syncs nothing;
//   - a directory's synced entries are what its last Sync saw (a created, renamed or removed
//     name is durable only once its directory is synced; the root starts synced and empty);
//   - crashClone returns a new FS holding, from the root down, each directory's synced
//     entries and each file's synced bytes, all of them synced.
//
// Where it differs from MemFS, in what Pebble never does: a file reachable under two synced
// names after a crash (a hard link, or a rename across directories synced at different
// times) stays one file, where MemFS's clone makes two; a clone's List is sorted too.
//
// One mutex guards the tree and every file's bytes: Pebble calls in from its flush,
// compaction and WAL goroutines. List is sorted, nothing reads the wall clock (ModTime is
// zero), so a run depends on its seed only.

import (
	"errors"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// memFS is the simulator's crash-tracking in-memory vfs.FS (see the file comment).
type memFS struct {
	mu   sync.RWMutex
	root *memNode
	// locked names the nodes held by Lock, per FS: a clone starts with none (the crashed
	// process held them).
	locked map[*memNode]bool
}

// memNode is a file (data, synced and the dirty range) or a directory (entries, syncedEntries).
type memNode struct {
	dir bool
	// data is the file's current content; synced is a separate copy of what the last sync
	// saw. The file only grows (vfs has no truncate; Create makes a new node), so
	// len(synced) <= len(data) and the two differ only in [dirtyLo, dirtyHi) and beyond
	// len(synced).
	data, synced     []byte
	dirtyLo, dirtyHi int
	// shared: synced is data's own bytes (data[:len(synced)]), taken at the file's first
	// sync instead of a copy; the next write copies data first. An sstable is written
	// whole, synced once and never written again, so it is held once, not twice (its
	// synced copy was a third of the bytes this FS allocated).
	shared bool
	// entries are the directory's names now, syncedEntries those its last sync saw.
	entries, syncedEntries map[string]*memNode
}

func newDirNode() *memNode {
	return &memNode{dir: true, entries: map[string]*memNode{}, syncedEntries: map[string]*memNode{}}
}

// newCrashableMem is an empty FS whose root is synced.
func newCrashableMem() *memFS {
	return &memFS{root: newDirNode(), locked: map[*memNode]bool{}}
}

var _ vfs.FS = (*memFS)(nil)

// crashClone is a power loss at this instant: a new FS with only what was synced.
func (fs *memFS) crashClone() *memFS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	clones := map[*memNode]*memNode{}
	return &memFS{root: fs.root.crashClone(clones), locked: map[*memNode]bool{}}
}

// syncAll makes everything the FS holds synced, as a clean shutdown leaves the disk once
// the kernel has written its page cache: a crash after it loses nothing written before.
func (fs *memFS) syncAll() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.root.syncAll()
}

func (n *memNode) syncAll() {
	n.sync()
	if n.dir {
		for _, child := range n.entries {
			child.syncAll() // each node once per path; syncing twice changes nothing
		}
	}
}

// crashClone is n as it survives a power loss; clones maps the nodes already cloned, so a
// file linked under two names stays one file.
func (n *memNode) crashClone(clones map[*memNode]*memNode) *memNode {
	if c, ok := clones[n]; ok {
		return c
	}
	if !n.dir {
		c := &memNode{data: slices.Clone(n.synced), synced: slices.Clone(n.synced)}
		clones[n] = c
		return c
	}
	c := newDirNode()
	clones[n] = c
	for name, child := range n.syncedEntries {
		cc := child.crashClone(clones)
		c.entries[name] = cc
		c.syncedEntries[name] = cc
	}
	return c
}

// sync makes what n holds now its synced state: a file copies its dirty range and its
// growth since the last sync, a directory its entries.
func (n *memNode) sync() {
	if n.dir {
		clear(n.syncedEntries)
		for name, child := range n.entries {
			n.syncedEntries[name] = child
		}
		return
	}
	if n.shared {
		return // no write since the sync that shared data: nothing changed
	}
	if len(n.synced) == 0 && len(n.data) > 0 {
		n.synced, n.shared = n.data[:len(n.data):len(n.data)], true
		n.dirtyLo, n.dirtyHi = 0, 0
		return
	}
	if hi := min(n.dirtyHi, len(n.synced)); n.dirtyLo < hi {
		copy(n.synced[n.dirtyLo:hi], n.data[n.dirtyLo:hi])
	}
	n.synced = appendDoubling(n.synced, n.data[len(n.synced):])
	n.dirtyLo, n.dirtyHi = 0, 0
}

// growTo is b at length n, its capacity at least doubled when it must grow: files here grow
// by small appends (WAL records, sstable blocks) to megabytes, and append's growth of a
// quarter for large slices copied each file about four times over (a tenth of the
// simulator's allocated bytes). The bytes past len(b) are zero.
func growTo(b []byte, n int) []byte {
	if n <= cap(b) {
		return b[:n]
	}
	nb := make([]byte, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// appendDoubling appends p to b, growing as growTo does.
func appendDoubling(b, p []byte) []byte {
	l := len(b)
	b = growTo(b, l+len(p))
	copy(b[l:], p)
	return b
}

// writeAt writes p at off, growing the file (zeros fill a gap) and widening the dirty range.
func (n *memNode) writeAt(p []byte, off int) {
	if n.shared {
		// synced keeps the shared bytes; data goes on in a copy of its own
		n.data = append(make([]byte, 0, max(cap(n.data), 2*len(n.data))), n.data...)
		n.shared = false
	}
	end := off + len(p)
	if end > len(n.data) {
		n.data = growTo(n.data, end)
	}
	copy(n.data[off:], p)
	if len(p) == 0 {
		return
	}
	if n.dirtyLo >= n.dirtyHi {
		n.dirtyLo, n.dirtyHi = off, end
	} else {
		n.dirtyLo, n.dirtyHi = min(n.dirtyLo, off), max(n.dirtyHi, end)
	}
}

// splitPath is name's components; "", "." and "/" are the root.
func splitPath(name string) []string {
	var parts []string
	for _, p := range strings.Split(name, "/") {
		if p != "" && p != "." {
			parts = append(parts, p)
		}
	}
	return parts
}

func notExist(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
}

// lookup is the node at name (fs.mu held).
func (fs *memFS) lookup(op, name string) (*memNode, error) {
	n := fs.root
	for _, p := range splitPath(name) {
		if !n.dir {
			return nil, notExist(op, name)
		}
		if n = n.entries[p]; n == nil {
			return nil, notExist(op, name)
		}
	}
	return n, nil
}

// parent is the directory holding name and name's last component (fs.mu held).
func (fs *memFS) parent(op, name string) (*memNode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", &os.PathError{Op: op, Path: name, Err: os.ErrInvalid}
	}
	dir, err := fs.lookup(op, strings.Join(parts[:len(parts)-1], "/"))
	if err != nil {
		return nil, "", err
	}
	if !dir.dir {
		return nil, "", notExist(op, name)
	}
	return dir, parts[len(parts)-1], nil
}

// Create makes a new empty file at name, replacing any file there (a new inode).
func (fs *memFS) Create(name string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, base, err := fs.parent("open", name)
	if err != nil {
		return nil, err
	}
	if old := dir.entries[base]; old != nil && old.dir {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	n := &memNode{}
	dir.entries[base] = n
	return &memFile{fs: fs, node: n, name: base, write: true}, nil
}

// Link gives oldname's file a second name.
func (fs *memFS) Link(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.lookup("link", oldname)
	if err != nil {
		return err
	}
	if n.dir {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	dir, base, err := fs.parent("link", newname)
	if err != nil {
		return err
	}
	if dir.entries[base] != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: os.ErrExist}
	}
	dir.entries[base] = n
	return nil
}

func (fs *memFS) open(name string, write bool) (vfs.File, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	n, err := fs.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if write && n.dir {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	return &memFile{fs: fs, node: n, name: path.Base(name), write: write}, nil
}

// Open opens name for reading.
func (fs *memFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.open(name, false)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o.Apply(f)
	}
	return f, nil
}

// OpenReadWrite opens name for reading and writing at offset 0, creating it if missing.
func (fs *memFS) OpenReadWrite(name string, _ vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	fs.mu.Lock()
	dir, base, err := fs.parent("open", name)
	if err == nil && dir.entries[base] == nil {
		dir.entries[base] = &memNode{}
	}
	fs.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f, err := fs.open(name, true)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o.Apply(f)
	}
	return f, nil
}

// OpenDir opens the directory name, for its Sync.
func (fs *memFS) OpenDir(name string) (vfs.File, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	n, err := fs.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
	}
	return &memFile{fs: fs, node: n, name: path.Base(name)}, nil
}

// Remove removes a file or an empty directory.
func (fs *memFS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, base, err := fs.parent("remove", name)
	if err != nil {
		return err
	}
	n := dir.entries[base]
	if n == nil {
		return notExist("remove", name)
	}
	if n.dir && len(n.entries) > 0 {
		return &os.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.entries, base)
	return nil
}

// RemoveAll removes name and everything beneath it; a missing name is no error.
func (fs *memFS) RemoveAll(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, base, err := fs.parent("remove", name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	delete(dir.entries, base)
	return nil
}

// Rename moves oldname to newname, replacing what newname held.
func (fs *memFS) Rename(oldname, newname string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rename(oldname, newname)
}

func (fs *memFS) rename(oldname, newname string) error {
	from, fromBase, err := fs.parent("rename", oldname)
	if err != nil {
		return err
	}
	n := from.entries[fromBase]
	if n == nil {
		return notExist("rename", oldname)
	}
	to, toBase, err := fs.parent("rename", newname)
	if err != nil {
		return err
	}
	delete(from.entries, fromBase)
	to.entries[toBase] = n
	return nil
}

// ReuseForWrite renames oldname to newname and opens it for writing from offset 0, keeping
// its bytes (Pebble recycles WAL files this way).
func (fs *memFS) ReuseForWrite(oldname, newname string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, err := fs.lookup("open", oldname); err != nil {
		return nil, err
	}
	if err := fs.rename(oldname, newname); err != nil {
		return nil, err
	}
	n, err := fs.lookup("open", newname)
	if err != nil {
		return nil, err
	}
	return &memFile{fs: fs, node: n, name: path.Base(newname), write: true}, nil
}

// MkdirAll creates dir and its missing parents.
func (fs *memFS) MkdirAll(dir string, _ os.FileMode) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.root
	for _, p := range splitPath(dir) {
		child := n.entries[p]
		if child == nil {
			child = newDirNode()
			n.entries[p] = child
		} else if !child.dir {
			return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		n = child
	}
	return nil
}

// Lock creates name if missing and holds it until the Closer is closed; a second Lock of
// a held file fails, as fcntl locks do within one process.
func (fs *memFS) Lock(name string) (io.Closer, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, base, err := fs.parent("open", name)
	if err != nil {
		return nil, err
	}
	n := dir.entries[base]
	if n == nil {
		n = &memNode{}
		dir.entries[base] = n
	}
	if n.dir {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	if fs.locked[n] {
		return nil, syscall.EAGAIN
	}
	fs.locked[n] = true
	return &memLock{fs: fs, node: n}, nil
}

type memLock struct {
	fs   *memFS
	node *memNode
	once sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		delete(l.fs.locked, l.node)
		l.fs.mu.Unlock()
	})
	return nil
}

// List is the sorted names in dir.
func (fs *memFS) List(dir string) ([]string, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	n, err := fs.lookup("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &os.PathError{Op: "readdirent", Path: dir, Err: syscall.ENOTDIR}
	}
	names := make([]string, 0, len(n.entries))
	for name := range n.entries {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Stat describes name.
func (fs *memFS) Stat(name string) (vfs.FileInfo, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	n, err := fs.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	base := path.Base(name)
	if len(splitPath(name)) == 0 {
		base = "/"
	}
	return n.info(base), nil
}

func (*memFS) PathBase(p string) string       { return path.Base(p) }
func (*memFS) PathJoin(elem ...string) string { return path.Join(elem...) }
func (*memFS) PathDir(p string) string        { return path.Dir(p) }
func (*memFS) Unwrap() vfs.FS                 { return nil }
func (*memFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	return vfs.DiskUsage{}, vfs.ErrUnsupported
}

// info is n's FileInfo under name (fs.mu held).
func (n *memNode) info(name string) vfs.FileInfo {
	fi := memFileInfo{name: name, mode: 0o755}
	if n.dir {
		fi.mode |= os.ModeDir
	} else {
		fi.size = int64(len(n.data))
	}
	return fi
}

type memFileInfo struct {
	name string
	size int64
	mode os.FileMode
}

func (fi memFileInfo) Name() string           { return fi.name }
func (fi memFileInfo) Size() int64            { return fi.size }
func (fi memFileInfo) Mode() os.FileMode      { return fi.mode }
func (fi memFileInfo) ModTime() time.Time     { return time.Time{} }
func (fi memFileInfo) IsDir() bool            { return fi.mode.IsDir() }
func (fi memFileInfo) Sys() any               { return nil }
func (fi memFileInfo) DeviceID() vfs.DeviceID { return vfs.DeviceID{} }

// memFile is an open file or directory; pos is its own offset for Read and Write.
type memFile struct {
	fs    *memFS
	node  *memNode
	name  string
	write bool
	pos   int
}

var errNotForWriting = errors.New("sim memfs: file not opened for writing")

func (f *memFile) Close() error { return nil }

func (f *memFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, int64(f.pos))
	f.pos += n
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.node.dir {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: syscall.EISDIR}
	}
	if off < 0 {
		return 0, &os.PathError{Op: "readat", Path: f.name, Err: os.ErrInvalid}
	}
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	n, err := f.WriteAt(p, int64(f.pos))
	f.pos += n
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if !f.write || f.node.dir {
		return 0, errNotForWriting
	}
	if off < 0 {
		return 0, &os.PathError{Op: "writeat", Path: f.name, Err: os.ErrInvalid}
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.node.writeAt(p, int(off))
	return len(p), nil
}

func (f *memFile) Preallocate(_, _ int64) error { return nil }

func (f *memFile) Stat() (vfs.FileInfo, error) {
	f.fs.mu.RLock()
	defer f.fs.mu.RUnlock()
	return f.node.info(f.name), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.node.sync()
	return nil
}

func (f *memFile) SyncData() error { return f.Sync() }

// SyncTo syncs nothing and says so (fullSync false), as Pebble's MemFS: only Sync persists.
func (f *memFile) SyncTo(int64) (bool, error) { return false, nil }

func (f *memFile) Prefetch(_, _ int64) error { return nil }

func (f *memFile) Fd() uintptr { return vfs.InvalidFd }
