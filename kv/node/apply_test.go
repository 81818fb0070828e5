package node

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestReadyAppliedInOneBatch: the committed entries of one Ready are applied in one batch,
// and a request is answered only once that batch committed: when the first of several puts
// proposed together is answered, the DB (read directly, not through the member's caches)
// already holds every put of the Ready at its revision, and the applied index is the
// Ready's last. An answer given before the commit would see its own put missing.
func TestReadyAppliedInOneBatch(t *testing.T) {
	c := newCluster(t, 1)
	for i := 0; i < 50 && c.leader() == 0; i++ {
		c.tick()
	}
	require.NotZero(t, c.leader(), "no leader")
	m := c.members[1]
	_, err := c.do(1, put("warm", "up")) // the leader's first entry of its term applied
	require.NoError(t, err)

	const puts = 5
	base := m.CurrentRevision()
	type seen struct {
		revs    []int64
		applied uint64
	}
	var answers []seen
	for i := 0; i < puts; i++ {
		m.Submit(put(fmt.Sprint("k", i), fmt.Sprint("v", i)), func(_ Response, err error) {
			require.NoError(t, err)
			var s seen
			for j := 0; j < puts; j++ {
				resp, err := m.kv.Range(m.db, &pb.RangeRequest{Key: []byte(fmt.Sprint("k", j))})
				require.NoError(t, err)
				if len(resp.Kvs) == 1 {
					s.revs = append(s.revs, resp.Kvs[0].ModRevision)
				}
			}
			s.applied, err = readUint64(m.db, nodeAppliedKey)
			require.NoError(t, err)
			answers = append(answers, s)
		})
	}
	c.stabilize()
	require.Len(t, answers, puts)
	want := make([]int64, puts)
	for j := range want {
		want[j] = base + 1 + int64(j)
	}
	for i, s := range answers {
		require.Equal(t, want, s.revs, "answer %d: the revisions of the Ready's puts in the DB", i)
		require.Equal(t, m.AppliedIndex(), s.applied, "answer %d: the applied index in the DB", i)
	}
}
