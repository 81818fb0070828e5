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
	checkBeforeWrite(t, m, rd)
	if !rd.Snapshot.IsEmpty() {
		require.NoError(t, m.storage.ApplySnapshot(rd.Snapshot))
		m.snapshotsInstalled++
	}
	require.NoError(t, m.storage.Append(rd.Entries))
	if !rd.HardState.IsEmpty() {
		require.NoError(t, m.storage.SetHardState(rd.HardState))
	}
	checkAfterWrite(t, m, rd)
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
				if n.cut[[2]uint64{msg.From, msg.To}] || n.down[msg.To] {
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

// checkBeforeWrite enforces the parts of the persistence contract that concern what is
// already durable: committed entries handed out for applying are in storage already, and
// messages that may go at once depend on nothing of this Ready's write.
func checkBeforeWrite(t testing.TB, m *testMember, rd Ready) {
	durable, _, err := m.storage.InitialState()
	require.NoError(t, err)
	for _, e := range rd.CommittedEntries {
		term, err := m.storage.Term(e.Index)
		require.NoError(t, err, "member %d: committed entry %d handed out before it is durable", m.id, e.Index)
		require.Equal(t, e.Term, term, "member %d: committed entry %d differs from the durable one", m.id, e.Index)
	}
	for _, msg := range rd.MessagesNow {
		require.Contains(t, []MessageType{MsgApp, MsgHeartbeat, MsgSnap, MsgTimeoutNow, MsgReadIndexResp}, msg.Type,
			"member %d: %s may not go before the write", m.id, msg)
		require.LessOrEqual(t, msg.Term, durable.Term, "member %d: %s sent in a term not yet durable", m.id, msg)
	}
}

// checkAfterWrite enforces that every message held back until the write promises only what
// is now durable: a granted vote is stored, an append acknowledgement is in the stored log.
func checkAfterWrite(t testing.TB, m *testMember, rd Ready) {
	hs, _, err := m.storage.InitialState()
	require.NoError(t, err)
	last, err := m.storage.LastIndex()
	require.NoError(t, err)
	for _, msg := range rd.MessagesAfterSync {
		switch {
		case msg.Type == MsgVoteResp && !msg.Reject:
			require.Equal(t, msg.To, hs.Vote, "member %d: granted vote not durable: %s", m.id, msg)
			require.Equal(t, msg.Term, hs.Term, "member %d: vote term not durable: %s", m.id, msg)
		case msg.Type == MsgVote:
			require.Equal(t, m.id, hs.Vote, "member %d: campaign before its own vote is durable", m.id)
			require.Equal(t, msg.Term, hs.Term)
		case msg.Type == MsgAppResp && !msg.Reject:
			require.LessOrEqual(t, msg.Index, last, "member %d: acknowledges %d but has only %d durable", m.id, msg.Index, last)
		}
	}
}

// storageWithLog returns a storage for voters holding entries with the given terms at
// indexes 1, 2, ... and the hard state term (commit 0).
func storageWithLog(t testing.TB, voters []uint64, terms []uint64, term uint64) *MemoryStorage {
	s := NewMemoryStorage(ConfState{Voters: voters})
	var ents []Entry
	for i, tm := range terms {
		ents = append(ents, Entry{Term: tm, Index: uint64(i + 1), Data: []byte{byte(i)}})
	}
	require.NoError(t, s.Append(ents))
	require.NoError(t, s.SetHardState(HardState{Term: term}))
	return s
}

// newNetworkWithLogs starts a group whose member i (IDs 1, 2, ...) holds logs[i], all at hard
// state term term.
func newNetworkWithLogs(t testing.TB, logs [][]uint64, term uint64, cfg func(*Config)) *network {
	var ids []uint64
	for i := range logs {
		ids = append(ids, uint64(i+1))
	}
	n := &network{t: t, cut: map[[2]uint64]bool{}, down: map[uint64]bool{}}
	for i, id := range ids {
		storage := storageWithLog(t, ids, logs[i], term)
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

// logTerms returns the terms of a member's whole log (durable and not), index 1 first.
func logTerms(t testing.TB, r *raft) []uint64 {
	var out []uint64
	for i := r.log.firstIndex(); i <= r.log.lastIndex(); i++ {
		tm, err := r.log.term(i)
		require.NoError(t, err)
		out = append(out, tm)
	}
	return out
}

// countMessages counts the messages of type typ among msgs.
func countMessages(msgs []Message, typ MessageType) int {
	n := 0
	for _, m := range msgs {
		if m.Type == typ {
			n++
		}
	}
	return n
}
