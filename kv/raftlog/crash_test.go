package raftlog

import (
	"reflect"
	"testing"

	"github.com/ballastdb/ballast/raft"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// modelFromView builds a MemoryStorage that answers like the log v was read from.
func modelFromView(t testing.TB, v view) *raft.MemoryStorage {
	t.Helper()
	ms := raft.NewMemoryStorage(v.Snapshot.ConfState)
	truncIndex := v.First - 1
	if truncIndex > 0 {
		require.NoError(t, ms.ApplySnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{
			Index: truncIndex, Term: v.TruncTerm, ConfState: v.Snapshot.ConfState,
		}}))
	}
	require.NoError(t, ms.Append(v.Entries))
	if v.Snapshot.Index > truncIndex {
		_, err := ms.CreateSnapshot(v.Snapshot.Index, v.Snapshot.ConfState, nil)
		require.NoError(t, err)
	}
	require.NoError(t, ms.SetHardState(v.HardState))
	return ms
}

// TestCrashKeepsExactlySynced writes Readies unsynced, syncs some of them, and crashes the
// file system (power loss: UnsyncedDataPercent 0 keeps exactly what was synced). The
// restarted log must hold exactly the state as of the last Sync: nothing synced lost,
// nothing unsynced kept, and never a torn state (Open checks commit <= last index,
// truncation <= snapshot <= last, contiguous entries). Between crashes the log is also
// compared with raft.MemoryStorage after every step. The memtable is large enough that
// Pebble never rotates its WAL here (see TestCrashWithWALRotations for that case).
func TestCrashKeepsExactlySynced(t *testing.T) {
	r := &modelRun{t: t, ops: map[string]int{}}
	runCrashes(t, r, testSeed(t, 7), true)
}

// TestCrashWithWALRotations is the crash test with a tiny memtable and large entries, so
// Pebble rotates its WAL and flushes memtables many times between syncs. A rotation syncs
// the WAL it closes, so a crash may keep more than the last Sync: the restarted log must
// hold the state after the last Sync or after one of the commits that followed it (a prefix
// of the commits, never a torn mix), and never less than what was synced.
func TestCrashWithWALRotations(t *testing.T) {
	r := &modelRun{t: t, ops: map[string]int{}, dataBytesMax: 4 << 10, memTableBytes: 64 << 10}
	runCrashes(t, r, testSeed(t, 8), false)
}

func runCrashes(t *testing.T, r *modelRun, seed uint64, exact bool) {
	rng := newRand(seed)
	fs := vfs.NewCrashableMem()
	conf := raft.ConfState{Voters: []uint64{1, 2, 3}}
	r.rng, r.fs, r.model = rng, fs, raft.NewMemoryStorage(conf)
	r.open()
	defer func() { _ = r.db.Close() }()
	mustWrite(t, r.db, func(b *pebble.Batch) error { return r.log.Bootstrap(b, conf) })
	require.NoError(t, r.log.Sync())
	// sinceSync[0] is the state as of the last Sync, sinceSync[i] after the i-th commit
	// that followed it.
	sinceSync := []view{viewOf(t, r.log)}

	crashes, lostUnsynced, keptUnsynced := 0, 0, 0
	steps := modelSteps(t, 1500)
	for step := 0; step < steps; step++ {
		var op string
		switch p := rng.IntN(100); {
		case p < 35:
			op = r.appendEntries()
		case p < 55:
			op = r.setHardState()
		case p < 62:
			op = r.createSnapshot()
		case p < 69:
			op = r.compact()
		case p < 74:
			op = r.applySnapshot()
		case p < 90:
			require.NoError(t, r.log.Sync())
			sinceSync = sinceSync[:0]
			op = "sync"
		default:
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
			require.NoError(t, r.db.Close())
			fs = crashed
			r.fs = fs
			r.open()
			got := viewOf(t, r.log)
			if exact {
				require.Equal(t, sinceSync[0], got, "step %d: after a crash the log must hold exactly what was synced", step)
			} else {
				found := false
				for i := range sinceSync {
					found = found || reflect.DeepEqual(sinceSync[i], got)
				}
				require.True(t, found, "step %d: after a crash the log must hold the synced state or a later committed one", step)
			}
			if !reflect.DeepEqual(sinceSync[len(sinceSync)-1], got) {
				lostUnsynced++
			}
			if !reflect.DeepEqual(sinceSync[0], got) {
				keptUnsynced++
			}
			sinceSync = sinceSync[:0]
			crashes++
			r.model = modelFromView(t, got)
			op = "crash"
		}
		// After a Sync or a crash this is the durable state; after a commit, one more state a
		// crash may recover.
		sinceSync = append(sinceSync, viewOf(t, r.log))
		r.ops[op]++
		r.compare(step, op)
	}
	t.Logf("operations: %v; %d crashes: %d lost unsynced writes, %d kept some (WAL rotation)", r.ops, crashes, lostUnsynced, keptUnsynced)
	require.Positive(t, lostUnsynced, "no crash lost an unsynced write: the test does not exercise the sync")
	if !exact {
		require.Positive(t, keptUnsynced, "no WAL rotation kept an unsynced write: the memtable is too large to rotate")
	}
}

// TestSyncAfterNoSyncCommits pins the mechanism Sync relies on: commits made with
// pebble.NoSync survive a power loss only once Sync ran after them, and an empty batch
// committed with pebble.Sync does not make them durable (Pebble skips empty batches).
func TestSyncAfterNoSyncCommits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sync    func(db *pebble.DB, l *Log) error
		durable bool
	}{
		{"no sync", func(*pebble.DB, *Log) error { return nil }, false},
		{"empty batch committed with Sync", func(db *pebble.DB, _ *Log) error { return db.NewBatch().Commit(pebble.Sync) }, false},
		{"Log.Sync", func(_ *pebble.DB, l *Log) error { return l.Sync() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			db, l := openLog(t, fs)
			mustWrite(t, db, func(b *pebble.Batch) error { return l.Append(b, ents(1, 1, 1, 2)) })
			mustWrite(t, db, func(b *pebble.Batch) error {
				return l.SetHardState(b, raft.HardState{Term: 2, Vote: 1, Commit: 2})
			})
			require.NoError(t, tc.sync(db, l))
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
			require.NoError(t, db.Close())
			db2, l2 := openLog(t, crashed)
			defer func() { _ = db2.Close() }()
			last, err := l2.LastIndex()
			require.NoError(t, err)
			if tc.durable {
				require.Equal(t, uint64(3), last)
				require.Equal(t, raft.HardState{Term: 2, Vote: 1, Commit: 2}, l2.HardState())
			} else {
				require.Equal(t, uint64(0), last)
				require.True(t, l2.HardState().IsEmpty())
			}
		})
	}
}
