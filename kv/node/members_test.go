package node

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/raft"
)

const testClusterID = 0xc1057e5

// founders are the attributes the founding members of a test cluster start with.
func founders(ids []uint64) []MemberAttrs {
	var out []MemberAttrs
	for _, id := range ids {
		out = append(out, MemberAttrs{ID: id, Name: fmt.Sprintf("m%d", id), PeerURLs: []string{fmt.Sprintf("http://m%d:2380", id)}})
	}
	return out
}

// withMemberTable sets the cluster ID and the founders' attributes on every member.
func withMemberTable(ids []uint64) func(*Config) {
	return func(cfg *Config) {
		cfg.ClusterID = testClusterID
		cfg.InitialMemberAttrs = founders(ids)
	}
}

// publish runs PublishAttrs on member id and ticks until it applied there.
func (c *testCluster) publish(id uint64, name string, clientURLs ...string) error {
	r := &result{}
	c.members[id].PublishAttrs(name, clientURLs, func(resp Response, err error) { r.done, r.resp, r.err = true, resp, err })
	for i := 0; !r.done; i++ {
		require.Less(c.t, i, 1000, "publish did not complete in 1000 ticks")
		c.tick()
	}
	return r.err
}

// requireTables checks that every live member's table is want.
func (c *testCluster) requireTables(want []MemberAttrs) {
	c.t.Helper()
	for _, id := range c.ids {
		if m := c.members[id]; m != nil && m.Stopped() == nil {
			require.Equal(c.t, want, m.Members(), "member %d's table", id)
			require.Equal(c.t, uint64(testClusterID), m.ClusterID(), "member %d's cluster ID", id)
		}
	}
}

// The founders' attributes, published client URLs (through a follower, forwarded), an added
// learner's peer URLs, its promotion and a peer URL update reach every member's table, stay
// there across a crash and restart, and the member's own response headers carry the cluster ID.
func TestMemberTablePersistedAcrossRestart(t *testing.T) {
	ids := []uint64{1, 2, 3}
	c := newClusterWith(t, 3, withMemberTable(ids))
	leader := c.leader()
	c.stabilize()
	want := founders(ids)
	c.requireTables(want)

	follower := c.followers(leader)[0]
	require.NoError(t, c.publish(follower, fmt.Sprintf("m%d", follower), "http://client:2379"))
	want[follower-1].ClientURLs = []string{"http://client:2379"}
	c.stabilize()
	c.requireTables(want)

	conf, err := c.change(leader, func(m *Member, done ConfDone) {
		m.AddMember(MemberAttrs{ID: 4, PeerURLs: []string{"http://m4:2380"}, IsLearner: true}, done)
	})
	require.NoError(t, err)
	require.Equal(t, []uint64{4}, conf.Learners)
	want = append(want, MemberAttrs{ID: 4, PeerURLs: []string{"http://m4:2380"}, IsLearner: true})
	c.stabilize()
	c.requireTables(want)

	c.addNew(4)
	for range 2 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	_, err = c.change(leader, func(m *Member, done ConfDone) { m.PromoteLearner(4, done) })
	require.NoError(t, err)
	want[3].IsLearner = false
	_, err = c.change(leader, func(m *Member, done ConfDone) { m.UpdateMember(4, []string{"http://m4-new:2380"}, done) })
	require.NoError(t, err)
	want[3].PeerURLs = []string{"http://m4-new:2380"}
	c.stabilize()
	c.requireTables(want) // member 4 learned everything from the log, the founders included

	for _, id := range c.ids {
		c.crash(id)
	}
	c.leader()
	c.stabilize()
	c.requireTables(want)
	resp, err := c.do(leader, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 60}})
	require.NoError(t, err)
	require.Equal(t, uint64(testClusterID), resp.LeaseGrant.Header.ClusterId)
}

// The table refuses, with etcd's errors: a peer URL another member has (add and update), an
// update of an unknown member, and a membership call on a follower (not leader, before any
// table check).
func TestMemberTableErrors(t *testing.T) {
	ids := []uint64{1, 2, 3}
	c := newClusterWith(t, 3, withMemberTable(ids))
	leader := c.leader()
	follower := c.followers(leader)[0]
	for _, tc := range []struct {
		name string
		via  uint64
		call func(*Member, ConfDone)
		want error
	}{
		{"add with a used peer URL", leader, func(m *Member, d ConfDone) {
			m.AddMember(MemberAttrs{ID: 9, PeerURLs: []string{"http://m2:2380"}}, d)
		}, rpctypes.ErrGRPCPeerURLExist},
		{"add an existing member", leader, func(m *Member, d ConfDone) {
			m.AddMember(MemberAttrs{ID: 2, PeerURLs: []string{"http://other:2380"}}, d)
		}, rpctypes.ErrGRPCMemberExist},
		{"update to a used peer URL", leader, func(m *Member, d ConfDone) { m.UpdateMember(1, []string{"http://m3:2380"}, d) }, rpctypes.ErrGRPCPeerURLExist},
		{"update an unknown member", leader, func(m *Member, d ConfDone) { m.UpdateMember(42, []string{"http://x:2380"}, d) }, rpctypes.ErrGRPCMemberNotFound},
		{"add on a follower", follower, func(m *Member, d ConfDone) {
			m.AddMember(MemberAttrs{ID: 2, PeerURLs: []string{"http://m2:2380"}}, d)
		}, rpctypes.ErrGRPCNotLeader},
	} {
		_, err := c.change(tc.via, tc.call)
		require.ErrorIs(t, err, tc.want, tc.name)
	}
	// Updating a member to its own URLs is not a conflict.
	_, err := c.change(leader, func(m *Member, d ConfDone) { m.UpdateMember(1, []string{"http://m1:2380"}, d) })
	require.NoError(t, err)
	c.requireTables(founders(ids))
}

// A member added after the log was compacted gets the table (founders, published
// attributes, the removed IDs) from the snapshot that brings it the store.
func TestMemberTableCarriedBySnapshot(t *testing.T) {
	ids := []uint64{1, 2, 3}
	c := newClusterWith(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = testSnapshotEntries
		cfg.SnapshotCatchUpEntries = testCatchUpEntries
		cfg.snapshotChunkBytes = testChunkBytes
		withMemberTable(ids)(cfg)
	})
	leader := c.leader()
	require.NoError(t, c.publish(leader, fmt.Sprintf("m%d", leader), "http://c:2379"))
	want := founders(ids)
	want[leader-1].ClientURLs = []string{"http://c:2379"}
	_, err := c.change(leader, func(m *Member, done ConfDone) { m.AddLearner(7, done) })
	require.NoError(t, err)
	_, err = c.change(leader, func(m *Member, done ConfDone) { m.RemoveMember(7, done) })
	require.NoError(t, err)
	c.putN(leader, "k", 3*testSnapshotEntries)
	_, first := c.logBounds(leader)
	require.Greater(t, first, uint64(len(ids)+3), "the leader compacted the membership entries away")

	c.addNew(4)
	_, err = c.change(leader, func(m *Member, done ConfDone) {
		m.AddMember(MemberAttrs{ID: 4, PeerURLs: []string{"http://m4:2380"}, IsLearner: true}, done)
	})
	require.NoError(t, err)
	want = append(want, MemberAttrs{ID: 4, PeerURLs: []string{"http://m4:2380"}, IsLearner: true})
	c.catchUp(4, leader)
	snapIndex, _ := c.logBounds(4)
	require.GreaterOrEqual(t, snapIndex, first-1, "the new member installed a snapshot")
	c.requireTables(want)
	require.True(t, c.members[4].IsRemoved(7), "the removed ID came with the snapshot")
	require.False(t, c.members[4].IsRemoved(1))
}

// A removed follower applies its own removal: it reports Removed, stops with ErrRemoved an
// election timeout later, and stays stopped after a restart; the others record the ID as
// removed and refuse to add it again.
func TestRemovedMemberStops(t *testing.T) {
	ids := []uint64{1, 2, 3}
	c := newClusterWith(t, 3, withMemberTable(ids))
	leader := c.leader()
	gone := c.followers(leader)[0]
	_, err := c.change(leader, func(m *Member, done ConfDone) { m.RemoveMember(gone, done) })
	require.NoError(t, err)
	c.stabilize()
	require.True(t, c.members[gone].Removed())
	for range DefaultElectionTimeoutTicks + 1 {
		c.tick()
	}
	require.ErrorIs(t, c.members[gone].Stopped(), ErrRemoved)
	require.Equal(t, "the member has been permanently removed from the cluster", ErrRemoved.Error())
	r := c.submit(gone, put("k", "v"))
	require.True(t, r.done)
	require.ErrorIs(t, r.err, ErrStopped)

	for _, id := range c.followers(gone) {
		if c.members[id] != nil && id != gone {
			require.True(t, c.members[id].IsRemoved(gone), "member %d", id)
			require.False(t, c.members[id].Removed())
		}
	}
	_, err = c.change(leader, func(m *Member, done ConfDone) {
		m.AddMember(MemberAttrs{ID: gone, PeerURLs: []string{"http://back:2380"}}, done)
	})
	require.ErrorIs(t, err, rpctypes.ErrGRPCMemberNotFound)

	c.stop(gone) // its applied state is on disk
	c.open(gone)
	require.ErrorIs(t, c.members[gone].Stopped(), ErrRemoved, "a removed member stays stopped after a restart")
	require.True(t, c.members[gone].Removed())
	_, err = c.do(leader, put("after", "v"))
	require.NoError(t, err)
}

// A removed leader hands leadership over before it stops: the rest elect a leader and serve.
func TestRemovedLeaderHandsOverThenStops(t *testing.T) {
	c := newClusterWith(t, 3, withMemberTable([]uint64{1, 2, 3}))
	old := c.leader()
	_, err := c.change(old, func(m *Member, done ConfDone) { m.RemoveMember(old, done) })
	require.NoError(t, err)
	for range 3 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	require.ErrorIs(t, c.members[old].Stopped(), ErrRemoved)
	leader := c.leader()
	require.NotEqual(t, old, leader)
	_, err = c.do(leader, put("b", "2"))
	require.NoError(t, err)
}

// A restart naming another cluster ID is refused, naming both IDs; 0 takes the stored one.
func TestClusterIDMismatchRefused(t *testing.T) {
	c := newClusterWith(t, 1, withMemberTable([]uint64{1}))
	c.leader()
	c.stop(1)
	cfg := c.config(1)
	cfg.ClusterID = 0xbad
	_, err := Open(cfg)
	require.ErrorIs(t, err, ErrClusterIDMismatch)
	require.ErrorContains(t, err, "cluster c1057e5")
	require.ErrorContains(t, err, "cluster bad")
	cfg.ClusterID = 0
	m, err := Open(cfg)
	require.NoError(t, err)
	require.Equal(t, uint64(testClusterID), m.ClusterID())
	c.members[1] = m
}

// InitialMemberAttrs must describe every founder.
func TestInitialMemberAttrsMustNameEveryFounder(t *testing.T) {
	c := newClusterWith(t, 1, nil)
	c.stop(1)
	c.fs[1] = vfs.NewCrashableMem()
	cfg := c.config(1)
	cfg.InitialMembers = []uint64{1, 2}
	cfg.InitialMemberAttrs = founders([]uint64{1})
	_, err := Open(cfg)
	require.ErrorIs(t, err, errConfig)
	require.ErrorContains(t, err, "no member 2")
}

// The driver publishes the table to other goroutines, and Run returns ErrRemoved once its
// member stopped after its removal.
func TestDriverMemberTableAndRemoval(t *testing.T) {
	seed := runSeed(t)
	ids := []uint64{1, 2, 3}
	c := newDriverCluster(t, 3, seed, runTickInterval, memFS, withMemberTable(ids))
	leader := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	gone := withoutID(c.ids, leader)[0]
	require.NoError(t, c.drivers[gone].PublishAttrs(ctx, "renamed", []string{"http://c:2379"}))
	want := founders(ids)
	want[gone-1].Name, want[gone-1].ClientURLs = "renamed", []string{"http://c:2379"}
	require.Equal(t, want, c.drivers[gone].Members())
	a, ok := c.drivers[gone].Member(gone)
	require.True(t, ok)
	require.Equal(t, "renamed", a.Name)
	require.Equal(t, uint64(testClusterID), c.drivers[leader].ClusterID())

	conf, err := c.drivers[leader].UpdateMember(ctx, gone, []string{"http://moved:2380"})
	require.NoError(t, err)
	require.Equal(t, raft.ConfState{Voters: ids}, conf)
	_, err = c.drivers[leader].RemoveMember(ctx, gone)
	require.NoError(t, err)
	select {
	case err := <-c.results[gone]:
		delete(c.results, gone)
		require.ErrorIs(t, err, ErrRemoved)
	case <-ctx.Done():
		t.Fatal("the removed member's driver did not stop")
	}
	require.True(t, c.drivers[leader].IsRemoved(gone))
	require.False(t, c.drivers[leader].IsRemoved(leader))
}

// With WALDir set, Pebble's log lives there (and not in Dir), and a restart finds the data.
func TestWALDir(t *testing.T) {
	c := newClusterWith(t, 1, func(cfg *Config) { cfg.WALDir = "wal" })
	leader := c.leader()
	_, err := c.do(leader, put("k", "v"))
	require.NoError(t, err)
	c.crash(leader) // only what was synced survives: the entry is in the synced WAL
	c.leader()
	c.stabilize()
	v, _, found := c.localValue(leader, "k")
	require.True(t, found)
	require.Equal(t, "v", v)
	logsIn := func(dir string) int {
		names, err := c.fs[leader].List(dir)
		require.NoError(t, err)
		n := 0
		for _, name := range names {
			if strings.HasSuffix(name, ".log") {
				n++
			}
		}
		return n
	}
	require.Positive(t, logsIn("wal"))
	require.Zero(t, logsIn("member"))
}

// A staged snapshot whose cluster ID is not the member's is refused before it is installed.
func TestSnapshotOfAnotherClusterRefused(t *testing.T) {
	c := newClusterWith(t, 1, withMemberTable([]uint64{1}))
	m := c.members[c.leader()]
	for _, tc := range []struct {
		name    string
		staged  uint64
		refused bool
	}{{"same cluster", testClusterID, false}, {"another cluster", 0xbad, true}} {
		err := m.checkSnapshotCluster(tc.staged)
		if !tc.refused {
			require.NoError(t, err, tc.name)
			continue
		}
		require.ErrorIs(t, err, ErrClusterIDMismatch, tc.name)
		require.ErrorContains(t, err, "snapshot is of cluster bad, this member is of cluster c1057e5")
	}
}

// A joining member's driver resolves the members it was told of (InitialMemberAttrs) while
// its own table is still empty; its table (Members) holds only what the log brought.
func TestJoiningMemberResolvesPeersFromHints(t *testing.T) {
	ids := []uint64{1, 2, 3}
	c := newClusterWith(t, 3, withMemberTable(ids))
	c.fs[4] = vfs.NewCrashableMem()
	cfg := c.config(4) // InitialMembers 1, 2, 3: not founding
	m, err := Open(cfg)
	require.NoError(t, err)
	defer m.Close()
	d, err := NewDriver(m, NewLocalTransport().Endpoint(4), RunOptions{})
	require.NoError(t, err)
	require.Empty(t, d.Members(), "nothing applied yet")
	a, ok := d.Member(2)
	require.True(t, ok)
	require.Equal(t, founders(ids)[1], a)
	_, ok = d.Member(9)
	require.False(t, ok)
}
