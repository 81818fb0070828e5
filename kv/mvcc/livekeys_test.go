package mvcc

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestLiveKeys: Store.Keys counts the live keys through puts, overwrites, deletes, a txn
// that makes and deletes a key in one revision, a compaction, and a reopen; a store without
// the stored count (written before it existed, or imported) counts its keys at Open, and the
// next write stores the count.
func TestLiveKeys(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		name string
		do   func()
		want int64
	}{
		{"empty", func() {}, 0},
		{"put a", func() { e.mustPut("a", "1") }, 1},
		{"overwrite a", func() { e.mustPut("a", "2") }, 1},
		{"put b c", func() { e.mustPut("b", "1"); e.mustPut("c", "1") }, 3},
		{"delete b", func() { _, _, err := e.del("b", "", false); require.NoError(t, err) }, 2},
		{"delete missing", func() { _, _, err := e.del("zz", "", false); require.NoError(t, err) }, 2},
		{"txn: put d, delete d (sibling txns), put e", func() {
			_, _, err := e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
				txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("d", "1")}}),
				txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{delOp("d", "")}}),
				putOp("e", "1")}})
			require.NoError(t, err)
		}, 3},
		{"put b again", func() { e.mustPut("b", "2") }, 4},
		{"compact", func() { require.NoError(t, e.compact(e.s.CurrentRevision())); e.compactAll(3) }, 4},
		{"delete all", func() { _, _, err := e.del("\x00", "\x00", false); require.NoError(t, err) }, 0},
		{"put x", func() { e.mustPut("x", "1") }, 1},
	}
	for _, st := range steps {
		st.do()
		require.Equal(t, st.want, e.s.Keys(), st.name)
		s, err := Open(e.db, Config{})
		require.NoError(t, err)
		require.Equal(t, st.want, s.Keys(), "%s: reopened", st.name)
	}

	e.mustPut("y", "1")
	require.NoError(t, e.db.Delete(metaKeysKey, pebble.Sync)) // as a store written before the count
	s, err := Open(e.db, Config{})
	require.NoError(t, err)
	require.Equal(t, int64(2), s.Keys(), "counted at Open")
	e.s = s
	e.mustPut("z", "1")
	s, err = Open(e.db, Config{})
	require.NoError(t, err)
	require.Equal(t, int64(3), s.Keys(), "stored by the next write")

	require.NoError(t, e.db.Set(metaKeysKey, []byte{1, 2}, pebble.Sync))
	_, err = Open(e.db, Config{})
	require.ErrorContains(t, err, "corrupt live key count")
}
