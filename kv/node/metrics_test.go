package node

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestMetricHooks: what the server's metrics read of a member. TimeCommit brackets every
// commit of an apply batch (each start has its done, and every applied write was inside
// one); Keys follows the live keys through puts, overwrites and a delete; WatchStats counts
// the watch streams and their watchers.
func TestMetricHooks(t *testing.T) {
	started, finished := map[uint64]int{}, map[uint64]int{}
	c := newClusterWith(t, 3, func(cfg *Config) {
		id := cfg.ID
		cfg.TimeCommit = func(entries int) func() {
			require.Positive(t, entries)
			require.Equal(t, started[id], finished[id], "member %d: a commit started inside another", id)
			started[id]++
			return func() { finished[id]++ }
		}
	})
	leader := c.leader()
	before := started[leader]
	const keys = 5
	for i := range keys {
		_, err := c.do(leader, put(fmt.Sprintf("k%d", i), "v"))
		require.NoError(t, err)
	}
	_, err := c.do(leader, put("k0", "again"))
	require.NoError(t, err)
	c.stabilize()
	for _, id := range c.ids {
		require.Equal(t, started[id], finished[id], "member %d", id)
		require.Equal(t, int64(keys), c.members[id].Keys(), "member %d", id)
	}
	require.GreaterOrEqual(t, started[leader]-before, 1, "the leader's applies were timed")
	_, err = c.do(leader, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k1")}})
	require.NoError(t, err)
	require.Equal(t, int64(keys-1), c.members[leader].Keys())

	m := c.members[leader]
	require.Equal(t, 0, m.WatchStats().Streams)
	ws, err := m.NewWatchStream()
	require.NoError(t, err)
	for _, key := range []string{"a", "b"} {
		require.NoError(t, ws.Handle(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{
			CreateRequest: &pb.WatchCreateRequest{Key: []byte(key)}}}))
	}
	st := m.WatchStats()
	require.Equal(t, 1, st.Streams)
	require.Equal(t, 2, st.SyncedWatchers+st.UnsyncedWatchers)
	ws.Close()
	st = m.WatchStats()
	require.Equal(t, 0, st.Streams)
	require.Equal(t, 0, st.SyncedWatchers+st.UnsyncedWatchers)
}

// TestTimeApply: TimeApply brackets the apply of each client request on every member, with
// the request before and its answer after (the server's slow-apply warning logs both).
func TestTimeApply(t *testing.T) {
	type seen struct{ started, finished, puts int }
	got := map[uint64]*seen{}
	c := newClusterWith(t, 3, func(cfg *Config) {
		s := &seen{}
		got[cfg.ID] = s
		cfg.TimeApply = func(req *pb.InternalRaftRequest) func(Response, error) {
			require.Equal(t, s.started, s.finished, "an apply started inside another")
			s.started++
			return func(resp Response, err error) {
				s.finished++
				if req.Put != nil {
					require.NoError(t, err)
					require.NotNil(t, resp.Put, "the put's answer")
					s.puts++
				}
			}
		}
	})
	leader := c.leader()
	const puts = 4
	for i := range puts {
		_, err := c.do(leader, put(fmt.Sprintf("k%d", i), "v"))
		require.NoError(t, err)
	}
	c.stabilize()
	for _, id := range c.ids {
		require.Equal(t, got[id].started, got[id].finished, "member %d", id)
		require.Equal(t, puts, got[id].puts, "member %d: each put timed once", id)
	}
}

// TestCompactionSteps: a store compaction deletes at most CompactionStepEntries revisions a
// step, and CompactionSteps counts the steps: with 1, compacting away 20 revisions of a key
// takes at least 20 steps; with the default, one or two.
func TestCompactionSteps(t *testing.T) {
	const revisions = 20
	for _, tc := range []struct {
		stepEntries int
		min, max    uint64
	}{{1, revisions, 2 * revisions}, {0, 1, 2}} {
		t.Run(fmt.Sprintf("step=%d", tc.stepEntries), func(t *testing.T) {
			c := newClusterWith(t, 1, func(cfg *Config) { cfg.CompactionStepEntries = tc.stepEntries })
			leader := c.leader()
			for range revisions + 1 {
				_, err := c.do(leader, put("k", "v"))
				require.NoError(t, err)
			}
			m := c.members[leader]
			before := m.CompactionSteps()
			_, err := c.do(leader, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: revisions + 1, Physical: true}})
			require.NoError(t, err)
			steps := m.CompactionSteps() - before
			require.GreaterOrEqual(t, steps, tc.min)
			require.LessOrEqual(t, steps, tc.max)
		})
	}
}
