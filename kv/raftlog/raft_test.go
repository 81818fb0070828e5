package raftlog

import (
	"fmt"
	"testing"

	"github.com/ballastdb/ballast/raft"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// member is one raft member whose Storage is a Log, driven the way kv/node drives it.
type member struct {
	id      uint64
	fs      vfs.FS
	db      *pebble.DB
	log     *Log
	rn      *raft.RawNode
	applied []raft.Entry
}

func startMember(t *testing.T, id uint64, fs vfs.FS, seed uint64) *member {
	t.Helper()
	m := &member{id: id, fs: fs}
	m.db, m.log = openLog(t, fs)
	hs := m.log.HardState()
	rn, err := raft.NewRawNode(&raft.Config{
		ID: id, Storage: m.log, Applied: hs.Commit, ElectionTimeoutTicks: 10, HeartbeatIntervalTicks: 1,
		Rand: newRand(seed + id), MaxInflightMsgs: 16, MaxBytesPerMsg: 1 << 10, PreVote: true,
	})
	require.NoError(t, err)
	m.rn = rn
	return m
}

// handleReady persists one Ready through the Log (unsynced commit, then Sync), and returns
// the messages to deliver.
func (m *member) handleReady(t *testing.T) []raft.Message {
	t.Helper()
	if !m.rn.HasReady() {
		return nil
	}
	rd := m.rn.Ready()
	mustWrite(t, m.db, func(b *pebble.Batch) error {
		if !rd.Snapshot.IsEmpty() {
			if err := m.log.ApplySnapshot(b, rd.Snapshot.Metadata); err != nil {
				return err
			}
		}
		if err := m.log.Append(b, rd.Entries); err != nil {
			return err
		}
		if !rd.HardState.IsEmpty() {
			return m.log.SetHardState(b, rd.HardState)
		}
		return nil
	})
	if rd.MustSync {
		require.NoError(t, m.log.Sync())
	}
	for _, e := range rd.CommittedEntries {
		m.applied = append(m.applied, raft.Entry{Index: e.Index, Term: e.Term, Type: e.Type, Data: append([]byte(nil), e.Data...)})
	}
	out := append(append([]raft.Message(nil), rd.MessagesNow...), rd.MessagesAfterSync...)
	m.rn.Advance(rd)
	return out
}

// TestRaftOnLog runs three raft members on Logs: election, replication, a member restarted
// from its disk, and a member far behind a compacted log caught up by a snapshot.
func TestRaftOnLog(t *testing.T) {
	seed := testSeed(t, 3)
	conf := raft.ConfState{Voters: []uint64{1, 2, 3}}
	members := map[uint64]*member{}
	for id := uint64(1); id <= 3; id++ {
		fs := vfs.NewMem()
		db, l := openLog(t, fs)
		mustWrite(t, db, func(b *pebble.Batch) error { return l.Bootstrap(b, conf) })
		require.NoError(t, l.Sync())
		require.NoError(t, db.Close())
		members[id] = startMember(t, id, fs, seed)
	}
	defer func() {
		for _, m := range members {
			_ = m.db.Close()
		}
	}()
	down := map[uint64]bool{}
	stabilize := func() {
		for round := 0; round < 1000; round++ {
			var msgs []raft.Message
			for id := uint64(1); id <= 3; id++ {
				if !down[id] {
					msgs = append(msgs, members[id].handleReady(t)...)
				}
			}
			if len(msgs) == 0 {
				return
			}
			for _, msg := range msgs {
				if !down[msg.To] {
					require.NoError(t, members[msg.To].rn.Step(msg))
				}
			}
		}
		t.Fatal("cluster did not stabilize")
	}
	require.NoError(t, members[1].rn.Campaign())
	stabilize()
	require.Equal(t, raft.StateLeader, members[1].rn.Status().RaftState)
	for i := 0; i < 20; i++ {
		require.NoError(t, members[1].rn.Propose([]byte(fmt.Sprintf("put %d", i))))
		stabilize()
	}
	last := must(members[1].log.LastIndex())
	for id := uint64(1); id <= 3; id++ {
		require.Equal(t, last, members[id].applied[len(members[id].applied)-1].Index, "member %d", id)
		require.NoError(t, members[id].log.CheckConsistency())
	}

	// Member 3 goes down; the leader moves on, snapshots and compacts past it.
	down[3] = true
	require.NoError(t, members[3].db.Close())
	for i := 20; i < 40; i++ {
		require.NoError(t, members[1].rn.Propose([]byte(fmt.Sprintf("put %d", i))))
		stabilize()
	}
	leader := members[1]
	commit := leader.log.HardState().Commit
	mustWrite(t, leader.db, func(b *pebble.Batch) error {
		if _, err := leader.log.CreateSnapshot(b, commit, conf); err != nil {
			return err
		}
		return leader.log.Compact(b, commit)
	})

	// Member 2 restarts from its disk; member 3 comes back and needs the snapshot.
	require.NoError(t, members[2].db.Close())
	members[2] = startMember(t, 2, members[2].fs, seed)
	members[3] = startMember(t, 3, members[3].fs, seed)
	down[3] = false
	for i := 0; i < 30; i++ {
		leader.rn.Tick()
		stabilize()
	}
	require.NoError(t, leader.rn.Propose([]byte("after")))
	stabilize()
	for i := 0; i < 3; i++ {
		leader.rn.Tick()
		stabilize()
	}
	want := must(leader.log.LastIndex())
	for id := uint64(1); id <= 3; id++ {
		m := members[id]
		require.Equal(t, want, must(m.log.LastIndex()), "member %d", id)
		require.Equal(t, want, m.log.HardState().Commit, "member %d", id)
		require.NoError(t, m.log.CheckConsistency())
	}
	snap := must(members[3].log.Snapshot())
	require.Equal(t, commit, snap.Metadata.Index, "member 3 caught up from the leader's snapshot")
	got := must(members[3].log.Entries(commit+1, want+1, 1<<20))
	require.Equal(t, "after", string(got[len(got)-1].Data))
}
