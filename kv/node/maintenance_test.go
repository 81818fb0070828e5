package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/raft"
)

func alarmReq(action pb.AlarmRequest_AlarmAction, member uint64, typ pb.AlarmType) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: action, MemberID: member, Alarm: typ}}
}

// An alarm raised through a follower goes through the log: every member lists it, also after
// a restart and on a member that joined from a snapshot; GET is answered locally
// (even by a member cut off from the leader, which cannot write); deactivating removes it,
// and deactivating an alarm that is not raised answers no alarm and changes nothing.
func TestAlarmThroughTheLog(t *testing.T) {
	c := newClusterWith(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = testSnapshotEntries
		cfg.SnapshotCatchUpEntries = testCatchUpEntries
	})
	leader := c.leader()
	follower := c.followers(leader)[0]
	resp, err := c.do(follower, alarmReq(pb.AlarmRequest_ACTIVATE, 3, pb.AlarmType_NOSPACE))
	require.NoError(t, err)
	raised := []*pb.AlarmMember{{MemberID: 3, Alarm: pb.AlarmType_NOSPACE}}
	require.Equal(t, raised, resp.Alarm.Alarms)
	_, err = c.do(leader, alarmReq(pb.AlarmRequest_ACTIVATE, 1, pb.AlarmType_CORRUPT))
	require.NoError(t, err)
	raised = append([]*pb.AlarmMember{{MemberID: 1, Alarm: pb.AlarmType_CORRUPT}}, raised...)
	c.stabilize()
	list := func(id uint64, typ pb.AlarmType) []*pb.AlarmMember {
		resp, err := c.do(id, alarmReq(pb.AlarmRequest_GET, 0, typ))
		require.NoError(t, err)
		return resp.Alarm.Alarms
	}
	for _, id := range c.ids {
		require.Equal(t, raised, list(id, pb.AlarmType_NONE), "member %d", id)
		require.Equal(t, raised[1:], list(id, pb.AlarmType_NOSPACE), "member %d, NOSPACE only", id)
		require.Equal(t, raised, c.members[id].Alarms())
	}

	c.isolate(follower, true)
	for range 3 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	require.Equal(t, raised, list(follower, pb.AlarmType_NONE), "GET is answered locally")
	c.isolate(follower, false)
	c.stop(follower)
	c.open(follower)
	require.Equal(t, raised, c.members[follower].Alarms(), "alarms are read from disk at Open")

	// CORRUPT refuses every change of the key space (quota.go); alarm requests still go
	// through the log (activating a raised alarm again changes nothing), enough of them for
	// the log to be compacted past a new member.
	_, err = c.do(leader, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCCorrupt, "a delete under the CORRUPT alarm")
	for range 3 * testSnapshotEntries {
		_, err := c.do(leader, alarmReq(pb.AlarmRequest_ACTIVATE, 3, pb.AlarmType_NOSPACE))
		require.NoError(t, err)
	}
	c.addNew(4)
	_, err = c.change(leader, func(m *Member, done ConfDone) { m.AddLearner(4, done) })
	require.NoError(t, err)
	c.catchUp(4, leader)
	snapIndex, _ := c.logBounds(4)
	require.Positive(t, snapIndex, "member 4 joined from a snapshot")
	require.Equal(t, raised, c.members[4].Alarms(), "the snapshot carried the alarms")

	resp, err = c.do(leader, alarmReq(pb.AlarmRequest_DEACTIVATE, 3, pb.AlarmType_NOSPACE))
	require.NoError(t, err)
	require.Equal(t, raised[1:], resp.Alarm.Alarms)
	resp, err = c.do(leader, alarmReq(pb.AlarmRequest_DEACTIVATE, 3, pb.AlarmType_NOSPACE))
	require.NoError(t, err)
	require.Empty(t, resp.Alarm.Alarms)
	c.stabilize()
	for _, id := range c.ids {
		require.Equal(t, raised[:1], c.members[id].Alarms(), "member %d", id)
	}
}

// A compaction with Physical set answers only once this member's store compaction finished
// (it runs in bounded steps, one per Work); without Physical it answers when it applies,
// with the compaction still under way.
func TestPhysicalCompactionWaitsForTheStore(t *testing.T) {
	for _, physical := range []bool{false, true} {
		t.Run(fmt.Sprintf("physical=%t", physical), func(t *testing.T) {
			c := newClusterWith(t, 3, func(cfg *Config) { cfg.CompactionStepEntries = 1 })
			leader := c.leader()
			for i := range 20 {
				_, err := c.do(leader, put(fmt.Sprintf("k%d", i%4), "v"))
				require.NoError(t, err)
			}
			via := c.followers(leader)[0]
			m := c.members[via]
			r := c.submit(via, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 18, Physical: physical}})
			answeredWhilePending := false
			for i := 0; !r.done; i++ {
				require.Less(t, i, 200, "compaction did not answer")
				c.work()
				pending, err := m.kv.CompactPending(m.db)
				require.NoError(t, err)
				if r.done && pending {
					answeredWhilePending = true
				}
			}
			require.NoError(t, r.err)
			require.Equal(t, int64(18), m.kv.CompactRevision())
			require.Equal(t, !physical, answeredWhilePending)
		})
	}
}

// Defragment compacts the whole store: afterwards no table is left in level 0 and the data
// sits in one level.
func TestDriverDefragment(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 1, seed, runTickInterval, memFS)
	leader := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	rng := rand.New(rand.NewPCG(seed, 1))
	levels := func() (l0 int64, nonEmpty int) {
		met := c.members[leader].db.Metrics()
		for i, l := range met.Levels {
			if i == 0 {
				l0 = l.TablesCount
			}
			if l.TablesCount > 0 {
				nonEmpty++
			}
		}
		return l0, nonEmpty
	}
	for round := range 3 {
		for i := range 50 {
			value := make([]byte, 1024)
			for j := range value {
				value[j] = byte(rng.Uint32())
			}
			require.NoError(t, c.putRetry(ctx, leader, fmt.Sprintf("k%d-%d", round, i), string(value)))
		}
		require.NoError(t, c.members[leader].db.Flush())
	}
	// Pebble's own compactions may have moved some tables on; what is flushed last sits in
	// level 0 or beside older data in another level.
	l0, nonEmpty := levels()
	require.True(t, l0 > 0 || nonEmpty > 1, "before: %d tables in level 0, %d levels with tables", l0, nonEmpty)
	require.NoError(t, c.drivers[leader].Defragment(ctx))
	l0, nonEmpty = levels()
	require.Zero(t, l0)
	require.Equal(t, 1, nonEmpty)
	v, found, err := c.getRetry(ctx, leader, "k0-0")
	require.NoError(t, err)
	require.True(t, found)
	require.Len(t, v, 1024)
}

// HandOffLeadership moves leadership from the leader to another voter and returns once it
// leads; on a follower, or in a one-member cluster, it returns at once and changes nothing.
func TestDriverHandOffLeadership(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 3, seed, runTickInterval, memFS)
	leader := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	require.NoError(t, c.putRetry(ctx, leader, "k", "v"))
	follower := withoutID(c.ids, leader)[0]
	require.NoError(t, c.drivers[follower].HandOffLeadership(ctx))
	st, err := c.status(leader)
	require.NoError(t, err)
	require.Equal(t, raft.StateLeader, st.RaftState, "a follower's hand-off changes nothing")

	require.NoError(t, c.drivers[leader].HandOffLeadership(ctx))
	st, err = c.status(leader)
	require.NoError(t, err)
	require.NotEqual(t, leader, st.Lead, "the old leader sees another lead")
	require.NotZero(t, st.Lead)
	require.Equal(t, st.Lead, c.leader())

	single := newDriverCluster(t, 1, seed, runTickInterval, memFS)
	only := single.leader()
	require.NoError(t, single.drivers[only].HandOffLeadership(ctx))
	st, err = single.status(only)
	require.NoError(t, err)
	require.Equal(t, raft.StateLeader, st.RaftState)
}

// The hand-off target is the most up-to-date voter other than the leader, never a learner.
func TestHandOffTarget(t *testing.T) {
	leaderStatus := func(progress ...raft.ProgressStatus) raft.Status {
		st := raft.Status{ID: 1, Config: raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}, Progress: progress}
		st.RaftState = raft.StateLeader
		return st
	}
	for _, tc := range []struct {
		name string
		st   raft.Status
		want uint64
	}{
		{"highest match", leaderStatus(raft.ProgressStatus{ID: 1, Match: 9}, raft.ProgressStatus{ID: 2, Match: 5}, raft.ProgressStatus{ID: 3, Match: 7}), 3},
		{"lowest ID among equals", leaderStatus(raft.ProgressStatus{ID: 1, Match: 9}, raft.ProgressStatus{ID: 3, Match: 7}, raft.ProgressStatus{ID: 2, Match: 7}), 2},
		{"never a learner", leaderStatus(raft.ProgressStatus{ID: 2, Match: 1}, raft.ProgressStatus{ID: 4, Match: 9, IsLearner: true}), 2},
		{"alone", leaderStatus(raft.ProgressStatus{ID: 1, Match: 9}), 0},
		{"not leading", raft.Status{ID: 1}, 0},
	} {
		require.Equal(t, tc.want, handOffTarget(tc.st), tc.name)
	}
}
