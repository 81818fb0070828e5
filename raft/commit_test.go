package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Rule 3: commit only through an entry of the leader's own term; a new leader appends an
// empty entry.

func TestCommitAllowed(t *testing.T) {
	require.True(t, commitAllowed(3, 3))
	require.False(t, commitAllowed(2, 3), "an entry of an earlier term never commits by counting replicas")
	require.False(t, commitAllowed(0, 3), "an unknown term never commits")
}

func TestNewLeaderAppendsEmptyEntryOfItsTerm(t *testing.T) {
	n := newNetworkWithLogs(t, [][]uint64{{1, 1}, {1, 1}, {1}}, 1, nil)
	n.elect(1)
	leader := n.raft(1)
	require.Equal(t, uint64(3), leader.log.lastIndex())
	ents, err := leader.log.slice(3, 4, noLimit)
	require.NoError(t, err)
	require.Equal(t, Entry{Term: leader.term, Index: 3, Type: EntryNormal}, Entry{Term: ents[0].Term, Index: ents[0].Index, Type: ents[0].Type, Data: nil})
	require.Empty(t, ents[0].Data)
	require.Equal(t, uint64(3), leader.log.committed, "the empty entry commits the earlier ones with it")
}

// Raft paper Figure 8: a leader of term 4 holding an entry of term 2 that is on a majority must
// not commit it by counting replicas; it commits only with an entry of term 4.
func TestFigure8NoCommitOfEarlierTermByCounting(t *testing.T) {
	// Member 1 has 1/1, 2/2 and becomes leader of term 4 (hard state term 3).
	storage := storageWithLog(t, []uint64{1, 2, 3, 4, 5}, []uint64{1, 2}, 3)
	rn, err := NewRawNode(testConfig(1, storage, 1))
	require.NoError(t, err)
	m := &testMember{id: 1, rn: rn, storage: storage}
	require.NoError(t, rn.Campaign())
	m.handleReady(t)
	for _, id := range []uint64{2, 3} {
		require.NoError(t, rn.Step(Message{From: id, To: 1, Type: MsgVoteResp, Term: 4}))
	}
	require.Equal(t, StateLeader, rn.raft.state)
	m.handleReady(t) // persists the leader's empty entry 4/3
	// Members 2 and 3 acknowledge index 2 (the term-2 entry): with the leader, a majority
	// of five holds it. It still must not commit.
	for _, id := range []uint64{2, 3} {
		require.NoError(t, rn.Step(Message{From: id, To: 1, Type: MsgAppResp, Term: 4, Index: 2}))
	}
	require.Equal(t, uint64(0), rn.raft.log.committed, "entry 2/2 is on a majority but of an earlier term")
	// Once the term-4 entry is on a majority, both commit.
	require.NoError(t, rn.Step(Message{From: 2, To: 1, Type: MsgAppResp, Term: 4, Index: 3}))
	require.Equal(t, uint64(0), rn.raft.log.committed, "only two of five hold 4/3")
	require.NoError(t, rn.Step(Message{From: 3, To: 1, Type: MsgAppResp, Term: 4, Index: 3}))
	require.Equal(t, uint64(3), rn.raft.log.committed)
}

// Figure 8 end to end: the entry of an old term that was on a majority is overwritten by a
// leader that never saw it committed, and nobody applied it.
func TestFigure8OverwrittenUncommittedEntryNeverApplied(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3, 4, 5}, nil)
	n.elect(1)
	// (a) S1 leads term 2 and replicates index 2 only to S2.
	n.isolate(1)
	delete(n.cut, [2]uint64{1, 2})
	delete(n.cut, [2]uint64{2, 1})
	require.NoError(t, n.member(1).rn.Propose([]byte("term2")))
	n.stabilize()
	require.Equal(t, uint64(2), n.raft(2).log.lastIndex())
	// (b) S5 leads a later term with votes of S3, S4 (and itself), appends its own entry.
	n.heal()
	n.isolate(1)
	n.isolate(2)
	n.drop = func(m Message) bool { return m.Type == MsgApp && m.From == 5 }
	n.elect(5)
	require.NoError(t, n.member(5).rn.Propose([]byte("s5")))
	n.stabilize()
	require.Equal(t, uint64(1), n.raft(3).log.lastIndex(), "S5's entries stayed on S5")
	// (c) S1 comes back as leader of a later term with S2, S3 and replicates 2 to S3: "term2" is
	// now on a majority (S1, S2, S3) but must not be committed.
	n.heal()
	n.isolate(4)
	n.isolate(5)
	n.drop = func(m Message) bool { return m.Type == MsgAppResp && m.To == 1 && m.Index >= 3 }
	n.elect(1)
	require.Equal(t, uint64(1), n.raft(3).log.committed, "nothing of the old term is committed by replica count")
	for _, id := range []uint64{1, 2, 3} {
		require.NotContains(t, n.member(id).appliedData(), "term2", "member %d applied an uncommitted entry", id)
	}
	// (d) S1 crashes; S5 wins with S2, S3, S4 (its last term is higher) and overwrites index 2.
	n.drop = nil
	n.heal()
	n.down[1] = true
	n.isolate(1)
	for range 10 * testElectionTicks {
		if n.leader() == 5 {
			break
		}
		n.tick(1)
		if l := n.leader(); l != 0 && l != 5 {
			// Any leader is fine as long as no member ever applies conflicting entries.
			break
		}
	}
	n.tick(3)
	require.NotZero(t, n.leader())
	assertAppliedPrefixesAgree(t, n)
}

// assertAppliedPrefixesAgree checks state machine safety: applied sequences are prefixes of
// one another.
func assertAppliedPrefixesAgree(t *testing.T, n *network) {
	for _, a := range n.members {
		for _, b := range n.members {
			k := min(len(a.applied), len(b.applied))
			for i := range k {
				require.Equal(t, a.applied[i].Term, b.applied[i].Term, "members %d and %d applied different entries at %d", a.id, b.id, a.applied[i].Index)
				require.Equal(t, a.applied[i].Index, b.applied[i].Index)
			}
		}
	}
}
