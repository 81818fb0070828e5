package mvcc

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/kvtest"
)

type exported struct{ key, value []byte }

func exportAll(t *testing.T, r pebble.Reader) ([]exported, ExportState) {
	var out []exported
	st, err := Export(r, func(k, v []byte) error {
		out = append(out, exported{append([]byte(nil), k...), append([]byte(nil), v...)})
		return nil
	})
	require.NoError(t, err)
	return out, st
}

// TestExportImportRoundTrip: a random history (puts, deletes, txns, a compaction part-way
// done) exported and imported into an empty store gives the same export, the same reads at
// every revision from the compact revision on, and the same HashKV. The export skips what a
// finished compaction removes, whatever the steps did.
func TestExportImportRoundTrip(t *testing.T) {
	seed := testSeeds(t, 1)[0]
	t.Logf("seed %d (re-run with MVCC_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	src := newEnv(t)
	for i := range 300 {
		key := fmt.Sprintf("k%d", rng.IntN(30))
		switch rng.IntN(5) {
		case 0:
			_, _, err := src.del(key, "", false)
			require.NoError(t, err)
		case 1:
			_, _, err := src.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte("t")}}},
				{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key + "x")}}},
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key + "y"), Value: []byte("u")}}},
			}})
			require.NoError(t, err)
		default:
			src.mustPut(key, fmt.Sprint(i))
		}
		if i == 200 {
			require.NoError(t, src.compact(src.s.CurrentRevision()-50))
			require.NoError(t, src.apply(func(b *pebble.Batch) error { // one step of 7 versions: part-way
				_, err := src.s.CompactStep(b, 7)
				return err
			}))
		}
	}
	versions, st := exportAll(t, src.db)
	require.Equal(t, src.s.CurrentRevision(), st.CurrentRevision)

	dst := kvtest.MustOpenMem(t)
	b := dst.NewBatch()
	var im Importer
	for _, v := range versions {
		require.NoError(t, im.Add(b, v.key, v.value))
	}
	got, err := im.Finish(b, st.CompactRevision)
	require.NoError(t, err)
	require.Equal(t, st, got)
	require.NoError(t, b.Commit(pebble.Sync))

	again, st2 := exportAll(t, dst)
	require.Equal(t, st, st2)
	require.Equal(t, versions, again, "export, import, export: the same versions")
	s2, err := Open(dst, Config{})
	require.NoError(t, err)
	for rev := st.CompactRevision; rev <= st.CurrentRevision; rev++ {
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}
		want, err := src.s.Range(src.db, req)
		require.NoError(t, err)
		have, err := s2.Range(dst, req)
		require.NoError(t, err)
		require.Equal(t, want.Kvs, have.Kvs, "seed %d, revision %d", seed, rev)
	}
	wh, err := src.s.HashKV(src.db, 0)
	require.NoError(t, err)
	gh, err := s2.HashKV(dst, 0)
	require.NoError(t, err)
	require.Equal(t, wh.Hash, gh.Hash)
}

// TestImportRefusesBadVersions: each malformed or out-of-order version is refused with an
// error naming what is wrong.
func TestImportRefusesBadVersions(t *testing.T) {
	good := etcdRevisionBytes(nil, revision{main: 5}, false)
	kv := func(key string, create, mod, version int64) []byte {
		b, err := proto.Marshal(&mvccpb.KeyValue{Key: []byte(key), CreateRevision: create, ModRevision: mod, Version: version, Value: []byte("v")})
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct {
		name       string
		first      []byte // added first (nil: none)
		key, value []byte
		want       string
	}{
		{"short key", nil, []byte{0, 1, 2}, kv("a", 5, 5, 1), "not 8 bytes"},
		{"no separator", nil, append(append([]byte{}, good[:8]...), append([]byte{'x'}, good[9:]...)...), kv("a", 5, 5, 1), "separator"},
		{"revision zero", nil, etcdRevisionBytes(nil, revision{}, false), kv("a", 1, 1, 1), "names revision"},
		{"garbage value", nil, good, []byte{0xff, 0xff}, "malformed KeyValue"},
		{"empty key", nil, good, kv("", 5, 5, 1), "empty key"},
		{"mod revision elsewhere", nil, good, kv("a", 5, 4, 1), "mod 4"},
		{"out of order", good, etcdRevisionBytes(nil, revision{main: 4}, false), kv("a", 4, 4, 1), "not in revision order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := kvtest.MustOpenMem(t)
			b := db.NewBatch()
			var im Importer
			if tc.first != nil {
				require.NoError(t, im.Add(b, tc.first, kv("a", 5, 5, 1)))
			}
			err := im.Add(b, tc.key, tc.value)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
