package raft

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Rule 7: leadership transfer.

func TestTransferToUpToDateFollower(t *testing.T) {
	for _, opts := range []struct{ preVote, checkQuorum bool }{{false, false}, {true, true}} {
		n := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.PreVote = opts.preVote; c.CheckQuorum = opts.checkQuorum })
		n.elect(1)
		term := n.raft(1).term
		timeoutNow := 0
		n.drop = func(m Message) bool {
			if m.Type == MsgTimeoutNow {
				timeoutNow++
				require.Equal(t, uint64(2), m.To)
			}
			if m.Type == MsgVote {
				require.True(t, m.LeaderTransfer, "the transfer campaign bypasses the lease")
			}
			require.NotEqual(t, MsgPreVote, m.Type, "the target skips PreVote")
			return false
		}
		require.NoError(t, n.member(1).rn.TransferLeader(2))
		n.stabilize()
		require.Equal(t, 1, timeoutNow)
		require.Equal(t, StateLeader, n.raft(2).state, "%+v", opts)
		require.Equal(t, term+1, n.raft(2).term)
		require.Equal(t, StateFollower, n.raft(1).state)
		require.Equal(t, uint64(2), n.raft(1).lead)
	}
}

func TestTransferWaitsForTargetToCatchUp(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.down[3] = true
	for _, d := range []string{"a", "b"} {
		require.NoError(t, n.member(1).rn.Propose([]byte(d)))
	}
	n.stabilize()
	require.Less(t, n.raft(1).trk.get(3).match, n.raft(1).log.lastIndex())
	require.NoError(t, n.member(1).rn.TransferLeader(3))
	leaderMsgs, _ := n.member(1).handleReady(t)
	require.Zero(t, countMessages(leaderMsgs, MsgTimeoutNow), "not before the target has the whole log")
	delete(n.down, 3)
	n.tick(1)
	require.Equal(t, StateLeader, n.raft(3).state)
	require.Equal(t, []string{"a", "b"}, n.member(3).appliedData())
}

func TestTransferRejectsProposalsAndAbortsAfterElectionTimeout(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.down[3] = true
	require.NoError(t, n.member(1).rn.Propose([]byte("a")))
	n.stabilize()
	require.NoError(t, n.member(1).rn.TransferLeader(3))
	require.Equal(t, uint64(3), n.member(1).rn.Status().LeadTransferee)
	err := n.member(1).rn.Propose([]byte("b"))
	require.ErrorIs(t, err, ErrProposalDropped)
	require.ErrorIs(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 9}), ErrProposalDropped)
	last := n.raft(1).log.lastIndex()
	require.NoError(t, n.member(1).rn.TransferLeader(3), "repeating the same transfer is fine")
	require.Equal(t, last, n.raft(1).log.lastIndex(), "a refused proposal changes nothing")
	for range testElectionTicks {
		n.member(1).rn.Tick()
		n.member(2).rn.Tick()
		n.stabilize()
	}
	require.Equal(t, None, n.raft(1).leadTransferee, "abandoned after an election timeout")
	require.Equal(t, StateLeader, n.raft(1).state)
	require.NoError(t, n.member(1).rn.Propose([]byte("b")))
}

func TestTransferErrors(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	require.ErrorIs(t, n.member(1).rn.TransferLeader(1), ErrInvalidTransfer)
	require.ErrorIs(t, n.member(1).rn.TransferLeader(7), ErrInvalidTransfer)
	err := n.member(2).rn.TransferLeader(3)
	var nl *NotLeaderError
	require.True(t, errors.As(err, &nl))
	require.Equal(t, uint64(1), nl.LeaderID)
	// Switching targets mid-transfer is allowed.
	n.down[2], n.down[3] = true, true
	require.NoError(t, n.member(1).rn.Propose([]byte("x")))
	require.NoError(t, n.member(1).rn.TransferLeader(2))
	require.NoError(t, n.member(1).rn.TransferLeader(3))
	require.Equal(t, uint64(3), n.raft(1).leadTransferee)
}
