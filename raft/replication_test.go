package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Rule 2: replication with log matching, fast back-off, per-follower progress and batching.

func TestFollowerAppendLogMatching(t *testing.T) {
	for _, tc := range []struct {
		name           string
		log            []uint64 // follower's terms at 1, 2, ...
		prevIndex      uint64
		prevTerm       uint64
		entries        []uint64 // terms of the appended entries, from prevIndex+1
		wantReject     bool
		wantLog        []uint64
		wantAckIndex   uint64
		wantHintIndex  uint64
		wantHintTerm   uint64
		leaderCommit   uint64
		wantCommitted  uint64
		followerCommit uint64
	}{
		{name: "append to empty", prevIndex: 0, prevTerm: 0, entries: []uint64{1, 1}, wantLog: []uint64{1, 1}, wantAckIndex: 2},
		{name: "append after match", log: []uint64{1, 1}, prevIndex: 2, prevTerm: 1, entries: []uint64{2}, wantLog: []uint64{1, 1, 2}, wantAckIndex: 3},
		{name: "duplicate is idempotent", log: []uint64{1, 1, 2}, prevIndex: 1, prevTerm: 1, entries: []uint64{1}, wantLog: []uint64{1, 1, 2}, wantAckIndex: 2},
		{name: "conflict truncates suffix", log: []uint64{1, 1, 1, 1}, prevIndex: 1, prevTerm: 1, entries: []uint64{3, 3}, wantLog: []uint64{1, 3, 3}, wantAckIndex: 3},
		{name: "commit capped at last new entry", log: []uint64{1, 1, 1}, prevIndex: 1, prevTerm: 1, entries: []uint64{1}, leaderCommit: 3, wantLog: []uint64{1, 1, 1}, wantAckIndex: 2, wantCommitted: 2},
		{name: "commit carried", log: nil, prevIndex: 0, prevTerm: 0, entries: []uint64{1, 1}, leaderCommit: 2, wantLog: []uint64{1, 1}, wantAckIndex: 2, wantCommitted: 2},
		{name: "gap: prev beyond log", log: []uint64{1}, prevIndex: 3, prevTerm: 2, entries: []uint64{2},
			wantReject: true, wantLog: []uint64{1}, wantHintIndex: 1, wantHintTerm: 1},
		{name: "prev term mismatch, hint skips the term", log: []uint64{1, 2, 2, 2}, prevIndex: 4, prevTerm: 3, entries: []uint64{3},
			wantReject: true, wantLog: []uint64{1, 2, 2, 2}, wantHintIndex: 4, wantHintTerm: 2},
		{name: "follower's later term skipped entirely", log: []uint64{1, 1, 4, 4, 4}, prevIndex: 5, prevTerm: 2, entries: []uint64{2},
			wantReject: true, wantLog: []uint64{1, 1, 4, 4, 4}, wantHintIndex: 2, wantHintTerm: 1},
		{name: "below commit acks commit", log: []uint64{1, 1, 1}, followerCommit: 3, prevIndex: 1, prevTerm: 1, entries: []uint64{1},
			wantLog: []uint64{1, 1, 1}, wantAckIndex: 3, wantCommitted: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storage := storageWithLog(t, []uint64{1, 2}, tc.log, 5)
			require.NoError(t, storage.SetHardState(HardState{Term: 5, Commit: tc.followerCommit}))
			rn, err := NewRawNode(testConfig(2, storage, 1))
			require.NoError(t, err)
			var ents []Entry
			for i, tm := range tc.entries {
				ents = append(ents, Entry{Term: tm, Index: tc.prevIndex + 1 + uint64(i)})
			}
			require.NoError(t, rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 5, Index: tc.prevIndex, LogTerm: tc.prevTerm, Entries: ents, Commit: tc.leaderCommit}))
			wantLog := tc.wantLog
			require.Equal(t, wantLog, logTerms(t, rn.raft))
			require.Equal(t, max(tc.wantCommitted, tc.followerCommit), rn.raft.log.committed)
			rd := rn.Ready()
			require.Len(t, rd.MessagesAfterSync, 1)
			resp := rd.MessagesAfterSync[0]
			require.Equal(t, MsgAppResp, resp.Type)
			require.Equal(t, tc.wantReject, resp.Reject, "%s", resp)
			if tc.wantReject {
				require.Equal(t, tc.wantHintIndex, resp.RejectHint, "%s", resp)
				require.Equal(t, tc.wantHintTerm, resp.LogTerm, "%s", resp)
			} else {
				require.Equal(t, tc.wantAckIndex, resp.Index)
			}
		})
	}
}

func TestFindConflictByTerm(t *testing.T) {
	storage := storageWithLog(t, []uint64{1}, []uint64{1, 1, 2, 2, 5, 5}, 5)
	rn, err := NewRawNode(testConfig(1, storage, 1))
	require.NoError(t, err)
	for _, tc := range []struct{ index, term, wantIndex, wantTerm uint64 }{
		{6, 5, 6, 5},
		{6, 4, 4, 2},
		{6, 2, 4, 2},
		{6, 1, 2, 1},
		{6, 0, 0, 0},
		{3, 9, 3, 2},
		{0, 3, 0, 0},
	} {
		i, tm := rn.raft.log.findConflictByTerm(tc.index, tc.term)
		require.Equal(t, [2]uint64{tc.wantIndex, tc.wantTerm}, [2]uint64{i, tm}, "%+v", tc)
	}
}

// A new leader whose followers diverge over whole terms brings each in line with at most one
// rejection per conflicting term, not one per entry (Raft §5.3's optimization).
func TestLeaderBacksOffAWholeTermPerRejection(t *testing.T) {
	long := func(term uint64, n int) []uint64 {
		out := make([]uint64, n)
		for i := range out {
			out[i] = term
		}
		return out
	}
	leaderLog := append(append([]uint64{1}, long(4, 20)...), long(6, 20)...)
	followerLog := append(append([]uint64{1}, long(2, 30)...), long(3, 30)...)
	n := newNetworkWithLogs(t, [][]uint64{leaderLog, followerLog, leaderLog}, 6, nil)
	rejections := 0
	n.drop = func(m Message) bool {
		if m.Type == MsgAppResp && m.Reject && m.From == 2 {
			rejections++
		}
		return false
	}
	n.elect(1)
	require.Equal(t, logTerms(t, n.raft(1)), logTerms(t, n.raft(2)))
	require.LessOrEqual(t, rejections, 3, "one rejection per conflicting term, not per entry")
	require.Greater(t, rejections, 0)
}

func TestProgressProbeThenReplicate(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	require.NoError(t, n.member(1).rn.Campaign())
	// Deliver the campaign, then hold back append answers to see the probe.
	n.stabilize()
	pr := n.raft(1).trk.get(2)
	require.Equal(t, progressReplicate, pr.state, "an acknowledged probe switches to replicate")
	n.raft(1).reportUnreachable(2)
	require.Equal(t, progressProbe, pr.state)
	// In probe, one append at a time until answered.
	require.NoError(t, n.member(1).rn.Propose([]byte("x")))
	require.NoError(t, n.member(1).rn.Propose([]byte("y")))
	rd := n.member(1).rn.Ready()
	to2 := 0
	for _, m := range rd.MessagesNow {
		if m.Type == MsgApp && m.To == 2 {
			to2++
		}
	}
	require.Equal(t, 1, to2, "a probing follower gets one append until it answers")
	require.True(t, pr.isPaused())
}

func TestInflightWindowBoundsAppends(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxMsgs    int
		maxBytes   uint64
		proposals  int
		dataBytes  int
		wantAppsTo int
	}{
		{"count bound", 3, 0, 10, 10, 3},
		{"bytes bound", 100, 3 * (10 + entryOverheadBytes), 10, 10, 3},
		{"no bound hit", 100, 0, 5, 10, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, []uint64{1, 2}, func(c *Config) {
				c.MaxInflightMsgs = tc.maxMsgs
				c.MaxInflightBytes = tc.maxBytes
				c.MaxBytesPerMsg = 0 // one entry per message
			})
			n.elect(1)
			leader := n.member(1)
			sent := 0
			for range tc.proposals {
				require.NoError(t, leader.rn.Propose(make([]byte, tc.dataBytes)))
				msgs, _ := leader.handleReady(t)
				sent += countMessages(msgs, MsgApp)
			}
			require.Equal(t, tc.wantAppsTo, sent)
			require.Equal(t, tc.wantAppsTo, leader.rn.raft.trk.get(2).inflights.count)
		})
	}
}

func TestEntriesBatchedUnderMaxBytesPerMsg(t *testing.T) {
	for _, tc := range []struct {
		name           string
		maxBytesPerMsg uint64
		entries        int
		wantPerMsg     []int
	}{
		{"two per message", 2 * (100 + entryOverheadBytes), 5, []int{2, 2, 1}},
		{"at least one even if too big", 10, 3, []int{1, 1, 1}},
		{"all in one", noLimit, 5, []int{5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNetwork(t, []uint64{1, 2}, func(c *Config) { c.MaxBytesPerMsg = tc.maxBytesPerMsg })
			n.elect(1)
			n.down[2] = true
			for range tc.entries {
				require.NoError(t, n.member(1).rn.Propose(make([]byte, 100)))
			}
			n.stabilize()
			delete(n.down, 2)
			leader := n.raft(1)
			pr := leader.trk.get(2)
			pr.becomeProbe()
			pr.becomeReplicate()
			pr.next = leader.log.lastIndex() - uint64(tc.entries) + 1
			var got []int
			for pr.next <= leader.log.lastIndex() {
				require.True(t, leader.maybeSendAppend(pr, false))
				m := leader.msgs[len(leader.msgs)-1]
				got = append(got, len(m.Entries))
			}
			require.Equal(t, tc.wantPerMsg, got)
		})
	}
}

// A heartbeat carries the commit index only up to what the follower is known to hold.
func TestHeartbeatCommitCappedAtMatch(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.down[3] = true
	require.NoError(t, n.member(1).rn.Propose([]byte("x")))
	n.stabilize()
	leader := n.raft(1)
	leader.broadcastHeartbeat()
	for _, m := range leader.msgs {
		if m.To == 3 {
			require.Equal(t, leader.trk.get(3).match, m.Commit)
		}
		if m.To == 2 {
			require.Equal(t, leader.log.committed, m.Commit)
		}
	}
}

// Lost appends are recovered: the follower rejects the gap, the leader probes back.
func TestReplicationRecoversFromDroppedAppends(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	dropped := 0
	n.drop = func(m Message) bool {
		if m.Type == MsgApp && m.To == 3 && dropped < 2 && len(m.Entries) > 0 {
			dropped++
			return true
		}
		return false
	}
	for _, d := range []string{"a", "b", "c"} {
		require.NoError(t, n.member(1).rn.Propose([]byte(d)))
		n.stabilize()
	}
	n.drop = nil
	n.tick(2)
	for _, id := range []uint64{1, 2, 3} {
		require.Equal(t, []string{"a", "b", "c"}, n.member(id).appliedData(), "member %d", id)
	}
}

// A follower whose acknowledgement arrives after the entry committed is told the commit index
// at once (a commit-only append after its match), not only at the next heartbeat.
func TestLateAckerLearnsCommitWithoutHeartbeat(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.MaxInflightMsgs = 1 })
	n.elect(1)
	n.down[3] = true
	require.NoError(t, n.member(1).rn.Propose([]byte("x")))
	n.stabilize() // commits with 2; 3's window is full with the append it never got
	delete(n.down, 3)
	leader := n.raft(1)
	pr := leader.trk.get(3)
	msg := Message{From: 3, To: 1, Type: MsgAppResp, Term: leader.term, Index: leader.log.lastIndex()}
	before := len(leader.msgs)
	require.NoError(t, n.member(1).rn.Step(msg))
	require.Equal(t, leader.log.lastIndex(), pr.match)
	sent := leader.msgs[before:]
	require.Len(t, sent, 1)
	require.Equal(t, MsgApp, sent[0].Type)
	require.Empty(t, sent[0].Entries)
	require.Equal(t, pr.match, sent[0].Index, "appends nothing after what 3 holds")
	require.Equal(t, leader.log.committed, sent[0].Commit)
	// Told once: a repeated acknowledgement sends nothing more.
	require.NoError(t, n.member(1).rn.Step(msg))
	require.Len(t, leader.msgs, before+1)
}
