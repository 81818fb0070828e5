// Copyright 2012 The LevelDB-Go and Pebble Authors. All rights reserved. Use
// of this source code is governed by a BSD-style license that can be found in
// the LICENSE file (github.com/cockroachdb/pebble, BSD-3-Clause).
//
// This file is Pebble v2.1.7's vfs/mem_fs.go (MemFS with NewCrashableMem and CrashClone),
// changed in one place for the simulator: a file's Sync copies into the synced state only
// what was written since the last sync (memNode.syncData), not the whole file. Pebble
// appends to its WAL and syncs it at every member sync, so MemFS copied each WAL file (a
// recycled one at its full old length) whole at each sync: 5-8% of BenchmarkSteady1000's CPU
// profile. The crash semantics are MemFS's: CrashClone keeps exactly what was synced
// (sim_test's and diskfault_test's crash and disk-fault tests, memfs_test.go). Also dropped:
// what the simulator never uses (Windows semantics, disk usage, String, NewMem), Pebble's
// invariants-build buffer scribbling, and the wall-clock modification times (always zero).

package sim

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

const sep = "/"

// newCrashableMem is vfs.NewCrashableMem: an empty in-memory FS whose CrashClone is a
// power loss.
func newCrashableMem() *memFS {
	return &memFS{
		root:      newRootMemNode(),
		crashable: true,
	}
}

// memFS implements vfs.FS.
type memFS struct {
	mu   sync.Mutex
	root *memNode

	// cloneMu is used to block all modification operations while we clone the
	// filesystem. Only used when crashable is true.
	cloneMu sync.RWMutex

	// lockFiles holds a map of open file locks. Presence in this map indicates
	// a file lock is currently held. Keys are strings holding the path of the
	// locked file. The stored value is untyped and  unused; only presence of
	// the key within the map is significant.
	lockedFiles sync.Map
	crashable   bool
	// Windows has peculiar semantics with respect to hard links and deleting
	// open files. In tests meant to exercise this behavior, this flag can be
	// set to error if removing an open file.
}

var _ vfs.FS = &memFS{}

// CrashClone creates a new filesystem that reflects a possible state of this
// filesystem after a crash at this moment. The new filesystem will contain all
// data that was synced, and some fraction of the data that was not synced. The
// latter is controlled by vfs.CrashCloneCfg.
func (y *memFS) CrashClone(cfg vfs.CrashCloneCfg) *memFS {
	if !y.crashable {
		panic("not a crashable memFS")
	}
	// Block all modification operations while we clone.
	y.cloneMu.Lock()
	defer y.cloneMu.Unlock()
	newFS := &memFS{crashable: true}
	newFS.root = y.root.CrashClone(&cfg)
	return newFS
}

// walk walks the directory tree for the fullname, calling f at each step. If
// f returns an error, the walk will be aborted and return that same error.
//
// Each walk is atomic: y's mutex is held for the entire operation, including
// all calls to f.
//
// dir is the directory at that step, frag is the name fragment, and final is
// whether it is the final step. For example, walking "/foo/bar/x" will result
// in 3 calls to f:
//   - "/", "foo", false
//   - "/foo/", "bar", false
//   - "/foo/bar/", "x", true
//
// Similarly, walking "/y/z/", with a trailing slash, will result in 3 calls to f:
//   - "/", "y", false
//   - "/y/", "z", false
//   - "/y/z/", "", true
func (y *memFS) walk(fullname string, f func(dir *memNode, frag string, final bool) error) error {
	y.mu.Lock()
	defer y.mu.Unlock()

	// For memfs, the current working directory is the same as the root directory,
	// so we strip off any leading "/"s to make fullname a relative path, and
	// the walk starts at y.root.
	for len(fullname) > 0 && fullname[0] == sep[0] {
		fullname = fullname[1:]
	}
	if fullname == "." {
		fullname = ""
	}
	dir := y.root

	for {
		frag, remaining := fullname, ""
		i := strings.IndexRune(fullname, rune(sep[0]))
		final := i < 0
		if !final {
			frag, remaining = fullname[:i], fullname[i+1:]
			for len(remaining) > 0 && remaining[0] == sep[0] {
				remaining = remaining[1:]
			}
		}
		if err := f(dir, frag, final); err != nil {
			return err
		}
		if final {
			break
		}
		child := dir.children[frag]
		if child == nil {
			return &os.PathError{
				Op:   "open",
				Path: fullname,
				Err:  os.ErrNotExist,
			}
		}
		if !child.isDir {
			return &os.PathError{
				Op:   "open",
				Path: fullname,
				Err:  errors.New("not a directory"),
			}
		}
		dir, fullname = child, remaining
	}
	return nil
}

// Create implements vfs.FS.Create.
func (y *memFS) Create(fullname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if y.crashable {
		y.cloneMu.RLock()
		defer y.cloneMu.RUnlock()
	}
	var ret *memFile
	err := y.walk(fullname, func(dir *memNode, frag string, final bool) error {
		if final {
			if frag == "" {
				return errors.New("pebble/vfs: empty file name")
			}
			n := &memNode{}
			dir.children[frag] = n
			ret = &memFile{
				name:  frag,
				n:     n,
				fs:    y,
				read:  true,
				write: true,
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ret.n.refs.Add(1)
	return ret, nil
}

// Link implements vfs.FS.Link.
func (y *memFS) Link(oldname, newname string) error {
	if y.crashable {
		y.cloneMu.RLock()
		defer y.cloneMu.RUnlock()
	}
	var n *memNode
	err := y.walk(oldname, func(dir *memNode, frag string, final bool) error {
		if final {
			if frag == "" {
				return errors.New("pebble/vfs: empty file name")
			}
			n = dir.children[frag]
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == nil {
		return &os.LinkError{
			Op:  "link",
			Old: oldname,
			New: newname,
			Err: os.ErrNotExist,
		}
	}
	return y.walk(newname, func(dir *memNode, frag string, final bool) error {
		if final {
			if frag == "" {
				return errors.New("pebble/vfs: empty file name")
			}
			y.cloneMu.RLock()
			defer y.cloneMu.RUnlock()
			if _, ok := dir.children[frag]; ok {
				return &os.LinkError{
					Op:  "link",
					Old: oldname,
					New: newname,
					Err: os.ErrExist,
				}
			}
			dir.children[frag] = n
		}
		return nil
	})
}

func (y *memFS) open(fullname string, openForWrite bool) (vfs.File, error) {
	var ret *memFile
	err := y.walk(fullname, func(dir *memNode, frag string, final bool) error {
		if final {
			if frag == "" {
				ret = &memFile{
					name: sep, // this is the root directory
					n:    dir,
					fs:   y,
				}
				return nil
			}
			if n := dir.children[frag]; n != nil {
				ret = &memFile{
					name:  frag,
					n:     n,
					fs:    y,
					read:  true,
					write: openForWrite,
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ret == nil {
		return nil, &os.PathError{
			Op:   "open",
			Path: fullname,
			Err:  os.ErrNotExist,
		}
	}
	ret.n.refs.Add(1)
	return ret, nil
}

// Open implements vfs.FS.Open.
func (y *memFS) Open(fullname string, opts ...vfs.OpenOption) (vfs.File, error) {
	return y.open(fullname, false /* openForWrite */)
}

// OpenReadWrite implements vfs.FS.OpenReadWrite.
func (y *memFS) OpenReadWrite(
	fullname string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption,
) (vfs.File, error) {
	f, err := y.open(fullname, true /* openForWrite */)
	pathErr, ok := err.(*os.PathError)
	if ok && pathErr.Err == os.ErrNotExist {
		return y.Create(fullname, category)
	}
	return f, err
}

// OpenDir implements vfs.FS.OpenDir.
func (y *memFS) OpenDir(fullname string) (vfs.File, error) {
	return y.open(fullname, false /* openForWrite */)
}

// Remove implements vfs.FS.Remove.
func (y *memFS) Remove(fullname string) error {
	if y.crashable {
		y.cloneMu.RLock()
		defer y.cloneMu.RUnlock()
	}
	return y.walk(fullname, func(dir *memNode, frag string, final bool) error {
		if final {
			if frag == "" {
				return errors.New("pebble/vfs: empty file name")
			}
			child, ok := dir.children[frag]
			if !ok {
				return os.ErrNotExist
			}
			if len(child.children) > 0 {
				return syscall.ENOTEMPTY
			}
			delete(dir.children, frag)
		}
		return nil
	})
}

// RemoveAll implements vfs.FS.RemoveAll.
func (y *memFS) RemoveAll(fullname string) error {
	if y.crashable {
		y.cloneMu.RLock()
		defer y.cloneMu.RUnlock()
	}
	err := y.walk(fullname, func(dir *memNode, frag string, final bool) error {
		if final {
			if frag == "" {
				return errors.New("pebble/vfs: empty file name")
			}
			_, ok := dir.children[frag]
			if !ok {
				return nil
			}
			delete(dir.children, frag)
		}
		return nil
	})
	// Match os.RemoveAll which returns a nil error even if the parent
	// directories don't exist.
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return err
}

// Rename implements vfs.FS.Rename.
func (y *memFS) Rename(oldname, newname string) error {
	if y.crashable {
		y.cloneMu.RLock()
		defer y.cloneMu.RUnlock()
	}
	var n *memNode
	err := y.walk(oldname, func(dir *memNode, frag string, final bool) error {
		if final {
			if frag == "" {
				return errors.New("pebble/vfs: empty file name")
			}
			n = dir.children[frag]
			delete(dir.children, frag)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == nil {
		return &os.PathError{
			Op:   "open",
			Path: oldname,
			Err:  os.ErrNotExist,
		}
	}
	return y.walk(newname, func(dir *memNode, frag string, final bool) error {
		if final {
			if frag == "" {
				return errors.New("pebble/vfs: empty file name")
			}
			dir.children[frag] = n
		}
		return nil
	})
}

// ReuseForWrite implements vfs.FS.ReuseForWrite.
func (y *memFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if y.crashable {
		y.cloneMu.RLock()
		defer y.cloneMu.RUnlock()
	}
	if err := y.Rename(oldname, newname); err != nil {
		return nil, err
	}
	f, err := y.Open(newname)
	if err != nil {
		return nil, err
	}
	y.mu.Lock()
	defer y.mu.Unlock()

	mf := f.(*memFile)
	mf.read = false
	mf.write = true
	return f, nil
}

// MkdirAll implements vfs.FS.MkdirAll.
func (y *memFS) MkdirAll(dirname string, perm os.FileMode) error {
	if y.crashable {
		y.cloneMu.RLock()
		defer y.cloneMu.RUnlock()
	}
	return y.walk(dirname, func(dir *memNode, frag string, final bool) error {
		if frag == "" {
			if final {
				return nil
			}
			return errors.New("pebble/vfs: empty file name")
		}
		child := dir.children[frag]
		if child == nil {
			dir.children[frag] = &memNode{
				children: make(map[string]*memNode),
				isDir:    true,
			}
			return nil
		}
		if !child.isDir {
			return &os.PathError{
				Op:   "open",
				Path: dirname,
				Err:  errors.New("not a directory"),
			}
		}
		return nil
	})
}

// Lock implements vfs.FS.Lock.
func (y *memFS) Lock(fullname string) (io.Closer, error) {
	if y.crashable {
		y.cloneMu.RLock()
		defer y.cloneMu.RUnlock()
	}
	// vfs.FS.Lock excludes other processes, but other processes cannot see this
	// process' memory. However some uses (eg, Cockroach tests) may open and
	// close the same memFS-backed database multiple times. We want mutual
	// exclusion in this case too. See cockroachdb/cockroach#110645.
	_, loaded := y.lockedFiles.Swap(fullname, nil /* the value itself is insignificant */)
	if loaded {
		// This file lock has already been acquired. On unix, this results in
		// either EACCES or EAGAIN so we mimic.
		return nil, syscall.EAGAIN
	}
	// Otherwise, we successfully acquired the lock. Locks are visible in the
	// parent directory listing, and they also must be created under an existent
	// directory. Create the path so that we have the normal detection of
	// non-existent directory paths, and make the lock visible when listing
	// directory entries.
	f, err := y.Create(fullname, vfs.WriteCategoryUnspecified)
	if err != nil {
		// "Release" the lock since we failed.
		y.lockedFiles.Delete(fullname)
		return nil, err
	}
	return &memFileLock{
		y:        y,
		f:        f,
		fullname: fullname,
	}, nil
}

// List implements vfs.FS.List.
func (y *memFS) List(dirname string) ([]string, error) {
	if !strings.HasSuffix(dirname, sep) {
		dirname += sep
	}
	var ret []string
	err := y.walk(dirname, func(dir *memNode, frag string, final bool) error {
		if final {
			if frag != "" {
				panic("unreachable")
			}
			ret = make([]string, 0, len(dir.children))
			for s := range dir.children {
				ret = append(ret, s)
			}
		}
		return nil
	})
	return ret, err
}

// Stat implements vfs.FS.Stat.
func (y *memFS) Stat(name string) (vfs.FileInfo, error) {
	f, err := y.Open(name)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			pe.Op = "stat"
		}
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// PathBase implements vfs.FS.PathBase.
func (*memFS) PathBase(p string) string {
	// Note that memFS uses forward slashes for its separator, hence the use of
	// path.Base, not filepath.Base.
	return path.Base(p)
}

// PathJoin implements vfs.FS.PathJoin.
func (*memFS) PathJoin(elem ...string) string {
	// Note that memFS uses forward slashes for its separator, hence the use of
	// path.Join, not filepath.Join.
	return path.Join(elem...)
}

// PathDir implements vfs.FS.PathDir.
func (*memFS) PathDir(p string) string {
	// Note that memFS uses forward slashes for its separator, hence the use of
	// path.Dir, not filepath.Dir.
	return path.Dir(p)
}

// GetDiskUsage implements vfs.FS.GetDiskUsage.
func (y *memFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	return vfs.DiskUsage{}, vfs.ErrUnsupported
}

// Unwrap implements vfs.FS.Unwrap.
func (*memFS) Unwrap() vfs.FS { return nil }

// memNode holds a file's data or a directory's children.
type memNode struct {
	isDir bool
	refs  atomic.Int32

	// Mutable state.
	// - For a file: data, syncedDate, modTime: A file is only being mutated by a single goroutine,
	//   but there can be concurrent readers e.g. DB.Checkpoint() which can read WAL or MANIFEST
	//   files that are being written to. Additionally Sync() calls can be concurrent with writing.
	// - For a directory: children and syncedChildren. Concurrent writes are possible, and
	//   these are protected using memFS.mu.
	mu struct {
		sync.Mutex
		data       []byte
		syncedData []byte
		// dirty, when set, is the range of data written since the last sync: Sync copies
		// only that (and what data grew by) into syncedData (see markDirty)
		dirty            bool
		dirtyLo, dirtyHi int
		modTime          time.Time
	}

	children       map[string]*memNode
	syncedChildren map[string]*memNode // may be nil if never synced
}

func newRootMemNode() *memNode {
	return &memNode{
		children: make(map[string]*memNode),
		isDir:    true,
	}
}

// CrashClone creates a crash-consistent clone of the subtree rooted at f, and
// returns the new subtree. cloneMu must be held (in write mode).
func (f *memNode) CrashClone(cfg *vfs.CrashCloneCfg) *memNode {
	newNode := &memNode{isDir: f.isDir}
	if f.isDir {
		newNode.children = maps.Clone(f.syncedChildren)
		if newNode.children == nil {
			// syncedChildren may be nil, but children cannot.
			newNode.children = make(map[string]*memNode)
		}
		// Randomly include some non-synced children.
		for name, child := range f.children {
			if cfg.UnsyncedDataPercent > 0 && cfg.RNG.IntN(100) < cfg.UnsyncedDataPercent {
				newNode.children[name] = child
			}
		}
		for name, child := range newNode.children {
			newNode.children[name] = child.CrashClone(cfg)
		}
		newNode.syncedChildren = maps.Clone(newNode.children)
	} else {
		newNode.mu.data = slices.Clone(f.mu.syncedData)
		newNode.mu.modTime = f.mu.modTime
		// Randomly include some non-synced blocks.
		const blockSize = 4096
		for i := 0; i < len(f.mu.data); i += blockSize {
			if cfg.UnsyncedDataPercent > 0 && cfg.RNG.IntN(100) < cfg.UnsyncedDataPercent {
				block := f.mu.data[i:min(i+blockSize, len(f.mu.data))]
				if grow := i + len(block) - len(newNode.mu.data); grow > 0 {
					// Grow the file, leaving 0s for any unsynced blocks past the synced
					// length.
					newNode.mu.data = append(newNode.mu.data, make([]byte, grow)...)
				}
				copy(newNode.mu.data[i:], block)
			}
		}
		newNode.mu.syncedData = slices.Clone(newNode.mu.data)
	}
	return newNode
}

// markDirty records a write of data[lo:hi] (a write past the end also fills the gap from
// the old end with zeros). n.mu must be held.
func (n *memNode) markDirty(lo, hi int) {
	lo = min(lo, len(n.mu.data))
	if !n.mu.dirty {
		n.mu.dirty, n.mu.dirtyLo, n.mu.dirtyHi = true, lo, hi
		return
	}
	n.mu.dirtyLo, n.mu.dirtyHi = min(n.mu.dirtyLo, lo), max(n.mu.dirtyHi, hi)
}

// syncData makes syncedData equal data, copying only what changed since the last sync:
// data never shrinks, so that is what it grew by and the dirty range. MemFS copies the
// whole file instead. n.mu must be held.
func (n *memNode) syncData() {
	if grown := len(n.mu.syncedData); grown < len(n.mu.data) {
		n.mu.syncedData = append(n.mu.syncedData, n.mu.data[grown:]...)
	}
	if n.mu.dirty {
		lo, hi := n.mu.dirtyLo, min(n.mu.dirtyHi, len(n.mu.data))
		if lo < hi {
			copy(n.mu.syncedData[lo:hi], n.mu.data[lo:hi])
		}
		n.mu.dirty = false
	}
}

// memFile is a reader or writer of a node's data. Implements vfs.File.
type memFile struct {
	name        string
	n           *memNode
	fs          *memFS // nil for a standalone memFile
	pos         int
	read, write bool
}

var _ vfs.File = (*memFile)(nil)

func (f *memFile) Close() error {
	if n := f.n.refs.Add(-1); n < 0 {
		panic(fmt.Sprintf("pebble: close of unopened file: %d", n))
	}
	// Set node pointer to nil, to cause panic on any subsequent method call. This
	// is a defence-in-depth to catch use-after-close or double-close bugs.
	f.n = nil
	return nil
}

func (f *memFile) Read(p []byte) (int, error) {
	if !f.read {
		return 0, errors.New("pebble/vfs: file was not opened for reading")
	}
	if f.n.isDir {
		return 0, errors.New("pebble/vfs: cannot read a directory")
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if f.pos >= len(f.n.mu.data) {
		return 0, io.EOF
	}
	n := copy(p, f.n.mu.data[f.pos:])
	f.pos += n
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if !f.read {
		return 0, errors.New("pebble/vfs: file was not opened for reading")
	}
	if f.n.isDir {
		return 0, errors.New("pebble/vfs: cannot read a directory")
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	if off >= int64(len(f.n.mu.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.mu.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.fs.crashable {
		f.fs.cloneMu.RLock()
		defer f.fs.cloneMu.RUnlock()
	}
	if !f.write {
		return 0, errors.New("pebble/vfs: file was not created for writing")
	}
	if f.n.isDir {
		return 0, errors.New("pebble/vfs: cannot write a directory")
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	f.n.markDirty(f.pos, f.pos+len(p))
	if f.pos+len(p) <= len(f.n.mu.data) {
		n := copy(f.n.mu.data[f.pos:f.pos+len(p)], p)
		if n != len(p) {
			panic("stuff")
		}
	} else {
		if grow := f.pos - len(f.n.mu.data); grow > 0 {
			f.n.mu.data = append(f.n.mu.data, make([]byte, grow)...)
		}
		f.n.mu.data = append(f.n.mu.data[:f.pos], p...)
	}
	f.pos += len(p)

	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, ofs int64) (int, error) {
	if f.fs.crashable {
		f.fs.cloneMu.RLock()
		defer f.fs.cloneMu.RUnlock()
	}
	if !f.write {
		return 0, errors.New("pebble/vfs: file was not created for writing")
	}
	if f.n.isDir {
		return 0, errors.New("pebble/vfs: cannot write a directory")
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	f.n.markDirty(int(ofs), int(ofs)+len(p))

	for len(f.n.mu.data) < int(ofs)+len(p) {
		f.n.mu.data = append(f.n.mu.data, 0)
	}

	n := copy(f.n.mu.data[int(ofs):int(ofs)+len(p)], p)
	if n != len(p) {
		panic("stuff")
	}

	return len(p), nil
}

func (f *memFile) Prefetch(offset int64, length int64) error { return nil }
func (f *memFile) Preallocate(offset, length int64) error    { return nil }

func (f *memFile) Stat() (vfs.FileInfo, error) {
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	return &memFileInfo{
		name:    f.name,
		size:    int64(len(f.n.mu.data)),
		modTime: f.n.mu.modTime,
		isDir:   f.n.isDir,
	}, nil
}

func (f *memFile) Sync() error {
	if f.fs == nil || !f.fs.crashable {
		return nil
	}
	f.fs.cloneMu.RLock()
	defer f.fs.cloneMu.RUnlock()
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.n.isDir {
		f.n.syncedChildren = maps.Clone(f.n.children)
	} else {
		f.n.mu.Lock()
		f.n.syncData()
		f.n.mu.Unlock()
	}
	return nil
}

func (f *memFile) SyncData() error {
	return f.Sync()
}

func (f *memFile) SyncTo(length int64) (fullSync bool, err error) {
	// NB: This SyncTo implementation lies, with its return values claiming it
	// synced the data up to `length`. When fullSync=false, SyncTo provides no
	// durability guarantees, so this can help surface bugs where we improperly
	// rely on SyncTo providing durability.
	return false, nil
}

func (f *memFile) Fd() uintptr {
	return vfs.InvalidFd
}

// Flush is a no-op and present only to prevent buffering at higher levels
// (e.g. it prevents sstable.Writer from using a bufio.Writer).
func (f *memFile) Flush() error {
	return nil
}

// memFileInfo implements os.FileInfo for a memFile.
type memFileInfo struct {
	name    string
	size    int64
	modTime time.Time
	isDir   bool
}

var _ os.FileInfo = (*memFileInfo)(nil)

func (f *memFileInfo) Name() string {
	return f.name
}

func (f *memFileInfo) DeviceID() vfs.DeviceID {
	return vfs.DeviceID{}
}

func (f *memFileInfo) Size() int64 {
	return f.size
}

func (f *memFileInfo) Mode() os.FileMode {
	if f.isDir {
		return os.ModeDir | 0755
	}
	return 0755
}

func (f *memFileInfo) ModTime() time.Time {
	return f.modTime
}

func (f *memFileInfo) IsDir() bool {
	return f.isDir
}

func (f *memFileInfo) Sys() interface{} {
	return nil
}

type memFileLock struct {
	y        *memFS
	f        vfs.File
	fullname string
}

func (l *memFileLock) Close() error {
	if l.y == nil {
		return nil
	}
	l.y.lockedFiles.Delete(l.fullname)
	l.y = nil
	return l.f.Close()
}
