package raft

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Rule 5: snapshots and log compaction; restart from a snapshot plus log.

// snapshotAndCompact makes member m snapshot its state at its applied index and compact its
// log up to it, as an application does.
func snapshotAndCompact(t *testing.T, m *testMember) uint64 {
	st := m.rn.Status()
	_, err := m.storage.CreateSnapshot(st.Applied, st.Config, []byte("state"))
	require.NoError(t, err)
	require.NoError(t, m.storage.Compact(st.Applied))
	return st.Applied
}

func TestFollowerBehindCompactedLogRestoredBySnapshot(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.down[3] = true
	for _, d := range []string{"a", "b", "c"} {
		require.NoError(t, n.member(1).rn.Propose([]byte(d)))
		n.stabilize()
	}
	snapIndex := snapshotAndCompact(t, n.member(1))
	delete(n.down, 3)
	sent := 0
	n.drop = func(m Message) bool {
		if m.Type == MsgSnap {
			sent++
			require.Equal(t, snapIndex, m.Snapshot.Metadata.Index)
		}
		return false
	}
	n.tick(1)
	require.Equal(t, 1, sent, "one snapshot goes to the follower behind the compacted log")
	f := n.member(3)
	require.Equal(t, 1, f.snapshotsInstalled)
	require.Equal(t, snapIndex, f.rn.Status().Applied)
	first, _ := f.storage.FirstIndex()
	require.Equal(t, snapIndex+1, first)
	// Replication resumes after the snapshot.
	require.NoError(t, n.member(1).rn.Propose([]byte("d")))
	n.stabilize()
	require.Equal(t, []string{"d"}, f.appliedData(), "entries after the snapshot are applied normally")
	require.Equal(t, n.raft(1).log.committed, f.rn.Status().Applied)
	require.Equal(t, ConfState{Voters: []uint64{1, 2, 3}}, f.rn.Status().Config)
}

func TestSnapshotTemporarilyUnavailableIsRetried(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.down[2] = true
	require.NoError(t, n.member(1).rn.Propose([]byte("a")))
	n.stabilize()
	snapshotAndCompact(t, n.member(1))
	flaky := &flakySnapshotStorage{MemoryStorage: n.member(1).storage, failures: 2}
	n.raft(1).log.storage = flaky
	delete(n.down, 2)
	n.tick(5)
	require.Zero(t, flaky.failures)
	require.Equal(t, 1, n.member(2).snapshotsInstalled)
}

type flakySnapshotStorage struct {
	*MemoryStorage
	failures int
}

func (s *flakySnapshotStorage) Snapshot() (Snapshot, error) {
	if s.failures > 0 {
		s.failures--
		return Snapshot{}, ErrSnapshotTemporarilyUnavailable
	}
	return s.MemoryStorage.Snapshot()
}

func TestSnapshotStateAndReports(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.down[2] = true
	require.NoError(t, n.member(1).rn.Propose([]byte("a")))
	n.stabilize()
	snapIndex := snapshotAndCompact(t, n.member(1))
	leader := n.raft(1)
	pr := leader.trk.get(2)
	pr.becomeProbe()
	require.True(t, leader.maybeSendAppend(pr, true))
	require.Equal(t, progressSnapshot, pr.state)
	require.Equal(t, snapIndex, pr.pendingSnapshot)
	require.True(t, pr.isPaused(), "nothing more is sent while the snapshot is in flight")
	n.member(1).rn.ReportSnapshot(2, true)
	require.Equal(t, progressProbe, pr.state, "a failed snapshot goes back to probing")
	require.True(t, pr.isPaused(), "wait for the next heartbeat answer before retrying")
}

func TestFollowerIgnoresStaleSnapshot(t *testing.T) {
	m := newSingle(t, 2, []uint64{1, 2}, nil)
	ents := []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}, {Term: 1, Index: 3}}
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 1, Entries: ents, Commit: 2}))
	m.handleReady(t)
	// Older than the commit index: acknowledged at the commit index, nothing installed.
	snap := Snapshot{Metadata: SnapshotMetadata{Index: 1, Term: 1, ConfState: ConfState{Voters: []uint64{1, 2}}}}
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgSnap, Term: 1, Snapshot: &snap}))
	rd := m.rn.Ready()
	require.True(t, rd.Snapshot.IsEmpty())
	require.Equal(t, uint64(2), rd.MessagesAfterSync[0].Index)
	m.rn.Advance(rd)
	// Matching an entry the log holds: fast-forward the commit index, keep the log.
	snap.Metadata.Index = 3
	require.NoError(t, m.rn.Step(Message{From: 1, To: 2, Type: MsgSnap, Term: 1, Snapshot: &snap}))
	require.Equal(t, uint64(3), m.rn.raft.log.committed)
	require.Nil(t, m.rn.raft.log.unstable.snapshot)
}

func TestRestartFromSnapshotPlusLog(t *testing.T) {
	storage := NewMemoryStorage(ConfState{})
	snap := Snapshot{Data: []byte("s"), Metadata: SnapshotMetadata{Index: 5, Term: 2, ConfState: ConfState{Voters: []uint64{1, 2, 3}}}}
	require.NoError(t, storage.ApplySnapshot(snap))
	cc := ConfChange{Type: ConfChangeAddLearner, NodeID: 4}
	require.NoError(t, storage.Append([]Entry{
		{Term: 2, Index: 6, Data: []byte("x")},
		{Term: 3, Index: 7, Type: EntryConfChange, Data: cc.Marshal()},
		{Term: 3, Index: 8, Data: []byte("y")},
	}))
	require.NoError(t, storage.SetHardState(HardState{Term: 3, Vote: 2, Commit: 8}))

	for _, tc := range []struct {
		name        string
		applied     uint64
		wantApply   []uint64
		wantConfLrn []uint64
	}{
		{"applied nothing after the snapshot", 0, []uint64{6, 7, 8}, nil},
		{"applied past the conf change", 7, []uint64{8}, []uint64{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(1, storage, 1)
			c.Applied = tc.applied
			rn, err := NewRawNode(c)
			require.NoError(t, err)
			st := rn.Status()
			require.Equal(t, HardState{Term: 3, Vote: 2, Commit: 8}, st.HardState)
			require.Equal(t, uint64(8), st.LastIndex)
			require.Equal(t, tc.wantConfLrn, st.Config.Learners, "configuration replayed up to the applied index")
			rd := rn.Ready()
			var got []uint64
			for _, e := range rd.CommittedEntries {
				got = append(got, e.Index)
			}
			require.Equal(t, tc.wantApply, got)
			require.True(t, rd.HardState.IsEmpty(), "nothing new to persist after a restart")
			rn.Advance(rd)
			require.Equal(t, []uint64{4}, rn.Status().Config.Learners)
		})
	}
}

func TestRestartRejectsInconsistentState(t *testing.T) {
	storage := storageWithLog(t, []uint64{1}, []uint64{1, 1}, 1)
	require.NoError(t, storage.SetHardState(HardState{Term: 1, Commit: 5}))
	_, err := NewRawNode(testConfig(1, storage, 1))
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "commit index 5")

	require.NoError(t, storage.SetHardState(HardState{Term: 1, Commit: 1}))
	c := testConfig(1, storage, 1)
	c.Applied = 2
	_, err = NewRawNode(c)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "Applied 2")
}

func TestMemoryStorage(t *testing.T) {
	s := NewMemoryStorage(ConfState{Voters: []uint64{1}})
	require.NoError(t, s.Append([]Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}, {Term: 2, Index: 3}, {Term: 2, Index: 4}}))
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	require.Equal(t, [2]uint64{1, 4}, [2]uint64{first, last})

	require.ErrorIs(t, s.Append([]Entry{{Term: 2, Index: 7}}), ErrUnavailable, "a gap")
	require.ErrorIs(t, s.Append([]Entry{{Term: 2, Index: 5}, {Term: 2, Index: 7}}), ErrInvalidEntries)
	last, _ = s.LastIndex()
	require.Equal(t, uint64(4), last, "a failed append stores nothing")

	// Overwrite from index 3.
	require.NoError(t, s.Append([]Entry{{Term: 3, Index: 3}}))
	last, _ = s.LastIndex()
	require.Equal(t, uint64(3), last)
	tm, err := s.Term(3)
	require.NoError(t, err)
	require.Equal(t, uint64(3), tm)

	_, err = s.CreateSnapshot(9, ConfState{}, nil)
	require.ErrorIs(t, err, ErrUnavailable)
	snap, err := s.CreateSnapshot(2, ConfState{Voters: []uint64{1}}, []byte("d"))
	require.NoError(t, err)
	require.Equal(t, SnapshotMetadata{Index: 2, Term: 1, ConfState: ConfState{Voters: []uint64{1}}}, snap.Metadata)
	_, err = s.CreateSnapshot(2, ConfState{}, nil)
	require.ErrorIs(t, err, ErrSnapOutOfDate)

	require.NoError(t, s.Compact(2))
	require.ErrorIs(t, s.Compact(2), ErrCompacted)
	require.ErrorIs(t, s.Compact(10), ErrUnavailable)
	_, err = s.Term(1)
	require.ErrorIs(t, err, ErrCompacted)
	tm, err = s.Term(2)
	require.NoError(t, err)
	require.Equal(t, uint64(1), tm, "the compacted index keeps its term")
	_, err = s.Entries(2, 3, noLimit)
	require.ErrorIs(t, err, ErrCompacted)
	_, err = s.Entries(3, 9, noLimit)
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = s.Term(9)
	require.ErrorIs(t, err, ErrUnavailable)
	ents, err := s.Entries(3, 4, noLimit)
	require.NoError(t, err)
	require.Equal(t, []Entry{{Term: 3, Index: 3}}, ents)
	// Entries older than the compaction point are ignored on append.
	require.NoError(t, s.Append([]Entry{{Term: 1, Index: 1}}))

	require.ErrorIs(t, s.ApplySnapshot(Snapshot{Metadata: SnapshotMetadata{Index: 1, Term: 1}}), ErrSnapOutOfDate)
	require.NoError(t, s.ApplySnapshot(Snapshot{Metadata: SnapshotMetadata{Index: 10, Term: 4}}))
	first, _ = s.FirstIndex()
	last, _ = s.LastIndex()
	require.Equal(t, [2]uint64{11, 10}, [2]uint64{first, last})
	require.True(t, errors.Is(s.SetHardState(HardState{Term: 4}), nil))
}

func TestLimitSize(t *testing.T) {
	ents := []Entry{{Data: make([]byte, 10)}, {Data: make([]byte, 10)}, {Data: make([]byte, 10)}}
	one := ents[0].sizeBytes()
	for _, tc := range []struct {
		max  uint64
		want int
	}{{0, 1}, {one, 1}, {2*one - 1, 1}, {2 * one, 2}, {noLimit, 3}} {
		require.Len(t, limitSize(ents, tc.max), tc.want, "max %d", tc.max)
	}
	require.Empty(t, limitSize(nil, 5))
}

// A lost snapshot is sent again after two election timeouts without an answer.
func TestLostSnapshotIsResent(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	n.down[3] = true
	require.NoError(t, n.member(1).rn.Propose([]byte("a")))
	n.stabilize()
	snapshotAndCompact(t, n.member(1))
	delete(n.down, 3)
	sent := 0
	n.drop = func(m Message) bool {
		if m.Type == MsgSnap {
			sent++
			return sent == 1 // the first one is lost
		}
		return false
	}
	n.tick(1)
	require.Equal(t, 1, sent)
	require.Equal(t, progressSnapshot, n.raft(1).trk.get(3).state)
	n.tick(2 * testElectionTicks)
	require.Equal(t, 2, sent, "sent again once the first was presumed lost")
	require.Equal(t, 1, n.member(3).snapshotsInstalled)
	require.Equal(t, progressReplicate, n.raft(1).trk.get(3).state)
}
