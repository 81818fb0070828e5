package raft

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Rule 4: the persistence contract of Ready (its doc comment). The test network's
// handleReady checks it on every Ready of every test (checkBeforeWrite, checkAfterWrite);
// these tests pin the individual promises.

func TestVoteGrantWaitsForItsHardState(t *testing.T) {
	m := newSingle(t, 2, []uint64{1, 2, 3}, nil)
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgVote, Term: 3}))
	rd := m.rn.Ready()
	require.Empty(t, rd.MessagesNow, "a vote may not go before its hard state is durable")
	require.Len(t, rd.MessagesAfterSync, 1)
	require.Equal(t, MsgVoteResp, rd.MessagesAfterSync[0].Type)
	require.Equal(t, HardState{Term: 3, Vote: 1}, rd.HardState, "the vote is handed out for persisting in the same Ready")
	require.True(t, rd.MustSync)
}

func TestCampaignWaitsForItsHardState(t *testing.T) {
	m := newSingle(t, 1, []uint64{1, 2, 3}, nil)
	require.NoError(t, m.rn.Campaign())
	rd := m.rn.Ready()
	require.Empty(t, rd.MessagesNow)
	require.Equal(t, 2, countMessages(rd.MessagesAfterSync, MsgVote))
	require.Equal(t, HardState{Term: 1, Vote: 1}, rd.HardState)
}

func TestAppendAckWaitsForItsEntries(t *testing.T) {
	m := newSingle(t, 2, []uint64{1, 2, 3}, nil)
	ents := []Entry{{Term: 1, Index: 1, Data: []byte("a")}, {Term: 1, Index: 2, Data: []byte("b")}}
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 1, Entries: ents, Commit: 2}))
	rd := m.rn.Ready()
	require.Empty(t, rd.MessagesNow)
	require.Len(t, rd.MessagesAfterSync, 1)
	require.Equal(t, uint64(2), rd.MessagesAfterSync[0].Index)
	require.Equal(t, ents, rd.Entries, "the acknowledged entries are handed out in the same Ready")
	require.Empty(t, rd.CommittedEntries, "committed entries are applied only once durable")
	m.storage.Append(rd.Entries)
	m.storage.SetHardState(rd.HardState)
	m.rn.Advance(rd)
	rd = m.rn.Ready()
	require.Equal(t, ents, rd.CommittedEntries, "after Advance they are durable and may be applied")
}

func TestLeaderAppendsGoBeforeItsOwnWrite(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	leader := n.member(1)
	require.NoError(t, leader.rn.Propose([]byte("x")))
	rd := leader.rn.Ready()
	require.Len(t, rd.Entries, 1)
	require.Equal(t, 2, countMessages(rd.MessagesNow, MsgApp), "appends may be sent in parallel with the leader's write")
	require.Empty(t, rd.MessagesAfterSync)
	leader.rn.Advance(rd)
}

// The leader counts its own copy of an entry toward the quorum only once Advance says it is
// durable; followers' durable copies count at once.
func TestLeaderCountsOwnEntryOnlyWhenDurable(t *testing.T) {
	for _, tc := range []struct {
		name            string
		voters          []uint64
		ackers          []uint64
		commitsBeforeMe bool
	}{
		{"three voters: one follower + unsynced leader is not a quorum", []uint64{1, 2, 3}, []uint64{2}, false},
		{"five voters: three followers are a quorum without the leader", []uint64{1, 2, 3, 4, 5}, []uint64{2, 3, 4}, true},
		{"five voters: two followers + unsynced leader is not a quorum", []uint64{1, 2, 3, 4, 5}, []uint64{2, 3}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, tc.voters, nil)
			n.elect(1)
			leader := n.member(1)
			require.NoError(t, leader.rn.Propose([]byte("x")))
			rd := leader.rn.Ready()
			index := rd.Entries[0].Index
			// Followers acknowledge before the leader's own write is done.
			for _, id := range tc.ackers {
				require.NoError(t, leader.rn.Step(Message{From: id, To: 1, Type: MsgAppResp, Term: leader.rn.raft.term, Index: index}))
			}
			if tc.commitsBeforeMe {
				require.Equal(t, index, leader.rn.raft.log.committed)
			} else {
				require.Less(t, leader.rn.raft.log.committed, index, "committed with the leader's unsynced copy counted")
			}
			require.NoError(t, leader.storage.Append(rd.Entries))
			leader.rn.Advance(rd)
			require.Equal(t, index, leader.rn.raft.log.committed, "once durable, the leader's copy counts")
		})
	}
}

func TestOnlyOneReadyOutstanding(t *testing.T) {
	m := newSingle(t, 1, []uint64{1}, nil)
	require.NoError(t, m.rn.Campaign())
	require.True(t, m.rn.HasReady())
	rd := m.rn.Ready()
	require.False(t, m.rn.HasReady(), "nothing more until Advance")
	require.Panics(t, func() { m.rn.Ready() })
	require.NoError(t, m.storage.Append(rd.Entries))
	require.NoError(t, m.storage.SetHardState(rd.HardState))
	m.rn.Advance(rd)
	require.Panics(t, func() { m.rn.Advance(rd) }, "Advance without an outstanding Ready")
	require.True(t, m.rn.HasReady(), "the single voter committed its empty entry")
}

func TestMustSyncOnlyForTermVoteEntriesOrSnapshot(t *testing.T) {
	m := newSingle(t, 2, []uint64{1, 2}, nil)
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 1, Entries: []Entry{{Term: 1, Index: 1}}}))
	rd := m.rn.Ready()
	require.True(t, rd.MustSync)
	m.storage.Append(rd.Entries)
	m.storage.SetHardState(rd.HardState)
	m.rn.Advance(rd)
	// Only the commit index moves: no sync needed.
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgHeartbeat, Term: 1, Commit: 1}))
	rd = m.rn.Ready()
	require.Equal(t, uint64(1), rd.HardState.Commit)
	require.False(t, rd.MustSync)
}

// Entries handed out and then replaced by a newer leader before Advance are not marked
// durable by that Advance; the replacement comes in the next Ready.
func TestAdvanceAfterEntriesReplaced(t *testing.T) {
	m := newSingle(t, 2, []uint64{1, 2, 3}, nil)
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 1, Entries: []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}}}))
	rd := m.rn.Ready()
	require.Len(t, rd.Entries, 2)
	// Before the write finishes, a leader of term 2 replaces index 2.
	require.NoError(t, m.rn.Step(Message{From: 3, To: 2, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1, Entries: []Entry{{Term: 2, Index: 2}}}))
	require.NoError(t, m.storage.Append(rd.Entries))
	require.NoError(t, m.storage.SetHardState(rd.HardState))
	m.rn.Advance(rd)
	rd = m.rn.Ready()
	require.Equal(t, []Entry{{Term: 2, Index: 2}}, rd.Entries, "the replacement still needs writing")
	require.Equal(t, 1, countMessages(rd.MessagesAfterSync, MsgAppResp), "and its acknowledgement waits for it")
}

func TestMessageMayGoNow(t *testing.T) {
	for _, tc := range []struct {
		typ         MessageType
		term        uint64
		durableTerm uint64
		want        bool
	}{
		{MsgApp, 3, 3, true},
		{MsgApp, 4, 3, false}, // a leader of a term not yet durable
		{MsgHeartbeat, 3, 3, true},
		{MsgSnap, 3, 3, true},
		{MsgTimeoutNow, 3, 3, true},
		{MsgReadIndexResp, 3, 3, true},
		{MsgAppResp, 3, 3, false}, // promises durable entries
		{MsgVote, 3, 3, false},
		{MsgVoteResp, 3, 3, false},
		{MsgPreVote, 3, 3, false},
		{MsgPreVoteResp, 3, 3, false},
		{MsgHeartbeatResp, 3, 3, false},
		{MsgReadIndex, 3, 3, false},
	} {
		m := Message{Type: tc.typ, Term: tc.term}
		require.Equal(t, tc.want, messageMayGoNow(&m, tc.durableTerm), "%s term %d durable %d", tc.typ, tc.term, tc.durableTerm)
	}
}

// failingStorage is a MemoryStorage whose Term and Entries fail with fail once it is set, as
// a disk that refuses reads.
type failingStorage struct {
	*MemoryStorage
	fail error
}

func (s *failingStorage) Term(i uint64) (uint64, error) {
	if s.fail != nil {
		return 0, s.fail
	}
	return s.MemoryStorage.Term(i)
}

func (s *failingStorage) Entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	return s.MemoryStorage.Entries(lo, hi, maxBytes)
}

// A storage error raft does not understand panics with StorageFailure wrapping it, so that a
// host running several members in one process can stop that member alone (kv/node recovers
// it); ErrCompacted and ErrUnavailable stay answers raft handles.
func TestStorageFailurePanicsWithStorageFailure(t *testing.T) {
	diskErr := errors.New("read /member/000004.sst: input/output error")
	s := &failingStorage{MemoryStorage: storageWithLog(t, []uint64{1, 2, 3}, []uint64{1, 1, 1}, 1)}
	rn, err := NewRawNode(testConfig(1, s, 1))
	require.NoError(t, err)
	s.fail = diskErr
	require.PanicsWithValue(t, StorageFailure{diskErr}, func() { _ = rn.Campaign() })
	var f StorageFailure
	require.ErrorAs(t, error(StorageFailure{diskErr}), &f)
	require.ErrorIs(t, f, diskErr)
	require.Equal(t, "raft: storage failed: read /member/000004.sst: input/output error", f.Error())
}

// Matches is Status's Progress matches on a leader, and nothing on a follower.
func TestMatches(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.stabilize()
	var want []PeerMatch
	for _, p := range n.member(1).rn.Status().Progress {
		want = append(want, PeerMatch{ID: p.ID, Match: p.Match})
	}
	require.Len(t, want, 3)
	require.Equal(t, want, n.member(1).rn.Matches(nil))
	for _, pm := range want {
		require.Equal(t, n.member(1).rn.Status().LastIndex, pm.Match, "every member matches the leader's log end after stabilize")
	}
	prefix := []PeerMatch{{ID: 9, Match: 9}}
	require.Equal(t, prefix, n.member(2).rn.Matches(prefix), "a follower appends nothing")
}
