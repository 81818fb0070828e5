package mvcc

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func cmp(key string, target pb.Compare_CompareTarget, result pb.Compare_CompareResult, v any) *pb.Compare {
	c := &pb.Compare{Key: []byte(key), Target: target, Result: result}
	switch target {
	case pb.Compare_VALUE:
		c.TargetUnion = &pb.Compare_Value{Value: []byte(v.(string))}
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: int64(v.(int))}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: int64(v.(int))}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: int64(v.(int))}
	case pb.Compare_LEASE:
		c.TargetUnion = &pb.Compare_Lease{Lease: int64(v.(int))}
	}
	return c
}

// txnFixture: 2: put a=m (lease 5)   3: put b=x   4: put a=n   (a: create 2, mod 4, version 2)
func txnFixture(t *testing.T) *env {
	e := newEnv(t)
	e.leases[5] = true
	e.mustPut("a", "m", withLease(5))
	e.mustPut("b", "x")
	e.mustPut("a", "n", ignoreLease())
	return e
}

func TestTxnCompareParity(t *testing.T) {
	const (
		eq = pb.Compare_EQUAL
		ne = pb.Compare_NOT_EQUAL
		gt = pb.Compare_GREATER
		lt = pb.Compare_LESS
	)
	for _, tc := range []struct {
		name string
		cmp  *pb.Compare
		want bool
	}{
		{"value =", cmp("a", pb.Compare_VALUE, eq, "n"), true},
		{"value = wrong", cmp("a", pb.Compare_VALUE, eq, "m"), false},
		{"value !=", cmp("a", pb.Compare_VALUE, ne, "m"), true},
		{"value >", cmp("a", pb.Compare_VALUE, gt, "m"), true},
		{"value <", cmp("a", pb.Compare_VALUE, lt, "m"), false},
		{"value on a missing key always fails, even !=", cmp("zz", pb.Compare_VALUE, ne, "q"), false},
		{"version =", cmp("a", pb.Compare_VERSION, eq, 2), true},
		{"version >", cmp("a", pb.Compare_VERSION, gt, 1), true},
		{"version of a missing key is 0", cmp("zz", pb.Compare_VERSION, eq, 0), true},
		{"create =", cmp("a", pb.Compare_CREATE, eq, 2), true},
		{"create <", cmp("a", pb.Compare_CREATE, lt, 2), false},
		{"create of a missing key is 0", cmp("zz", pb.Compare_CREATE, eq, 0), true},
		{"mod =", cmp("a", pb.Compare_MOD, eq, 4), true},
		{"mod !=", cmp("b", pb.Compare_MOD, ne, 3), false},
		{"mod <", cmp("b", pb.Compare_MOD, lt, 4), true},
		{"lease =", cmp("a", pb.Compare_LEASE, eq, 5), true},
		{"lease = 0 on a key without lease", cmp("b", pb.Compare_LEASE, eq, 0), true},
		{"lease >", cmp("a", pb.Compare_LEASE, gt, 5), false},
		{"range: every key must match", &pb.Compare{Key: []byte("a"), RangeEnd: []byte("c"), Target: pb.Compare_VERSION,
			Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 0}}, true},
		{"range: one key fails", &pb.Compare{Key: []byte("a"), RangeEnd: []byte{0}, Target: pb.Compare_VERSION,
			Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 1}}, false},
		{"target union of another kind compares with 0", &pb.Compare{Key: []byte("a"), Target: pb.Compare_MOD,
			Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 100}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := txnFixture(t)
			resp, evs, err := e.txn(&pb.TxnRequest{
				Compare: []*pb.Compare{tc.cmp},
				Success: []*pb.RequestOp{rangeOp("a", "")},
				Failure: []*pb.RequestOp{rangeOp("b", "")},
			})
			require.NoError(t, err)
			require.Equal(t, tc.want, resp.Succeeded)
			require.Empty(t, evs)
			require.EqualValues(t, 4, resp.Header.Revision, "a read-only txn creates no revision")
			rr := resp.Responses[0].GetResponseRange()
			if tc.want {
				require.Equal(t, "a", string(rr.Kvs[0].Key))
			} else {
				require.Equal(t, "b", string(rr.Kvs[0].Key))
			}
		})
	}
}

func TestTxnWritesParity(t *testing.T) {
	e := txnFixture(t)
	resp, evs, err := e.txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmp("a", pb.Compare_VERSION, pb.Compare_EQUAL, 2)},
		Success: []*pb.RequestOp{
			rangeOp("c", ""),           // before any change: header at the old revision
			putOp("c", "1"),            // sub revision 0
			rangeOp("c", ""),           // sees the txn's own put
			delOp("b", ""),             // sub revision 1
			delOp("nothing", "zz\xff"), // deletes nothing
			txnOp(&pb.TxnRequest{ // nested: its compare sees the state before the outer txn
				Compare: []*pb.Compare{cmp("c", pb.Compare_VERSION, pb.Compare_EQUAL, 0)},
				Success: []*pb.RequestOp{putOp("d", "2")},
				Failure: []*pb.RequestOp{putOp("e", "2")},
			}),
		},
	})
	require.NoError(t, err)
	require.True(t, resp.Succeeded)
	require.EqualValues(t, 5, resp.Header.Revision)
	r := resp.Responses
	require.Len(t, r, 6)
	require.EqualValues(t, 4, r[0].GetResponseRange().Header.Revision)
	require.Empty(t, r[0].GetResponseRange().Kvs)
	require.EqualValues(t, 5, r[1].GetResponsePut().Header.Revision)
	require.EqualValues(t, 5, r[2].GetResponseRange().Header.Revision)
	require.Equal(t, "1", string(r[2].GetResponseRange().Kvs[0].Value))
	require.EqualValues(t, 1, r[3].GetResponseDeleteRange().Deleted)
	require.EqualValues(t, 0, r[4].GetResponseDeleteRange().Deleted)
	require.EqualValues(t, 5, r[4].GetResponseDeleteRange().Header.Revision)
	nested := r[5].GetResponseTxn()
	require.True(t, nested.Succeeded, "nested compare ran before the outer put of c")
	require.EqualValues(t, 0, nested.Header.Revision, "etcd leaves nested txn headers without revision")
	require.EqualValues(t, 5, nested.Responses[0].GetResponsePut().Header.Revision)
	// Events in sub-revision order.
	require.Len(t, evs, 3)
	require.Equal(t, mvccpb.Event_PUT, evs[0].Type)
	require.Equal(t, "c", string(evs[0].Kv.Key))
	require.Equal(t, mvccpb.Event_DELETE, evs[1].Type)
	require.Equal(t, "b", string(evs[1].Kv.Key))
	require.Equal(t, "x", string(evs[1].PrevKv.Value))
	require.Equal(t, "d", string(evs[2].Kv.Key))
	hist, err := e.s.EventsBetween(e.db, []byte{0}, []byte{0}, 5, 5, 0)
	require.NoError(t, err)
	require.Len(t, hist, 3)
	for i := range hist {
		require.Equal(t, evs[i].Type, hist[i].Type)
		require.Equal(t, evs[i].Kv.Key, hist[i].Kv.Key)
		require.Equal(t, evs[i].Kv.ModRevision, hist[i].Kv.ModRevision)
	}
	require.Nil(t, e.get("e"))
	require.Equal(t, "2", string(e.get("d").Value))
}

func TestTxnFailureBranchAndEmptyTxn(t *testing.T) {
	e := txnFixture(t)
	resp, evs, err := e.txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmp("a", pb.Compare_VALUE, pb.Compare_EQUAL, "nope")},
		Success: []*pb.RequestOp{putOp("s", "1")},
		Failure: []*pb.RequestOp{putOp("f", "1")},
	})
	require.NoError(t, err)
	require.False(t, resp.Succeeded)
	require.Len(t, evs, 1)
	require.Equal(t, "f", string(evs[0].Kv.Key))
	require.EqualValues(t, 5, resp.Header.Revision)
	// An empty txn succeeds and creates no revision.
	resp, evs, err = e.txn(&pb.TxnRequest{})
	require.NoError(t, err)
	require.True(t, resp.Succeeded)
	require.Empty(t, evs)
	require.EqualValues(t, 5, resp.Header.Revision)
	// A txn whose branch only deletes nothing creates no revision either.
	resp, _, err = e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{delOp("nothing", "")}})
	require.NoError(t, err)
	require.EqualValues(t, 5, resp.Header.Revision)
	require.EqualValues(t, 5, e.s.CurrentRevision())
}

func TestTxnRejectsParity(t *testing.T) {
	many := make([]*pb.RequestOp, DefaultMaxTxnOps+1)
	for i := range many {
		many[i] = rangeOp("k", "")
	}
	manyCmps := make([]*pb.Compare, DefaultMaxTxnOps+1)
	for i := range manyCmps {
		manyCmps[i] = cmp("k", pb.Compare_VERSION, pb.Compare_EQUAL, 0)
	}
	putIgnore := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("missing"), IgnoreValue: true}}}
	putLease := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k"), Lease: 42}}}
	for _, tc := range []struct {
		name    string
		req     *pb.TxnRequest
		wantErr string
	}{
		{"too many success ops", &pb.TxnRequest{Success: many}, "etcdserver: too many operations in txn request"},
		{"too many compares", &pb.TxnRequest{Compare: manyCmps}, "etcdserver: too many operations in txn request"},
		{"nested txn shares the budget", &pb.TxnRequest{
			Success: append(append([]*pb.RequestOp{}, many[:DefaultMaxTxnOps-1]...),
				txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("x", ""), putOp("y", "")}})),
		}, "etcdserver: too many operations in txn request"},
		{"compare with empty key", &pb.TxnRequest{Compare: []*pb.Compare{{Target: pb.Compare_VERSION}}}, "etcdserver: key is not provided"},
		{"put with empty key", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("", "v")}}, "etcdserver: key is not provided"},
		{"empty op", &pb.TxnRequest{Failure: []*pb.RequestOp{{}}}, "etcdserver: key not found"},
		{"same key put twice", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("k", "1"), putOp("k", "2")}},
			"etcdserver: duplicate key given in txn request"},
		{"put and delete of the same key", &pb.TxnRequest{Success: []*pb.RequestOp{delOp("a", "z"), putOp("k", "2")}},
			"etcdserver: duplicate key given in txn request"},
		{"put in nested txn and outer", &pb.TxnRequest{Success: []*pb.RequestOp{
			txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("k", "1")}}), putOp("k", "2")}},
			"etcdserver: duplicate key given in txn request"},
		{"nested put under an outer delete", &pb.TxnRequest{Failure: []*pb.RequestOp{
			delOp("k", ""), txnOp(&pb.TxnRequest{Failure: []*pb.RequestOp{putOp("k", "1")}})}},
			"etcdserver: duplicate key given in txn request"},
		{"put under a from-key delete", &pb.TxnRequest{Success: []*pb.RequestOp{delOp("a", "\x00"), putOp("k", "2")}},
			"etcdserver: duplicate key given in txn request"},
		{"too large", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("k", string(make([]byte, DefaultMaxRequestBytes)))}},
			"etcdserver: request is too large"},
		{"unknown lease on the taken branch", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("z", "1"), putLease}},
			"etcdserver: requested lease not found"},
		{"ignore_value on a missing key", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("z", "1"), putIgnore}},
			"etcdserver: key not found"},
		{"unknown lease is checked before a missing key", &pb.TxnRequest{Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("missing"), IgnoreValue: true, Lease: 42}}}}},
			"etcdserver: requested lease not found"},
		{"nested unknown lease", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("z", "1"),
			txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{putLease}})}}, "etcdserver: requested lease not found"},
		{"range at a future revision", &pb.TxnRequest{Success: []*pb.RequestOp{putOp("z", "1"),
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 5}}}}},
			"mvcc: required revision is a future revision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := txnFixture(t)
			_, _, err := e.txn(tc.req)
			require.Equal(t, tc.wantErr, errText(err))
			require.EqualValues(t, 4, e.s.CurrentRevision())
			require.Nil(t, e.get("z"), "a rejected txn wrote something")
		})
	}
	// Exclusive branches of a nested txn may put the same key; the branch not taken is not checked.
	e := txnFixture(t)
	resp, _, err := e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{txnOp(&pb.TxnRequest{
		Compare: []*pb.Compare{cmp("a", pb.Compare_VALUE, pb.Compare_EQUAL, "n")},
		Success: []*pb.RequestOp{putOp("k", "then")},
		Failure: []*pb.RequestOp{putOp("k", "else"), {Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k2"), Lease: 42}}}},
	})}})
	require.NoError(t, err)
	require.True(t, resp.Responses[0].GetResponseTxn().Succeeded)
	require.Equal(t, "then", string(e.get("k").Value))
}

func TestTxnRangeAtCompactedRevision(t *testing.T) {
	e := txnFixture(t)
	require.NoError(t, e.compact(3))
	_, _, err := e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 2}}}}})
	require.Equal(t, "mvcc: required revision has been compacted", errText(err))
}

func TestReadTxn(t *testing.T) {
	e := txnFixture(t)
	resp, err := e.s.ReadTxn(e.db, &pb.TxnRequest{
		Compare: []*pb.Compare{cmp("b", pb.Compare_VALUE, pb.Compare_EQUAL, "x")},
		Success: []*pb.RequestOp{rangeOp("a", "c")},
	})
	require.NoError(t, err)
	require.True(t, resp.Succeeded)
	require.EqualValues(t, 4, resp.Header.Revision)
	require.Equal(t, []string{"a", "b"}, keysOf(resp.Responses[0].GetResponseRange().Kvs))
	_, err = e.s.ReadTxn(e.db, &pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "")}})
	require.ErrorContains(t, err, "writes")
	_, err = e.s.ReadTxn(e.db, &pb.TxnRequest{Success: []*pb.RequestOp{rangeOp("", "")}})
	require.Equal(t, "etcdserver: key is not provided", errText(err))
}
