package mvcc

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// appliedKey stands for the caller's applied index, written in the same batch as the command.
var appliedKey = []byte("node/applied")

// crashCommand is one applied command: exactly one of its fields is set.
type crashCommand struct {
	put       *pb.PutRequest
	del       *pb.DeleteRangeRequest
	txn       *pb.TxnRequest
	compact   int64
	stepLimit int
}

func (c crashCommand) applyModel(m *model) {
	switch {
	case c.put != nil:
		_, _, _ = m.put(c.put)
	case c.del != nil:
		m.deleteRange(c.del)
	case c.txn != nil:
		_, _, _ = m.txn(c.txn)
	case c.compact != 0:
		_ = m.compact(c.compact)
	}
}

func (c crashCommand) applyStore(s *Store, b *pebble.Batch, leases LeaseChecker) error {
	var err error
	switch {
	case c.put != nil:
		_, _, err = s.Put(b, c.put, leases)
	case c.del != nil:
		_, _, err = s.DeleteRange(b, c.del)
	case c.txn != nil:
		_, _, err = s.Txn(b, c.txn, leases)
	case c.compact != 0:
		_, err = s.Compact(b, c.compact)
	default:
		_, err = s.CompactStep(b, c.stepLimit)
	}
	return err
}

// TestCrashRecoversLastSyncedBatch applies random commands, each in its own committed batch
// with the applied index, some synced and some not; at random points it takes a crash image
// that keeps only synced data (CrashClone with UnsyncedDataPercent 0), reopens the store on
// it and requires exactly the state after the last synced batch: the applied index, every
// read at every revision, the hash, the compaction cursor. The run then continues on the
// recovered image, so later crashes also test recovery of recovered stores.
func TestCrashRecoversLastSyncedBatch(t *testing.T) {
	ops := envInt(t, "MVCC_CRASH_OPS", 300)
	for _, seed := range testSeeds(t, 3) {
		t.Logf("seed %d (re-run with -seed=%d or MVCC_SEED=%d)", seed, seed, seed)
		runCrash(t, seed, ops)
	}
}

func runCrash(t *testing.T, seed uint64, ops int) {
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	g := gen{r}
	leases := leaseSet{1: true, 2: true}
	fs := vfs.NewCrashableMem()
	db, err := kvtest.OpenDB(fs)
	require.NoError(t, err)
	s, err := Open(db, Config{})
	require.NoError(t, err)
	m := newModel()
	m.leases = leases
	var applied []crashCommand // commands committed, in order; index i+1 is applied index
	lastSynced, crashes := 0, 0
	for i := 0; i < ops; i++ {
		if r.IntN(100) < 6 {
			// Crash: keep only what was synced.
			clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
			require.NoError(t, db.Close())
			fs = clone
			db, err = kvtest.OpenDB(fs)
			require.NoError(t, err)
			s, err = Open(db, Config{})
			require.NoError(t, err)
			applied = applied[:lastSynced]
			m = newModel()
			m.leases = leases
			for _, c := range applied {
				c.applyModel(m)
			}
			verifyRecovered(t, seed, db, s, m, lastSynced)
			crashes++
			continue
		}
		var c crashCommand
		switch k := r.IntN(100); {
		case k < 40:
			c.put = g.put(g.key())
		case k < 55:
			key := g.key()
			c.del = &pb.DeleteRangeRequest{Key: key, RangeEnd: g.rangeEnd(key)}
		case k < 80:
			free := append([]string(nil), randomKeys...)
			r.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
			c.txn = g.txn(0, &free, m.currentRev, m.compactRev)
		case k < 88:
			lo := max(m.compactRev+1, 1)
			if lo > m.currentRev {
				continue
			}
			c.compact = lo + r.Int64N(m.currentRev-lo+1)
		default:
			c.stepLimit = 1 + r.IntN(4)
		}
		b := db.NewIndexedBatch()
		if err := c.applyStore(s, b, leases); err != nil {
			require.True(t, b.Empty())
			require.NoError(t, b.Close())
			continue // rejected: not applied (unknown lease, missing key for ignore_value)
		}
		applied = append(applied, c)
		c.applyModel(m)
		require.NoError(t, b.Set(appliedKey, binary.BigEndian.AppendUint64(nil, uint64(len(applied))), nil))
		sync := r.IntN(100) < 30
		opts := pebble.NoSync
		if sync {
			opts = pebble.Sync
		}
		require.NoError(t, b.Commit(opts))
		require.NoError(t, b.Close())
		if sync {
			lastSynced = len(applied)
		}
	}
	require.NoError(t, db.Close())
	t.Logf("seed %d: %d crashes, %d commands applied at the end", seed, crashes, len(applied))
	require.Positive(t, crashes, "seed %d: no crash happened; raise MVCC_CRASH_OPS", seed)
}

func verifyRecovered(t *testing.T, seed uint64, db *pebble.DB, s *Store, m *model, wantApplied int) {
	t.Helper()
	ctx := fmt.Sprintf("seed %d (re-run with -seed=%d), recovered at applied index %d", seed, seed, wantApplied)
	v, closer, err := db.Get(appliedKey)
	if wantApplied == 0 {
		require.ErrorIs(t, err, pebble.ErrNotFound, ctx)
	} else {
		require.NoError(t, err, ctx)
		require.EqualValues(t, wantApplied, binary.BigEndian.Uint64(v), ctx)
		require.NoError(t, closer.Close())
	}
	require.Equal(t, m.currentRev, s.CurrentRevision(), ctx)
	require.Equal(t, m.compactRev, s.CompactRevision(), ctx)
	for rev := max(m.compactRev, 1); rev <= m.currentRev; rev++ {
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}
		want, err := m.rangeAt(req, m.currentRev)
		require.NoError(t, err, ctx)
		got, err := s.Range(db, req)
		require.NoError(t, err, ctx)
		require.True(t, proto.Equal(want, got), "%s: range at %d\nmodel %v\nstore %v", ctx, rev, want, got)
		wantHash, err := m.hashKV(rev)
		require.NoError(t, err, ctx)
		h, err := s.HashKV(db, rev)
		require.NoError(t, err, ctx)
		require.Equal(t, wantHash, h.Hash, "%s: hash at %d", ctx, rev)
	}
	checkStorageInvariants(t, db, m.compactRev)
}
