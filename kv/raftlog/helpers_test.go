package raftlog

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/ballastdb/ballast/raft"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// testSeed returns the seed of a randomized test: SEED from the environment, else a fixed
// default per test, so that CI is reproducible and a failure is re-run with SEED=<n>.
func testSeed(t testing.TB, def uint64) uint64 {
	t.Helper()
	seed := def
	if s := os.Getenv("SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "SEED=%q", s)
		seed = v
	}
	t.Logf("seed %d (re-run with SEED=%d)", seed, seed)
	return seed
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// openLog opens a Pebble DB on fs and a Log on it.
func openLog(t testing.TB, fs vfs.FS) (*pebble.DB, *Log) {
	t.Helper()
	db, err := kvtest.OpenDB(fs)
	require.NoError(t, err)
	l, err := Open(db)
	require.NoError(t, err)
	return db, l
}

// memLog is a Log on a fresh in-memory FS, closed when the test ends.
func memLog(t testing.TB) (*pebble.DB, *Log) {
	t.Helper()
	db, l := openLog(t, vfs.NewMem())
	t.Cleanup(func() { _ = db.Close() })
	return db, l
}

// write runs fn on a fresh batch and commits it unsynced (as the driver does).
func write(t testing.TB, db *pebble.DB, fn func(b *pebble.Batch) error) error {
	t.Helper()
	b := db.NewBatch()
	defer b.Close()
	if err := fn(b); err != nil {
		require.True(t, b.Empty(), "a failed write left %d bytes in the batch", b.Len())
		return err
	}
	require.NoError(t, b.Commit(pebble.NoSync))
	return nil
}

// mustWrite is write that must succeed.
func mustWrite(t testing.TB, db *pebble.DB, fn func(b *pebble.Batch) error) {
	t.Helper()
	require.NoError(t, write(t, db, fn))
}

// ents builds entries [first, first+len(terms)) with the given terms and some data.
func ents(first uint64, terms ...uint64) []raft.Entry {
	out := make([]raft.Entry, len(terms))
	for i, term := range terms {
		idx := first + uint64(i)
		out[i] = raft.Entry{Index: idx, Term: term, Data: []byte("e" + strconv.FormatUint(idx, 10) + "t" + strconv.FormatUint(term, 10))}
	}
	return out
}

// view is everything raft.Storage answers about a log, for comparing two logs.
type view struct {
	HardState raft.HardState
	Conf      raft.ConfState
	First     uint64
	Last      uint64
	Snapshot  raft.SnapshotMetadata
	TruncTerm uint64
	Entries   []raft.Entry
}

// viewOf reads the whole of s through raft.Storage.
func viewOf(t testing.TB, s raft.Storage) view {
	t.Helper()
	var v view
	var err error
	v.HardState, v.Conf, err = s.InitialState()
	require.NoError(t, err)
	v.Conf = normConf(v.Conf)
	v.First, err = s.FirstIndex()
	require.NoError(t, err)
	v.Last, err = s.LastIndex()
	require.NoError(t, err)
	snap, err := s.Snapshot()
	require.NoError(t, err)
	if l, ok := s.(*Log); ok {
		require.Equal(t, snap.Metadata.Index, l.SnapshotIndex(), "SnapshotIndex")
	}
	v.Snapshot = snap.Metadata
	v.Snapshot.ConfState = normConf(v.Snapshot.ConfState)
	v.TruncTerm, err = s.Term(v.First - 1)
	require.NoError(t, err)
	es, err := s.Entries(v.First, v.Last+1, ^uint64(0))
	require.NoError(t, err)
	v.Entries = normEntries(es)
	return v
}

func normConf(c raft.ConfState) raft.ConfState {
	if len(c.Voters) == 0 {
		c.Voters = nil
	}
	if len(c.Learners) == 0 {
		c.Learners = nil
	}
	return c
}

// normEntries makes empty data nil and an empty list nil, so that equal logs compare equal.
func normEntries(es []raft.Entry) []raft.Entry {
	if len(es) == 0 {
		return nil
	}
	out := make([]raft.Entry, len(es))
	for i, e := range es {
		if len(e.Data) == 0 {
			e.Data = nil
		}
		out[i] = e
	}
	return out
}

// kvtestOpen opens a Pebble DB on fs without a Log.
func kvtestOpen(fs vfs.FS) (*pebble.DB, error) { return kvtest.OpenDB(fs) }
