package etcdparity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/pkg/v3/traceutil"
	etcderrors "go.etcd.io/etcd/server/v3/etcdserver/errors"
	etcdtxn "go.etcd.io/etcd/server/v3/etcdserver/txn"
	"go.etcd.io/etcd/server/v3/lease"
	"go.etcd.io/etcd/server/v3/storage/backend"
	etcdmvcc "go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.uber.org/zap"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

func envInt(t *testing.T, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(t, err, name)
		return v
	}
	return def
}

func seeds(t *testing.T) []uint64 {
	if s := os.Getenv("SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return []uint64{v}
	}
	base := uint64(time.Now().UnixNano())
	out := make([]uint64, envInt(t, "PARITY_RUNS", 4))
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

// etcdSide is etcd's store as its apply loop drives it.
type etcdSide struct {
	lg *zap.Logger
	be backend.Backend
	le lease.Lessor
	s  etcdmvcc.KV
}

func newEtcd(t *testing.T) *etcdSide {
	lg := zap.NewNop()
	be := backend.NewDefaultBackend(lg, filepath.Join(t.TempDir(), "etcd.db"))
	le := lease.NewLessor(lg, be, nil, lease.LessorConfig{MinLeaseTTL: 1})
	s := etcdmvcc.NewStore(lg, be, le, etcdmvcc.StoreConfig{})
	for _, id := range []lease.LeaseID{1, 2} {
		_, err := le.Grant(id, 1000)
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		le.Stop()
		_ = be.Close()
	})
	return &etcdSide{lg: lg, be: be, le: le, s: s}
}

// ballastSide is kv/mvcc with one committed batch per command.
type ballastSide struct {
	db     *pebble.DB
	s      *mvcc.Store
	leases leaseSet
}

type leaseSet map[int64]bool

func (l leaseSet) LeaseExists(id int64) bool { return l[id] }

func (b *ballastSide) apply(fn func(batch *pebble.Batch) error) error {
	batch := b.db.NewIndexedBatch()
	defer batch.Close()
	if err := fn(batch); err != nil {
		return err
	}
	return batch.Commit(pebble.NoSync)
}

// errText maps both sides' errors to what a client sees: etcd's server errors become the
// gRPC errors its v3rpc layer would send.
func errText(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, lease.ErrLeaseNotFound):
		err = rpctypes.ErrGRPCLeaseNotFound
	case errors.Is(err, etcderrors.ErrKeyNotFound):
		err = rpctypes.ErrGRPCKeyNotFound
	case errors.Is(err, etcdmvcc.ErrCompacted), errors.Is(err, mvcc.ErrCompacted):
		err = rpctypes.ErrGRPCCompacted
	case errors.Is(err, etcdmvcc.ErrFutureRev), errors.Is(err, mvcc.ErrFutureRev):
		err = rpctypes.ErrGRPCFutureRev
	}
	if s, ok := status.FromError(err); ok {
		return s.Message()
	}
	return err.Error()
}

var keys = []string{"a", "a\x00", "a\x00\xff", "b", "b\xff", "c", "cc", "d"}

type gen struct{ r *rand.Rand }

func (g gen) key() []byte { return []byte(keys[g.r.IntN(len(keys))]) }

func (g gen) rangeEnd(key []byte) []byte {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []byte{0}
	case 2:
		end := bytes.Clone(key)
		end[len(end)-1]++
		return end
	}
	return g.key()
}

func (g gen) put(key []byte) *pb.PutRequest {
	req := &pb.PutRequest{Key: key, Value: []byte(fmt.Sprintf("v%d", g.r.IntN(20))),
		Lease: []int64{0, 0, 0, 1, 2, 9}[g.r.IntN(6)], PrevKv: g.r.IntN(2) == 0}
	switch g.r.IntN(8) {
	case 0:
		req.IgnoreValue, req.Value = true, nil
	case 1:
		req.IgnoreLease, req.Lease = true, 0
	}
	return req
}

func (g gen) rangeReq(current int64) *pb.RangeRequest {
	key := g.key()
	req := &pb.RangeRequest{Key: key, RangeEnd: g.rangeEnd(key)}
	if g.r.IntN(3) == 0 {
		req.Revision = g.r.Int64N(current + 2)
	}
	if g.r.IntN(3) == 0 {
		req.Limit = g.r.Int64N(4)
	}
	if g.r.IntN(3) == 0 {
		req.SortOrder = pb.RangeRequest_SortOrder(g.r.IntN(3))
		req.SortTarget = pb.RangeRequest_SortTarget(g.r.IntN(5))
	}
	if g.r.IntN(5) == 0 {
		req.MinModRevision = g.r.Int64N(current + 1)
	}
	if g.r.IntN(5) == 0 {
		req.MaxCreateRevision = g.r.Int64N(current + 1)
	}
	req.CountOnly = g.r.IntN(8) == 0
	req.KeysOnly = g.r.IntN(6) == 0
	return req
}

func (g gen) compare() *pb.Compare {
	c := &pb.Compare{Key: g.key(), Result: pb.Compare_CompareResult(g.r.IntN(4)), Target: pb.Compare_CompareTarget(g.r.IntN(5))}
	if g.r.IntN(4) == 0 {
		c.RangeEnd = g.rangeEnd(c.Key)
	}
	n := g.r.Int64N(6)
	switch c.Target {
	case pb.Compare_VALUE:
		c.TargetUnion = &pb.Compare_Value{Value: []byte(fmt.Sprintf("v%d", g.r.IntN(20)))}
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: n}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: n * 3}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: n * 3}
	case pb.Compare_LEASE:
		c.TargetUnion = &pb.Compare_Lease{Lease: n % 3}
	}
	return c
}

// txn writes distinct keys (taken from free) so it never trips the duplicate-key check,
// which etcd makes in its gRPC layer, outside the code compared here.
func (g gen) txn(depth int, free *[]string, current int64) *pb.TxnRequest {
	req := &pb.TxnRequest{}
	for i := g.r.IntN(3); i > 0; i-- {
		req.Compare = append(req.Compare, g.compare())
	}
	ops := func() []*pb.RequestOp {
		var ops []*pb.RequestOp
		for i := g.r.IntN(4); i > 0; i-- {
			switch k := g.r.IntN(10); {
			case k < 3:
				r := g.rangeReq(current)
				if g.r.IntN(2) == 0 {
					r.Revision = 0
				}
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}})
			case k < 6 && len(*free) > 0:
				key := (*free)[0]
				*free = (*free)[1:]
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: g.put([]byte(key))}})
			case k < 8 && len(*free) > 0:
				key := (*free)[0]
				*free = (*free)[1:]
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{
					RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key), PrevKv: g.r.IntN(2) == 0}}})
			case depth < 2:
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: g.txn(depth+1, free, current)}})
			}
		}
		return ops
	}
	req.Success = ops()
	req.Failure = ops()
	return req
}

type run struct {
	counts map[string]int // compared answers per kind, for the log
	t      *testing.T
	seed   uint64
	g      gen
	e      *etcdSide
	b      *ballastSide
}

func (r *run) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("seed %d (re-run with SEED=%d): %s", r.seed, r.seed, fmt.Sprintf(format, args...))
}

func (r *run) sameErr(what string, etcdErr, ballastErr error) bool {
	r.t.Helper()
	if errText(etcdErr) != errText(ballastErr) {
		r.fail("%s: etcd error %q, ballast error %q", what, errText(etcdErr), errText(ballastErr))
	}
	return etcdErr == nil
}

func (r *run) sameMsg(what string, etcd, ballast proto.Message) {
	r.t.Helper()
	if !proto.Equal(etcd, ballast) {
		r.fail("%s:\netcd:    %s\nballast: %s", what, prototext.Format(etcd), prototext.Format(ballast))
	}
}

// sortTargetOf lists, for a sorted range answer, the values of its sort target in order:
// what etcd's unstable sort and Ballast's stable sort must agree on.
func sortTargetOf(kv *mvccpb.KeyValue, target pb.RangeRequest_SortTarget) string {
	switch target {
	case pb.RangeRequest_VERSION:
		return fmt.Sprint(kv.Version)
	case pb.RangeRequest_CREATE:
		return fmt.Sprint(kv.CreateRevision)
	case pb.RangeRequest_MOD:
		return fmt.Sprint(kv.ModRevision)
	case pb.RangeRequest_VALUE:
		return string(kv.Value)
	}
	return string(kv.Key)
}

func (r *run) compareRange(what string, req *pb.RangeRequest, etcd, ballast *pb.RangeResponse) {
	r.t.Helper()
	if req.SortTarget == pb.RangeRequest_KEY || len(etcd.GetKvs()) == 0 {
		r.sameMsg(what, etcd, ballast)
		return
	}
	// Keys tying on the sort target may come in another order (and, at a limit, be other
	// keys): compare everything but the key order within ties.
	ek, bk := proto.Clone(etcd).(*pb.RangeResponse), proto.Clone(ballast).(*pb.RangeResponse)
	var et, bt []string
	for _, kv := range ek.Kvs {
		et = append(et, sortTargetOf(kv, req.SortTarget))
	}
	for _, kv := range bk.Kvs {
		bt = append(bt, sortTargetOf(kv, req.SortTarget))
	}
	if fmt.Sprint(et) != fmt.Sprint(bt) {
		r.fail("%s: sort target sequences differ: etcd %q, ballast %q", what, et, bt)
	}
	ek.Kvs, bk.Kvs = nil, nil
	r.sameMsg(what+" (without kvs)", ek, bk)
}

func (r *run) step(i int, current int64) {
	r.counts["ops"]++
	ctx := context.Background()
	what := func(s string) string { return fmt.Sprintf("op %d %s", i, s) }
	g := r.g
	switch k := g.r.IntN(100); {
	case k < 28:
		req := g.put(g.key())
		er, _, eerr := etcdtxn.Put(ctx, r.e.lg, r.e.le, r.e.s, req)
		var br *pb.PutResponse
		berr := r.b.apply(func(batch *pebble.Batch) (err error) { br, _, err = r.b.s.Put(batch, req, r.b.leases); return err })
		if r.sameErr(what("put "+req.String()), eerr, berr) {
			r.sameMsg(what("put "+req.String()), er, br)
		}
	case k < 38:
		key := g.key()
		req := &pb.DeleteRangeRequest{Key: key, RangeEnd: g.rangeEnd(key), PrevKv: g.r.IntN(2) == 0}
		er, _, eerr := etcdtxn.DeleteRange(ctx, r.e.lg, r.e.s, req)
		var br *pb.DeleteRangeResponse
		berr := r.b.apply(func(batch *pebble.Batch) (err error) { br, _, err = r.b.s.DeleteRange(batch, req); return err })
		if r.sameErr(what("delete "+req.String()), eerr, berr) {
			r.sameMsg(what("delete "+req.String()), er, br)
		}
	case k < 60:
		free := append([]string(nil), keys...)
		g.r.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
		req := g.txn(0, &free, current)
		er, _, eerr := etcdtxn.Txn(ctx, r.e.lg, req, false, r.e.s, r.e.le, false)
		var br *pb.TxnResponse
		berr := r.b.apply(func(batch *pebble.Batch) (err error) { br, _, err = r.b.s.Txn(batch, req, r.b.leases); return err })
		if r.sameErr(what("txn "+req.String()), eerr, berr) {
			if hasSortedRange(req) {
				// Compare the txn's ranges one by one to allow for ties; the rest exactly.
				compareTxn(r, what("txn "+req.String()), req, er, br)
			} else {
				r.sameMsg(what("txn "+req.String()), er, br)
			}
		}
	case k < 85:
		req := g.rangeReq(current)
		er, _, eerr := etcdtxn.Range(ctx, r.e.lg, r.e.s, req, true)
		br, berr := r.b.s.Range(r.b.db, req)
		if r.sameErr(what("range "+req.String()), eerr, berr) {
			r.compareRange(what("range "+req.String()), req, er, br)
		}
	case k < 92:
		rev := g.r.Int64N(current + 2)
		ch, eerr := r.e.s.(interface {
			Compact(*traceutil.Trace, int64) (<-chan struct{}, error)
		}).Compact(traceutil.TODO(), rev)
		if eerr == nil {
			<-ch // etcd compacts in the background; wait so hashes compare finished stores
		}
		berr := r.b.apply(func(batch *pebble.Batch) error { _, err := r.b.s.Compact(batch, rev); return err })
		r.sameErr(what(fmt.Sprintf("compact %d", rev)), eerr, berr)
		if berr == nil && g.r.IntN(2) == 0 {
			for done := false; !done; {
				require.NoError(r.t, r.b.apply(func(batch *pebble.Batch) (err error) { done, err = r.b.s.CompactStep(batch, 3); return err }))
			}
		}
	default:
		rev := g.r.Int64N(current + 2)
		eh, _, eerr := r.e.s.(interface {
			HashStorage() etcdmvcc.HashStorage
		}).HashStorage().HashByRev(rev)
		bh, berr := r.b.s.HashKV(r.b.db, rev)
		if eerr == nil && errors.Is(berr, mvcc.ErrCompacted) {
			return // etcd answers from hashes it cached at its last compactions; Ballast refuses
		}
		if !r.sameErr(what(fmt.Sprintf("hashkv %d", rev)), eerr, berr) {
			return
		}
		live, err := r.b.s.Range(r.b.db, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: bh.HashRevision, CountOnly: true})
		require.NoError(r.t, err)
		if live.Count == 0 {
			return // the documented corner: no live key at the hashed revision
		}
		if eh.CompactRevision != bh.CompactRevision {
			return // etcd answered from its cache of hashes taken at past compactions
		}
		r.counts["hashkv compared"]++
		if eh.Hash != bh.Hash || eh.CompactRevision != bh.CompactRevision || eh.Revision != bh.HashRevision {
			r.fail("%s: etcd %+v, ballast hash %d compact %d revision %d", what(fmt.Sprintf("hashkv %d", rev)),
				eh, bh.Hash, bh.CompactRevision, bh.HashRevision)
		}
	}
}

func hasSortedRange(req *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			if rr := op.GetRequestRange(); rr != nil && rr.SortTarget != pb.RangeRequest_KEY {
				return true
			}
			if n := op.GetRequestTxn(); n != nil && hasSortedRange(n) {
				return true
			}
		}
	}
	return false
}

func compareTxn(r *run, what string, req *pb.TxnRequest, etcd, ballast *pb.TxnResponse) {
	r.t.Helper()
	if etcd.Succeeded != ballast.Succeeded || len(etcd.Responses) != len(ballast.Responses) ||
		etcd.Header.GetRevision() != ballast.Header.GetRevision() {
		r.fail("%s:\netcd:    %s\nballast: %s", what, prototext.Format(etcd), prototext.Format(ballast))
	}
	ops := req.Success
	if !etcd.Succeeded {
		ops = req.Failure
	}
	for i, op := range ops {
		e, b := etcd.Responses[i], ballast.Responses[i]
		switch {
		case op.GetRequestRange() != nil:
			r.compareRange(fmt.Sprintf("%s response %d", what, i), op.GetRequestRange(), e.GetResponseRange(), b.GetResponseRange())
		case op.GetRequestTxn() != nil:
			compareTxn(r, fmt.Sprintf("%s response %d", what, i), op.GetRequestTxn(), e.GetResponseTxn(), b.GetResponseTxn())
		default:
			r.sameMsg(fmt.Sprintf("%s response %d", what, i), e, b)
		}
	}
}

func TestSameAnswersAsEtcd(t *testing.T) {
	ops := envInt(t, "PARITY_OPS", 400)
	total := map[string]int{}
	for _, seed := range seeds(t) {
		t.Logf("seed %d (re-run with SEED=%d)", seed, seed)
		db := kvtest.MustOpenMem(t)
		s, err := mvcc.Open(db, mvcc.Config{})
		require.NoError(t, err)
		r := &run{counts: map[string]int{}, t: t, seed: seed, g: gen{rand.New(rand.NewPCG(seed, 7))}, e: newEtcd(t),
			b: &ballastSide{db: db, s: s, leases: leaseSet{1: true, 2: true}}}
		for i := 0; i < ops; i++ {
			current := s.CurrentRevision()
			if got := r.e.s.Rev(); got != current {
				r.fail("op %d: etcd at revision %d, ballast at %d", i, got, current)
			}
			r.step(i, current)
		}
		for k, v := range r.counts {
			total[k] += v
		}
	}
	t.Logf("compared: %d operations, %d hashes (the rest skipped as documented)", total["ops"], total["hashkv compared"])
	require.Positive(t, total["hashkv compared"], "no HashKV was compared; raise PARITY_RUNS or PARITY_OPS")
}
