package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Rule 8: membership changes, one at a time.

// addMember adds a fresh member (empty storage, no configuration: it learns everything from
// the leader) to the network.
func (n *network) addMember(id uint64) *testMember {
	storage := NewMemoryStorage(ConfState{})
	rn, err := NewRawNode(testConfig(id, storage, 1))
	require.NoError(n.t, err)
	m := &testMember{id: id, rn: rn, storage: storage}
	n.members = append(n.members, m)
	return m
}

// newBootstrappedNetwork starts a group whose founding configuration is in the log
// (Bootstrap), so that members added later can learn it.
func newBootstrappedNetwork(t *testing.T, ids []uint64) *network {
	n := &network{t: t, cut: map[[2]uint64]bool{}, down: map[uint64]bool{}}
	hs, ents, err := Bootstrap(ids)
	require.NoError(t, err)
	for _, id := range ids {
		storage := NewMemoryStorage(ConfState{})
		require.NoError(t, storage.Append(ents))
		require.NoError(t, storage.SetHardState(hs))
		rn, err := NewRawNode(testConfig(id, storage, 1))
		require.NoError(t, err)
		n.members = append(n.members, &testMember{id: id, rn: rn, storage: storage})
	}
	n.stabilize() // apply the founding configuration
	return n
}

func TestBootstrap(t *testing.T) {
	hs, ents, err := Bootstrap([]uint64{1, 2})
	require.NoError(t, err)
	require.Equal(t, HardState{Term: 1, Commit: 2}, hs)
	require.Len(t, ents, 2)
	for _, bad := range [][]uint64{nil, {1, 0}, {1, 2, 1}} {
		_, _, err := Bootstrap(bad)
		require.ErrorIs(t, err, ErrConfChangeInvalid, "%v", bad)
	}
	n := newBootstrappedNetwork(t, []uint64{1, 2, 3})
	for _, id := range []uint64{1, 2, 3} {
		require.Equal(t, []uint64{1, 2, 3}, n.member(id).rn.Status().Config.Voters)
	}
	n.elect(2)
}

func TestAddVoter(t *testing.T) {
	n := newBootstrappedNetwork(t, []uint64{1, 2, 3})
	n.elect(1)
	require.NoError(t, n.member(1).rn.Propose([]byte("a")))
	n.stabilize()
	m4 := n.addMember(4)
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: 4}))
	n.stabilize()
	n.tick(1)
	for _, id := range []uint64{1, 2, 3, 4} {
		require.Equal(t, []uint64{1, 2, 3, 4}, n.member(id).rn.Status().Config.Voters, "member %d", id)
	}
	require.Equal(t, []string{"a"}, m4.appliedData(), "the new member received the log")
	// Now a majority is three of four: with two down nothing commits.
	n.down[3], n.down[4] = true, true
	require.NoError(t, n.member(1).rn.Propose([]byte("b")))
	n.stabilize()
	require.NotContains(t, n.member(1).appliedData(), "b")
	delete(n.down, 4)
	n.tick(1)
	require.Contains(t, n.member(1).appliedData(), "b")
}

func TestRemoveVoterShrinksQuorum(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeRemoveNode, NodeID: 3}))
	n.stabilize()
	n.down[3] = true
	require.Equal(t, []uint64{1, 2}, n.member(1).rn.Status().Config.Voters)
	n.down[2] = true
	require.NoError(t, n.member(1).rn.Propose([]byte("x")))
	n.stabilize()
	require.NotContains(t, n.member(1).appliedData(), "x", "two voters need both")
	delete(n.down, 2)
	n.tick(1)
	require.Contains(t, n.member(1).appliedData(), "x")
}

func TestLearnerNeitherVotesNorCounts(t *testing.T) {
	n := newBootstrappedNetwork(t, []uint64{1, 2, 3})
	n.elect(1)
	learner := n.addMember(4)
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}))
	n.stabilize()
	n.tick(1)
	require.Equal(t, []uint64{4}, n.member(1).rn.Status().Config.Learners)
	require.Equal(t, []uint64{4}, learner.rn.Status().Config.Learners)
	// Learner acks don't make a quorum.
	n.down[2], n.down[3] = true, true
	require.NoError(t, n.member(1).rn.Propose([]byte("x")))
	n.stabilize()
	require.Equal(t, n.raft(1).log.lastIndex(), n.raft(1).trk.get(4).match, "the learner has the entry")
	require.NotContains(t, n.member(1).appliedData(), "x", "a learner's copy counts for nothing")
	// A learner never campaigns and its vote requests are never sent to it.
	require.Error(t, learner.rn.Campaign())
	for range 5 * testElectionTicks {
		learner.rn.Tick()
	}
	require.Equal(t, StateFollower, learner.rn.raft.state)
	delete(n.down, 2)
	delete(n.down, 3)
	n.raft(1).becomeFollower(n.raft(1).term, None)
	require.NoError(t, n.member(2).rn.Campaign())
	var voteTargets []uint64
	n.drop = func(m Message) bool {
		if m.Type == MsgVote {
			voteTargets = append(voteTargets, m.To)
		}
		return false
	}
	n.stabilize()
	require.NotContains(t, voteTargets, uint64(4))
}

func TestPromoteLearner(t *testing.T) {
	n := newBootstrappedNetwork(t, []uint64{1, 2, 3})
	n.elect(1)
	n.addMember(4)
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}))
	n.stabilize()
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: 4}))
	n.stabilize()
	n.tick(1)
	st := n.member(4).rn.Status()
	require.Equal(t, []uint64{1, 2, 3, 4}, st.Config.Voters)
	require.Empty(t, st.Config.Learners)
	require.NoError(t, n.member(4).rn.Campaign(), "a promoted learner may campaign")
}

func TestOneConfChangeAtATime(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	// Before the new leader commits an entry of its term: too early.
	n.drop = func(m Message) bool { return m.Type == MsgAppResp }
	require.NoError(t, n.member(1).rn.Campaign())
	n.stabilize()
	require.ErrorIs(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}), ErrConfChangeTooEarly)
	n.drop = nil
	n.tick(1)
	// One pending change blocks a second until it is applied.
	n.down[2], n.down[3] = true, true
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}))
	last := n.raft(1).log.lastIndex()
	require.ErrorIs(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 5}), ErrConfChangePending)
	require.Equal(t, last, n.raft(1).log.lastIndex(), "the refused change appended nothing")
	delete(n.down, 2)
	delete(n.down, 3)
	n.tick(1)
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 5}))
}

func TestInvalidConfChanges(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2}, nil)
	n.elect(1)
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 3}))
	n.stabilize()
	for _, tc := range []struct {
		name string
		cc   ConfChange
		want string
	}{
		{"node 0", ConfChange{Type: ConfChangeAddVoter}, "node ID 0"},
		{"voter again", ConfChange{Type: ConfChangeAddVoter, NodeID: 2}, "already a voter"},
		{"demote voter", ConfChange{Type: ConfChangeAddLearner, NodeID: 2}, "demotion"},
		{"learner again", ConfChange{Type: ConfChangeAddLearner, NodeID: 3}, "already a learner"},
		{"remove stranger", ConfChange{Type: ConfChangeRemoveNode, NodeID: 9}, "not a member"},
		{"unknown type", ConfChange{Type: 77, NodeID: 9}, "unknown change type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := n.member(1).rn.ProposeConfChange(tc.cc)
			require.ErrorIs(t, err, ErrConfChangeInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
	single := newNetwork(t, []uint64{1}, nil)
	single.elect(1)
	single.stabilize()
	require.ErrorContains(t, single.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeRemoveNode, NodeID: 1}), "the last voter")
}

func TestRemovedLeaderStepsDownAfterCommit(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeRemoveNode, NodeID: 1}))
	// Until the removal commits, it leads.
	require.Equal(t, StateLeader, n.raft(1).state)
	var timeoutNow []uint64
	n.drop = func(m Message) bool {
		if m.Type == MsgTimeoutNow {
			timeoutNow = append(timeoutNow, m.To)
		}
		return false
	}
	n.stabilize()
	require.Len(t, timeoutNow, 1, "the removed leader hands over to a remaining voter")
	successor := timeoutNow[0]
	require.Equal(t, StateLeader, n.raft(successor).state)
	require.Greater(t, n.raft(successor).term, n.raft(1).term)
	for _, id := range []uint64{2, 3} {
		require.Equal(t, []uint64{2, 3}, n.member(id).rn.Status().Config.Voters, "member %d learned the commit", id)
	}
	// The new leader does not talk to the removed member; it refuses work and steps down
	// after an election timeout.
	require.ErrorIs(t, n.member(1).rn.Propose([]byte("x")), ErrProposalDropped)
	require.ErrorIs(t, n.member(1).rn.ReadIndex([]byte("x")), ErrProposalDropped)
	for range testElectionTicks {
		n.member(1).rn.Tick()
		n.stabilize()
	}
	require.Equal(t, StateFollower, n.raft(1).state, "removed and applied: stepped down")
	require.Error(t, n.member(1).rn.Campaign(), "the removed member never campaigns")
	n.tick(3 * testElectionTicks)
	require.Equal(t, successor, n.leader())
}

func TestConfChangeEncoding(t *testing.T) {
	for _, cc := range []ConfChange{
		{Type: ConfChangeAddVoter, NodeID: 1},
		{Type: ConfChangeAddLearner, NodeID: 1 << 60},
		{Type: ConfChangeRemoveNode, NodeID: 42},
		{Type: ConfChangeAddLearner, NodeID: 7, Context: []byte("name and URLs")},
		{Type: ConfChangeUpdateNode, NodeID: 7, Context: []byte{0}},
	} {
		b := cc.Marshal()
		wantVersion := byte(1)
		if len(cc.Context) > 0 {
			wantVersion = 2
		}
		require.Equal(t, wantVersion, b[0], "%s: encoding version", cc)
		got, err := UnmarshalConfChange(b)
		require.NoError(t, err)
		require.Equal(t, cc, got)
	}
	// Version 1, as logs written before contexts hold it, still decodes.
	v1 := []byte{1, byte(ConfChangeAddVoter), 0, 0, 0, 0, 0, 0, 0, 5}
	got, err := UnmarshalConfChange(v1)
	require.NoError(t, err)
	require.Equal(t, ConfChange{Type: ConfChangeAddVoter, NodeID: 5}, got)
	require.Equal(t, v1, got.Marshal(), "a change without context is written as version 1")
	// The decoded context does not alias the entry's data.
	enc := ConfChange{Type: ConfChangeAddVoter, NodeID: 5, Context: []byte("ctx")}.Marshal()
	got, err = UnmarshalConfChange(enc)
	require.NoError(t, err)
	enc[len(enc)-1] = 'X'
	require.Equal(t, []byte("ctx"), got.Context)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", []byte{1, 1}, "has 2 bytes"},
		{"version", append([]byte{9, 1}, make([]byte, 8)...), "encoding version 9"},
		{"type", append([]byte{1, 0}, make([]byte, 8)...), "unknown change type 0"},
		{"type beyond update", append([]byte{2, 5}, make([]byte, 9)...), "unknown change type 5"},
		{"version 1 with trailing bytes", append([]byte{1, 1}, make([]byte, 9)...), "version 1 has 11 bytes"},
	} {
		_, err := UnmarshalConfChange(tc.b)
		require.ErrorIs(t, err, ErrConfChangeInvalid, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	require.Equal(t, "AddVoter(3)", ConfChange{Type: ConfChangeAddVoter, NodeID: 3}.String())
	require.Equal(t, "UpdateNode(3)", ConfChange{Type: ConfChangeUpdateNode, NodeID: 3, Context: []byte{1}}.String())
}

// An UpdateNode change goes through the log like the others (one at a time) and changes
// neither the configuration nor the leader's view of its followers; raft carries contexts
// without reading them, and refuses an update of a stranger.
func TestConfChangeUpdateNodeAndContext(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.stabilize()
	before := n.member(1).rn.Status()
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeUpdateNode, NodeID: 2, Context: []byte("new URLs")}))
	require.ErrorIs(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeUpdateNode, NodeID: 3}), ErrConfChangePending)
	n.stabilize()
	after := n.member(1).rn.Status()
	require.Equal(t, before.Config, after.Config)
	require.Equal(t, StateLeader, n.raft(1).state)
	for _, p := range after.Progress {
		require.Equal(t, after.LastIndex, p.Match, "member %d keeps its progress", p.ID)
	}
	err := n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeUpdateNode, NodeID: 9})
	require.ErrorIs(t, err, ErrConfChangeInvalid)
	require.ErrorContains(t, err, "not a member")

	conf, err := ApplyConfChange(ConfState{Voters: []uint64{1, 2}}, ConfChange{Type: ConfChangeAddLearner, NodeID: 3, Context: []byte("x")})
	require.NoError(t, err)
	require.Equal(t, ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}, conf)
	_, err = ApplyConfChange(conf, ConfChange{Type: ConfChangeAddVoter, NodeID: 2})
	require.ErrorIs(t, err, ErrConfChangeInvalid)

	_, ents, err := BootstrapWithContexts([]uint64{1, 2}, [][]byte{[]byte("one"), nil})
	require.NoError(t, err)
	cc, err := UnmarshalConfChange(ents[0].Data)
	require.NoError(t, err)
	require.Equal(t, ConfChange{Type: ConfChangeAddVoter, NodeID: 1, Context: []byte("one")}, cc)
	cc, err = UnmarshalConfChange(ents[1].Data)
	require.NoError(t, err)
	require.Equal(t, ConfChange{Type: ConfChangeAddVoter, NodeID: 2}, cc)
	_, _, err = BootstrapWithContexts([]uint64{1, 2}, [][]byte{nil})
	require.ErrorIs(t, err, ErrConfChangeInvalid)
}

// A committed change is applied at the same log position on every member, even one that was
// behind when it was proposed.
func TestConfChangeAppliedAtSameIndexEverywhere(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.down[3] = true
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}))
	n.stabilize()
	require.Empty(t, n.member(3).rn.Status().Config.Learners)
	delete(n.down, 3)
	n.tick(1)
	require.Equal(t, []uint64{4}, n.member(3).rn.Status().Config.Learners)
}

// If the handover cannot happen (the remaining voters do not answer), the removed leader still
// steps down after an election timeout.
func TestRemovedLeaderStepsDownWithoutHandover(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.drop = func(m Message) bool { return m.Type == MsgTimeoutNow }
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeRemoveNode, NodeID: 1}))
	n.stabilize()
	require.Equal(t, StateLeader, n.raft(1).state)
	require.NotEqual(t, None, n.raft(1).leadTransferee)
	for range testElectionTicks {
		n.member(1).rn.Tick()
		n.stabilize()
	}
	require.Equal(t, StateFollower, n.raft(1).state)
	require.Equal(t, n.raft(1).log.committed, n.raft(2).log.committed, "the others learned the commit index")
}

// The removed leader may be the only member that knows its removal committed. The others, still
// under the old configuration, need its vote, which it refuses (its log is longer); its
// refusal tells them the commit index, so they apply the removal and elect a leader without it.
func TestRemainingVoterLearnsRemovalCommitFromVoteRefusal(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2}, nil)
	n.elect(1)
	removal := n.raft(1).log.lastIndex() + 1
	// 2 gets the removal entry but never hears that it committed, nor anything after it.
	n.drop = func(m Message) bool {
		if m.From != 1 || m.To != 2 {
			return false
		}
		return m.Commit >= removal || m.Type == MsgTimeoutNow ||
			(m.Type == MsgApp && len(m.Entries) > 0 && m.Entries[len(m.Entries)-1].Index > removal)
	}
	require.NoError(t, n.member(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeRemoveNode, NodeID: 1}))
	require.NoError(t, n.member(1).rn.Propose([]byte("after")))
	n.stabilize()
	require.Equal(t, []uint64{2}, n.member(1).rn.Status().Config.Voters, "1 applied its removal")
	require.Equal(t, []uint64{1, 2}, n.member(2).rn.Status().Config.Voters, "2 does not know it committed")
	require.Less(t, n.raft(2).log.lastIndex(), n.raft(1).log.lastIndex())
	for range testElectionTicks {
		n.member(1).rn.Tick()
		n.stabilize()
	}
	require.Equal(t, StateFollower, n.raft(1).state)
	n.drop = nil
	for range 5 * testElectionTicks {
		n.member(2).rn.Tick()
		n.stabilize()
		if n.raft(2).state == StateLeader {
			break
		}
	}
	require.Equal(t, StateLeader, n.raft(2).state)
	require.Equal(t, []uint64{2}, n.member(2).rn.Status().Config.Voters)
}
