package wire

import (
	"fmt"
	"testing"

	"github.com/ballastdb/ballast/raft"
	"github.com/stretchr/testify/require"
)

// cluster is three raft members on MemoryStorage whose messages travel only as frames.
type cluster struct {
	t       *testing.T
	nodes   map[uint64]*raft.RawNode
	stores  map[uint64]*raft.MemoryStorage
	down    map[uint64]bool
	frames  [][]byte
	byType  map[raft.MessageType]int
	applied map[uint64]uint64
}

func newCluster(t *testing.T, seed uint64) *cluster {
	c := &cluster{t: t, nodes: map[uint64]*raft.RawNode{}, stores: map[uint64]*raft.MemoryStorage{},
		down: map[uint64]bool{}, byType: map[raft.MessageType]int{}, applied: map[uint64]uint64{}}
	for id := uint64(1); id <= 3; id++ {
		ms := raft.NewMemoryStorage(raft.ConfState{Voters: []uint64{1, 2, 3}})
		rn, err := raft.NewRawNode(&raft.Config{
			ID: id, Storage: ms, ElectionTimeoutTicks: 10, HeartbeatIntervalTicks: 1, Rand: newRand(seed + id),
			MaxInflightMsgs: 8, MaxBytesPerMsg: 1 << 10, PreVote: true, CheckQuorum: true,
		})
		require.NoError(t, err)
		c.nodes[id], c.stores[id] = rn, ms
	}
	return c
}

// send encodes m, decodes it as the receiver would, checks it arrived unchanged, and steps it.
func (c *cluster) send(m raft.Message) {
	frame, err := Codec{}.Encode(&m)
	require.NoError(c.t, err, "encode %s", m)
	got, err := Codec{}.Decode(frame)
	require.NoError(c.t, err, "decode %s", m)
	require.Equal(c.t, m, got)
	c.frames = append(c.frames, frame)
	c.byType[m.Type]++
	if rn, ok := c.nodes[m.To]; ok && !c.down[m.To] {
		require.NoError(c.t, rn.Step(got))
	}
}

func (c *cluster) stabilize() {
	for round := 0; round < 1000; round++ {
		sent := 0
		for id := uint64(1); id <= 3; id++ {
			rn := c.nodes[id]
			if c.down[id] || !rn.HasReady() {
				continue
			}
			rd := rn.Ready()
			ms := c.stores[id]
			if !rd.Snapshot.IsEmpty() {
				require.NoError(c.t, ms.ApplySnapshot(rd.Snapshot))
			}
			require.NoError(c.t, ms.Append(rd.Entries))
			if !rd.HardState.IsEmpty() {
				require.NoError(c.t, ms.SetHardState(rd.HardState))
			}
			for _, e := range rd.CommittedEntries {
				c.applied[id] = e.Index
			}
			// Send before Advance: the Ready's messages belong to raft again after it.
			for _, m := range append(append([]raft.Message(nil), rd.MessagesNow...), rd.MessagesAfterSync...) {
				c.send(m)
				sent++
			}
			rn.Advance(rd)
		}
		if sent == 0 {
			return
		}
	}
	c.t.Fatal("cluster did not stabilize")
}

// TestRaftMessagesThroughTheCodec runs a raft cluster whose every message is encoded and
// decoded: election, appends, reads, a snapshot to a member behind a compacted log, a
// leadership transfer. Each message must arrive equal to what was sent.
func TestRaftMessagesThroughTheCodec(t *testing.T) {
	c := newCluster(t, testSeed(t, 5))
	require.NoError(t, c.nodes[1].Campaign())
	c.stabilize()
	for i := 0; i < 10; i++ {
		require.NoError(t, c.nodes[1].Propose([]byte(fmt.Sprintf("put k%d", i))))
		c.stabilize()
	}
	require.NoError(t, c.nodes[2].ReadIndex([]byte("read-1")))
	c.stabilize()

	c.down[3] = true
	for i := 10; i < 20; i++ {
		require.NoError(t, c.nodes[1].Propose([]byte(fmt.Sprintf("put k%d", i))))
		c.stabilize()
	}
	ms := c.stores[1]
	st := c.nodes[1].Status()
	_, err := ms.CreateSnapshot(st.Applied, st.Config, []byte("state machine at "+fmt.Sprint(st.Applied)))
	require.NoError(t, err)
	require.NoError(t, ms.Compact(st.Applied))
	c.down[3] = false
	for i := 0; i < 5; i++ {
		c.nodes[1].Tick()
		c.stabilize()
	}
	require.NoError(t, c.nodes[1].TransferLeader(2))
	c.stabilize()
	for i := 0; i < 5; i++ {
		c.nodes[2].Tick()
		c.stabilize()
	}
	require.Equal(t, raft.StateLeader, c.nodes[2].Status().RaftState)
	for id := uint64(1); id <= 3; id++ {
		require.Equal(t, c.nodes[2].Status().Commit, c.nodes[id].Status().Commit, "member %d", id)
	}
	t.Logf("%d frames by type: %v", len(c.frames), c.byType)
	for _, typ := range []raft.MessageType{raft.MsgApp, raft.MsgAppResp, raft.MsgPreVote, raft.MsgVote, raft.MsgHeartbeat, raft.MsgSnap, raft.MsgReadIndex, raft.MsgTimeoutNow} {
		require.Positive(t, c.byType[typ], "no %s went through the codec", typ)
	}
}
