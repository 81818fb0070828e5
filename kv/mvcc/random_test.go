package mvcc

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// Re-run a failing randomized test with -seed=N, MVCC_SEED=N or SEED=N; make runs longer with
// MVCC_RANDOM_RUNS (how many seeds) and MVCC_RANDOM_OPS (operations per seed).
var seedFlag = flag.Uint64("seed", 0, "seed for the randomized mvcc tests (0: from MVCC_SEED or the clock)")

func testSeeds(t *testing.T, defaultRuns int) []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	for _, name := range []string{"MVCC_SEED", "SEED"} {
		if s := os.Getenv(name); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			require.NoError(t, err, name)
			return []uint64{v}
		}
	}
	runs := envInt(t, "MVCC_RANDOM_RUNS", defaultRuns)
	base := uint64(time.Now().UnixNano())
	seeds := make([]uint64, runs)
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	return seeds
}

func envInt(t *testing.T, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(t, err, name)
		return v
	}
	return def
}

var randomKeys = []string{"a", "a\x00", "a\x00\xff", "b", "b\xff", "c", "cc", "d"}

type gen struct{ r *rand.Rand }

func (g gen) key() []byte { return []byte(randomKeys[g.r.IntN(len(randomKeys))]) }

func (g gen) rangeEnd(key []byte) []byte {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []byte{0}
	case 2:
		end := append([]byte(nil), key...)
		end[len(end)-1]++ // prefix
		return end
	}
	return g.key()
}

func (g gen) lease() int64 { return []int64{0, 0, 0, 0, 1, 2, 9}[g.r.IntN(7)] }

func (g gen) put(key []byte) *pb.PutRequest {
	req := &pb.PutRequest{Key: key, Value: []byte(fmt.Sprintf("v%d", g.r.IntN(50))), Lease: g.lease(), PrevKv: g.r.IntN(2) == 0}
	switch g.r.IntN(10) {
	case 0:
		req.IgnoreValue, req.Value = true, nil
	case 1:
		req.IgnoreLease, req.Lease = true, 0
	}
	return req
}

func (g gen) rangeReq(current, compact int64) *pb.RangeRequest {
	key := g.key()
	req := &pb.RangeRequest{Key: key, RangeEnd: g.rangeEnd(key)}
	if g.r.IntN(3) == 0 {
		lo := max(compact-1, 0)
		req.Revision = lo + g.r.Int64N(current-lo+2)
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
	req.KeysOnly = g.r.IntN(8) == 0
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
		c.TargetUnion = &pb.Compare_Value{Value: []byte(fmt.Sprintf("v%d", g.r.IntN(50)))}
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: n}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: n * 3}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: n * 3}
	case pb.Compare_LEASE:
		c.TargetUnion = &pb.Compare_Lease{Lease: g.lease()}
	}
	return c
}

// txn builds a txn tree whose writes use distinct keys from free (so it never trips the
// duplicate-key rule, tested on its own).
func (g gen) txn(depth int, free *[]string, current, compact int64) *pb.TxnRequest {
	req := &pb.TxnRequest{}
	for i := g.r.IntN(3); i > 0; i-- {
		req.Compare = append(req.Compare, g.compare())
	}
	ops := func() []*pb.RequestOp {
		var ops []*pb.RequestOp
		for i := g.r.IntN(4); i > 0; i-- {
			switch k := g.r.IntN(10); {
			case k < 3:
				r := g.rangeReq(current, compact)
				r.Revision = 0
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}})
			case k < 6 && len(*free) > 0:
				key := (*free)[0]
				*free = (*free)[1:]
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: g.put([]byte(key))}})
			case k < 8 && len(*free) > 0:
				key := (*free)[0]
				*free = (*free)[1:]
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key), PrevKv: g.r.IntN(2) == 0}}})
			case depth < 2:
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: g.txn(depth+1, free, current, compact)}})
			}
		}
		return ops
	}
	req.Success = ops()
	req.Failure = ops()
	return req
}

// randomRun drives a Store and the model with one random operation sequence and requires
// identical answers.
type randomRun struct {
	t    *testing.T
	g    gen
	fs   vfs.FS
	e    *env
	m    *model
	seed uint64
}

func (rr *randomRun) fail(format string, args ...any) {
	rr.t.Helper()
	rr.t.Fatalf("seed %d (re-run with -seed=%d): %s", rr.seed, rr.seed, fmt.Sprintf(format, args...))
}

func (rr *randomRun) sameErr(what string, want, got error) bool {
	rr.t.Helper()
	if errText(want) != errText(got) {
		rr.fail("%s: model error %q, store error %q", what, errText(want), errText(got))
	}
	return want == nil
}

func (rr *randomRun) sameMsg(what string, want, got proto.Message) {
	rr.t.Helper()
	if !proto.Equal(want, got) {
		rr.fail("%s:\nmodel: %s\nstore: %s", what, prototext.Format(want), prototext.Format(got))
	}
}

func (rr *randomRun) sameEvents(what string, want, got []*mvccpb.Event) {
	rr.t.Helper()
	if len(want) != len(got) {
		rr.fail("%s: model has %d events, store %d\nmodel: %v\nstore: %v", what, len(want), len(got), want, got)
	}
	for i := range want {
		rr.sameMsg(fmt.Sprintf("%s: event %d", what, i), want[i], got[i])
	}
}

func (rr *randomRun) restart() {
	require.NoError(rr.t, rr.e.db.Close())
	db, err := kvtest.OpenDB(rr.fs)
	require.NoError(rr.t, err)
	s, err := Open(db, Config{})
	require.NoError(rr.t, err)
	rr.e.db, rr.e.s = db, s
	if s.CurrentRevision() != rr.m.currentRev || s.CompactRevision() != rr.m.compactRev {
		rr.fail("after restart: revisions (%d, %d), model (%d, %d)", s.CurrentRevision(), s.CompactRevision(), rr.m.currentRev, rr.m.compactRev)
	}
	rr.checkKeys("after restart")
}

// checkKeys: the store's live key count is the model's.
func (rr *randomRun) checkKeys(what string) {
	if got, want := rr.e.s.Keys(), int64(len(rr.m.liveInRange([]byte{0}, []byte{0}, rr.m.currentRev))); got != want {
		rr.fail("%s: %d live keys, model %d", what, got, want)
	}
}

func (rr *randomRun) step(i int) {
	g, e, m := rr.g, rr.e, rr.m
	what := func(name string) string { return fmt.Sprintf("op %d %s", i, name) }
	switch k := g.r.IntN(100); {
	case k < 28:
		req := g.put(g.key())
		wantResp, wantEvs, wantErr := m.put(req)
		var resp *pb.PutResponse
		var evs []*mvccpb.Event
		err := e.apply(func(b *pebble.Batch) (err error) { resp, evs, err = e.s.Put(b, req, e.leases); return err })
		if rr.sameErr(what("put"), wantErr, err) {
			rr.sameMsg(what("put"), wantResp, resp)
			rr.sameEvents(what("put"), wantEvs, evs)
		}
	case k < 38:
		key := g.key()
		req := &pb.DeleteRangeRequest{Key: key, RangeEnd: g.rangeEnd(key), PrevKv: g.r.IntN(2) == 0}
		wantResp, wantEvs := m.deleteRange(req)
		var resp *pb.DeleteRangeResponse
		var evs []*mvccpb.Event
		err := e.apply(func(b *pebble.Batch) (err error) { resp, evs, err = e.s.DeleteRange(b, req); return err })
		rr.sameErr(what("delete"), nil, err)
		rr.sameMsg(what("delete"), wantResp, resp)
		rr.sameEvents(what("delete"), wantEvs, evs)
	case k < 58:
		free := append([]string(nil), randomKeys...)
		g.r.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
		req := g.txn(0, &free, m.currentRev, m.compactRev)
		wantResp, wantEvs, wantErr := m.txn(req)
		var resp *pb.TxnResponse
		var evs []*mvccpb.Event
		err := e.apply(func(b *pebble.Batch) (err error) { resp, evs, err = e.s.Txn(b, req, e.leases); return err })
		if rr.sameErr(what("txn"), wantErr, err) {
			rr.sameMsg(what("txn"), wantResp, resp)
			rr.sameEvents(what("txn"), wantEvs, evs)
		}
	case k < 75:
		req := g.rangeReq(m.currentRev, m.compactRev)
		want, wantErr := m.rangeAt(req, m.currentRev)
		got, err := e.s.Range(e.db, req)
		if rr.sameErr(what("range "+req.String()), wantErr, err) {
			rr.sameMsg(what("range "+req.String()), want, got)
		}
		// a member's own read: the same answer from the store's revisions (and the check
		// that they are the DB's, on every call in these tests)
		got, err = e.s.RangeApplied(e.db, req)
		if rr.sameErr(what("applied range "+req.String()), wantErr, err) {
			rr.sameMsg(what("applied range "+req.String()), want, got)
		}
	case k < 80:
		lo := max(m.compactRev-1, 0)
		rev := lo + g.r.Int64N(m.currentRev-lo+2)
		wantErr := m.compact(rev)
		err := e.compact(rev)
		rr.sameErr(what(fmt.Sprintf("compact %d", rev)), wantErr, err)
	case k < 89:
		n := 1 + g.r.IntN(4)
		require.NoError(rr.t, e.apply(func(b *pebble.Batch) error { _, err := e.s.CompactStep(b, n); return err }))
	case k < 92:
		rr.restart()
	case k < 96:
		key := g.key()
		end := g.rangeEnd(key)
		lo := max(m.compactRev, 0)
		from := lo + g.r.Int64N(m.currentRev-lo+2)
		to := from + g.r.Int64N(m.currentRev-from+2)
		want, wantErr := m.eventsBetween(key, end, from, to)
		got, err := e.s.EventsBetween(e.db, key, end, from, to, 0)
		if rr.sameErr(what(fmt.Sprintf("events %d..%d", from, to)), wantErr, err) {
			rr.sameEvents(what(fmt.Sprintf("events %d..%d", from, to)), want, got)
		}
	default:
		lo := max(m.compactRev-1, 0)
		rev := lo + g.r.Int64N(m.currentRev-lo+2)
		want, wantErr := m.hashKV(rev)
		got, err := e.s.HashKV(e.db, rev)
		if rr.sameErr(what(fmt.Sprintf("hashkv %d", rev)), wantErr, err) && got.Hash != want {
			rr.fail("%s: hash %d, model %d", what(fmt.Sprintf("hashkv %d", rev)), got.Hash, want)
		}
	}
	if e.s.CurrentRevision() != m.currentRev || e.s.CompactRevision() != m.compactRev {
		rr.fail("op %d: revisions (%d, %d), model (%d, %d)", i, e.s.CurrentRevision(), e.s.CompactRevision(), m.currentRev, m.compactRev)
	}
	rr.checkKeys(fmt.Sprintf("op %d", i))
}

// finalCheck finishes compaction and compares every key at every readable revision.
func (rr *randomRun) finalCheck() {
	rr.e.compactAll(7)
	checkStorageInvariants(rr.t, rr.e.db, rr.m.compactRev)
	for rev := max(rr.m.compactRev, 1); rev <= rr.m.currentRev; rev++ {
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}
		want, wantErr := rr.m.rangeAt(req, rr.m.currentRev)
		got, err := rr.e.s.Range(rr.e.db, req)
		if rr.sameErr(fmt.Sprintf("final range at %d", rev), wantErr, err) {
			rr.sameMsg(fmt.Sprintf("final range at %d", rev), want, got)
		}
		wantHash, _ := rr.m.hashKV(rev)
		got2, err := rr.e.s.HashKV(rr.e.db, rev)
		require.NoError(rr.t, err)
		if got2.Hash != wantHash {
			rr.fail("final hash at %d: %d, model %d", rev, got2.Hash, wantHash)
		}
	}
}

func TestRandomAgainstModel(t *testing.T) {
	ops := envInt(t, "MVCC_RANDOM_OPS", 400)
	for _, seed := range testSeeds(t, 8) {
		t.Logf("seed %d (re-run with -seed=%d or MVCC_SEED=%d)", seed, seed, seed)
		fs := vfs.NewMem()
		db, err := kvtest.OpenDB(fs)
		require.NoError(t, err)
		s, err := Open(db, Config{})
		require.NoError(t, err)
		leases := leaseSet{1: true, 2: true}
		rr := &randomRun{t: t, g: gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}, fs: fs,
			e: &env{t: t, db: db, s: s, leases: leases}, m: newModel(), seed: seed}
		rr.m.leases = leases
		for i := 0; i < ops; i++ {
			rr.step(i)
		}
		rr.finalCheck()
		require.NoError(t, rr.e.db.Close())
	}
}
