package raft

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test helpers: a member driven faithfully through the Ready contract, and a tiny network that
// delivers messages in order, with a filter to drop some.

const (
	testElectionTicks  = 10
	testHeartbeatTicks = 1
)

func testConfig(id uint64, storage Storage, seed uint64) *Config {
	return &Config{
		ID: id, Storage: storage, ElectionTimeoutTicks: testElectionTicks, HeartbeatIntervalTicks: testHeartbeatTicks,
		Rand: rand.New(rand.NewPCG(seed, id)), MaxBytesPerMsg: noLimit, MaxInflightMsgs: 256,
	}
}

type testMember struct {
	id      uint64
	rn      *RawNode
	storage *MemoryStorage
	// applied is every committed entry the application applied, in order.
	applied []Entry
	// readStates is every read answer handed out.
	readStates []ReadState
	// snapshotsInstalled counts snapshots handed out for installing.
	snapshotsInstalled int
}

// handleReady processes one Ready by the contract (persist, then send, apply, advance) and
// returns the messages to send. It reports false if there was nothing to do.
func (m *testMember) handleReady(t testing.TB) ([]Message, bool) {
	if !m.rn.HasReady() {
		return nil, false
	}
	rd := m.rn.Ready()
	if !rd.Snapshot.IsEmpty() {
		require.NoError(t, m.storage.ApplySnapshot(rd.Snapshot))
		m.snapshotsInstalled++
	}
	require.NoError(t, m.storage.Append(rd.Entries))
	if !rd.HardState.IsEmpty() {
		require.NoError(t, m.storage.SetHardState(rd.HardState))
	}
	msgs := append(slices.Clone(rd.MessagesNow), rd.MessagesAfterSync...)
	m.applied = append(m.applied, rd.CommittedEntries...)
	m.readStates = append(m.readStates, rd.ReadStates...)
	m.rn.Advance(rd)
	return msgs, true
}

type network struct {
	t       testing.TB
	members []*testMember
	queue   []Message
	// drop, if set, discards the messages for which it returns true.
	drop func(Message) bool
	// cut holds pairs that cannot talk (both directions).
	cut map[[2]uint64]bool
	// down holds members that receive nothing and send nothing.
	down map[uint64]bool
}

// newNetwork starts a group whose voters are ids, with cfg applied to every member's config.
func newNetwork(t testing.TB, ids []uint64, cfg func(*Config)) *network {
	n := &network{t: t, cut: map[[2]uint64]bool{}, down: map[uint64]bool{}}
	for _, id := range ids {
		storage := NewMemoryStorage(ConfState{Voters: ids})
		c := testConfig(id, storage, 1)
		if cfg != nil {
			cfg(c)
		}
		rn, err := NewRawNode(c)
		require.NoError(t, err)
		n.members = append(n.members, &testMember{id: id, rn: rn, storage: storage})
	}
	return n
}

func (n *network) member(id uint64) *testMember {
	for _, m := range n.members {
		if m.id == id {
			return m
		}
	}
	n.t.Fatalf("no member %d", id)
	return nil
}

func (n *network) raft(id uint64) *raft { return n.member(id).rn.raft }

func (n *network) isolate(id uint64) {
	for _, m := range n.members {
		if m.id != id {
			n.cut[[2]uint64{id, m.id}] = true
			n.cut[[2]uint64{m.id, id}] = true
		}
	}
}

func (n *network) heal() { n.cut = map[[2]uint64]bool{} }

func (n *network) blocked(m Message) bool {
	return n.cut[[2]uint64{m.From, m.To}] || n.down[m.From] || n.down[m.To] || (n.drop != nil && n.drop(m))
}

// flushReady processes every member's Ready once and queues the messages.
func (n *network) flushReady() bool {
	any := false
	for _, m := range n.members {
		if n.down[m.id] {
			continue
		}
		msgs, ok := m.handleReady(n.t)
		if ok {
			any = true
		}
		for _, msg := range msgs {
			if !n.blocked(msg) {
				n.queue = append(n.queue, msg)
			}
		}
	}
	return any
}

// stabilize processes Readies and delivers messages until nothing is left.
func (n *network) stabilize() {
	for range 10000 {
		progressed := n.flushReady()
		if len(n.queue) > 0 {
			progressed = true
			q := n.queue
			n.queue = nil
			for _, msg := range q {
				if n.blocked(msg) {
					continue
				}
				if m := n.memberOrNil(msg.To); m != nil {
					require.NoError(n.t, m.rn.Step(msg))
				}
			}
		}
		if !progressed {
			return
		}
	}
	n.t.Fatal("network did not stabilize")
}

func (n *network) memberOrNil(id uint64) *testMember {
	for _, m := range n.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

// elect makes id campaign and stabilizes; it must win.
func (n *network) elect(id uint64) {
	require.NoError(n.t, n.member(id).rn.Campaign())
	n.stabilize()
	require.Equal(n.t, StateLeader, n.raft(id).state, "member %d did not win", id)
}

// tick ticks every member that is up, count times, stabilizing after each.
func (n *network) tick(count int) {
	for range count {
		for _, m := range n.members {
			if !n.down[m.id] {
				m.rn.Tick()
			}
		}
		n.stabilize()
	}
}

func (n *network) leader() uint64 {
	var lead uint64
	for _, m := range n.members {
		if !n.down[m.id] && m.rn.raft.state == StateLeader {
			if lead == 0 || m.rn.raft.term > n.raft(lead).term {
				lead = m.id
			}
		}
	}
	return lead
}

// appliedData returns the Data of the normal, non-empty entries a member applied.
func (m *testMember) appliedData() []string {
	var out []string
	for _, e := range m.applied {
		if e.Type == EntryNormal && len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}

// newSingle returns a lone member (not part of a network) whose voters are ids.
func newSingle(t testing.TB, id uint64, ids []uint64, cfg func(*Config)) *testMember {
	storage := NewMemoryStorage(ConfState{Voters: ids})
	c := testConfig(id, storage, 1)
	if cfg != nil {
		cfg(c)
	}
	rn, err := NewRawNode(c)
	require.NoError(t, err)
	return &testMember{id: id, rn: rn, storage: storage}
}
