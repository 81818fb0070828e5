package mvcc

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// TestLatestCacheAgainstModel: puts (with and without prev_kv, ignore_value, ignore_lease),
// deletes, txns that put and read, compare-and-swaps, large values the cache does not keep and
// compactions, over more keys than the cache has slots (so slots are taken over), give the
// reference model's responses and events. Every put, every one-key compare and every one-key
// range in a txn reads its key's live version through the cache.
func TestLatestCacheAgainstModel(t *testing.T) {
	for _, seed := range testSeeds(t, 1) {
		e := newEnv(t)
		m := newModel()
		t.Logf("seed %d (re-run with MVCC_SEED=%d)", seed, seed)
		r := rand.New(rand.NewPCG(seed, 77))
		compacted := int64(0)
		nKeys := 3 * latestCacheSlots
		key := func() string {
			if r.IntN(4) == 0 {
				return fmt.Sprint("hot", r.IntN(8)) // hits
			}
			return fmt.Sprint("k", r.IntN(nKeys))
		}
		value := func() string {
			if r.IntN(50) == 0 {
				return strings.Repeat("x", 2*latestCacheMaxValueBytes)
			}
			return fmt.Sprint("v", r.IntN(1000))
		}
		for i := 0; i < 20000; i++ {
			switch n := r.IntN(20); {
			case n < 13:
				req := &pb.PutRequest{Key: []byte(key()), Value: []byte(value()), PrevKv: r.IntN(2) == 0,
					IgnoreValue: r.IntN(15) == 0}
				if req.IgnoreValue {
					req.Value = nil
				}
				want, wantEvs, wantErr := m.put(proto.Clone(req).(*pb.PutRequest))
				got, gotEvs, gotErr := e.put(string(req.Key), string(req.Value), func(p *pb.PutRequest) {
					p.PrevKv, p.IgnoreValue, p.Value = req.PrevKv, req.IgnoreValue, req.Value
				})
				require.Equal(t, wantErr != nil, gotErr != nil, "seed %d op %d: put %v: error %v, want %v", seed, i, req, gotErr, wantErr)
				if wantErr != nil {
					continue
				}
				require.True(t, proto.Equal(want, got), "seed %d op %d: put %v\ngot  %v\nwant %v", seed, i, req, got, want)
				require.Equal(t, len(wantEvs), len(gotEvs))
				for j := range gotEvs {
					require.True(t, proto.Equal(wantEvs[j], gotEvs[j]), "seed %d op %d: event %v, want %v", seed, i, gotEvs[j], wantEvs[j])
				}
			case n < 17:
				k := key()
				_, wantEvs := m.deleteRange(&pb.DeleteRangeRequest{Key: []byte(k)})
				_, gotEvs, err := e.del(k, "", false)
				require.NoError(t, err)
				require.Equal(t, len(wantEvs), len(gotEvs), "seed %d op %d: delete %s", seed, i, k)
			case n < 18:
				// a compare-and-swap as the simulator's clients send it: a compare on one key,
				// a put of it on success, a range of it on failure (all three read through
				// the cache)
				k := key()
				cmp := &pb.Compare{Key: []byte(k), Target: pb.Compare_VERSION, Result: pb.Compare_CompareResult(r.IntN(4)),
					TargetUnion: &pb.Compare_Version{Version: int64(r.IntN(3))}}
				if r.IntN(2) == 0 {
					cmp.Target, cmp.TargetUnion = pb.Compare_VALUE, &pb.Compare_Value{Value: []byte(value())}
				}
				req := &pb.TxnRequest{Compare: []*pb.Compare{cmp},
					Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(value()), PrevKv: true}}}},
					Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(k), CountOnly: r.IntN(4) == 0}}}}}
				want, wantEvs, wantErr := m.txn(proto.Clone(req).(*pb.TxnRequest))
				got, gotEvs, gotErr := e.txn(req)
				require.Equal(t, wantErr != nil, gotErr != nil)
				if wantErr == nil {
					require.True(t, proto.Equal(want, got), "seed %d op %d: txn %v\ngot  %v\nwant %v", seed, i, req, got, want)
					require.Equal(t, len(wantEvs), len(gotEvs), "seed %d op %d: txn %v", seed, i, req)
				}
			case n < 19:
				k1, k2 := key(), key()
				if k1 == k2 {
					continue
				}
				req := &pb.TxnRequest{Success: []*pb.RequestOp{
					{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k1), Value: []byte(value()), PrevKv: true}}},
					{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k2), Value: []byte(value()), PrevKv: true}}},
				}}
				want, _, wantErr := m.txn(proto.Clone(req).(*pb.TxnRequest))
				got, _, gotErr := e.txn(req)
				require.Equal(t, wantErr != nil, gotErr != nil)
				if wantErr == nil {
					require.True(t, proto.Equal(want, got), "seed %d op %d: txn %v\ngot  %v\nwant %v", seed, i, req, got, want)
				}
			default:
				if rev := e.s.CurrentRevision() - 50; rev > max(1, compacted) && r.IntN(10) == 0 {
					require.NoError(t, e.compact(rev), "seed %d op %d", seed, i)
					require.NoError(t, m.compact(rev))
					e.compactAll(1 << 20)
					compacted = rev
				}
			}
		}
		h, err := e.s.HashKV(e.db, 0)
		require.NoError(t, err)
		want, err := m.hashKV(0)
		require.NoError(t, err)
		require.Equal(t, want, h.Hash, "seed %d: HashKV", seed)
	}
}

// iterCounter is a Reader that counts the iterators opened on it.
type iterCounter struct {
	pebble.Reader
	iters int
}

func (c *iterCounter) NewIter(o *pebble.IterOptions) (*pebble.Iterator, error) {
	c.iters++
	return c.Reader.NewIter(o)
}

// TestRangeAppliedOneKeyFromCache: a member's read of one key at the current revision is
// answered from the latest-version cache once the key was written or read (no Pebble
// iterator), with Range's answer in every form (keys only, count only, the revision named,
// a deleted key, a value too large to cache); reads of older revisions and of ranges go to
// Pebble. A keys-only answer does not take the value out of the cache.
func TestRangeAppliedOneKeyFromCache(t *testing.T) {
	e := newEnv(t)
	e.mustPut("a", "1")
	e.mustPut("a", "2")
	e.mustPut("gone", "x")
	_, _, err := e.del("gone", "", false)
	require.NoError(t, err)
	big := strings.Repeat("v", 2*latestCacheMaxValueBytes)
	e.mustPut("big", big)
	cur := e.s.CurrentRevision()
	tests := []struct {
		name      string
		req       *pb.RangeRequest
		fromCache bool
	}{
		{"written key", &pb.RangeRequest{Key: []byte("a")}, true},
		{"keys only", &pb.RangeRequest{Key: []byte("a"), KeysOnly: true}, true},
		{"after keys only", &pb.RangeRequest{Key: []byte("a")}, true},
		{"count only", &pb.RangeRequest{Key: []byte("a"), CountOnly: true}, true},
		{"current revision named", &pb.RangeRequest{Key: []byte("a"), Revision: cur}, true},
		{"limit", &pb.RangeRequest{Key: []byte("a"), Limit: 1}, true},
		{"deleted key", &pb.RangeRequest{Key: []byte("gone")}, true},
		{"older revision", &pb.RangeRequest{Key: []byte("a"), Revision: 2}, false},
		{"range", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z")}, false},
		{"value too large to cache", &pb.RangeRequest{Key: []byte("big")}, false},
		{"never seen, first read", &pb.RangeRequest{Key: []byte("new")}, false},
		{"never seen, read again", &pb.RangeRequest{Key: []byte("new")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := e.s.Range(e.db, tt.req)
			require.NoError(t, err)
			r := &iterCounter{Reader: e.db}
			got, err := e.s.RangeApplied(r, tt.req)
			require.NoError(t, err)
			require.True(t, proto.Equal(want, got), "got %v\nwant %v", got, want)
			require.Equal(t, tt.fromCache, r.iters == 0, "iterators opened: %d", r.iters)
		})
	}
}
