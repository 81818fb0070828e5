package mvcc

import (
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Reads given the DB itself see one point in time even while another goroutine applies
// writes, compactions and compaction steps: keys a and b always change together, so a read
// at any readable revision sees both with equal values, never a half-compacted history.
func TestReadsConsistentDuringApplies(t *testing.T) {
	e := newEnv(t)
	_, _, err := e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", "2"), putOp("b", "2")}})
	require.NoError(t, err)
	const writes = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < writes; i++ {
			b := e.db.NewIndexedBatch()
			rev := e.s.CurrentRevision() + 1
			v := fmt.Sprint(rev)
			if _, _, err := e.s.Txn(b, &pb.TxnRequest{Success: []*pb.RequestOp{putOp("a", v), putOp("b", v)}}, nil); err != nil {
				panic(err)
			}
			if err := b.Commit(pebble.NoSync); err != nil {
				panic(err)
			}
			_ = b.Close()
			if i%10 == 9 {
				b := e.db.NewIndexedBatch()
				if _, err := e.s.Compact(b, e.s.CurrentRevision()-2); err != nil {
					panic(err)
				}
				_ = b.Commit(pebble.NoSync)
				_ = b.Close()
				for done := false; !done; {
					b := e.db.NewIndexedBatch()
					if done, err = e.s.CompactStep(b, 1); err != nil {
						panic(err)
					}
					_ = b.Commit(pebble.NoSync)
					_ = b.Close()
				}
			}
		}
	}()
	reads := 0
	for e.s.CurrentRevision() < writes {
		cur, compact, err := e.s.Revisions(e.db)
		require.NoError(t, err)
		for rev := max(compact, 2); rev <= cur; rev++ {
			resp, err := e.rangeReq(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), Revision: rev})
			if err != nil {
				require.ErrorIs(t, err, ErrCompacted) // compacted since Revisions was read
				continue
			}
			require.Len(t, resp.Kvs, 2, "at revision %d", rev)
			require.Equal(t, resp.Kvs[0].Value, resp.Kvs[1].Value, "at revision %d", rev)
			require.Equal(t, fmt.Sprint(resp.Kvs[0].ModRevision), string(resp.Kvs[0].Value))
			require.LessOrEqual(t, resp.Kvs[0].ModRevision, rev)
			reads++
		}
	}
	wg.Wait()
	require.Positive(t, reads)
}
