package mvcc

import (
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestPutParity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(e *env)
		req     *pb.PutRequest
		wantErr string
		check   func(t *testing.T, e *env, resp *pb.PutResponse, evs []*mvccpb.Event)
	}{
		{name: "empty key", req: &pb.PutRequest{Value: []byte("v")}, wantErr: "etcdserver: key is not provided"},
		{name: "ignore_value with a value", req: &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true},
			wantErr: "etcdserver: value is provided"},
		{name: "ignore_lease with a lease", req: &pb.PutRequest{Key: []byte("k"), Lease: 5, IgnoreLease: true},
			wantErr: "etcdserver: lease is provided"},
		{name: "unknown lease", req: &pb.PutRequest{Key: []byte("k"), Lease: 99}, wantErr: "etcdserver: requested lease not found"},
		{name: "ignore_value on a missing key", req: &pb.PutRequest{Key: []byte("k"), IgnoreValue: true}, wantErr: "etcdserver: key not found"},
		{name: "ignore_lease on a missing key", req: &pb.PutRequest{Key: []byte("k"), IgnoreLease: true}, wantErr: "etcdserver: key not found"},
		{name: "too large", req: &pb.PutRequest{Key: []byte("k"), Value: []byte(strings.Repeat("x", DefaultMaxRequestBytes))},
			wantErr: "etcdserver: request is too large"},
		{name: "create", req: &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), PrevKv: true},
			check: func(t *testing.T, e *env, resp *pb.PutResponse, evs []*mvccpb.Event) {
				require.EqualValues(t, 2, resp.Header.Revision)
				require.Nil(t, resp.PrevKv)
				require.Len(t, evs, 1)
				require.Equal(t, mvccpb.Event_PUT, evs[0].Type)
				require.Nil(t, evs[0].PrevKv)
				require.Equal(t, "k", string(evs[0].Kv.Key))
				require.EqualValues(t, []int64{2, 2, 1}, []int64{evs[0].Kv.CreateRevision, evs[0].Kv.ModRevision, evs[0].Kv.Version})
			}},
		{name: "update with prev_kv and a lease", setup: func(e *env) { e.leases[7] = true; e.mustPut("k", "old") },
			req: &pb.PutRequest{Key: []byte("k"), Value: []byte("new"), PrevKv: true, Lease: 7},
			check: func(t *testing.T, e *env, resp *pb.PutResponse, evs []*mvccpb.Event) {
				require.EqualValues(t, 3, resp.Header.Revision)
				require.Equal(t, "old", string(resp.PrevKv.Value))
				require.EqualValues(t, 2, resp.PrevKv.ModRevision)
				kv := e.get("k")
				require.Equal(t, "new", string(kv.Value))
				require.EqualValues(t, []int64{2, 3, 2, 7}, []int64{kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease})
				require.Equal(t, "old", string(evs[0].PrevKv.Value))
				require.EqualValues(t, 7, evs[0].Kv.Lease)
			}},
		{name: "ignore_value keeps the value", setup: func(e *env) { e.mustPut("k", "keep") },
			req: &pb.PutRequest{Key: []byte("k"), IgnoreValue: true},
			check: func(t *testing.T, e *env, resp *pb.PutResponse, evs []*mvccpb.Event) {
				require.Nil(t, resp.PrevKv, "prev_kv not asked")
				kv := e.get("k")
				require.Equal(t, "keep", string(kv.Value))
				require.EqualValues(t, 2, kv.Version)
			}},
		{name: "ignore_lease keeps the lease", setup: func(e *env) { e.leases[3] = true; e.mustPut("k", "a", withLease(3)) },
			req: &pb.PutRequest{Key: []byte("k"), Value: []byte("b"), IgnoreLease: true},
			check: func(t *testing.T, e *env, resp *pb.PutResponse, evs []*mvccpb.Event) {
				kv := e.get("k")
				require.Equal(t, "b", string(kv.Value))
				require.EqualValues(t, 3, kv.Lease)
			}},
		{name: "recreate after delete restarts version and create revision",
			setup: func(e *env) {
				e.mustPut("k", "a")
				_, _, err := e.del("k", "", false)
				require.NoError(t, err)
			},
			req: &pb.PutRequest{Key: []byte("k"), Value: []byte("b"), PrevKv: true},
			check: func(t *testing.T, e *env, resp *pb.PutResponse, evs []*mvccpb.Event) {
				require.Nil(t, resp.PrevKv)
				kv := e.get("k")
				require.EqualValues(t, []int64{4, 4, 1}, []int64{kv.CreateRevision, kv.ModRevision, kv.Version})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			before := e.s.CurrentRevision()
			var resp *pb.PutResponse
			var evs []*mvccpb.Event
			err := e.apply(func(b *pebble.Batch) (err error) {
				resp, evs, err = e.s.Put(b, tc.req, e.leases)
				return err
			})
			if tc.wantErr != "" {
				require.Equal(t, tc.wantErr, errText(err))
				require.Equal(t, before, e.s.CurrentRevision(), "a rejected put changed the revision")
				return
			}
			require.NoError(t, err)
			tc.check(t, e, resp, evs)
		})
	}
}

func TestDeleteRangeParity(t *testing.T) {
	e := newEnv(t)
	_, _, err := e.del("", "", false)
	require.Equal(t, "etcdserver: key is not provided", errText(err))
	e.mustPut("a", "1")
	e.mustPut("b", "2")
	e.mustPut("c", "3")
	// Deleting nothing: no revision, no event, header at the current revision.
	resp, evs, err := e.del("x", "z", true)
	require.NoError(t, err)
	require.EqualValues(t, 0, resp.Deleted)
	require.Empty(t, evs)
	require.Empty(t, resp.PrevKvs)
	require.EqualValues(t, 4, resp.Header.Revision)
	require.EqualValues(t, 4, e.s.CurrentRevision())
	// Delete [a, c) with prev_kvs.
	resp, evs, err = e.del("a", "c", true)
	require.NoError(t, err)
	require.EqualValues(t, 2, resp.Deleted)
	require.EqualValues(t, 5, resp.Header.Revision)
	require.Equal(t, []string{"a", "b"}, keysOf(resp.PrevKvs))
	require.Len(t, evs, 2)
	for i, ev := range evs {
		require.Equal(t, mvccpb.Event_DELETE, ev.Type)
		require.EqualValues(t, 5, ev.Kv.ModRevision)
		require.Zero(t, ev.Kv.Version, "a delete event's Kv is the key and mod revision only")
		require.Equal(t, resp.PrevKvs[i].Value, ev.PrevKv.Value)
	}
	// Without prev_kv the response has none; deleting from key with "\x00".
	resp, _, err = e.del("a", "\x00", false)
	require.NoError(t, err)
	require.EqualValues(t, 1, resp.Deleted)
	require.Nil(t, resp.PrevKvs)
	require.Nil(t, e.get("c"))
	// A deleted key is gone at the new revision, still visible before.
	old, err := e.rangeReq(&pb.RangeRequest{Key: []byte("a"), Revision: 4})
	require.NoError(t, err)
	require.Equal(t, "1", string(old.Kvs[0].Value))
}

func TestWriteNeedsIndexedBatch(t *testing.T) {
	e := newEnv(t)
	b := e.db.NewBatch()
	defer b.Close()
	_, _, err := e.s.Put(b, &pb.PutRequest{Key: []byte("k")}, nil)
	require.ErrorIs(t, err, ErrNotIndexed)
	_, err = e.s.Compact(nil, 1)
	require.ErrorIs(t, err, ErrNotIndexed)
}

func TestConfigLimits(t *testing.T) {
	e := newEnv(t)
	s, err := Open(e.db, Config{MaxRequestBytes: 64, MaxTxnOps: 2})
	require.NoError(t, err)
	e.s = s
	_, _, err = e.put("k", strings.Repeat("v", 64))
	require.Equal(t, "etcdserver: request is too large", errText(err))
	_, _, err = e.put("k", "small")
	require.NoError(t, err)
	_, _, err = e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", ""), putOp("b", ""), putOp("c", "")}})
	require.Equal(t, "etcdserver: too many operations in txn request", errText(err))
	_, _, err = e.del("k", "", false)
	require.NoError(t, err)
	_, _, err = e.del(strings.Repeat("k", 70), "", false)
	require.Equal(t, "etcdserver: request is too large", errText(err))
}
