package raft

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Rule 9: a proposal on a non-leader fails fast with an error naming the known leader.

func TestProposalOnNonLeaderNamesLeader(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	lone := newSingle(t, 1, []uint64{1, 2, 3}, nil)
	require.NoError(t, lone.rn.Campaign())
	for _, tc := range []struct {
		name       string
		rn         *RawNode
		wantLeader uint64
		wantText   string
	}{
		{"follower knows the leader", n.member(2).rn, 1, "leader is 1"},
		{"candidate knows none", lone.rn, None, "no leader known"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			last, queued := tc.rn.raft.log.lastIndex(), len(tc.rn.raft.msgs)
			for _, err := range []error{tc.rn.Propose([]byte("x")), tc.rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 9})} {
				require.ErrorIs(t, err, ErrNotLeader)
				var nl *NotLeaderError
				require.True(t, errors.As(err, &nl))
				require.Equal(t, tc.wantLeader, nl.LeaderID)
				require.Equal(t, tc.rn.raft.term, nl.Term)
				require.ErrorContains(t, err, tc.wantText)
			}
			require.Equal(t, last, tc.rn.raft.log.lastIndex(), "nothing appended")
			require.Len(t, tc.rn.raft.msgs, queued, "nothing forwarded: the node layer decides")
		})
	}
}

func TestProposalLimitOnUncommittedEntries(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.MaxUncommittedEntries = 3 })
	n.elect(1)
	n.down[2], n.down[3] = true, true
	for range 3 {
		require.NoError(t, n.member(1).rn.Propose([]byte("x")))
	}
	require.ErrorIs(t, n.member(1).rn.Propose([]byte("y")), ErrProposalDropped)
	delete(n.down, 2)
	delete(n.down, 3)
	n.tick(1)
	require.NoError(t, n.member(1).rn.Propose([]byte("y")), "accepted again once committed")
}

func TestStepRejectsInvalidMessages(t *testing.T) {
	m := newSingle(t, 1, []uint64{1, 2}, nil)
	for _, tc := range []struct {
		name string
		msg  Message
	}{
		{"unknown type", Message{Type: 99, From: 2, To: 1, Term: 1}},
		{"zero type", Message{From: 2, To: 1, Term: 1}},
		{"wrong recipient", Message{Type: MsgHeartbeat, From: 2, To: 3, Term: 1}},
		{"from self", Message{Type: MsgHeartbeat, From: 1, To: 1, Term: 1}},
		{"no sender", Message{Type: MsgHeartbeat, To: 1, Term: 1}},
		{"no term", Message{Type: MsgHeartbeat, From: 2, To: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, m.rn.Step(tc.msg), ErrInvalidMessage)
			require.Equal(t, uint64(0), m.rn.raft.term, "an invalid message changes nothing")
		})
	}
}

func TestConfigValidation(t *testing.T) {
	storage := NewMemoryStorage(ConfState{Voters: []uint64{1}})
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"id", func(c *Config) { c.ID = 0 }, "ID must not be 0"},
		{"storage", func(c *Config) { c.Storage = nil }, "Storage is required"},
		{"rand", func(c *Config) { c.Rand = nil }, "Rand is required"},
		{"heartbeat", func(c *Config) { c.HeartbeatIntervalTicks = 0 }, "HeartbeatIntervalTicks must be positive"},
		{"election", func(c *Config) { c.ElectionTimeoutTicks = 1 }, "must exceed HeartbeatIntervalTicks"},
		{"inflight", func(c *Config) { c.MaxInflightMsgs = 0 }, "MaxInflightMsgs must be positive"},
		{"reads", func(c *Config) { c.MaxPendingReads = -1 }, "MaxPendingReads must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(1, storage, 1)
			tc.modify(c)
			_, err := NewRawNode(c)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestStatusAndReports(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	require.NoError(t, n.member(1).rn.Propose([]byte("a")))
	n.stabilize()
	st := n.member(1).rn.Status()
	require.Equal(t, uint64(1), st.ID)
	require.Equal(t, StateLeader, st.RaftState)
	require.Equal(t, uint64(2), st.Commit)
	require.Equal(t, uint64(2), st.Applied)
	require.Len(t, st.Progress, 3)
	for _, p := range st.Progress {
		require.Equal(t, uint64(2), p.Match, "%+v", p)
		require.Equal(t, "StateReplicate", p.State)
	}
	n.member(1).rn.ReportUnreachable(2)
	require.Equal(t, "StateProbe", n.member(1).rn.Status().Progress[1].State)
	require.Empty(t, n.member(2).rn.Status().Progress, "only a leader tracks progress")
	n.member(2).rn.ReportUnreachable(3) // ignored on a follower
	n.member(2).rn.ReportSnapshot(3, false)
}

func TestStepRejectsMalformedBodies(t *testing.T) {
	m := newSingle(t, 2, []uint64{1, 2}, nil)
	for _, tc := range []struct {
		name string
		msg  Message
		want string
	}{
		{"gap in entries", Message{Type: MsgApp, From: 1, To: 2, Term: 2, Entries: []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 3}}}, "entry 1 has index 3, want 2"},
		{"entry term above message", Message{Type: MsgApp, From: 1, To: 2, Term: 2, Entries: []Entry{{Term: 3, Index: 1}}}, "entry 0 has term 3"},
		{"terms going back", Message{Type: MsgApp, From: 1, To: 2, Term: 2, Entries: []Entry{{Term: 2, Index: 1}, {Term: 1, Index: 2}}}, "entry 1 has term 1"},
		{"prev term above message", Message{Type: MsgApp, From: 1, To: 2, Term: 2, Index: 1, LogTerm: 3}, "previous entry's term 3"},
		{"snapshot missing", Message{Type: MsgSnap, From: 1, To: 2, Term: 2}, "no snapshot"},
		{"snapshot term above message", Message{Type: MsgSnap, From: 1, To: 2, Term: 2, Snapshot: &Snapshot{Metadata: SnapshotMetadata{Index: 5, Term: 3}}}, "snapshot term 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.rn.Step(tc.msg)
			require.ErrorIs(t, err, ErrInvalidMessage)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, uint64(0), m.rn.raft.term, "nothing changed")
			require.False(t, m.rn.HasReady())
		})
	}
}

func TestRestartRejectsOverlappingConfState(t *testing.T) {
	storage := NewMemoryStorage(ConfState{Voters: []uint64{1, 2}, Learners: []uint64{2}})
	_, err := NewRawNode(testConfig(1, storage, 1))
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "both voter and learner")
}
