package raftlog

import (
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/ballastdb/ballast/raft"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// errClass reduces an error to what raft distinguishes.
func errClass(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, raft.ErrCompacted):
		return "ErrCompacted"
	case errors.Is(err, raft.ErrUnavailable):
		return "ErrUnavailable"
	case errors.Is(err, raft.ErrSnapOutOfDate):
		return "ErrSnapOutOfDate"
	}
	return "other: " + err.Error()
}

// modelSteps is how many random operations each seed runs; RAFTLOG_STEPS raises it for a
// longer run.
func modelSteps(t *testing.T, def int) int {
	if s := os.Getenv("RAFTLOG_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return def
}

// modelRun drives a Log and a raft.MemoryStorage with the same random operations, the way a
// node driver would (appends with conflicts, hard states, snapshots made and received,
// compactions, restarts, and invalid requests), and checks after every step that both answer
// every raft.Storage question identically.
type modelRun struct {
	t     *testing.T
	rng   interface{ IntN(int) int }
	fs    vfs.FS
	db    *pebble.DB
	log   *Log
	model *raft.MemoryStorage
	ops   map[string]int
	// dataBytesMax bounds the data of a random entry (0: 100).
	dataBytesMax int
	// memTableBytes, if set, overrides the test DB's memtable size (small: many WAL
	// rotations and flushes).
	memTableBytes uint64
}

// open opens the DB on r.fs and the Log on it.
func (r *modelRun) open() {
	opts := kvtest.Options(r.fs)
	if r.memTableBytes != 0 {
		opts.MemTableSize = r.memTableBytes
	}
	db, err := pebble.Open("db", opts)
	require.NoError(r.t, err)
	l, err := Open(db)
	require.NoError(r.t, err)
	if r.rng.IntN(2) == 0 {
		// A small tail cache, so its evictions run as often as its hits.
		l.tail.maxEntries, l.tail.maxBytes = 1+r.rng.IntN(16), 1+r.rng.IntN(800)
	}
	r.db, r.log = db, l
}

func TestAgainstMemoryStorage(t *testing.T) {
	seed := testSeed(t, 20261125)
	rng := newRand(seed)
	conf := raft.ConfState{Voters: []uint64{1, 2, 3}}
	r := &modelRun{t: t, rng: rng, fs: vfs.NewMem(), model: raft.NewMemoryStorage(conf), ops: map[string]int{}}
	r.open()
	defer func() { _ = r.db.Close() }()
	mustWrite(t, r.db, func(b *pebble.Batch) error { return r.log.Bootstrap(b, conf) })

	steps := modelSteps(t, 3000)
	for step := 0; step < steps; step++ {
		var op string
		switch p := rng.IntN(100); {
		case p < 35:
			op = r.appendEntries()
		case p < 55:
			op = r.setHardState()
		case p < 63:
			op = r.createSnapshot()
		case p < 71:
			op = r.compact()
		case p < 76:
			op = r.applySnapshot()
		case p < 80:
			op = r.restart()
		default:
			op = r.invalid()
		}
		r.ops[op]++
		r.compare(step, op)
	}
	t.Logf("operations: %v", r.ops)
	// The run must have exercised every kind of operation, or it proves less than it claims.
	for _, op := range []string{"append", "append-conflict", "hardstate", "create-snapshot", "compact", "apply-snapshot", "restart", "invalid"} {
		require.Positive(t, r.ops[op], "operation %s never ran (seed %d)", op, seed)
	}
}

func (r *modelRun) modelState() (hs raft.HardState, first, last uint64, snap raft.SnapshotMetadata) {
	hs, _, err := r.model.InitialState()
	require.NoError(r.t, err)
	first, _ = r.model.FirstIndex()
	last, _ = r.model.LastIndex()
	s, _ := r.model.Snapshot()
	return hs, first, last, s.Metadata
}

func (r *modelRun) term(i uint64) uint64 {
	term, err := r.model.Term(i)
	require.NoError(r.t, err)
	return term
}

// randomEntries makes n entries from start whose terms start at least at minTerm and never
// decrease.
func (r *modelRun) randomEntries(start uint64, n int, minTerm uint64) []raft.Entry {
	out := make([]raft.Entry, n)
	term := minTerm + uint64(r.rng.IntN(3))
	for i := range out {
		if r.rng.IntN(5) == 0 {
			term++
		}
		var data []byte
		if r.rng.IntN(6) != 0 {
			dataBytesMax := r.dataBytesMax
			if dataBytesMax == 0 {
				dataBytesMax = 100
			}
			data = make([]byte, r.rng.IntN(dataBytesMax))
			for j := range data {
				data[j] = byte(r.rng.IntN(256))
			}
		}
		typ := raft.EntryNormal
		if r.rng.IntN(10) == 0 {
			typ = raft.EntryConfChange
		}
		out[i] = raft.Entry{Index: start + uint64(i), Term: term, Type: typ, Data: data}
	}
	return out
}

// appendEntries appends after the commit index (raft never rewrites committed entries),
// possibly replacing a suffix, sometimes with a hard state in the same batch (as one Ready).
func (r *modelRun) appendEntries() string {
	hs, first, last, _ := r.modelState()
	lo := max(first, hs.Commit+1)
	start := lo + uint64(r.rng.IntN(int(last+1-lo)+1))
	es := r.randomEntries(start, 1+r.rng.IntN(8), r.term(start-1))
	if hs.Commit+1 == first && first > 1 && r.rng.IntN(4) == 0 {
		// Lead with entries that are already compacted: both must ignore them.
		k := min(first-1, uint64(1+r.rng.IntN(3)))
		prefix := make([]raft.Entry, k)
		for i := range prefix {
			prefix[i] = raft.Entry{Index: start - k + uint64(i), Term: 1}
		}
		if start == first {
			es = append(prefix, es...)
		}
	}
	op := "append"
	if start <= last {
		op = "append-conflict"
	}
	require.NoError(r.t, r.model.Append(es))
	newLast, _ := r.model.LastIndex()
	var newHS *raft.HardState
	if r.rng.IntN(2) == 0 {
		h := hs
		h.Commit += uint64(r.rng.IntN(int(newLast-hs.Commit) + 1))
		newHS = &h
		require.NoError(r.t, r.model.SetHardState(h))
	}
	mustWrite(r.t, r.db, func(b *pebble.Batch) error {
		if err := r.log.Append(b, es); err != nil {
			return err
		}
		if newHS != nil {
			return r.log.SetHardState(b, *newHS)
		}
		return nil
	})
	return op
}

func (r *modelRun) setHardState() string {
	hs, _, last, _ := r.modelState()
	h := hs
	if r.rng.IntN(3) == 0 {
		h.Term += uint64(1 + r.rng.IntN(2))
		h.Vote = uint64(r.rng.IntN(4))
	} else if h.Vote == raft.None {
		h.Vote = uint64(r.rng.IntN(4))
	}
	h.Commit += uint64(r.rng.IntN(int(last-hs.Commit) + 1))
	require.NoError(r.t, r.model.SetHardState(h))
	mustWrite(r.t, r.db, func(b *pebble.Batch) error { return r.log.SetHardState(b, h) })
	return "hardstate"
}

func (r *modelRun) randomConf() raft.ConfState {
	var c raft.ConfState
	for id := uint64(1); id <= 5; id++ {
		switch r.rng.IntN(3) {
		case 0:
			c.Voters = append(c.Voters, id)
		case 1:
			c.Learners = append(c.Learners, id)
		}
	}
	return c
}

// createSnapshot snapshots at an index between the held snapshot and the commit index.
func (r *modelRun) createSnapshot() string {
	hs, _, _, snap := r.modelState()
	if hs.Commit <= snap.Index {
		return r.setHardState()
	}
	i := snap.Index + 1 + uint64(r.rng.IntN(int(hs.Commit-snap.Index)))
	conf := r.randomConf()
	want, err := r.model.CreateSnapshot(i, conf, nil)
	require.NoError(r.t, err)
	var got raft.SnapshotMetadata
	mustWrite(r.t, r.db, func(b *pebble.Batch) error {
		var err error
		got, err = r.log.CreateSnapshot(b, i, conf)
		return err
	})
	require.Equal(r.t, want.Metadata, got)
	return "create-snapshot"
}

// compact compacts to an index the snapshot covers.
func (r *modelRun) compact() string {
	_, first, _, snap := r.modelState()
	if snap.Index < first {
		return r.createSnapshot()
	}
	i := first + uint64(r.rng.IntN(int(snap.Index-first)+1))
	require.NoError(r.t, r.model.Compact(i))
	mustWrite(r.t, r.db, func(b *pebble.Batch) error { return r.log.Compact(b, i) })
	return "compact"
}

// applySnapshot installs a snapshot from a leader, beyond the commit index, with the hard
// state that raft hands out with it, in one batch.
func (r *modelRun) applySnapshot() string {
	hs, _, last, snap := r.modelState()
	i := max(snap.Index, hs.Commit) + 1 + uint64(r.rng.IntN(6))
	term := max(hs.Term, r.term(last), 1) + uint64(r.rng.IntN(2))
	if i <= last && r.rng.IntN(2) == 0 {
		term = max(term, r.term(i))
	}
	meta := raft.SnapshotMetadata{Index: i, Term: term, ConfState: r.randomConf()}
	h := raft.HardState{Term: max(hs.Term, term), Vote: hs.Vote, Commit: i}
	if h.Term != hs.Term {
		h.Vote = raft.None
	}
	require.NoError(r.t, r.model.ApplySnapshot(raft.Snapshot{Metadata: meta}))
	require.NoError(r.t, r.model.SetHardState(h))
	mustWrite(r.t, r.db, func(b *pebble.Batch) error {
		if err := r.log.ApplySnapshot(b, meta); err != nil {
			return err
		}
		return r.log.SetHardState(b, h)
	})
	return "apply-snapshot"
}

func (r *modelRun) restart() string {
	require.NoError(r.t, r.db.Close())
	r.open()
	return "restart"
}

// invalid sends a request both must refuse, with the same raft error, changing nothing.
func (r *modelRun) invalid() string {
	_, first, last, snap := r.modelState()
	var wantErr, gotErr error
	switch r.rng.IntN(3) {
	case 0: // a gap after the last index
		es := ents(last+2, r.term(last))
		wantErr = r.model.Append(es)
		gotErr = write(r.t, r.db, func(b *pebble.Batch) error { return r.log.Append(b, es) })
	case 1: // a snapshot not newer than the held one
		meta := raft.SnapshotMetadata{Index: snap.Index, Term: snap.Term + 1}
		wantErr = r.model.ApplySnapshot(raft.Snapshot{Metadata: meta})
		gotErr = write(r.t, r.db, func(b *pebble.Batch) error { return r.log.ApplySnapshot(b, meta) })
	default: // compaction to an index already compacted
		i := uint64(r.rng.IntN(int(first)))
		wantErr = r.model.Compact(i)
		gotErr = write(r.t, r.db, func(b *pebble.Batch) error { return r.log.Compact(b, i) })
	}
	require.Error(r.t, wantErr)
	require.Equal(r.t, errClass(wantErr), errClass(gotErr), "model: %v, log: %v", wantErr, gotErr)
	return "invalid"
}

// compare checks every answer of raft.Storage, and the Log's cache against Pebble.
func (r *modelRun) compare(step int, op string) {
	t := r.t
	require.NoError(t, r.log.CheckConsistency(), "step %d (%s)", step, op)
	want, got := viewOf(t, r.model), viewOf(t, r.log)
	require.Equal(t, want, got, "step %d (%s)", step, op)
	// Out-of-range and boundary questions, with random byte limits.
	for k := 0; k < 8; k++ {
		lo := max(want.First, 2) - 2 + uint64(r.rng.IntN(int(want.Last-want.First)+5))
		hi := lo + uint64(r.rng.IntN(int(want.Last-want.First)+4))
		if r.rng.IntN(8) == 0 {
			hi = lo - 1
		}
		maxBytes := uint64(r.rng.IntN(600))
		we, werr := r.model.Entries(lo, hi, maxBytes)
		ge, gerr := r.log.Entries(lo, hi, maxBytes)
		require.Equal(t, errClass(werr), errClass(gerr), "step %d (%s): Entries(%d, %d, %d)", step, op, lo, hi, maxBytes)
		require.Equal(t, normEntries(we), normEntries(ge), "step %d (%s): Entries(%d, %d, %d)", step, op, lo, hi, maxBytes)
		wt, werr := r.model.Term(lo)
		gt, gerr := r.log.Term(lo)
		require.Equal(t, errClass(werr), errClass(gerr), "step %d (%s): Term(%d)", step, op, lo)
		require.Equal(t, wt, gt, "step %d (%s): Term(%d)", step, op, lo)
	}
}
