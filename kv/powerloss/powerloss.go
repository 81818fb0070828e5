// Package powerloss is a vfs.FS over a real one that keeps every write in process memory
// until the file is synced: a Sync (SyncData, SyncTo) writes the file's pending bytes to the
// file beneath and syncs it there. Pebble opened on it behaves as on the disk, but a kill -9
// of the process loses exactly what a power loss loses: whatever was written and not synced.
// A plain kill -9 keeps it (the kernel's page cache survives the process), so a member that
// acknowledges before its sync is never caught by one; etcd's robustness tests put the data
// dir on LazyFS for this. Ballast's chaos builds (cmd/ballast with -tags chaos) open the
// store on this FS when asked (--chaos-power-loss), so the Docker chaos runs' kills are power
// losses.
//
// What it models, and what not:
//   - File data: bytes written since the file's last sync are in memory only; reads through
//     any handle of this FS (ReadAt, Read, Stat's size, a later Open of the same name) see
//     them, as reads see the page cache.
//   - Metadata (create, rename, remove, link, directories) goes to the disk beneath at once,
//     as if every directory were synced: a power loss can also undo those, which this does
//     not model (Pebble syncs the directory after each of them anyway).
//   - A file closed with unsynced bytes has them written beneath without a sync at Close
//     (the page cache keeps them; a later kill -9 then keeps them too). Pebble syncs every
//     file whose contents it relies on before closing it; Stats counts the bytes closed
//     unsynced, so a run can see if that ever mattered.
//
// Fd returns vfs.InvalidFd: reads through a raw descriptor would miss the pending bytes.
//
// Imports: Pebble's vfs only. It is production code for chaos builds, never on in a normal
// server (the flag exists only with -tags chaos), and the simulator does not use it (its
// in-memory FS has CrashClone).
package powerloss

import (
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS keeps unsynced writes in memory above the FS it wraps.
type FS struct {
	vfs.FS
	mu sync.Mutex
	// live are the files open for writing, by name, so that a reader opened on the same name
	// sees their pending bytes.
	live  map[string]*file
	stats struct {
		synced, closedUnsynced atomic.Int64
	}
	slow struct {
		path  string
		mu    sync.Mutex
		mtime time.Time
		size  int64
		delay time.Duration
	}
}

// New wraps base (vfs.Default in the server).
func New(base vfs.FS) *FS { return &FS{FS: base, live: map[string]*file{}} }

// SlowDiskFile makes every sync wait first for the delay written in the file at path (a Go
// duration, "100ms"; a missing or empty file, or "0", is no delay), re-read when the file
// changes: the Docker chaos runner's slow-disk fault copies such a file into a running
// container (docker cp: the containers have no shell), the counterpart of the simulator's
// slow disk, which widens the window between a write and its sync.
func (fs *FS) SlowDiskFile(path string) *FS {
	fs.slow.path = path
	return fs
}

// syncDelay is the delay SlowDiskFile's file names now.
func (fs *FS) syncDelay() time.Duration {
	if fs.slow.path == "" {
		return 0
	}
	info, err := os.Stat(fs.slow.path)
	fs.slow.mu.Lock()
	defer fs.slow.mu.Unlock()
	if err != nil {
		fs.slow.delay, fs.slow.mtime, fs.slow.size = 0, time.Time{}, 0
		return 0
	}
	if !info.ModTime().Equal(fs.slow.mtime) || info.Size() != fs.slow.size {
		fs.slow.mtime, fs.slow.size = info.ModTime(), info.Size()
		data, err := os.ReadFile(fs.slow.path)
		d, perr := time.ParseDuration(strings.TrimSpace(string(data)))
		if err != nil || perr != nil || d < 0 {
			d = 0 // a file being copied in may be read half-written: the next change re-reads it
		}
		fs.slow.delay = d
	}
	return fs.slow.delay
}

// Stats are byte counts since New: written beneath by syncs, and written beneath unsynced by
// a Close.
type Stats struct{ SyncedBytes, ClosedUnsyncedBytes int64 }

// Stats returns the counts.
func (fs *FS) Stats() Stats {
	return Stats{SyncedBytes: fs.stats.synced.Load(), ClosedUnsyncedBytes: fs.stats.closedUnsynced.Load()}
}

func (fs *FS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &file{fs: fs, name: name, f: f, diskSize: info.Size(), size: info.Size()}
	fs.mu.Lock()
	fs.live[name] = w
	fs.mu.Unlock()
	return w, nil
}

// Create creates name (truncating it) for writing.
func (fs *FS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(name, f, err)
}

// OpenReadWrite opens name for reading and writing.
func (fs *FS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, category, opts...)
	return fs.wrap(name, f, err)
}

// ReuseForWrite renames oldname to newname and opens it for writing from offset 0 (Pebble
// recycles WAL files this way).
func (fs *FS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(newname, f, err)
}

// Open opens name for reading; a writer of the same name lends it its pending bytes.
func (fs *FS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.Open(name, opts...)
	if err != nil {
		return nil, err
	}
	fs.mu.Lock()
	w := fs.live[name]
	fs.mu.Unlock()
	if w == nil {
		return f, nil
	}
	return &reader{w: w, f: f}, nil
}

// Rename moves a live writer's name with the file.
func (fs *FS) Rename(oldname, newname string) error {
	if err := fs.FS.Rename(oldname, newname); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if w := fs.live[oldname]; w != nil {
		delete(fs.live, oldname)
		w.mu.Lock()
		w.name = newname
		w.mu.Unlock()
		fs.live[newname] = w
	}
	return nil
}

// Remove removes name; a live writer of it keeps its handle (as on Unix) but no longer lends
// its bytes to readers of the name.
func (fs *FS) Remove(name string) error {
	if err := fs.FS.Remove(name); err != nil {
		return err
	}
	fs.mu.Lock()
	delete(fs.live, name)
	fs.mu.Unlock()
	return nil
}

// Stat reports a live writer's size with its pending bytes.
func (fs *FS) Stat(name string) (vfs.FileInfo, error) {
	info, err := fs.FS.Stat(name)
	if err != nil {
		return nil, err
	}
	fs.mu.Lock()
	w := fs.live[name]
	fs.mu.Unlock()
	if w == nil {
		return info, nil
	}
	return sizedInfo{info, w.logicalSize()}, nil
}

// Unwrap returns the FS beneath.
func (fs *FS) Unwrap() vfs.FS { return fs.FS }

type sizedInfo struct {
	vfs.FileInfo
	size int64
}

func (i sizedInfo) Size() int64 { return i.size }

// write is one pending write.
type write struct {
	off  int64
	data []byte
}

// file is a handle open for writing: its pending writes, in order (a later one overwrites
// an earlier one where they overlap).
type file struct {
	fs   *FS
	f    vfs.File
	mu   sync.Mutex
	name string
	// off is the offset of the next Write (0 at open, as for any file opened for writing);
	// roff the next Read's.
	off, roff int64
	pending   []write
	// diskSize is the size of the file beneath; size the size with the pending writes.
	diskSize, size int64
	closed         bool
}

var errClosed = errors.New("powerloss: file already closed")

func (w *file) logicalSize() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

func (w *file) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errClosed
	}
	w.addLocked(p, w.off)
	w.off += int64(len(p))
	return len(p), nil
}

func (w *file) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errClosed
	}
	w.addLocked(p, off)
	return len(p), nil
}

// addLocked copies p: Pebble may reuse the slice after Write returns (vfs.File allows it).
func (w *file) addLocked(p []byte, off int64) {
	if len(p) == 0 {
		return
	}
	w.pending = append(w.pending, write{off: off, data: append([]byte(nil), p...)})
	w.size = max(w.size, off+int64(len(p)))
}

func (w *file) ReadAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.readAtLocked(w.f, p, off)
}

// readAtLocked reads p at off from f (the writer's handle or a reader's) with the pending
// writes laid over it.
func (w *file) readAtLocked(f vfs.File, p []byte, off int64) (int, error) {
	if off >= w.size {
		return 0, io.EOF
	}
	want := len(p)
	n := int(min(int64(want), w.size-off))
	p = p[:n]
	got := 0
	if off < w.diskSize {
		var err error
		got, err = f.ReadAt(p[:min(int64(n), w.diskSize-off)], off)
		if err != nil && err != io.EOF {
			return got, err
		}
	}
	clear(p[got:]) // a hole between the disk's end and a pending write reads as zeros
	for _, pw := range w.pending {
		lo, hi := max(off, pw.off), min(off+int64(n), pw.off+int64(len(pw.data)))
		if lo < hi {
			copy(p[lo-off:hi-off], pw.data[lo-pw.off:hi-pw.off])
		}
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

func (w *file) Read(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.readAtLocked(w.f, p, w.roff)
	w.roff += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// flushLocked writes the pending bytes to the file beneath.
func (w *file) flushLocked() (int64, error) {
	var bytes int64
	for len(w.pending) > 0 {
		pw := w.pending[0]
		if _, err := w.f.WriteAt(pw.data, pw.off); err != nil {
			return bytes, err
		}
		bytes += int64(len(pw.data))
		w.diskSize = max(w.diskSize, pw.off+int64(len(pw.data)))
		w.pending = w.pending[1:]
	}
	w.pending = nil
	return bytes, nil
}

func (w *file) Sync() error {
	if d := w.fs.syncDelay(); d > 0 {
		// Not under the file's lock: writes go on meanwhile, as into the page cache behind a
		// slow fsync (the sync then persists them too, which a sync may).
		time.Sleep(d)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errClosed
	}
	n, err := w.flushLocked()
	if err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	w.fs.stats.synced.Add(n)
	return nil
}

func (w *file) SyncData() error { return w.Sync() }

// SyncTo syncs the whole file (a full sync, which SyncTo allows).
func (w *file) SyncTo(int64) (bool, error) { return true, w.Sync() }

func (w *file) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errClosed
	}
	w.closed = true
	n, err := w.flushLocked()
	w.fs.stats.closedUnsynced.Add(n)
	w.fs.mu.Lock()
	if w.fs.live[w.name] == w {
		delete(w.fs.live, w.name)
	}
	w.fs.mu.Unlock()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *file) Preallocate(offset, length int64) error { return w.f.Preallocate(offset, length) }
func (w *file) Prefetch(offset, length int64) error    { return nil }
func (w *file) Fd() uintptr                            { return vfs.InvalidFd }

func (w *file) Stat() (vfs.FileInfo, error) {
	info, err := w.f.Stat()
	if err != nil {
		return nil, err
	}
	return sizedInfo{info, w.logicalSize()}, nil
}

// reader is a read-only handle on a name a writer of this FS holds: it reads the disk
// through its own descriptor and the writer's pending bytes over it.
type reader struct {
	w    *file
	f    vfs.File
	roff int64
}

func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	return r.w.readAtLocked(r.f, p, off)
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.roff)
	r.roff += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *reader) Close() error                       { return r.f.Close() }
func (r *reader) Write([]byte) (int, error)          { return 0, os.ErrPermission }
func (r *reader) WriteAt([]byte, int64) (int, error) { return 0, os.ErrPermission }
func (r *reader) Preallocate(int64, int64) error     { return nil }
func (r *reader) Sync() error                        { return nil }
func (r *reader) SyncData() error                    { return nil }
func (r *reader) SyncTo(int64) (bool, error)         { return false, nil }
func (r *reader) Prefetch(int64, int64) error        { return nil }
func (r *reader) Fd() uintptr                        { return vfs.InvalidFd }
func (r *reader) Stat() (vfs.FileInfo, error) {
	info, err := r.f.Stat()
	if err != nil {
		return nil, err
	}
	return sizedInfo{info, r.w.logicalSize()}, nil
}
