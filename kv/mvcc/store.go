package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// Defaults of etcd's --max-request-bytes and --max-txn-ops.
const (
	DefaultMaxRequestBytes = 1536 * 1024
	DefaultMaxTxnOps       = 128
)

// Config limits what a request may carry. Zero fields take etcd's defaults.
type Config struct {
	// MaxRequestBytes bounds the encoded size of a Put, DeleteRange or Txn request
	// (etcd's --max-request-bytes).
	MaxRequestBytes int
	// MaxTxnOps bounds the compares, and the success and failure ops, of one txn
	// (etcd's --max-txn-ops).
	MaxTxnOps int
}

func (c Config) withDefaults() Config {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxTxnOps <= 0 {
		c.MaxTxnOps = DefaultMaxTxnOps
	}
	return c
}

// LeaseChecker tells whether a lease exists; a put naming a lease it does not know fails with
// rpctypes.ErrGRPCLeaseNotFound. A nil LeaseChecker knows no lease.
type LeaseChecker interface {
	LeaseExists(id int64) bool
}

func leaseExists(lc LeaseChecker, id int64) bool {
	return lc != nil && lc.LeaseExists(id)
}

// Store is etcd's MVCC key-value store over a Pebble DB owned by the caller. Its durable
// state lives under the "mvcc/" prefix; in memory it keeps only the two revisions of the last
// write call, for CurrentRevision and CompactRevision and as the state the next write call
// starts from (the caller commits every batch a successful write call filled before the
// next one). Reads take their revisions from the reader they are given, so a read on a
// snapshot is consistent with that snapshot.
//
// Write calls must not run concurrently with each other (the apply loop serializes them);
// read calls may run concurrently with anything.
type Store struct {
	cfg        Config
	currentRev atomic.Int64
	compactRev atomic.Int64
	// writeCalls counts beginWrite's calls, appliedReads RangeApplied's, for their checks.
	writeCalls   uint64
	appliedReads atomic.Uint64
	// latest caches keys' live versions for puts (latest.go).
	latest latestCache
	// keys is the number of live keys as of the last write call (Keys).
	keys atomic.Int64
	// carry is HashKVCarried's last answer: the CRC over the versions up to rev.
	carry struct {
		mu  sync.Mutex
		rev int64
		crc uint32
	}
}

// state is the content of metaStateKey.
type state struct {
	currentRev int64 // starts at 1, as in etcd: the first write gets revision 2
	compactRev int64 // -1 until the first Compact, as in etcd
}

var initialState = state{currentRev: 1, compactRev: -1}

// Open reads the mvcc state stored in r (the DB, a snapshot or a batch) and returns a Store.
// An empty prefix is a new store; a stored format version other than this code's refuses to
// open with an error wrapping ErrFormat.
func Open(r pebble.Reader, cfg Config) (*Store, error) {
	st, err := readFormatAndState(r)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg.withDefaults()}
	s.currentRev.Store(st.currentRev)
	s.compactRev.Store(st.compactRev)
	keys, err := readKeys(r, st)
	if err != nil {
		return nil, err
	}
	s.keys.Store(keys)
	return s, nil
}

// readKeys reads the stored number of live keys. A store written before the count existed,
// or restored from an etcd snapshot (Importer), has none: its live keys are counted once,
// here, and the next write that makes or removes one stores the count.
func readKeys(r pebble.Reader, st state) (int64, error) {
	v, closer, err := r.Get(metaKeysKey)
	if errors.Is(err, pebble.ErrNotFound) {
		if st == initialState {
			return 0, nil
		}
		it, err := r.NewIter(nil)
		if err != nil {
			return 0, err
		}
		_, n, err := rangeKeys(it, []byte{0}, normalizeRangeEnd([]byte{0}), st.currentRev, 0, true)
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		return int64(n), err
	}
	if err != nil {
		return 0, fmt.Errorf("mvcc: read the live key count: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < 0 {
		return 0, fmt.Errorf("mvcc: corrupt live key count %x", v)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// addKeys records that a write made (d > 0) or removed (d < 0) live keys, in b and in the
// in-memory count.
func (s *Store) addKeys(b *pebble.Batch, d int64) error {
	if d == 0 {
		return nil
	}
	n := s.keys.Load() + d
	if n < 0 {
		panic(fmt.Sprintf("mvcc: the live key count went below zero (%d%+d)", s.keys.Load(), d))
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	if err := b.Set(metaKeysKey, v[:], nil); err != nil {
		return err
	}
	s.keys.Store(n)
	return nil
}

// Keys is the number of live keys (keys whose newest version is not a delete) after the
// last write call made through this Store (or as opened): etcd's etcd_debugging_mvcc_keys_total,
// except that etcd's also counts deleted keys until a compaction removes their history.
func (s *Store) Keys() int64 { return s.keys.Load() }

func readFormatAndState(r pebble.Reader) (state, error) {
	v, closer, err := r.Get(metaFormatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		empty, err := prefixEmpty(r)
		if err != nil {
			return state{}, err
		}
		if !empty {
			return state{}, fmt.Errorf("%w: keys under %q but no format version key %q", ErrFormat, keyPrefix, metaFormatKey)
		}
		return initialState, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("mvcc: read format version: %w", err)
	}
	version := string(v)
	_ = closer.Close()
	if version != formatVersion {
		return state{}, fmt.Errorf("%w: stored version %q, this build reads version %q", ErrFormat, version, formatVersion)
	}
	return readState(r)
}

func prefixEmpty(r pebble.Reader) (bool, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: keyPrefix, UpperBound: []byte("mvcc0")})
	if err != nil {
		return false, err
	}
	empty := !it.First()
	if err := it.Close(); err != nil {
		return false, err
	}
	return empty, nil
}

// readState reads the revisions stored in r; a store never written has initialState.
func readState(r pebble.Reader) (state, error) {
	v, closer, err := r.Get(metaStateKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return initialState, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("mvcc: read state: %w", err)
	}
	defer closer.Close()
	return parseState(v)
}

func parseState(v []byte) (state, error) {
	if len(v) != 16 {
		return state{}, fmt.Errorf("mvcc: state value has %d bytes, want 16", len(v))
	}
	st := state{
		currentRev: int64(binary.BigEndian.Uint64(v)),
		compactRev: int64(binary.BigEndian.Uint64(v[8:])),
	}
	if st.currentRev < 1 || st.compactRev > st.currentRev {
		return state{}, fmt.Errorf("mvcc: corrupt state: current revision %d, compact revision %d", st.currentRev, st.compactRev)
	}
	return st, nil
}

// openView opens one iterator on r and reads the state through it. Everything a read does
// goes through this iterator (re-bounded with SetBounds) or its clones, which all see the
// same point in time: a read given the DB itself stays consistent while applies, Compact and
// CompactStep commit concurrently. The caller closes the iterator.
func openView(r pebble.Reader) (*pebble.Iterator, state, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: metaStateKey, UpperBound: metaStateKeyEnd})
	if err != nil {
		return nil, state{}, err
	}
	st := initialState
	if it.First() {
		v, err := it.ValueAndErr()
		if err == nil {
			st, err = parseState(v)
		}
		if err != nil {
			_ = it.Close()
			return nil, state{}, err
		}
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return nil, state{}, err
	}
	return it, st, nil
}

// writeState records st in b, with the format version on the first write, and updates the
// in-memory copies.
func (s *Store) writeState(b *pebble.Batch, old, st state) error {
	if st.currentRev < old.currentRev || st.compactRev < old.compactRev {
		panic(fmt.Sprintf("mvcc: revisions went back: current %d -> %d, compact %d -> %d",
			old.currentRev, st.currentRev, old.compactRev, st.compactRev))
	}
	if old == initialState {
		if err := b.Set(metaFormatKey, []byte(formatVersion), nil); err != nil {
			return err
		}
	}
	var v [16]byte
	binary.BigEndian.PutUint64(v[:], uint64(st.currentRev))
	binary.BigEndian.PutUint64(v[8:], uint64(st.compactRev))
	if err := b.Set(metaStateKey, v[:], nil); err != nil {
		return err
	}
	s.currentRev.Store(st.currentRev)
	s.compactRev.Store(st.compactRev)
	return nil
}

// CurrentRevision is the store revision after the last write call made through this Store
// (or as opened). Reads report the revision of the reader they are given instead.
func (s *Store) CurrentRevision() int64 { return s.currentRev.Load() }

// CompactRevision is the revision of the last Compact (-1 if none), as of the last write call.
func (s *Store) CompactRevision() int64 { return s.compactRev.Load() }

// Revisions returns the current and compact revisions as stored in r.
func (s *Store) Revisions(r pebble.Reader) (currentRev, compactRev int64, err error) {
	st, err := readState(r)
	return st.currentRev, st.compactRev, err
}

// beginWrite checks that b can read its own writes and returns the state b holds: the
// store's in-memory copy, which is b's as long as every batch a write call filled was
// committed before the next call (the apply loop commits each, and stops the member when a
// commit fails). Reading it from b instead was a Pebble lookup per write, 4% of the
// simulator's BenchmarkSteady1000. Every stateCheckEvery-th call (every call in the
// package's tests) reads b all the same and panics if the copy went wrong.
func (s *Store) beginWrite(b *pebble.Batch) (state, error) {
	if b == nil || !b.Indexed() {
		return state{}, ErrNotIndexed
	}
	st := state{currentRev: s.currentRev.Load(), compactRev: s.compactRev.Load()}
	s.writeCalls++
	if s.writeCalls%stateCheckEvery != 0 {
		return st, nil
	}
	stored, err := readState(b)
	if err != nil {
		return state{}, err
	}
	if stored != st {
		panic(fmt.Sprintf("mvcc: the batch holds revisions %+v, the store's copy %+v: a batch a write call filled was not committed", stored, st))
	}
	return st, nil
}

// stateCheckEvery is how often beginWrite checks its copy against the batch (a variable
// only so that the package's tests check every call).
var stateCheckEvery uint64 = 64

// cloneBytes copies b (nil stays nil) so it outlives an iterator position.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}
