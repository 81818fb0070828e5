// Package faultfs is a vfs.FS that injects disk faults beneath Pebble: a failed sync, a
// failed write, a short write, a failed read. The simulator puts one under each member's Pebble (over the
// crashable in-memory FS whose CrashClone is the member's power loss) and arms a fault; a
// kv/node test does the same to check what the member does with it.
//
// # Only in the member's own steps
//
// A fault fires only on an operation the member asked for, at a moment the caller controls:
// between BeginStep and EndStep (the simulator brackets the member's Synced with them), on
// the write-ahead log's files (*.log; ReadError: on sstable reads, see below). Pebble writes and syncs its WAL on its own goroutine
// (the LogWriter's flush loop), but a Synced waits for exactly that goroutine to write the
// member's records and sync them, so the WAL writes and the one WAL sync inside the bracket
// are the member's, and at least one write and one sync always happen there. Everything
// else passes through untouched: Pebble's background flushes and compactions (sstables,
// MANIFEST) run at times no simulator controls, and the WAL writes outside a step happen
// whenever Pebble's goroutine gets to them. Which WAL write inside the step fails may vary
// with that timing; what is durable afterwards does not (everything up to the last good
// sync, nothing after), and neither does what the member sees (its sync fails).
//
// # Fault kinds
//
//   - SyncError: the next WAL sync fails with ErrInjected and does not reach the disk
//     beneath, so nothing written since the last good sync is durable (a power loss, the
//     MemFS CrashClone with UnsyncedDataPercent 0, drops it). After a failed sync the file's
//     later syncs report success and persist nothing, as Linux's fsync after an error (the
//     dirty pages were dropped and marked clean, so a retry succeeds without writing them:
//     the "fsyncgate" that bit Postgres and etcd): a member that retried the sync and went on
//     would be told it succeeded. The model is stricter than Linux in losing later writes
//     too, which only a member that went on after a failed sync could notice.
//   - WriteError: the next WAL write fails with ErrInjected and writes nothing.
//   - ShortWrite: the next WAL write writes only the first half of its bytes and returns
//     io.ErrShortWrite (a disk that ran out of space, or a torn write).
//   - ReadError: the next read of an sstable (*.sst) inside a step fails with ErrInjected and
//     reads nothing (a disk that returns EIO). Only kv/node's tests arm it, on stores
//     flushed to sstables with no room in the block cache: whether a member's read reaches
//     an sstable at all, rather than a memtable or the cache, depends on when Pebble's
//     background flushes finished, which no seed decides, so the simulator does not inject
//     it (a seed would no longer give one run).
//
// One fault is armed at a time (Arm replaces an armed fault); it fires once and disarms.
// Counts says how many WAL writes and syncs and sstable reads the steps performed and how
// many faults of each kind fired, counted by operation.
//
// Imports: Pebble's vfs only; kv/node's tests and the simulator import it.
package faultfs

import (
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrInjected is the error of an injected write or sync fault.
var ErrInjected = errors.New("faultfs: injected disk fault")

// Fault is a kind of injected disk fault.
type Fault uint8

// The fault kinds (see the package doc).
const (
	None Fault = iota
	SyncError
	WriteError
	ShortWrite
	ReadError
	faults
)

var faultNames = [...]string{"none", "sync-error", "write-error", "short-write", "read-error"}

func (k Fault) String() string {
	if k < faults {
		return faultNames[k]
	}
	return "fault(?)"
}

// Counts are the WAL operations performed inside steps and the faults fired, by kind.
type Counts struct {
	Writes, Syncs, Reads int
	Fired                [faults]int
}

// FS wraps a vfs.FS with armed faults. It is safe for concurrent use: Pebble calls it from
// its own goroutines, the member's driver arms it and brackets steps.
type FS struct {
	vfs.FS

	mu     sync.Mutex
	armed  Fault
	inStep bool
	// stepFired is the fault fired in the current step (None: none).
	stepFired Fault
	counts    Counts
}

// New wraps fs; nothing is armed.
func New(fs vfs.FS) *FS { return &FS{FS: fs} }

// Unwrap returns the wrapped FS.
func (f *FS) Unwrap() vfs.FS { return f.FS }

// Arm makes k fire at the next eligible operation of its kind inside a step (None disarms).
func (f *FS) Arm(k Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = k
}

// Armed is the fault armed and not yet fired (None: none).
func (f *FS) Armed() Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armed
}

// BeginStep opens a member step: until EndStep, the WAL operations are the member's and
// an armed fault may fire on them.
func (f *FS) BeginStep() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inStep, f.stepFired = true, None
}

// EndStep closes the step and returns the fault fired in it (None: none).
func (f *FS) EndStep() Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inStep = false
	return f.stepFired
}

// Counts returns the counts so far.
func (f *FS) Counts() Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// operation is what a file operation does, for eligibility and counts.
type operation uint8

const (
	opWrite operation = iota
	opSync
	opRead
)

// eligible reports whether an operation on the named file may fail: in a step, the WAL's
// writes and syncs, the sstables' reads.
func (f *FS) eligible(name string, op operation) bool {
	if !f.inStep {
		return false
	}
	if op == opRead {
		return strings.HasSuffix(name, ".sst")
	}
	return strings.HasSuffix(name, ".log")
}

// fire takes the armed fault if it is one of kinds and the operation is eligible, counting
// the operation when it is inside a step.
func (f *FS) fire(name string, op operation, kinds ...Fault) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.eligible(name, op) {
		return None
	}
	switch op {
	case opSync:
		f.counts.Syncs++
	case opRead:
		f.counts.Reads++
	default:
		f.counts.Writes++
	}
	for _, k := range kinds {
		if f.armed == k {
			f.armed = None
			f.stepFired = k
			f.counts.Fired[k]++
			return k
		}
	}
	return None
}

func (f *FS) wrap(name string, file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return file, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

// Create wraps the created file.
func (f *FS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, category)
	return f.wrap(name, file, err)
}

// Open wraps the opened file.
func (f *FS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.Open(name, opts...)
	return f.wrap(name, file, err)
}

// OpenReadWrite wraps the opened file.
func (f *FS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name, category, opts...)
	return f.wrap(name, file, err)
}

// ReuseForWrite wraps the reused file (Pebble recycles WAL files this way).
func (f *FS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, category)
	return f.wrap(newname, file, err)
}

// faultFile is one open file of an FS.
type faultFile struct {
	vfs.File
	fs   *FS
	name string
	// poisoned: a sync of this file failed; later syncs succeed without reaching the disk.
	mu       sync.Mutex
	poisoned bool
}

func (f *faultFile) Write(p []byte) (int, error) {
	switch f.fs.fire(f.name, opWrite, WriteError, ShortWrite) {
	case WriteError:
		return 0, ErrInjected
	case ShortWrite:
		n, err := f.File.Write(p[:len(p)/2])
		if err == nil {
			err = io.ErrShortWrite
		}
		return n, err
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error     { return f.sync(f.File.Sync) }
func (f *faultFile) SyncData() error { return f.sync(f.File.SyncData) }

func (f *faultFile) sync(do func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.poisoned {
		return nil
	}
	if f.fs.fire(f.name, opSync, SyncError) == SyncError {
		f.poisoned = true
		return ErrInjected
	}
	return do()
}

func (f *faultFile) Read(p []byte) (int, error) {
	if f.fs.fire(f.name, opRead, ReadError) == ReadError {
		return 0, ErrInjected
	}
	return f.File.Read(p)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if f.fs.fire(f.name, opRead, ReadError) == ReadError {
		return 0, ErrInjected
	}
	return f.File.ReadAt(p, off)
}
