package raft

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Rule 6: linearizable reads by ReadIndex.

func TestReadIndexOnLeaderNeedsHeartbeatQuorum(t *testing.T) {
	for _, tc := range []struct {
		name      string
		voters    []uint64
		down      []uint64
		wantReady bool
	}{
		{"three, all up", []uint64{1, 2, 3}, nil, true},
		{"three, one down", []uint64{1, 2, 3}, []uint64{3}, true},
		{"three, two down: no confirmation", []uint64{1, 2, 3}, []uint64{2, 3}, false},
		{"five, two down", []uint64{1, 2, 3, 4, 5}, []uint64{4, 5}, true},
		{"five, three down: no confirmation", []uint64{1, 2, 3, 4, 5}, []uint64{3, 4, 5}, false},
		{"single voter confirms itself", []uint64{1}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, tc.voters, nil)
			n.elect(1)
			for _, id := range tc.down {
				n.down[id] = true
			}
			leader := n.member(1)
			require.NoError(t, leader.rn.ReadIndex([]byte("r1")))
			n.stabilize()
			if !tc.wantReady {
				require.Empty(t, leader.readStates)
				return
			}
			require.Equal(t, []ReadState{{Index: n.raft(1).log.committed, RequestCtx: []byte("r1")}}, leader.readStates)
		})
	}
}

// A read is confirmed only by heartbeat answers sent after it arrived: answers to earlier
// heartbeats do not count.
func TestReadIndexIgnoresAnswersToEarlierRounds(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	leader := n.member(1)
	leader.rn.raft.broadcastHeartbeat() // round 0
	early, _ := leader.handleReady(t)
	require.NoError(t, leader.rn.ReadIndex([]byte("r")))
	for _, m := range early {
		require.NoError(t, leader.rn.Step(Message{From: m.To, To: 1, Type: MsgHeartbeatResp, Term: m.Term, ReadRound: m.ReadRound}))
	}
	require.Empty(t, leader.rn.raft.reads.confirmed, "answers to a heartbeat sent before the request do not confirm it")
	n.stabilize()
	require.Len(t, leader.readStates, 1)
}

func TestReadIndexWaitsForLeaderToCommitInItsTerm(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	// Hold the new leader's empty entry back so it has not committed in its term.
	n.drop = func(m Message) bool { return m.Type == MsgAppResp }
	require.NoError(t, n.member(1).rn.Campaign())
	n.stabilize()
	require.Equal(t, StateLeader, n.raft(1).state)
	require.False(t, n.raft(1).committedEntryInCurrentTerm())
	require.NoError(t, n.member(1).rn.ReadIndex([]byte("early")))
	n.stabilize()
	require.Empty(t, n.member(1).readStates, "no answer before an entry of the leader's term commits")
	require.Len(t, n.raft(1).reads.waiting, 1)
	n.drop = nil
	n.tick(1)
	require.Equal(t, []ReadState{{Index: 1, RequestCtx: []byte("early")}}, n.member(1).readStates)
}

func TestReadIndexForwardedByFollower(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	require.NoError(t, n.member(1).rn.Propose([]byte("a")))
	n.stabilize()
	f := n.member(2)
	require.NoError(t, f.rn.ReadIndex([]byte("f")))
	n.stabilize()
	require.Equal(t, []ReadState{{Index: 2, RequestCtx: []byte("f")}}, f.readStates)
}

// A ReadState is handed out only once the member has applied its index.
func TestReadStateHeldUntilApplied(t *testing.T) {
	m := newSingle(t, 2, []uint64{1, 2, 3}, nil)
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 1, Entries: []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}}}))
	m.handleReady(t)
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgReadIndexResp, Term: 1, Index: 2, Context: []byte("x")}))
	m.handleReady(t)
	require.Empty(t, m.readStates, "index 2 is not applied yet")
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgHeartbeat, Term: 1, Commit: 2}))
	rd := m.rn.Ready()
	require.Len(t, rd.CommittedEntries, 2)
	require.Equal(t, []ReadState{{Index: 2, RequestCtx: []byte("x")}}, rd.ReadStates, "served after applying this Ready's entries")
	m.rn.Advance(rd)
}

func TestReadIndexErrors(t *testing.T) {
	m := newSingle(t, 1, []uint64{1, 2, 3}, nil)
	err := m.rn.ReadIndex([]byte("x"))
	var nl *NotLeaderError
	require.True(t, errors.As(err, &nl), "no leader known: %v", err)
	require.Equal(t, None, nl.LeaderID)

	n := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.MaxPendingReads = 2 })
	n.elect(1)
	n.down[2], n.down[3] = true, true
	require.NoError(t, n.member(1).rn.ReadIndex([]byte("1")))
	require.NoError(t, n.member(1).rn.ReadIndex([]byte("2")))
	require.ErrorIs(t, n.member(1).rn.ReadIndex([]byte("3")), ErrReadIndexQueueFull)
}

// Pending reads are dropped when leadership is lost; they are never answered by a member
// that is no longer leader.
func TestReadIndexDroppedOnStepDown(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.down[2], n.down[3] = true, true
	require.NoError(t, n.member(1).rn.ReadIndex([]byte("r")))
	n.stabilize()
	require.NoError(t, n.member(1).rn.Step(Message{From: 2, To: 1, Type: MsgApp, Term: 9}))
	n.stabilize()
	require.Empty(t, n.raft(1).reads.pending)
	require.Empty(t, n.member(1).readStates)
}

func TestConfirmedReadRound(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3, 4, 5}, nil)
	n.elect(1)
	r := n.raft(1)
	for i, acked := range []uint64{9, 7, 5, 3, 1} {
		r.trk.progress[i].readRoundAcked = acked
	}
	require.Equal(t, uint64(5), r.confirmedReadRound(), "the round a majority has reached")
}
