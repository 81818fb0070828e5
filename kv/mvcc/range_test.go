package mvcc

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/status"
)

// errText is the text a client sees: the status message of an etcd gRPC error, the error
// text otherwise.
func errText(err error) string {
	if err == nil {
		return ""
	}
	if s, ok := status.FromError(err); ok {
		return s.Message()
	}
	return err.Error()
}

// rangeFixture builds, revision by revision:
//
//	2: put a=1      3: put b=22     4: put c=3      5: put a=4 (a: version 2)
//	6: delete b     7: put d=0      8: put b=5 (b recreated)
func rangeFixture(t *testing.T) *env {
	e := newEnv(t)
	e.mustPut("a", "1")
	e.mustPut("b", "22")
	e.mustPut("c", "3")
	e.mustPut("a", "4")
	_, _, err := e.del("b", "", false)
	require.NoError(t, err)
	e.mustPut("d", "0")
	e.mustPut("b", "5")
	require.EqualValues(t, 8, e.s.CurrentRevision())
	return e
}

func TestRangeParity(t *testing.T) {
	e := rangeFixture(t)
	type kvWant struct {
		key, value           string
		create, mod, version int64
	}
	a := kvWant{"a", "4", 2, 5, 2}
	b := kvWant{"b", "5", 8, 8, 1}
	c := kvWant{"c", "3", 4, 4, 1}
	d := kvWant{"d", "0", 7, 7, 1}
	for _, tc := range []struct {
		name    string
		req     *pb.RangeRequest
		want    []kvWant
		count   int64
		more    bool
		wantErr string
	}{
		{name: "empty key", req: &pb.RangeRequest{}, wantErr: "etcdserver: key is not provided"},
		{name: "one key", req: &pb.RangeRequest{Key: []byte("a")}, want: []kvWant{a}, count: 1},
		{name: "missing key", req: &pb.RangeRequest{Key: []byte("zz")}, count: 0},
		{name: "range [a,c)", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}, want: []kvWant{a, b}, count: 2},
		{name: "from key with \\x00", req: &pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte{0}}, want: []kvWant{b, c, d}, count: 3},
		{name: "all keys: key and range_end \\x00", req: &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}, want: []kvWant{a, b, c, d}, count: 4},
		{name: "prefix", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("b")}, want: []kvWant{a}, count: 1},
		{name: "range_end before key", req: &pb.RangeRequest{Key: []byte("c"), RangeEnd: []byte("a")}, count: 0},
		{name: "at revision 4", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 4},
			want: []kvWant{{"a", "1", 2, 2, 1}, {"b", "22", 3, 3, 1}, c}, count: 3},
		{name: "at revision 6: b deleted", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 6},
			want: []kvWant{a, c}, count: 2},
		{name: "at revision 1: empty store", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 1}, count: 0},
		{name: "future revision", req: &pb.RangeRequest{Key: []byte("a"), Revision: 9}, wantErr: "mvcc: required revision is a future revision"},
		{name: "limit with more", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: 2}, want: []kvWant{a, b}, count: 4, more: true},
		{name: "limit exact: no more", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: 4}, want: []kvWant{a, b, c, d}, count: 4},
		{name: "negative limit is none", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: -1}, want: []kvWant{a, b, c, d}, count: 4},
		{name: "count only", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, CountOnly: true, Limit: 1}, count: 4},
		{name: "keys only", req: &pb.RangeRequest{Key: []byte("c"), KeysOnly: true}, want: []kvWant{{"c", "", 4, 4, 1}}, count: 1},
		{name: "sort key descend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortOrder: pb.RangeRequest_DESCEND},
			want: []kvWant{d, c, b, a}, count: 4},
		{name: "sort key descend limit", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortOrder: pb.RangeRequest_DESCEND, Limit: 1},
			want: []kvWant{d}, count: 4, more: true},
		{name: "sort value (order NONE means ascend)", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortTarget: pb.RangeRequest_VALUE},
			want: []kvWant{d, c, a, b}, count: 4},
		{name: "sort version descend, ties in key order", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0},
			SortTarget: pb.RangeRequest_VERSION, SortOrder: pb.RangeRequest_DESCEND}, want: []kvWant{a, b, c, d}, count: 4},
		{name: "sort create ascend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0},
			SortTarget: pb.RangeRequest_CREATE, SortOrder: pb.RangeRequest_ASCEND}, want: []kvWant{a, c, d, b}, count: 4},
		{name: "sort mod descend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0},
			SortTarget: pb.RangeRequest_MOD, SortOrder: pb.RangeRequest_DESCEND}, want: []kvWant{b, d, a, c}, count: 4},
		{name: "min mod revision", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MinModRevision: 5}, want: []kvWant{a, b, d}, count: 4},
		{name: "max mod revision", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MaxModRevision: 5}, want: []kvWant{a, c}, count: 4},
		{name: "min create revision", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MinCreateRevision: 7}, want: []kvWant{b, d}, count: 4},
		{name: "max create revision with limit", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MaxCreateRevision: 4, Limit: 1},
			want: []kvWant{a}, count: 4, more: true},
		{name: "unknown sort order", req: &pb.RangeRequest{Key: []byte("a"), SortOrder: 7}, wantErr: "etcdserver: invalid sort option"},
		{name: "unknown sort target", req: &pb.RangeRequest{Key: []byte("a"), SortTarget: 9}, wantErr: "etcdserver: invalid sort option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.rangeReq(tc.req)
			if tc.wantErr != "" {
				require.Equal(t, tc.wantErr, errText(err))
				return
			}
			require.NoError(t, err)
			require.EqualValues(t, 8, resp.Header.Revision)
			require.Equal(t, tc.count, resp.Count)
			require.Equal(t, tc.more, resp.More)
			got := make([]kvWant, len(resp.Kvs))
			for i, kv := range resp.Kvs {
				got[i] = kvWant{string(kv.Key), string(kv.Value), kv.CreateRevision, kv.ModRevision, kv.Version}
			}
			if len(tc.want) == 0 {
				require.Empty(t, got)
			} else {
				require.Equal(t, tc.want, got)
			}
		})
	}
}

func TestRangeCompactedRevision(t *testing.T) {
	e := rangeFixture(t)
	require.NoError(t, e.compact(5))
	// Reads below the compact revision fail at once, before any CompactStep ran.
	_, err := e.rangeReq(&pb.RangeRequest{Key: []byte("a"), Revision: 4})
	require.Equal(t, "mvcc: required revision has been compacted", errText(err))
	require.ErrorIs(t, err, ErrCompacted)
	require.Equal(t, "etcdserver: mvcc: required revision has been compacted", errText(GRPCError(err)))
	// At the compact revision itself reads work, as in etcd; before and after the steps.
	for _, steps := range []bool{false, true} {
		if steps {
			e.compactAll(2)
		}
		resp, err := e.rangeReq(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 5})
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b", "c"}, keysOf(resp.Kvs))
		require.Equal(t, "4", string(resp.Kvs[0].Value))
		resp, err = e.rangeReq(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 6})
		require.NoError(t, err)
		require.Equal(t, []string{"a", "c"}, keysOf(resp.Kvs))
	}
	_, err = e.rangeReq(&pb.RangeRequest{Key: []byte("a"), Revision: 9})
	require.Equal(t, "etcdserver: mvcc: required revision is a future revision", errText(GRPCError(err)))
	other := errors.New("other")
	require.Equal(t, other, GRPCError(other), "GRPCError passes other errors through")
}

// Keys containing 0x00 and 0xFF bytes must keep their order and never mix versions.
func TestRangeBinaryKeys(t *testing.T) {
	e := newEnv(t)
	keys := []string{"a", "a\x00", "a\x00\x00", "a\x00\x01", "a\x01", "a\xff", "b"}
	for i := len(keys) - 1; i >= 0; i-- {
		e.mustPut(keys[i], "v")
		e.mustPut(keys[i], "w") // a second version of each
	}
	resp, err := e.rangeReq(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}})
	require.NoError(t, err)
	require.Equal(t, keys, keysOf(resp.Kvs))
	resp, err = e.rangeReq(&pb.RangeRequest{Key: []byte("a\x00"), RangeEnd: []byte("a\x01")})
	require.NoError(t, err)
	require.Equal(t, []string{"a\x00", "a\x00\x00", "a\x00\x01"}, keysOf(resp.Kvs))
	kv := e.get("a\x00")
	require.EqualValues(t, 2, kv.Version)
	require.Nil(t, e.get("a\x00\x02"))
}

// A key with a long history exercises the seek past old versions.
func TestRangeLongHistory(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 20; i++ {
		e.mustPut("a", string(rune('a'+i)))
		e.mustPut("b", string(rune('a'+i)))
	}
	e.mustPut("c", "c")
	resp, err := e.rangeReq(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, keysOf(resp.Kvs))
	require.EqualValues(t, []int64{20, 20, 1}, []int64{resp.Kvs[0].Version, resp.Kvs[1].Version, resp.Kvs[2].Version})
	resp, err = e.rangeReq(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 4})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, keysOf(resp.Kvs))
	require.Equal(t, "b", string(resp.Kvs[0].Value))
}

// etcd v3.7 answers keys_only from its key index unless sorting by value: no value, no lease.
func TestRangeKeysOnlyLease(t *testing.T) {
	e := newEnv(t)
	e.leases[5] = true
	e.mustPut("a", "v", withLease(5))
	resp, err := e.rangeReq(&pb.RangeRequest{Key: []byte("a"), KeysOnly: true})
	require.NoError(t, err)
	kv := resp.Kvs[0]
	require.Nil(t, kv.Value)
	require.EqualValues(t, 0, kv.Lease)
	require.EqualValues(t, []int64{2, 2, 1}, []int64{kv.CreateRevision, kv.ModRevision, kv.Version})
	resp, err = e.rangeReq(&pb.RangeRequest{Key: []byte("a"), KeysOnly: true, SortTarget: pb.RangeRequest_VALUE})
	require.NoError(t, err)
	require.Nil(t, resp.Kvs[0].Value)
	require.EqualValues(t, 5, resp.Kvs[0].Lease, "sorted by value, etcd reads the full record")
	resp, err = e.rangeReq(&pb.RangeRequest{Key: []byte("a")})
	require.NoError(t, err)
	require.EqualValues(t, 5, resp.Kvs[0].Lease)
}
