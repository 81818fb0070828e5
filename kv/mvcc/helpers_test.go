package mvcc

import (
	"os"
	"testing"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// env is one store on one in-memory Pebble DB; each write runs in its own committed batch,
// as the apply loop does.
type env struct {
	t      testing.TB
	db     *pebble.DB
	s      *Store
	leases leaseSet
}

type leaseSet map[int64]bool

func (l leaseSet) LeaseExists(id int64) bool { return l[id] }

func init() { stateCheckEvery = 1 } // every write call checks the store's copy of the state

func newEnv(t testing.TB) *env {
	t.Helper()
	db := kvtest.MustOpenMem(t)
	s, err := Open(db, Config{})
	require.NoError(t, err)
	return &env{t: t, db: db, s: s, leases: leaseSet{}}
}

// apply runs fn in a fresh indexed batch and commits it only when fn succeeded.
func (e *env) apply(fn func(b *pebble.Batch) error) error {
	b := e.db.NewIndexedBatch()
	defer b.Close()
	if err := fn(b); err != nil {
		require.True(e.t, b.Empty(), "a failed write call left %d bytes in the batch", b.Len())
		return err
	}
	return b.Commit(pebble.NoSync)
}

func (e *env) put(key, value string, opts ...func(*pb.PutRequest)) (*pb.PutResponse, []*mvccpb.Event, error) {
	req := &pb.PutRequest{Key: []byte(key), Value: []byte(value)}
	for _, o := range opts {
		o(req)
	}
	var resp *pb.PutResponse
	var evs []*mvccpb.Event
	err := e.apply(func(b *pebble.Batch) (err error) {
		resp, evs, err = e.s.Put(b, req, e.leases)
		return err
	})
	return resp, evs, err
}

func (e *env) mustPut(key, value string, opts ...func(*pb.PutRequest)) *pb.PutResponse {
	resp, _, err := e.put(key, value, opts...)
	require.NoError(e.t, err)
	return resp
}

func (e *env) del(key, end string, prevKv bool) (*pb.DeleteRangeResponse, []*mvccpb.Event, error) {
	req := &pb.DeleteRangeRequest{Key: []byte(key), PrevKv: prevKv}
	if end != "" {
		req.RangeEnd = []byte(end)
	}
	var resp *pb.DeleteRangeResponse
	var evs []*mvccpb.Event
	err := e.apply(func(b *pebble.Batch) (err error) {
		resp, evs, err = e.s.DeleteRange(b, req)
		return err
	})
	return resp, evs, err
}

func (e *env) txn(req *pb.TxnRequest) (*pb.TxnResponse, []*mvccpb.Event, error) {
	var resp *pb.TxnResponse
	var evs []*mvccpb.Event
	err := e.apply(func(b *pebble.Batch) (err error) {
		resp, evs, err = e.s.Txn(b, req, e.leases)
		return err
	})
	return resp, evs, err
}

func (e *env) compact(rev int64) error {
	return e.apply(func(b *pebble.Batch) error {
		_, err := e.s.Compact(b, rev)
		return err
	})
}

// compactAll runs CompactSteps of maxEntries until done and returns how many it took.
func (e *env) compactAll(maxEntries int) int {
	steps := 0
	for {
		var done bool
		require.NoError(e.t, e.apply(func(b *pebble.Batch) (err error) {
			done, err = e.s.CompactStep(b, maxEntries)
			return err
		}))
		steps++
		if done {
			return steps
		}
	}
}

func (e *env) rangeReq(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	return e.s.Range(e.db, req)
}

func (e *env) get(key string) *mvccpb.KeyValue {
	resp, err := e.rangeReq(&pb.RangeRequest{Key: []byte(key)})
	require.NoError(e.t, err)
	if len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0]
}

func keysOf(kvs []*mvccpb.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = string(kv.Key)
	}
	return out
}

func withLease(id int64) func(*pb.PutRequest) { return func(r *pb.PutRequest) { r.Lease = id } }
func ignoreLease() func(*pb.PutRequest)       { return func(r *pb.PutRequest) { r.IgnoreLease = true } }

func putOp(key, value string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}}
}

func delOp(key, end string) *pb.RequestOp {
	r := &pb.DeleteRangeRequest{Key: []byte(key)}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: r}}
}

func rangeOp(key, end string) *pb.RequestOp {
	r := &pb.RangeRequest{Key: []byte(key)}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}}
}

func txnOp(t *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: t}}
}

func lookupEnv(name string) string { return os.Getenv(name) }
