package raft

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Rule 1: elections with randomized timeouts, PreVote, CheckQuorum, the leader lease, and the
// election restriction.

func TestRandomizedElectionTimeoutInRangeAndSeeded(t *testing.T) {
	draw := func(seed uint64) []int {
		m := newSingle(t, 1, []uint64{1, 2, 3}, func(c *Config) { c.Rand = rand.New(rand.NewPCG(seed, 7)) })
		var out []int
		for range 200 {
			m.rn.raft.resetRandomizedElectionTimeout()
			out = append(out, m.rn.raft.randomizedElectionTimeoutTicks)
		}
		return out
	}
	a := draw(42)
	seen := map[int]bool{}
	for _, v := range a {
		require.GreaterOrEqual(t, v, testElectionTicks)
		require.Less(t, v, 2*testElectionTicks)
		seen[v] = true
	}
	require.Greater(t, len(seen), testElectionTicks/2, "timeouts are not spread: %v", a)
	require.Equal(t, a, draw(42), "same seed, same timeouts")
	require.NotEqual(t, a, draw(43), "different seed, different timeouts")
}

func TestFollowerCampaignsAfterElectionTimeout(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		m := newSingle(t, 1, []uint64{1, 2, 3}, func(c *Config) { c.PreVote = preVote })
		timeout := m.rn.raft.randomizedElectionTimeoutTicks
		for range timeout - 1 {
			m.rn.Tick()
		}
		require.Equal(t, StateFollower, m.rn.raft.state)
		m.rn.Tick()
		want, wantType, wantTerm := StateCandidate, MsgVote, uint64(1)
		if preVote {
			want, wantType, wantTerm = StatePreCandidate, MsgPreVote, 1
		}
		require.Equal(t, want, m.rn.raft.state, "preVote=%v", preVote)
		rd := m.rn.Ready()
		require.Len(t, rd.MessagesAfterSync, 2)
		for _, msg := range rd.MessagesAfterSync {
			require.Equal(t, wantType, msg.Type)
			require.Equal(t, wantTerm, msg.Term)
		}
		if preVote {
			require.True(t, rd.HardState.IsEmpty(), "a pre-vote changes no hard state")
			require.Equal(t, uint64(0), m.rn.raft.term)
		}
	}
}

func TestElectionOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		voters  []uint64
		down    []uint64
		preVote bool
		want    StateType
	}{
		{"single voter wins alone", []uint64{1}, nil, false, StateLeader},
		{"three, all up", []uint64{1, 2, 3}, nil, false, StateLeader},
		{"three, one down", []uint64{1, 2, 3}, []uint64{3}, false, StateLeader},
		{"three, two down", []uint64{1, 2, 3}, []uint64{2, 3}, false, StateCandidate},
		{"three, two down, prevote", []uint64{1, 2, 3}, []uint64{2, 3}, true, StatePreCandidate},
		{"four, one down", []uint64{1, 2, 3, 4}, []uint64{4}, false, StateLeader},
		{"four, two down", []uint64{1, 2, 3, 4}, []uint64{3, 4}, false, StateCandidate},
		{"five, two down, prevote", []uint64{1, 2, 3, 4, 5}, []uint64{4, 5}, true, StateLeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, tc.voters, func(c *Config) { c.PreVote = tc.preVote })
			for _, id := range tc.down {
				n.down[id] = true
			}
			require.NoError(t, n.member(1).rn.Campaign())
			n.stabilize()
			require.Equal(t, tc.want, n.raft(1).state)
		})
	}
}

func TestLogUpToDate(t *testing.T) {
	for _, tc := range []struct {
		candTerm, candIndex, voterTerm, voterIndex uint64
		want                                       bool
	}{
		{2, 5, 2, 5, true},  // same
		{2, 6, 2, 5, true},  // same term, longer
		{2, 4, 2, 5, false}, // same term, shorter
		{3, 1, 2, 9, true},  // later term wins regardless of length
		{1, 9, 2, 1, false}, // earlier term loses regardless of length
		{0, 0, 0, 0, true},  // both empty
	} {
		require.Equal(t, tc.want, logUpToDate(tc.candTerm, tc.candIndex, tc.voterTerm, tc.voterIndex), "%+v", tc)
	}
}

// A voter refuses both votes and pre-votes to a candidate whose log is behind its own.
func TestVoteAndPreVoteRequireUpToDateLog(t *testing.T) {
	for _, tc := range []struct {
		name                string
		msgType             MessageType
		candLogTerm, candIx uint64
		reject              bool
	}{
		{"vote, behind by index", MsgVote, 1, 1, true},
		{"vote, equal", MsgVote, 1, 2, false},
		{"vote, later term", MsgVote, 2, 1, false},
		{"prevote, behind by index", MsgPreVote, 1, 1, true},
		{"prevote, equal", MsgPreVote, 1, 2, false},
		{"prevote, behind by term", MsgPreVote, 0, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newSingle(t, 2, []uint64{1, 2, 3}, nil)
			// Give the voter the log 1/1, 1/2 at term 1.
			require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 1, Entries: []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}}}))
			// Forget the leader (as after an election timeout) so that only the log decides.
			m.rn.raft.lead = None
			m.handleReady(t)
			require.NoError(t, m.rn.Step(Message{From: 3, To: 2, Type: tc.msgType, Term: 2, LogTerm: tc.candLogTerm, Index: tc.candIx}))
			rd := m.rn.Ready()
			require.Len(t, rd.MessagesAfterSync, 1)
			resp := rd.MessagesAfterSync[0]
			require.Equal(t, tc.reject, resp.Reject, "%s", resp)
			if tc.msgType == MsgVote && !tc.reject {
				require.Equal(t, uint64(3), rd.HardState.Vote)
			}
		})
	}
}

func TestVoteOncePerTerm(t *testing.T) {
	m := newSingle(t, 1, []uint64{1, 2, 3}, nil)
	require.NoError(t, m.rn.Step(Message{From: 2, To: 1, Type: MsgVote, Term: 5}))
	require.NoError(t, m.rn.Step(Message{From: 3, To: 1, Type: MsgVote, Term: 5}))
	require.NoError(t, m.rn.Step(Message{From: 2, To: 1, Type: MsgVote, Term: 5}))
	rd := m.rn.Ready()
	require.Len(t, rd.MessagesAfterSync, 3)
	require.False(t, rd.MessagesAfterSync[0].Reject, "first request granted")
	require.True(t, rd.MessagesAfterSync[1].Reject, "second candidate rejected in the same term")
	require.False(t, rd.MessagesAfterSync[2].Reject, "the same candidate asking again is granted again")
	require.Equal(t, HardState{Term: 5, Vote: 2}, rd.HardState)
}

// A member partitioned away keeps campaigning; when it returns without PreVote it disrupts the
// leader (forces a new term); with PreVote its term never rose and the leader stays.
func TestRejoiningMemberDisruptsOnlyWithoutPreVote(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		n := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.PreVote = preVote })
		n.elect(1)
		termBefore := n.raft(1).term
		n.isolate(3)
		n.tick(5 * testElectionTicks)
		require.Equal(t, uint64(1), n.leader(), "leader survives the minority partition")
		if preVote {
			require.Equal(t, termBefore, n.raft(3).term, "pre-vote never raises the term")
		} else {
			require.Greater(t, n.raft(3).term, termBefore)
		}
		n.heal()
		n.tick(3 * testElectionTicks)
		if preVote {
			require.Equal(t, StateLeader, n.raft(1).state, "leader undisturbed")
			require.Equal(t, termBefore, n.raft(1).term)
		} else {
			require.Greater(t, n.raft(1).term, termBefore, "the returning member forced a new term")
		}
	}
}

func TestCheckQuorumLeaderStepsDown(t *testing.T) {
	for _, checkQuorum := range []bool{false, true} {
		n := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.CheckQuorum = checkQuorum })
		n.elect(1)
		n.down[2], n.down[3] = true, true
		// The first check-quorum round still sees the activity of the election.
		for range 2 * testElectionTicks {
			n.member(1).rn.Tick()
			n.stabilize()
		}
		if checkQuorum {
			require.Equal(t, StateFollower, n.raft(1).state, "a leader cut off from the quorum steps down")
		} else {
			require.Equal(t, StateLeader, n.raft(1).state)
		}
	}
}

func TestCheckQuorumLeaderStaysWithQuorum(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.CheckQuorum = true })
	n.elect(1)
	n.down[3] = true
	for range 5 * testElectionTicks {
		n.member(1).rn.Tick()
		n.member(2).rn.Tick()
		n.stabilize()
	}
	require.Equal(t, StateLeader, n.raft(1).state)
}

// With CheckQuorum, a follower that heard from its leader within the election timeout ignores
// (pre)votes of a higher term, unless they come from a leadership transfer.
func TestLeaderLeaseIgnoresVotes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		checkQuorum bool
		msgType     MessageType
		transfer    bool
		elapsed     int
		wantAnswer  bool
		wantTerm    uint64
	}{
		{"in lease, vote ignored", true, MsgVote, false, 0, false, 1},
		{"in lease, prevote ignored", true, MsgPreVote, false, 0, false, 1},
		{"in lease, transfer vote granted", true, MsgVote, true, 0, true, 3},
		{"lease expired, vote granted", true, MsgVote, false, testElectionTicks, true, 3},
		{"no check quorum, no lease", false, MsgVote, false, 0, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newSingle(t, 2, []uint64{1, 2, 3}, func(c *Config) { c.CheckQuorum = tc.checkQuorum })
			require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgHeartbeat, Term: 1}))
			m.handleReady(t)
			m.rn.raft.electionElapsedTicks = tc.elapsed
			require.NoError(t, m.rn.Step(Message{From: 3, To: 2, Type: tc.msgType, Term: 3, LeaderTransfer: tc.transfer}))
			require.Equal(t, tc.wantAnswer, m.rn.HasReady())
			if tc.msgType == MsgVote {
				require.Equal(t, tc.wantTerm, m.rn.raft.term)
			}
			if tc.wantAnswer {
				rd := m.rn.Ready()
				require.Len(t, rd.MessagesAfterSync, 1)
				require.False(t, rd.MessagesAfterSync[0].Reject)
			}
		})
	}
}

// A stale leader (back from a partition) learns the new term from the answer to its append.
func TestStaleLeaderStepsDownOnHigherTermAnswer(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.PreVote = true; c.CheckQuorum = true })
	n.elect(1)
	n.isolate(1)
	// Tick only 2 and 3 (the old leader, paused, does not step down by check-quorum).
	var newLeader uint64
	for range 5 * testElectionTicks {
		n.member(2).rn.Tick()
		n.member(3).rn.Tick()
		n.stabilize()
		if n.raft(2).state == StateLeader || n.raft(3).state == StateLeader {
			newLeader = n.leader()
			break
		}
	}
	require.NotZero(t, newLeader)
	require.NotEqual(t, uint64(1), newLeader)
	require.Equal(t, StateLeader, n.raft(1).state, "the old leader does not know yet")
	n.heal()
	require.NoError(t, n.member(1).rn.Propose([]byte("stale")))
	n.stabilize()
	require.Equal(t, StateFollower, n.raft(1).state)
	require.Equal(t, n.raft(newLeader).term, n.raft(1).term)
	require.Empty(t, n.member(newLeader).appliedData(), "the stale leader's proposal never commits")
	n.tick(2)
	require.Equal(t, newLeader, n.raft(1).lead)
}

// A member that has a committed but unapplied configuration change does not campaign: the
// change may alter who it needs votes from.
func TestNoCampaignWithUnappliedConfChange(t *testing.T) {
	m := newSingle(t, 2, []uint64{1, 2, 3}, nil)
	cc := ConfChange{Type: ConfChangeRemoveNode, NodeID: 3}
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 1,
		Entries: []Entry{{Term: 1, Index: 1, Type: EntryConfChange, Data: cc.Marshal()}}, Commit: 1}))
	m.rn.raft.lead = None
	require.ErrorContains(t, m.rn.Campaign(), "must apply a committed configuration change")
	require.Equal(t, StateFollower, m.rn.raft.state, "the change is committed but not applied")
	for range 3 * testElectionTicks {
		m.rn.Tick()
	}
	require.Equal(t, StateFollower, m.rn.raft.state, "nor on its election timeout")
	m.handleReady(t) // persists the entry
	m.handleReady(t) // applies it
	require.Equal(t, []uint64{1, 2}, m.rn.Status().Config.Voters)
	require.NoError(t, m.rn.Campaign())
	require.Equal(t, StateCandidate, m.rn.raft.state)
}

// TestAdvanceTicksCampaignsSooner: AdvanceTicks (etcd's advanceTicks, for
// --initial-election-tick-advance) brings a follower's first campaign n ticks sooner: with
// the same seed, the same randomized timeout, less the ticks advanced.
func TestAdvanceTicksCampaignsSooner(t *testing.T) {
	ticksToCampaign := func(advance int) int {
		m := newSingle(t, 1, []uint64{1, 2, 3}, func(c *Config) { c.PreVote = true })
		m.rn.AdvanceTicks(advance)
		for n := 1; ; n++ {
			m.rn.Tick()
			if m.rn.raft.state != StateFollower {
				return n
			}
		}
	}
	whole := ticksToCampaign(0)
	require.GreaterOrEqual(t, whole, testElectionTicks, "a whole randomized election timeout")
	advanced := ticksToCampaign(testElectionTicks - 2)
	require.Equal(t, whole-(testElectionTicks-2), advanced)
	require.Less(t, advanced, whole)
}
