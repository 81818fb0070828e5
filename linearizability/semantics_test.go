package linearizability

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability/history"
)

func b(s string) history.Bytes { return history.Bytes(s) }

func kv(key, value string, create, mod, version, lease int64) history.KeyValue {
	return history.KeyValue{Key: b(key), Value: b(value), CreateRevision: create, ModRevision: mod, Version: version, Lease: lease}
}

// TestSemanticsTable pins the etcd rules the checkers share, on a store holding (at revision
// 5) a=1 (create 2, mod 2), b=2 (create 3, mod 4, version 2, lease 7), c=3 (create 5, mod 5),
// with lease 7 granted. Expected answers are etcd's documented behaviour, written by hand.
func TestSemanticsTable(t *testing.T) {
	base := &kvState{rev: 5, kvs: []history.KeyValue{kv("a", "1", 2, 2, 1, 0), kv("b", "2", 3, 4, 2, 7), kv("c", "3", 5, 5, 1, 0)}, leases: []int64{7}}
	rangeReq := func(r history.RangeRequest) *history.Request { return &history.Request{Range: &r} }
	for _, tc := range []struct {
		name    string
		req     *history.Request
		want    history.Response
		wantErr error
		muts    int
	}{
		{name: "get one key", req: rangeReq(history.RangeRequest{Key: b("b")}),
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, Range: &history.RangeResponse{KVs: []history.KeyValue{kv("b", "2", 3, 4, 2, 7)}, Count: 1}}},
		{name: "get absent key", req: rangeReq(history.RangeRequest{Key: b("z")}),
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, Range: &history.RangeResponse{}}},
		{name: "range with limit counts all and sets more", req: rangeReq(history.RangeRequest{Key: b("a"), RangeEnd: b("\x00"), Limit: 2}),
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, Range: &history.RangeResponse{KVs: []history.KeyValue{kv("a", "1", 2, 2, 1, 0), kv("b", "2", 3, 4, 2, 7)}, Count: 3, More: true}}},
		{name: "half-open range", req: rangeReq(history.RangeRequest{Key: b("b"), RangeEnd: b("c")}),
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, Range: &history.RangeResponse{KVs: []history.KeyValue{kv("b", "2", 3, 4, 2, 7)}, Count: 1}}},
		{name: "count only", req: rangeReq(history.RangeRequest{Key: b("a"), RangeEnd: b("\x00"), CountOnly: true, Limit: 1}),
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, Range: &history.RangeResponse{Count: 3}}},
		{name: "keys only", req: rangeReq(history.RangeRequest{Key: b("c"), KeysOnly: true}),
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, Range: &history.RangeResponse{KVs: []history.KeyValue{{Key: b("c"), CreateRevision: 5, ModRevision: 5, Version: 1}}, Count: 1}}},
		{name: "put over a key keeps create, bumps version", req: &history.Request{Put: &history.PutRequest{Key: b("a"), Value: b("9"), PrevKV: true}},
			want: history.Response{Header: history.ResponseHeader{Revision: 6}, Put: &history.PutResponse{PrevKV: &history.KeyValue{Key: b("a"), Value: b("1"), CreateRevision: 2, ModRevision: 2, Version: 1}}}, muts: 1},
		{name: "put with a missing lease fails", req: &history.Request{Put: &history.PutRequest{Key: b("a"), Value: b("9"), Lease: 8}}, wantErr: errLeaseNotFound},
		{name: "put ignore_value on an absent key fails", req: &history.Request{Put: &history.PutRequest{Key: b("z"), IgnoreValue: true}}, wantErr: errKeyNotFound},
		{name: "delete nothing makes no revision", req: &history.Request{DeleteRange: &history.DeleteRangeRequest{Key: b("z")}},
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, DeleteRange: &history.DeleteRangeResponse{}}},
		{name: "delete a range", req: &history.Request{DeleteRange: &history.DeleteRangeRequest{Key: b("a"), RangeEnd: b("c")}},
			want: history.Response{Header: history.ResponseHeader{Revision: 6}, DeleteRange: &history.DeleteRangeResponse{Deleted: 2}}, muts: 2},
		{name: "value compare on an absent key fails", req: &history.Request{Txn: &history.TxnRequest{
			Compare: []history.Compare{{Key: b("z"), Target: history.TargetValue, Result: history.ResultNotEqual, Value: b("x")}},
			Success: []history.Request{{Put: &history.PutRequest{Key: b("z"), Value: b("s")}}}}},
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, Txn: &history.TxnResponse{Succeeded: false}}},
		{name: "version compare on an absent key sees 0", req: &history.Request{Txn: &history.TxnRequest{
			Compare: []history.Compare{{Key: b("z"), Target: history.TargetVersion, Result: history.ResultEqual, Version: 0}},
			Success: []history.Request{{Put: &history.PutRequest{Key: b("z"), Value: b("s")}}, {Range: &history.RangeRequest{Key: b("z")}}}}},
			want: history.Response{Header: history.ResponseHeader{Revision: 6}, Txn: &history.TxnResponse{Succeeded: true, Responses: []history.Response{
				{Put: &history.PutResponse{}}, {Range: &history.RangeResponse{KVs: []history.KeyValue{kv("z", "s", 6, 6, 1, 0)}, Count: 1}}}}}, muts: 1},
		{name: "range compare needs every key", req: &history.Request{Txn: &history.TxnRequest{
			Compare: []history.Compare{{Key: b("a"), RangeEnd: b("\x00"), Target: history.TargetCreate, Result: history.ResultLess, CreateRevision: 5}}}},
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, Txn: &history.TxnResponse{Succeeded: false}}},
		{name: "duplicate key in a txn fails", req: &history.Request{Txn: &history.TxnRequest{
			Success: []history.Request{{Put: &history.PutRequest{Key: b("a"), Value: b("x")}}, {Put: &history.PutRequest{Key: b("a"), Value: b("y")}}}}}, wantErr: errDuplicateKey},
		{name: "revoke deletes the lease's keys in one revision", req: &history.Request{LeaseRevoke: &history.LeaseRevokeRequest{ID: 7}},
			want: history.Response{Header: history.ResponseHeader{Revision: 6}, LeaseRevoke: &history.LeaseRevokeResponse{}}, muts: 1},
		{name: "revoke of an unknown lease fails", req: &history.Request{LeaseRevoke: &history.LeaseRevokeRequest{ID: 8}}, wantErr: errLeaseNotFound},
		{name: "grant of an existing lease fails", req: &history.Request{LeaseGrant: &history.LeaseGrantRequest{ID: 7, TTLSeconds: 5}}, wantErr: errLeaseExists},
		{name: "keep-alive of a live lease", req: &history.Request{LeaseKeepAlive: &history.LeaseKeepAliveRequest{ID: 7}},
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, LeaseKeepAlive: &history.LeaseKeepAliveResponse{ID: 7, TTLSeconds: 1}}},
		{name: "keep-alive of a missing lease answers ttl 0", req: &history.Request{LeaseKeepAlive: &history.LeaseKeepAliveRequest{ID: 8}},
			want: history.Response{Header: history.ResponseHeader{Revision: 5}, LeaseKeepAlive: &history.LeaseKeepAliveResponse{ID: 8}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, eff, err := eval(base, base.rev, tc.req, nil)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "", diffResponse(&tc.want, &got, true), "got %+v", got)
			require.Len(t, eff.muts, tc.muts)
			next := base.apply(&eff)
			require.Equal(t, base.rev+int64(min(tc.muts, 1)), next.rev)
			require.Equal(t, int64(5), base.rev, "apply must not change the old state")
		})
	}
}

// TestStateHashMatchesEqual: states reached by different paths with equal contents hash
// alike (Porcupine's cache relies on it) and states that differ compare unequal.
func TestStateHashMatchesEqual(t *testing.T) {
	s0 := &kvState{rev: 1}
	step := func(s *kvState, r history.Request) *kvState {
		_, eff, err := eval(s, s.rev, &r, nil)
		require.NoError(t, err)
		return s.apply(&eff)
	}
	a := step(step(s0, history.Request{Put: &history.PutRequest{Key: b("x"), Value: b("1")}}), history.Request{Put: &history.PutRequest{Key: b("y"), Value: b("2")}})
	bb := step(step(s0, history.Request{Put: &history.PutRequest{Key: b("x"), Value: b("1")}}), history.Request{Put: &history.PutRequest{Key: b("y"), Value: b("2")}})
	require.True(t, a.equal(bb))
	require.Equal(t, a.hash(), bb.hash())
	c := step(step(s0, history.Request{Put: &history.PutRequest{Key: b("y"), Value: b("2")}}), history.Request{Put: &history.PutRequest{Key: b("x"), Value: b("1")}})
	require.False(t, a.equal(c), "same values, different revisions")
	require.Contains(t, a.String(), "x=1 (mod 2")
}
