package node

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/faultfs"
)

// Read faults: a read of an sstable that fails (faultfs.ReadError) in any read the member
// makes, of the store or of the raft log, stops the member as a storage failure; nothing of
// what it was doing takes effect, and a restart serves everything that was stored. The
// stores here are flushed to sstables and restarted with a block cache too small to hold a
// block, so the reads reach the disk (the simulator does not inject read faults: whether a
// read reaches an sstable depends on when Pebble's background flushes finished, which no
// seed decides; see kv/faultfs).

// readFaultCluster is a cluster on faultfs disks with no room in Pebble's block cache.
func readFaultCluster(t *testing.T, n int, tweak func(*Config)) (*testCluster, map[uint64]*faultfs.FS) {
	fss := map[uint64]*faultfs.FS{}
	c := newClusterWith(t, n, func(cfg *Config) {
		cfg.PebbleCacheBytes = 1
		if tweak != nil {
			tweak(cfg)
		}
		fss[cfg.ID] = faultfs.New(cfg.FS.(*vfs.MemFS))
		cfg.FS = fss[cfg.ID]
	})
	return c, fss
}

func bigValue(i int) string { return fmt.Sprintf("%03d", i) + strings.Repeat("v", 1000) }

// fillAndFlush writes keys k000..k049 through leader id, flushes every running member's
// store to sstables, restarts them (empty caches) and returns the new leader.
func fillAndFlush(t *testing.T, c *testCluster, id uint64) uint64 {
	for i := range 50 {
		_, err := c.do(id, put(fmt.Sprintf("k%03d", i), bigValue(i)))
		require.NoError(t, err)
	}
	c.stabilize()
	for _, id := range c.ids {
		if c.members[id] != nil {
			require.NoError(t, c.members[id].db.Flush())
			c.crash(id)
		}
	}
	return c.leader()
}

// requireStoredAfterRestart restarts member id and checks it holds every key written by
// fillAndFlush, with the changes in after ("" for a key deleted).
func requireStoredAfterRestart(t *testing.T, c *testCluster, id uint64, after map[string]string) {
	c.crash(id)
	c.leader()
	c.stabilize()
	for i := range 50 {
		key, want := fmt.Sprintf("k%03d", i), bigValue(i)
		if v, changed := after[key]; changed {
			want = v
		}
		v, _, found := c.localValue(id, key)
		require.Equal(t, want != "", found, key)
		require.Equal(t, want, v, key)
	}
}

func TestReadFaultInRequestStopsMember(t *testing.T) {
	for _, tc := range []struct {
		name  string
		req   *pb.InternalRaftRequest
		after map[string]string // what changed, once a restart applied the entry again
	}{
		{"serializable range", get("k007", true), nil},
		{"linearizable range", get("k007", false), nil},
		// the put reads the key's current version in apply; the entry is committed, so the
		// restarted member applies it again from the raft log
		{"put over a stored key", put("k007", "x"), map[string]string{"k007": "x"}},
		{"delete with prev_kv", &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k008"), PrevKv: true}}, map[string]string{"k008": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fss := readFaultCluster(t, 1, nil)
			id := fillAndFlush(t, c, c.leader())
			m := c.members[id]
			applied := m.AppliedIndex()
			fss[id].Arm(faultfs.ReadError)
			fss[id].BeginStep()
			r := c.submit(id, tc.req)
			var err error
			for i := 0; i < 20 && err == nil && m.Stopped() == nil; i++ {
				var out Output
				if out, err = m.Work(); err == nil && out.SyncToken != 0 {
					_, err = m.Synced(out.SyncToken)
				}
			}
			require.Equal(t, faultfs.ReadError, fss[id].EndStep(), "the read reached the disk and failed")
			require.ErrorIs(t, m.Stopped(), ErrStorage, "a failed read stops the member")
			require.ErrorIs(t, m.Stopped(), faultfs.ErrInjected)
			require.True(t, r.done)
			require.Error(t, r.err, "the request is not answered as if it succeeded")
			if tc.req.Range == nil {
				require.LessOrEqual(t, m.AppliedIndex(), applied+1, "no entry applied past the failed one")
				_, _, found := c.localValue(id, "k008")
				require.True(t, found, "the failed delete took no effect on this member")
			}
			requireStoredAfterRestart(t, c, id, tc.after)
		})
	}
}

// A leader whose raft log read fails while it catches up a follower (the entries are no
// longer in raftlog's tail cache) stops; the rest of the cluster goes on and the follower
// catches up from the next leader.
func TestReadFaultInRaftLogStopsMember(t *testing.T) {
	c, fss := readFaultCluster(t, 3, func(cfg *Config) { cfg.LogCacheEntries = 8 })
	lead := c.leader()
	behind := c.followers(lead)[0]
	c.stop(behind)
	lead = fillAndFlush(t, c, lead)
	m := c.members[lead]
	fss[lead].Arm(faultfs.ReadError)
	fss[lead].BeginStep()
	c.faulty[lead] = true
	c.open(behind) // 50 entries behind, which the leader must read from its sstables
	for i := 0; i < 100 && m.Stopped() == nil; i++ {
		c.tick()
	}
	require.Equal(t, faultfs.ReadError, fss[lead].EndStep(), "the raft log read reached the disk and failed")
	require.ErrorIs(t, m.Stopped(), ErrStorage)
	require.ErrorIs(t, m.Stopped(), faultfs.ErrInjected)
	require.ErrorContains(t, m.Stopped(), "raft: storage failed", "it came from raft's log read")
	delete(c.faulty, lead)
	requireStoredAfterRestart(t, c, lead, nil)
	requireStoredAfterRestart(t, c, behind, nil)
	c.requireConsistent()
}
