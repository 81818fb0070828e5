package node

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	"github.com/cockroachdb/pebble/v2"
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
//     the member would wait for itself. It panics with pebbleFatalPanic, which Work and Synced
//     recover into the storage failure that stops the member (recoverFatal); any other panic
//     passes through. The member's sync does not come this way (raftlog's Sync takes the WAL
//     sync's error as a value), so this is for Pebble's rarer failures on the commit path.
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

// recoverFatal turns a pebbleFatalPanic of the member's goroutine into the storage failure
// that stops the member, as *err; Work and Synced defer it.
func (m *Member) recoverFatal(err *error) {
	r := recover()
	if r == nil {
		return
	}
	p, ok := r.(pebbleFatalPanic)
	if !ok {
		panic(r)
	}
	*err = m.storageFailure(p.err)
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
