package mvcc

import (
	"testing"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestOpenFormatVersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stored  map[string]string
		wantErr string
	}{
		{name: "empty store opens", stored: map[string]string{"lease/x": "other prefixes are not ours"}},
		{name: "unknown version refused", stored: map[string]string{"mvcc/m/format": "2"},
			wantErr: `mvcc: unsupported on-disk format: stored version "2", this build reads version "1"`},
		{name: "data without a version refused", stored: map[string]string{"mvcc/k/x": "?"},
			wantErr: `mvcc: unsupported on-disk format: keys under "mvcc/" but no format version key "mvcc/m/format"`},
		{name: "corrupt state refused", stored: map[string]string{"mvcc/m/format": "1", "mvcc/m/state": "short"},
			wantErr: "mvcc: state value has 5 bytes, want 16"},
		{name: "compact above current refused", stored: map[string]string{"mvcc/m/format": "1",
			"mvcc/m/state": "\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x03"},
			wantErr: "mvcc: corrupt state: current revision 2, compact revision 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := kvtest.MustOpenMem(t)
			for k, v := range tc.stored {
				require.NoError(t, db.Set([]byte(k), []byte(v), pebble.Sync))
			}
			s, err := Open(db, Config{})
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.EqualValues(t, 1, s.CurrentRevision())
				require.EqualValues(t, -1, s.CompactRevision())
				return
			}
			require.EqualError(t, err, tc.wantErr)
			if tc.name != "corrupt state refused" && tc.name != "compact above current refused" {
				require.ErrorIs(t, err, ErrFormat)
			}
		})
	}
}

func TestFirstWriteRecordsFormatAndRestartKeepsRevisions(t *testing.T) {
	e := newEnv(t)
	_, _, err := e.del("nothing", "", false)
	require.NoError(t, err)
	_, closer, err := e.db.Get(metaFormatKey)
	require.ErrorIs(t, err, pebble.ErrNotFound, "a write that changed nothing wrote the format key")
	if closer != nil {
		_ = closer.Close()
	}
	e.mustPut("a", "1")
	v, closer, err := e.db.Get(metaFormatKey)
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	require.NoError(t, closer.Close())
	e.mustPut("b", "1")
	require.NoError(t, e.compact(2))
	s, err := Open(e.db, Config{})
	require.NoError(t, err)
	require.EqualValues(t, 3, s.CurrentRevision())
	require.EqualValues(t, 2, s.CompactRevision())
	cur, compact, err := s.Revisions(e.db)
	require.NoError(t, err)
	require.EqualValues(t, []int64{3, 2}, []int64{cur, compact})
}

// Reads take their revisions from the reader: a snapshot taken before a write answers as of
// its own time, with its own header revision.
func TestReadsFollowTheReader(t *testing.T) {
	e := newEnv(t)
	e.mustPut("a", "1")
	snap := e.db.NewSnapshot()
	defer snap.Close()
	e.mustPut("a", "2")
	old, err := e.s.Range(snap, &pb.RangeRequest{Key: []byte("a")})
	require.NoError(t, err)
	require.EqualValues(t, 2, old.Header.Revision)
	require.Equal(t, "1", string(old.Kvs[0].Value))
	_, err = e.s.Range(snap, &pb.RangeRequest{Key: []byte("a"), Revision: 3})
	require.ErrorIs(t, err, ErrFutureRev)
	now, err := e.s.Range(e.db, &pb.RangeRequest{Key: []byte("a")})
	require.NoError(t, err)
	require.EqualValues(t, 3, now.Header.Revision)
}

// A batch holding several applied commands reads its own earlier ones (the caller may
// group entries in one batch).
func TestSeveralWritesInOneBatch(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.apply(func(b *pebble.Batch) error {
		if _, _, err := e.s.Put(b, &pb.PutRequest{Key: []byte("a"), Value: []byte("1")}, nil); err != nil {
			return err
		}
		resp, evs, err := e.s.Put(b, &pb.PutRequest{Key: []byte("a"), Value: []byte("2"), PrevKv: true}, nil)
		require.EqualValues(t, 3, resp.Header.Revision)
		require.Equal(t, "1", string(resp.PrevKv.Value))
		require.EqualValues(t, 2, evs[0].Kv.Version)
		return err
	}))
	require.EqualValues(t, 3, e.s.CurrentRevision())
	require.EqualValues(t, 2, e.get("a").Version)
}

func TestEventsBetween(t *testing.T) {
	e := newEnv(t)
	e.mustPut("a", "1")                                                                                             // 2
	e.mustPut("b", "1")                                                                                             // 3
	_, _, err := e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "2"), putOp("c", "1"), putOp("b", "2")}}) // 4: three events
	require.NoError(t, err)
	_, _, err = e.del("a", "", false) // 5
	require.NoError(t, err)
	e.mustPut("a", "3") // 6

	all, err := e.s.EventsBetween(e.db, []byte("a"), []byte{0}, 2, 6, 0)
	require.NoError(t, err)
	type ev struct {
		typ     mvccpb.Event_EventType
		key     string
		mod     int64
		prev    string
		hasPrev bool
	}
	got := func(evs []*mvccpb.Event) []ev {
		var out []ev
		for _, x := range evs {
			e := ev{typ: x.Type, key: string(x.Kv.Key), mod: x.Kv.ModRevision}
			if x.PrevKv != nil {
				e.prev, e.hasPrev = string(x.PrevKv.Value), true
			}
			out = append(out, e)
		}
		return out
	}
	require.Equal(t, []ev{
		{mvccpb.Event_PUT, "a", 2, "", false},
		{mvccpb.Event_PUT, "b", 3, "", false},
		{mvccpb.Event_PUT, "a", 4, "1", true},
		{mvccpb.Event_PUT, "c", 4, "", false},
		{mvccpb.Event_PUT, "b", 4, "1", true},
		{mvccpb.Event_DELETE, "a", 5, "2", true},
		{mvccpb.Event_PUT, "a", 6, "", false},
	}, got(all))
	// One key.
	onlyA, err := e.s.EventsBetween(e.db, []byte("a"), nil, 3, 6, 0)
	require.NoError(t, err)
	require.Len(t, onlyA, 3)
	// A limit never splits a revision: 2 asked, the 3 events of revision 4 come together.
	limited, err := e.s.EventsBetween(e.db, []byte("a"), []byte{0}, 3, 6, 2)
	require.NoError(t, err)
	require.Len(t, limited, 4)
	require.EqualValues(t, 4, limited[3].Kv.ModRevision)
	// Empty window, future and compacted.
	none, err := e.s.EventsBetween(e.db, []byte("a"), []byte{0}, 6, 5, 0)
	require.NoError(t, err)
	require.Empty(t, none)
	_, err = e.s.EventsBetween(e.db, []byte("a"), []byte{0}, 2, 7, 0)
	require.ErrorIs(t, err, ErrFutureRev)
	require.NoError(t, e.compact(4))
	_, err = e.s.EventsBetween(e.db, []byte("a"), []byte{0}, 4, 6, 0)
	require.ErrorIs(t, err, ErrCompacted)
	e.compactAll(10)
	after, err := e.s.EventsBetween(e.db, []byte("a"), []byte{0}, 5, 6, 0)
	require.NoError(t, err)
	require.Equal(t, got(all)[5:], got(after), "events above the compaction, PrevKv included, survive it")
}

// RangeApplied reads at the store's revisions and checks them against the DB's: a read while
// a write call's batch is not committed (the one use it must never see) panics, naming both.
func TestRangeAppliedRefusesAnUncommittedWrite(t *testing.T) {
	e := newEnv(t)
	e.mustPut("a", "1")
	resp, err := e.s.RangeApplied(e.db, &pb.RangeRequest{Key: []byte("a")})
	require.NoError(t, err)
	require.Equal(t, int64(2), resp.Header.Revision)
	require.Len(t, resp.Kvs, 1)
	b := e.db.NewIndexedBatch()
	defer b.Close()
	_, _, err = e.s.Put(b, &pb.PutRequest{Key: []byte("a"), Value: []byte("2")}, e.leases)
	require.NoError(t, err)
	require.PanicsWithValue(t, "mvcc: RangeApplied: the DB holds revisions {currentRev:2 compactRev:-1}, the store's copy {currentRev:3 compactRev:-1}: a read during a write call, or on another DB",
		func() { _, _ = e.s.RangeApplied(e.db, &pb.RangeRequest{Key: []byte("a")}) })
}
