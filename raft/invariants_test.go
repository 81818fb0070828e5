package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The invariant assertions panic when something that must never happen happens.

func TestInvariantAssertionsPanic(t *testing.T) {
	newFollower := func(t *testing.T) *testMember {
		m := newSingle(t, 2, []uint64{1, 2, 3}, nil)
		ents := []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}, {Term: 1, Index: 3}}
		require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 2, Entries: ents, Commit: 2}))
		m.handleReady(t)
		return m
	}
	for _, tc := range []struct {
		name   string
		break_ func(m *testMember)
		want   string
	}{
		{"term goes back", func(m *testMember) { m.rn.raft.setTerm(1) }, "term going back"},
		{"commit beyond the log", func(m *testMember) { m.rn.raft.log.commitTo(9) }, "beyond last index"},
		{"committed entry truncated", func(m *testMember) {
			m.rn.raft.log.append(Entry{Term: 2, Index: 2})
		}, "truncating committed entry"},
		{"gap in the log", func(m *testMember) { m.rn.raft.log.append(Entry{Term: 2, Index: 7}) }, "leaves a gap"},
		{"term decreasing along the log", func(m *testMember) { m.rn.raft.log.append(Entry{Term: 0, Index: 4}) }, "lower term than its predecessor"},
		{"non-contiguous append", func(m *testMember) {
			m.rn.raft.log.maybeAppend(3, 1, 0, []Entry{{Term: 2, Index: 4}, {Term: 2, Index: 6}})
		}, "log matching violated"},
		{"applied index skipped", func(m *testMember) { m.rn.raft.log.appliedTo(3) }, "applied index 3 out of range"},
		{"applied goes back", func(m *testMember) {
			m.rn.raft.log.appliedTo(2)
			m.rn.raft.log.appliedTo(1)
		}, "applied index 1 out of range"},
		{"restore below commit", func(m *testMember) {
			m.rn.raft.log.restore(Snapshot{Metadata: SnapshotMetadata{Index: 1, Term: 1}})
		}, "below commit index"},
		{"hard state commit goes back", func(m *testMember) {
			m.rn.raft.log.committed = 1
			m.rn.Ready()
		}, "hard state going back"},
		{"leader becomes pre-candidate", func(m *testMember) {
			m.rn.raft.state = StateLeader
			m.rn.raft.becomePreCandidate()
		}, "leader cannot become pre-candidate"},
		{"follower becomes leader", func(m *testMember) { m.rn.raft.becomeLeader() }, "follower cannot become leader"},
		{"advance of another ready", func(m *testMember) {
			m.rn.raft.log.committed = 3
			rd := m.rn.Ready()
			rd.CommittedEntries = rd.CommittedEntries[:0]
			m.rn.Advance(rd)
		}, "not the outstanding one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFollower(t)
			require.PanicsWithValue(t, tc.want, func() {
				defer func() {
					if r := recover(); r != nil {
						panic(matchPanic(r, tc.want))
					}
				}()
				tc.break_(m)
			})
		})
	}
}

// matchPanic turns a panic value into want if its text contains want, so that tests can
// check the reason without repeating every number.
func matchPanic(r any, want string) any {
	var text string
	switch v := r.(type) {
	case string:
		text = v
	case error:
		text = v.Error()
	default:
		return r
	}
	if contains(text, want) {
		return want
	}
	return text
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestStringers(t *testing.T) {
	require.Equal(t, "StateLeader", StateLeader.String())
	require.Equal(t, "StateType(9)", StateType(9).String())
	require.Equal(t, "MsgApp", MsgApp.String())
	require.Equal(t, "MessageType(99)", MessageType(99).String())
	require.Equal(t, "AddLearner", ConfChangeAddLearner.String())
	require.Equal(t, "ConfChangeType(9)", ConfChangeType(9).String())
	m := Message{Type: MsgApp, From: 1, To: 2, Term: 3, LogTerm: 2, Index: 5, Commit: 4, Entries: []Entry{{Term: 3, Index: 6, Data: []byte("x")}},
		Reject: true, RejectHint: 3, LeaderTransfer: true, ReadRound: 2, Context: []byte("c"),
		Snapshot: &Snapshot{Metadata: SnapshotMetadata{Index: 1, Term: 1}}}
	require.Equal(t, `1->2 MsgApp Term:3 Log:2/5 Commit:4 Entries:[3/6 EntryNormal "x"] Rejected (Hint: 3) LeaderTransfer ReadRound:2 Context:"c" Snapshot: Index:1 Term:1 voters=[] learners=[]`, m.String())
	require.Equal(t, "1/2 EntryNormal", Entry{Term: 1, Index: 2}.String())
	require.Equal(t, "1/2 AddVoter(3)", Entry{Term: 1, Index: 2, Type: EntryConfChange, Data: ConfChange{Type: ConfChangeAddVoter, NodeID: 3}.Marshal()}.String())
	require.Contains(t, Entry{Type: EntryConfChange, Data: []byte{1}}.String(), "invalid")
	require.Equal(t, "raft: not the leader (leader is 2 in term 3)", (&NotLeaderError{LeaderID: 2, Term: 3}).Error())
	require.True(t, ConfState{Voters: []uint64{1}}.Equal(ConfState{Voters: []uint64{1}}))
	require.False(t, ConfState{Voters: []uint64{1}}.Equal(ConfState{Voters: []uint64{2}}))
	require.False(t, ConfState{Voters: []uint64{1}}.Equal(ConfState{Learners: []uint64{1}}))
	require.Equal(t, "2: StateProbe match=1 next=2 inflight=0", (&progress{id: 2, match: 1, next: 2}).String())
}
