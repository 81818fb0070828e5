package node

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/raft"
)

// TestStrictReconfigCheck: etcd's --strict-reconfig-check decisions (etcdserver's
// mayAddMember, mayRemoveMember, mayPromoteMember over RaftCluster's IsReadyTo* checks), one
// row per case, member 1 deciding. started: voters whose name the table knows; connected:
// voters connected for etcd's HealthInterval; active: any connection.
func TestStrictReconfigCheck(t *testing.T) {
	add := raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: 9}
	addLearner := raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: 9}
	remove := func(id uint64) raft.ConfChange { return raft.ConfChange{Type: raft.ConfChangeRemoveNode, NodeID: id} }
	for i, tc := range []struct {
		voters, learners, started, connected, active []uint64
		cc                                           raft.ConfChange
		promoting                                    bool
		want                                         error
	}{
		// Adding to a one-member cluster is always possible (restoring from a backup).
		{voters: []uint64{1}, started: []uint64{1}, cc: add},
		{voters: []uint64{1}, started: []uint64{1}, cc: addLearner},
		// Three started and connected: an add is fine.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2, 3}, connected: []uint64{1, 2, 3}, cc: add},
		// One of three down: 2 connected < quorum(4) = 3: unhealthy, voter or learner.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2, 3}, connected: []uint64{1, 2}, cc: add, want: rpctypes.ErrGRPCUnhealthy},
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2, 3}, connected: []uint64{1, 2}, cc: addLearner, want: rpctypes.ErrGRPCUnhealthy},
		// Two started of three: a fourth voter makes quorum 3 > 2 started.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2}, connected: []uint64{1, 2, 3}, cc: add, want: rpctypes.ErrGRPCMemberNotEnoughStarted},
		// ... a learner is not counted.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2}, connected: []uint64{1, 2, 3}, cc: addLearner},
		// Two voters, one never started: adding a third (quorum 2 of 3, 1 started) is refused.
		{voters: []uint64{1, 2}, started: []uint64{1}, connected: []uint64{1, 2}, cc: add, want: rpctypes.ErrGRPCMemberNotEnoughStarted},
		// Removing a member that is down: it is no part of the active quorum.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2, 3}, connected: []uint64{1, 2}, active: []uint64{2}, cc: remove(3)},
		// Removing a live follower while another is down: 2 connected - 1 < 2: unhealthy.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2, 3}, connected: []uint64{1, 2}, active: []uint64{2}, cc: remove(2), want: rpctypes.ErrGRPCUnhealthy},
		// ... and removing this member itself.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2, 3}, connected: []uint64{1, 2}, active: []uint64{2}, cc: remove(1), want: rpctypes.ErrGRPCUnhealthy},
		// All connected: a removal is fine.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2, 3}, connected: []uint64{1, 2, 3}, active: []uint64{2, 3}, cc: remove(2)},
		// Connected but not for HealthInterval yet: unhealthy.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2, 3}, connected: []uint64{1, 2}, active: []uint64{2, 3}, cc: remove(2), want: rpctypes.ErrGRPCUnhealthy},
		// Three voters, one never started: removing a started one leaves 1 of 2 started.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2}, connected: []uint64{1, 2}, active: []uint64{2}, cc: remove(2), want: rpctypes.ErrGRPCMemberNotEnoughStarted},
		// ... removing the unstarted one is fine.
		{voters: []uint64{1, 2, 3}, started: []uint64{1, 2}, connected: []uint64{1, 2}, active: []uint64{2}, cc: remove(3)},
		// A learner's removal is never checked.
		{voters: []uint64{1, 2, 3}, learners: []uint64{4}, started: []uint64{1}, connected: []uint64{1}, active: []uint64{4}, cc: remove(4)},
		// Promotion: the learner counts as started; connections are not looked at.
		{voters: []uint64{1, 2, 3}, learners: []uint64{9}, started: []uint64{1, 2, 3}, connected: []uint64{1}, cc: add, promoting: true},
		{voters: []uint64{1, 2, 3}, learners: []uint64{9}, started: []uint64{1, 2}, connected: []uint64{1, 2, 3}, cc: add, promoting: true},
		{voters: []uint64{1, 2, 3}, learners: []uint64{9}, started: []uint64{1}, connected: []uint64{1, 2, 3}, cc: add, promoting: true, want: rpctypes.ErrGRPCMemberNotEnoughStarted},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			v := reconfigView{self: 1, voters: tc.voters, learners: tc.learners,
				started:   func(id uint64) bool { return slices.Contains(tc.started, id) },
				connected: func(id uint64) bool { return slices.Contains(tc.connected, id) },
				active:    func(id uint64) bool { return slices.Contains(tc.active, id) }}
			err := strictReconfigCheck(v, tc.cc, tc.promoting)
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}
