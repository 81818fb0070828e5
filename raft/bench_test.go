package raft

import (
	"math/rand/v2"
	"testing"
)

// Benchmarks of the leader's steady state in a 3-member group: proposals, appends, acks and
// commits, with the followers driven directly (no network, no goroutines). One op is one
// entry proposed, replicated to both followers, acknowledged and committed (and applied on
// the leader). Run with
//
//	go test -run xxx -bench . -benchmem ./raft/
//
// The storage is benchStorage, a fixed-capacity in-memory log that drops applied entries
// when it fills up, so that the allocations reported are raft's and not a growing test log's.

// benchStorage is a Storage over a preallocated slice: entries[0] is the entry before the
// first one held (index and term only), as in MemoryStorage. It allocates nothing once
// built: when its buffer is full it moves what follows the applied index to a second one.
type benchStorage struct {
	hs      HardState
	conf    ConfState
	entries []Entry
	spare   []Entry
}

func newBenchStorage(conf ConfState, capacity int) *benchStorage {
	return &benchStorage{conf: conf, entries: make([]Entry, 1, capacity), spare: make([]Entry, 0, capacity)}
}

func (s *benchStorage) InitialState() (HardState, ConfState, error) { return s.hs, s.conf, nil }
func (s *benchStorage) offset() uint64                              { return s.entries[0].Index }
func (s *benchStorage) lastIndex() uint64                           { return s.offset() + uint64(len(s.entries)) - 1 }
func (s *benchStorage) LastIndex() (uint64, error)                  { return s.lastIndex(), nil }
func (s *benchStorage) FirstIndex() (uint64, error)                 { return s.offset() + 1, nil }
func (s *benchStorage) Snapshot() (Snapshot, error) {
	return Snapshot{Metadata: SnapshotMetadata{Index: s.offset(), Term: s.entries[0].Term, ConfState: s.conf}}, nil
}

func (s *benchStorage) Term(i uint64) (uint64, error) {
	if i < s.offset() {
		return 0, ErrCompacted
	}
	if i > s.lastIndex() {
		return 0, ErrUnavailable
	}
	return s.entries[i-s.offset()].Term, nil
}

func (s *benchStorage) Entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo <= s.offset() {
		return nil, ErrCompacted
	}
	if hi > s.lastIndex()+1 {
		return nil, ErrUnavailable
	}
	return limitSize(s.entries[lo-s.offset():hi-s.offset()], maxBytes), nil
}

// append writes entries (replacing any from their first index on); when the buffer is full
// it first drops the entries up to applied (which raft no longer needs from storage).
func (s *benchStorage) append(ents []Entry, applied uint64) {
	if len(ents) == 0 {
		return
	}
	keep := ents[0].Index - s.offset()
	s.entries = s.entries[:keep]
	if len(s.entries)+len(ents) > cap(s.entries) {
		// Move the entries from applied on to the other buffer (never in place: slices
		// handed out recently may still be read; nothing holds on to them for a whole
		// buffer's worth of entries).
		tail := s.entries[applied-s.offset():]
		s.spare = append(s.spare[:0], tail...)
		s.spare[0].Data = nil
		s.entries, s.spare = s.spare, s.entries[:0]
		if len(s.entries)+len(ents) > cap(s.entries) {
			panic("benchStorage: full")
		}
	}
	s.entries = append(s.entries, ents...)
}

// benchMember is one member of the benchmark group.
type benchMember struct {
	rn      *RawNode
	storage *benchStorage
	// outbox collects the messages of its Readies, in order (reused).
	outbox []Message
}

// handleReady processes one Ready by the contract (the write is "synced" at once) and
// queues its messages. It reports whether there was one.
func (m *benchMember) handleReady() bool {
	if !m.rn.HasReady() {
		return false
	}
	rd := m.rn.Ready()
	m.storage.append(rd.Entries, m.rn.raft.log.applied)
	if !rd.HardState.IsEmpty() {
		m.storage.hs = rd.HardState
	}
	m.outbox = append(m.outbox, rd.MessagesNow...)
	m.outbox = append(m.outbox, rd.MessagesAfterSync...)
	m.rn.Advance(rd)
	return true
}

type benchGroup struct {
	members [3]*benchMember
	// inflight is the messages being delivered this round (reused).
	inflight []Message
}

func newBenchGroup(b *testing.B) *benchGroup {
	g := &benchGroup{}
	voters := []uint64{1, 2, 3}
	for i := range g.members {
		id := uint64(i + 1)
		storage := newBenchStorage(ConfState{Voters: voters}, 1<<14)
		rn, err := NewRawNode(&Config{
			ID: id, Storage: storage, ElectionTimeoutTicks: 10, HeartbeatIntervalTicks: 1,
			Rand: rand.New(rand.NewPCG(1, id)), MaxBytesPerMsg: 1 << 20, MaxInflightMsgs: 256,
		})
		if err != nil {
			b.Fatal(err)
		}
		g.members[i] = &benchMember{rn: rn, storage: storage}
	}
	if err := g.members[0].rn.Campaign(); err != nil {
		b.Fatal(err)
	}
	g.settle(b)
	if g.members[0].rn.raft.state != StateLeader {
		b.Fatal("member 1 did not become leader")
	}
	return g
}

// settle processes Readies and delivers messages until the group is quiet.
func (g *benchGroup) settle(b *testing.B) {
	for range 100 {
		progressed := false
		for _, m := range g.members {
			if m.handleReady() {
				progressed = true
			}
		}
		g.inflight = g.inflight[:0]
		for _, m := range g.members {
			g.inflight = append(g.inflight, m.outbox...)
			clear(m.outbox)
			m.outbox = m.outbox[:0]
		}
		for i := range g.inflight {
			progressed = true
			if err := g.members[g.inflight[i].To-1].rn.Step(g.inflight[i]); err != nil {
				b.Fatal(err)
			}
		}
		clear(g.inflight)
		if !progressed {
			return
		}
	}
	b.Fatal("the group did not settle")
}

// BenchmarkLeaderProposeCommit: one entry per round trip (propose, replicate, ack, commit,
// and the commit index reaching the followers).
func BenchmarkLeaderProposeCommit(b *testing.B) {
	benchmarkLeader(b, 1)
}

// BenchmarkLeaderProposeCommitBatch16: 16 proposals per round trip (the leader's appends and
// the followers' acks carry several entries each). Still reported per entry.
func BenchmarkLeaderProposeCommitBatch16(b *testing.B) {
	benchmarkLeader(b, 16)
}

func benchmarkLeader(b *testing.B, perRound int) {
	g := newBenchGroup(b)
	leader := g.members[0]
	data := make([]byte, 64)
	// Warm up: let every reused buffer reach its steady-state size.
	for range 2048 / perRound {
		for range perRound {
			if err := leader.rn.Propose(data); err != nil {
				b.Fatal(err)
			}
		}
		g.settle(b)
	}
	start := leader.rn.raft.log.committed
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(perRound, b.N-done)
		for range n {
			if err := leader.rn.Propose(data); err != nil {
				b.Fatal(err)
			}
		}
		g.settle(b)
		done += n
	}
	b.StopTimer()
	if got := leader.rn.raft.log.committed - start; got != uint64(b.N) {
		b.Fatalf("committed %d entries, want %d", got, b.N)
	}
	for _, m := range g.members {
		if m.rn.raft.log.applied != leader.rn.raft.log.committed {
			b.Fatalf("member %d applied %d, leader committed %d", m.rn.raft.id, m.rn.raft.log.applied, leader.rn.raft.log.committed)
		}
	}
}
