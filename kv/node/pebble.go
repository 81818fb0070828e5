package node

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ballastdb/ballast/raft"
)

// Pebble's options, and what becomes of its fatal errors.
//
// Pebble calls its Logger's Fatalf where it cannot go on (a MANIFEST write that failed in a
// flush, a commit the WAL refused, a broken invariant), expecting the process to exit. One
// member's disk must not end every member's process (the simulator runs them all in one), so
// pebbleLogger's Fatalf records the failure and the member stops at its next step (Work or
// Synced: checkCorruption), as after corruption. The goroutine that called Fatalf cannot go
// on either: Pebble's code after the call assumes it never returns.
//   - On one of Pebble's own goroutines (flushes, compactions, the WAL's flush loop) it parks
//     until the member is discarded (Close), then ends with runtime.Goexit. Close then leaves
//     the DB open: a goroutine parked inside Pebble may hold its locks, so closing it could
//     wait forever; the member is gone and its disk is what a restart reads.
//   - On the member's own goroutine (the one that opened it, or the Driver's) it cannot park:
//     the member would wait for itself. It panics with pebbleFatalPanic, which the member's
//     methods recover into the storage failure that stops the member (recoverFatal,
//     recoverStop); raft's StorageFailure panic (its log could not be read) is recovered the
//     same way; any other panic passes through. The member's sync does not come this way
//     (raftlog's Sync takes the WAL sync's error as a value), so this is for Pebble's rarer
//     failures on the commit path.
//
// Not recovered, on purpose: after its WAL writer failed, Pebble's next commit panics with
// that error (commitWrite, rotateWAL), in places that leave its commit pipeline locked or,
// in rotateWAL, unlock a mutex already unlocked (a fatal error no recover catches). That
// ends the process, which for a production member alone in its process is etcd's behaviour
// on a failed disk; the simulator never gets there, since a WAL fault fails the Synced step
// it is injected into and the member makes no commit after it. A Fatalf parked on one of
// Pebble's goroutines while it holds a lock the member's next call needs leaves that call
// waiting: a production driver then stops answering (health checks time out) instead of
// stopping; no fault the simulator injects reaches such a Fatalf.
//
// Determinism: the simulator injects disk faults only on the member's own WAL writes and
// syncs (kv/faultfs), which come back as errors of the step; Pebble's background goroutines,
// whose timing no simulator controls, see none, so no seed depends on when one of them
// called Fatalf.

// pebbleFatal is the record of a member's Pebble fatal errors.
type pebbleFatal struct {
	mu    sync.Mutex
	err   error
	owner uint64        // the member's goroutine (bind)
	gone  chan struct{} // closed when the member is discarded
}

// pebbleFatalPanic is the panic of a Fatalf on the member's own goroutine.
type pebbleFatalPanic struct{ err error }

func newPebbleFatal() *pebbleFatal {
	return &pebbleFatal{owner: goroutineID(), gone: make(chan struct{})}
}

// bind names the calling goroutine as the member's (Driver.Run, when it is not the opener).
func (f *pebbleFatal) bind() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.owner = goroutineID()
}

// get is the first fatal error recorded, nil if none.
func (f *pebbleFatal) get() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// discard releases the parked goroutines (each ends); it reports whether a fatal error was
// recorded, so Close knows to leave the DB alone.
func (f *pebbleFatal) discard() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.gone:
	default:
		close(f.gone)
	}
	return f.err != nil
}

// goroutineID is the calling goroutine's number, from its stack header ("goroutine 7 [...").
// Only Open, Driver.Run and Fatalf ask, never a step.
func goroutineID() uint64 {
	var buf [32]byte
	s := buf[:runtime.Stack(buf[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseUint(string(s), 10, 64)
	return id
}

// pebbleLogger keeps Pebble's informational output out of the member's and records its
// fatal errors (above).
type pebbleLogger struct{ fatal *pebbleFatal }

func (pebbleLogger) Infof(string, ...interface{})  {}
func (pebbleLogger) Errorf(string, ...interface{}) {}
func (l pebbleLogger) Fatalf(format string, args ...interface{}) {
	err := fmt.Errorf("pebble fatal: "+format, args...)
	f := l.fatal
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	owner, gone := f.owner, f.gone
	f.mu.Unlock()
	if goroutineID() == owner {
		panic(pebbleFatalPanic{err})
	}
	<-gone
	runtime.Goexit()
}

// recoverFatal turns a storage panic of the member's goroutine (a pebbleFatalPanic, or raft's
// StorageFailure when the raft log could not be read) into the storage failure that stops the
// member, as *err; every Member method that steps raft or writes Pebble defers it (or
// recoverStop, for those that return no error). Any other panic passes through: a broken
// invariant still ends the process.
func (m *Member) recoverFatal(err *error) {
	if cause := storagePanic(recover()); cause != nil {
		*err = m.storageFailure(cause)
	}
}

// recoverStop is recoverFatal for methods that return no error: the member stops, and its
// next Work (or any call) reports why.
func (m *Member) recoverStop() {
	if cause := storagePanic(recover()); cause != nil {
		_ = m.storageFailure(cause)
	}
}

// storagePanic is the storage error a recovered panic value carries (nil for no panic);
// other panics are raised again.
func storagePanic(r any) error {
	switch p := r.(type) {
	case nil:
		return nil
	case pebbleFatalPanic:
		return p.err
	case raft.StorageFailure:
		return p
	}
	panic(r)
}

// pebbleOptions are the member's Pebble options; corruption reports go to watch (see
// corruptionWatch), fatal errors to fatal.
func pebbleOptions(cfg Config, watch *corruptionWatch, fatal *pebbleFatal) *pebble.Options {
	opts := &pebble.Options{FS: cfg.FS, WALDir: cfg.WALDir, Logger: pebbleLogger{fatal}, EventListener: watch.listener()}
	opts.MemTableSize = cfg.PebbleMemTableBytes
	opts.CacheSize = cfg.PebbleCacheBytes
	if cfg.PebbleUncompressed {
		opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	}
	return opts
}
