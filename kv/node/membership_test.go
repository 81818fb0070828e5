package node

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/raft"
)

// addNew opens a brand-new member id with an empty FS, not among the founding members, so
// it joins from the leader's log once a membership change adds it.
func (c *testCluster) addNew(id uint64) {
	c.t.Helper()
	c.fs[id] = vfs.NewCrashableMem()
	cfg := c.config(id)
	cfg.InitialMembers = withoutID(c.ids, id)
	m, err := Open(cfg)
	require.NoError(c.t, err)
	c.members[id] = m
	c.ids = append(c.ids, id)
}

func withoutID(ids []uint64, id uint64) []uint64 {
	var out []uint64
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

type confResult struct {
	done bool
	conf raft.ConfState
	err  error
}

// change runs a membership call on member via and ticks until it completes.
func (c *testCluster) change(via uint64, call func(*Member, ConfDone)) (raft.ConfState, error) {
	r := &confResult{}
	call(c.members[via], func(conf raft.ConfState, err error) {
		require.False(c.t, r.done, "done called twice")
		r.done, r.conf, r.err = true, conf, err
	})
	for i := 0; !r.done; i++ {
		require.Less(c.t, i, 1000, "membership call did not complete in 1000 ticks")
		if i == 0 {
			c.stabilize()
			continue
		}
		c.tick()
	}
	return r.conf, r.err
}

func (c *testCluster) transfer(via, target uint64) error {
	_, err := c.change(via, func(m *Member, done ConfDone) {
		m.TransferLeader(target, func(err error) { done(raft.ConfState{}, err) })
	})
	return err
}

// A brand-new member is added as a learner, catches up from the log, is promoted, then takes
// part in a quorum; a follower and then the leader are removed; leadership is transferred.
// Every member's store agrees after each step.
func TestMembershipChangesAndTransfer(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	for i := range 10 {
		_, err := c.do(leader, put(fmt.Sprintf("k%d", i), "v"))
		require.NoError(t, err)
	}
	c.addNew(4)
	conf, err := c.change(leader, func(m *Member, done ConfDone) { m.AddLearner(4, done) })
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 2, 3}, conf.Voters)
	require.Equal(t, []uint64{4}, conf.Learners)
	for range 2 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	v, _, ok := c.localValue(4, "k9")
	require.True(t, ok, "the new learner caught up from the log")
	require.Equal(t, "v", v)
	require.Equal(t, []uint64{4}, c.members[4].Status().Config.Learners, "the learner learned the configuration from the log")
	c.requireConsistent()

	conf, err = c.change(leader, func(m *Member, done ConfDone) { m.PromoteLearner(4, done) })
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 2, 3, 4}, conf.Voters)
	require.Empty(t, conf.Learners)

	// Remove a follower (not the new one).
	var gone uint64
	for _, f := range c.followers(leader) {
		if f != 4 {
			gone = f
			break
		}
	}
	conf, err = c.change(leader, func(m *Member, done ConfDone) { m.RemoveMember(gone, done) })
	require.NoError(t, err)
	require.NotContains(t, conf.Voters, gone)
	c.stop(gone)
	_, err = c.do(4, put("after-remove", "x"))
	require.NoError(t, err)
	c.stabilize()
	c.requireConsistent()

	// Transfer leadership to the new member, then remove the old leader: it steps down and
	// the rest go on.
	require.NoError(t, c.transfer(leader, 4))
	require.Equal(t, uint64(4), c.leader())
	old := leader
	conf, err = c.change(4, func(m *Member, done ConfDone) { m.RemoveMember(old, done) })
	require.NoError(t, err)
	require.Len(t, conf.Voters, 2)
	c.stop(old)
	leader = c.leader()
	_, err = c.do(leader, put("after-leader-change", "y"))
	require.NoError(t, err)
	c.stabilize()
	c.requireConsistent()
}

// Removing the leader itself: the change commits, the leader steps down, and the remaining
// members elect a new one and serve writes.
func TestRemoveLeaderStepsDown(t *testing.T) {
	c := newCluster(t, 3)
	old := c.leader()
	_, err := c.do(old, put("a", "1"))
	require.NoError(t, err)
	conf, err := c.change(old, func(m *Member, done ConfDone) { m.RemoveMember(old, done) })
	require.NoError(t, err)
	require.NotContains(t, conf.Voters, old)
	for range 3 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	require.NotEqual(t, raft.StateLeader, c.members[old].Status().RaftState, "the removed leader stepped down")
	c.stop(old)
	leader := c.leader()
	require.NotEqual(t, old, leader)
	_, err = c.do(leader, put("b", "2"))
	require.NoError(t, err)
	c.stabilize()
	c.requireConsistent()
}

// Membership calls are refused with etcd's errors: on a follower (naming the leader), for an
// existing or unknown member, promoting a voter or a learner that has not caught up.
func TestMembershipErrors(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	follower := c.followers(leader)[0]
	_, err := c.change(follower, func(m *Member, done ConfDone) { m.AddLearner(9, done) })
	require.ErrorIs(t, err, rpctypes.ErrGRPCNotLeader)
	var nl *NotLeaderError
	require.ErrorAs(t, err, &nl)
	require.Equal(t, leader, nl.Leader)
	require.ErrorContains(t, err, fmt.Sprintf("leader is member %d", leader))
	require.ErrorIs(t, c.transfer(follower, follower), rpctypes.ErrGRPCNotLeader)

	for _, tc := range []struct {
		name string
		call func(*Member, ConfDone)
		want error
	}{
		{"add existing voter", func(m *Member, d ConfDone) { m.AddVoter(follower, d) }, rpctypes.ErrGRPCMemberExist},
		{"add existing as learner", func(m *Member, d ConfDone) { m.AddLearner(follower, d) }, rpctypes.ErrGRPCMemberExist},
		{"remove unknown", func(m *Member, d ConfDone) { m.RemoveMember(42, d) }, rpctypes.ErrGRPCMemberNotFound},
		{"promote a voter", func(m *Member, d ConfDone) { m.PromoteLearner(follower, d) }, rpctypes.ErrGRPCMemberNotLearner},
		{"promote unknown", func(m *Member, d ConfDone) { m.PromoteLearner(42, d) }, rpctypes.ErrGRPCMemberNotFound},
		{"member 0", func(m *Member, d ConfDone) { m.AddVoter(0, d) }, raft.ErrConfChangeInvalid},
	} {
		before := c.members[leader].Status().Config
		_, err := c.change(leader, tc.call)
		require.ErrorIs(t, err, tc.want, tc.name)
		require.Equal(t, before, c.members[leader].Status().Config, "%s changed the configuration", tc.name)
	}
	require.ErrorIs(t, c.transfer(leader, 42), rpctypes.ErrGRPCBadLeaderTransferee)
	require.NoError(t, c.transfer(leader, leader), "transfer to the leader itself is done at once")

	// A learner that never caught up (it is not running) may not be promoted.
	for range 5 {
		_, err := c.do(leader, put("fill", "x"))
		require.NoError(t, err)
	}
	_, err = c.change(leader, func(m *Member, d ConfDone) { m.AddLearner(7, d) })
	require.NoError(t, err)
	_, err = c.change(leader, func(m *Member, d ConfDone) { m.PromoteLearner(7, d) })
	require.ErrorIs(t, err, rpctypes.ErrGRPCLearnerNotReady)
	// While one change is pending, a second is refused.
	r := &confResult{}
	c.members[leader].RemoveMember(7, func(conf raft.ConfState, err error) { r.done, r.err = true, err })
	_, err = c.change(leader, func(m *Member, d ConfDone) { m.AddLearner(8, d) })
	require.ErrorIs(t, err, raft.ErrConfChangePending)
	c.stabilize()
	require.True(t, r.done)
	require.NoError(t, r.err)

	c.stop(follower)
}

// A transfer to a member that cannot be reached is abandoned: the call fails with ErrTimeout
// and the leader goes on leading.
func TestTransferLeaderAbandoned(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	target := c.followers(leader)[0]
	_, err := c.do(leader, put("a", "1"))
	require.NoError(t, err)
	c.isolate(target, true)
	err = c.transfer(leader, target)
	require.ErrorIs(t, err, rpctypes.ErrTimeout)
	require.Equal(t, raft.StateLeader, c.members[leader].Status().RaftState)
}

// A change proposed by a leader that is cut off before it commits is lost when the new
// leader's entries replace it: the call fails with etcd's "leader changed".
func TestMembershipChangeLostWithLeadership(t *testing.T) {
	c := newCluster(t, 3)
	old := c.leader()
	_, err := c.do(old, put("a", "1"))
	require.NoError(t, err)
	c.isolate(old, true)
	r := &confResult{}
	c.members[old].AddLearner(9, func(conf raft.ConfState, err error) { r.done, r.err = true, err })
	for range 2 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	require.False(t, r.done)
	var leader uint64
	for _, f := range c.followers(old) {
		if c.members[f].Status().RaftState == raft.StateLeader {
			leader = f
		}
	}
	require.NotZero(t, leader)
	_, err = c.do(leader, put("b", "2"))
	require.NoError(t, err)
	c.isolate(old, false)
	for i := 0; !r.done; i++ {
		require.Less(t, i, 100)
		c.tick()
	}
	require.ErrorIs(t, r.err, rpctypes.ErrGRPCLeaderChanged)
	require.Empty(t, c.members[old].Status().Config.Learners)
	c.requireConsistent()
}

// NotLeaderError names the leader, or says none is known, in etcd's words.
func TestNotLeaderErrorText(t *testing.T) {
	require.Equal(t, "etcdserver: not leader (leader is member 3)", (&NotLeaderError{Leader: 3}).Error())
	require.Equal(t, "etcdserver: not leader (no leader known)", (&NotLeaderError{}).Error())
	require.ErrorIs(t, &NotLeaderError{}, rpctypes.ErrGRPCNotLeader)
}
