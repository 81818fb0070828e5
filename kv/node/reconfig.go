package node

import (
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/raft"
)

// Config.StrictReconfigCheck is etcd's --strict-reconfig-check: the leader refuses a
// membership change that would leave the cluster without a quorum of started, connected
// voters, with etcd's errors and in etcd's order (etcdserver's mayAddMember,
// mayRemoveMember and mayPromoteMember over membership.RaftCluster's IsReadyTo* checks):
//
//   - adding a voter: refused with etcd's "re-configuration failed due to not enough started
//     members" (ErrGRPCMemberNotEnoughStarted) if the started voters (those whose name the
//     table knows: founders, and added members once they published it) would be fewer than a
//     quorum of the voters plus the new one, unless it makes a one-member cluster two;
//   - adding a voter or a learner: refused with etcd's "unhealthy cluster" (ErrGRPCUnhealthy)
//     if this member has not been connected, for etcd's HealthInterval, to a quorum of the
//     voters plus the new one (always accepted on a one-voter cluster);
//   - removing a voter (never a learner): not enough started members if the started voters
//     left would be fewer than a quorum of the voters left; then accepted at once if the
//     member removed is another one this member has no connection to (it is no part of the
//     active quorum); else unhealthy if the voters connected for HealthInterval, less the one
//     removed, are fewer than a quorum of the voters;
//   - promoting a learner (after etcd's learner-ready check): not enough started members if
//     the started voters plus the learner are fewer than a quorum of the voters plus it.
//
// "Connected since" is etcd's rafthttp ActiveSince counted in ticks: a peer is connected from
// the tick this member first heard a raft message from it, for as long as it keeps hearing
// one at least every election timeout (a gap longer than that breaks the connection, as a
// stopped peer's stream breaks in etcd). The leader hears every live follower each heartbeat.

// healthInterval is etcd's etcdserver.HealthInterval.
const healthInterval = 5 * time.Second

// peerContact is when this member started and last heard from one peer (in ticks).
type peerContact struct{ since, last uint64 }

// heardFrom records a raft message from peer id.
func (m *Member) heardFrom(id uint64) {
	if id == 0 || id == m.cfg.ID {
		return
	}
	if m.contacts == nil {
		m.contacts = map[uint64]*peerContact{}
	}
	c := m.contacts[id]
	if c == nil {
		c = &peerContact{since: m.ticks}
		m.contacts[id] = c
	} else if m.ticks-c.last > uint64(m.cfg.ElectionTimeoutTicks) {
		c.since = m.ticks
	}
	c.last = m.ticks
}

// active reports whether this member has a connection to peer id (etcd: ActiveSince is not
// zero).
func (m *Member) active(id uint64) bool {
	c := m.contacts[id]
	return c != nil && m.ticks-c.last <= uint64(m.cfg.ElectionTimeoutTicks)
}

// connectedForHealthInterval reports whether id is this member, or a peer connected for
// healthInterval (etcd's isConnectedSince(now - HealthInterval)).
func (m *Member) connectedForHealthInterval(id uint64) bool {
	if id == m.cfg.ID {
		return true
	}
	healthTicks := uint64((healthInterval + m.cfg.TickInterval - 1) / m.cfg.TickInterval)
	return m.active(id) && m.ticks-m.contacts[id].since > healthTicks
}

// reconfigView is what etcd's strict check looks at: the voters, which of them started, and
// which this member is connected to.
type reconfigView struct {
	self      uint64
	voters    []uint64
	learners  []uint64
	started   func(id uint64) bool // the member table knows its name
	connected func(id uint64) bool // self, or connected for HealthInterval
	active    func(id uint64) bool // any connection at all
}

func quorumOf(n int) int { return n/2 + 1 }

// strictReconfigCheck is etcd's check of change cc (promoting: a learner's promotion) under
// --strict-reconfig-check.
func strictReconfigCheck(v reconfigView, cc raft.ConfChange, promoting bool) error {
	countStarted := func(except uint64) (members, started int) {
		for _, id := range v.voters {
			if id == except {
				continue
			}
			members++
			if v.started(id) {
				started++
			}
		}
		return members, started
	}
	countConnected := func() (n int) {
		for _, id := range v.voters {
			if v.connected(id) {
				n++
			}
		}
		return n
	}
	switch {
	case promoting:
		// IsReadyToPromoteMember: the learner counts as a started voter.
		members, started := countStarted(0)
		if started+1 < quorumOf(members+1) {
			return rpctypes.ErrGRPCMemberNotEnoughStarted
		}
	case cc.Type == raft.ConfChangeAddVoter || cc.Type == raft.ConfChangeAddLearner:
		if cc.Type == raft.ConfChangeAddVoter {
			// IsReadyToAddVotingMember.
			members, started := countStarted(0)
			members++
			if !(started == 1 && members == 2) && started < quorumOf(members) {
				return rpctypes.ErrGRPCMemberNotEnoughStarted
			}
		}
		// isConnectedToQuorumAfterAddingNewMemberSince.
		if len(v.voters) != 1 && countConnected() < quorumOf(len(v.voters)+1) {
			return rpctypes.ErrGRPCUnhealthy
		}
	case cc.Type == raft.ConfChangeRemoveNode:
		if slices.Contains(v.learners, cc.NodeID) {
			return nil
		}
		// IsReadyToRemoveVotingMember.
		members, started := countStarted(cc.NodeID)
		if started < quorumOf(members) {
			return rpctypes.ErrGRPCMemberNotEnoughStarted
		}
		if cc.NodeID != v.self && !v.active(cc.NodeID) {
			return nil // a member down is no part of the active quorum
		}
		if countConnected()-1 < 1+(len(v.voters)-1)/2 {
			return rpctypes.ErrGRPCUnhealthy
		}
	}
	return nil
}

// reconfigView is this member's view, as of its applied member table and its contacts.
func (m *Member) reconfigView() reconfigView {
	return reconfigView{
		self:     m.cfg.ID,
		voters:   m.cluster.conf.Voters,
		learners: m.cluster.conf.Learners,
		started: func(id uint64) bool {
			i, ok := m.cluster.find(id)
			return ok && m.cluster.members[i].Name != ""
		},
		connected: m.connectedForHealthInterval,
		active:    m.active,
	}
}
