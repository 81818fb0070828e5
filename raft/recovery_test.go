package raft

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
)

// A randomized fault-then-recovery test, complementing TestRandomizedNetwork: each seed runs a
// phase of faults (message drops, duplicates and reordering, partitions, crashes before or
// after a Ready's write, restarts, compaction, leadership transfers, reads and, on odd seeds,
// membership changes) checking after every step election safety, leader completeness and
// state machine safety; then every fault heals and the group must recover: elect a leader,
// commit a new proposal, and every member of the configuration must apply the whole log. The
// recovery phase is what found a removed leader stranding the group and lost snapshots never
// being resent.
//
// By default a CI-sized share of seeds runs. RAFT_RECOVERY_SEEDS=N runs N seeds;
// RAFT_RECOVERY_SEED=S runs only seed S (every failure prints the command that does that).

func TestRandomizedFaultsThenRecovery(t *testing.T) {
	var seeds []uint64
	if v := os.Getenv("RAFT_RECOVERY_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RAFT_RECOVERY_SEED=%q: %v", v, err)
		}
		seeds = []uint64{s}
	} else {
		count := 150
		if v := os.Getenv("RAFT_RECOVERY_SEEDS"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.Fatalf("RAFT_RECOVERY_SEEDS=%q: want a positive count", v)
			}
			count = n
		}
		for i := range count {
			seeds = append(seeds, uint64(i+1))
		}
	}
	committed := 0
	for _, seed := range seeds {
		w := newRecoveryWorld(t, seed)
		w.faults(3000)
		w.recover()
		committed += len(w.applied)
	}
	t.Logf("%d seeds, %d entries committed in total", len(seeds), committed)
}

type recoveryMember struct {
	id      uint64
	rn      *RawNode
	storage *MemoryStorage
	// appliedIndex is the application's applied index (durable with its state).
	appliedIndex uint64
	up           bool
}

type recoveryWorld struct {
	t       *testing.T
	seed    uint64
	rng     *rand.Rand
	ids     []uint64
	members []*recoveryMember
	cfg     func(*Config)
	queue   []Message
	cut     map[[2]uint64]bool
	// leaders is the leader seen in each term (election safety).
	leaders map[uint64]uint64
	// applied is the entry applied at each index by anyone (state machine safety).
	applied map[uint64]Entry
	// commitTerm is, per index, the term of the first leader seen holding it committed and the
	// entry's term (leader completeness).
	commitTerm map[uint64][2]uint64
	proposals  int
	step       int
}

func newRecoveryWorld(t *testing.T, seed uint64) *recoveryWorld {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	w := &recoveryWorld{
		t: t, seed: seed, rng: rng, cut: map[[2]uint64]bool{},
		leaders: map[uint64]uint64{}, applied: map[uint64]Entry{}, commitTerm: map[uint64][2]uint64{},
	}
	w.ids = []uint64{1, 2, 3, 4, 5}[:3+rng.IntN(3)]
	preVote, checkQuorum := rng.IntN(2) == 0, rng.IntN(2) == 0
	if w.confChanges() {
		// Without the lease, a removed member that never learns of its removal disrupts the
		// others with its campaigns (Raft thesis §4.2.3); the node layer enables CheckQuorum.
		checkQuorum = true
	}
	maxBytesPerMsg, inflight := uint64(rng.IntN(200)), 1+rng.IntN(5)
	w.cfg = func(c *Config) {
		c.PreVote, c.CheckQuorum = preVote, checkQuorum
		c.MaxBytesPerMsg, c.MaxInflightMsgs = maxBytesPerMsg, inflight
	}
	for _, id := range w.ids {
		m := &recoveryMember{id: id, storage: NewMemoryStorage(ConfState{Voters: w.ids})}
		w.start(m)
		w.members = append(w.members, m)
	}
	return w
}

func (w *recoveryWorld) confChanges() bool { return w.seed%2 == 1 }

func (w *recoveryWorld) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("seed %d step %d: %s\nre-run: RAFT_RECOVERY_SEED=%d go test ./raft/ -run 'TestRandomizedFaultsThenRecovery$' -v",
		w.seed, w.step, fmt.Sprintf(format, args...), w.seed)
}

// start (re)starts a member from what its storage holds.
func (w *recoveryWorld) start(m *recoveryMember) {
	c := testConfig(m.id, m.storage, w.seed)
	w.cfg(c)
	c.Applied = m.appliedIndex
	rn, err := NewRawNode(c)
	if err != nil {
		w.fatalf("restart %d: %v", m.id, err)
	}
	m.rn, m.up = rn, true
}

func (w *recoveryWorld) member(id uint64) *recoveryMember { return w.members[id-1] }

func (w *recoveryWorld) pick() *recoveryMember { return w.members[w.rng.IntN(len(w.members))] }

// handleReady processes one Ready of m. In the fault phase it may crash m before anything is
// written (power loss) or after the write but before Advance.
func (w *recoveryWorld) handleReady(m *recoveryMember, faults bool) {
	if !m.up || !m.rn.HasReady() {
		return
	}
	rd := m.rn.Ready()
	if faults && w.rng.IntN(200) == 0 {
		m.up = false // power loss before the write: this Ready is lost
		return
	}
	if !rd.Snapshot.IsEmpty() {
		if err := m.storage.ApplySnapshot(rd.Snapshot); err != nil {
			w.fatalf("member %d: apply snapshot: %v", m.id, err)
		}
		m.appliedIndex = rd.Snapshot.Metadata.Index
	}
	if err := m.storage.Append(rd.Entries); err != nil {
		w.fatalf("member %d: append: %v", m.id, err)
	}
	if !rd.HardState.IsEmpty() {
		_ = m.storage.SetHardState(rd.HardState)
	}
	w.queue = append(w.queue, rd.MessagesNow...)
	w.queue = append(w.queue, rd.MessagesAfterSync...)
	for _, e := range rd.CommittedEntries {
		if e.Index != m.appliedIndex+1 {
			w.fatalf("member %d applies %d after %d", m.id, e.Index, m.appliedIndex)
		}
		m.appliedIndex = e.Index
		if prev, ok := w.applied[e.Index]; ok && (prev.Term != e.Term || string(prev.Data) != string(e.Data)) {
			w.fatalf("state machine safety: member %d applied %s, another member applied %s", m.id, e, prev)
		}
		w.applied[e.Index] = e
	}
	for _, rs := range rd.ReadStates {
		if rs.Index > m.appliedIndex {
			w.fatalf("member %d: read state at %d handed out with applied %d", m.id, rs.Index, m.appliedIndex)
		}
	}
	if faults && w.rng.IntN(150) == 0 {
		m.up = false // crash after the write, before Advance
		return
	}
	m.rn.Advance(rd)
}

func (w *recoveryWorld) deliver(faults bool) {
	for k := 0; k < 8 && len(w.queue) > 0; k++ {
		i := 0
		if faults {
			i = w.rng.IntN(min(len(w.queue), 4)) // reorder within a small window
		}
		msg := w.queue[i]
		w.queue = append(w.queue[:i], w.queue[i+1:]...)
		if faults && (w.rng.IntN(15) == 0 || w.cut[[2]uint64{msg.From, msg.To}]) {
			continue // dropped
		}
		if faults && w.rng.IntN(20) == 0 {
			w.queue = append(w.queue, msg) // duplicated
		}
		if m := w.member(msg.To); m.up {
			if err := m.rn.Step(msg); err != nil {
				w.fatalf("member %d: step %s: %v", m.id, msg, err)
			}
		}
	}
}

func (w *recoveryWorld) faults(steps int) {
	for w.step = 0; w.step < steps; w.step++ {
		m := w.pick()
		switch x := w.rng.IntN(100); {
		case x < 12:
			for _, m := range w.members {
				if m.up {
					m.rn.Tick()
				}
			}
		case x < 27:
			if m.up && m.rn.raft.state == StateLeader {
				w.proposals++
				_ = m.rn.Propose([]byte(fmt.Sprintf("v%d", w.proposals)))
			}
		case x < 32:
			if m.up && w.rng.IntN(10) == 0 {
				m.up = false
			} else if !m.up {
				w.start(m)
			}
		case x < 34:
			if m.up && m.appliedIndex > 0 {
				st := m.rn.Status()
				if _, err := m.storage.CreateSnapshot(st.Applied, st.Config, nil); err == nil {
					_ = m.storage.Compact(st.Applied)
				}
			}
		case x < 35:
			if m.up && m.rn.raft.state == StateLeader {
				if w.confChanges() {
					_ = m.rn.ProposeConfChange(ConfChange{Type: ConfChangeType(1 + w.rng.IntN(3)), NodeID: w.ids[w.rng.IntN(len(w.ids))]})
				} else {
					_ = m.rn.TransferLeader(w.ids[w.rng.IntN(len(w.ids))])
				}
			}
		case x < 37:
			if m.up {
				_ = m.rn.ReadIndex([]byte("r"))
			}
		case x < 38:
			w.partition()
		default:
			if w.rng.IntN(2) == 0 {
				for _, m := range w.members {
					w.handleReady(m, true)
				}
			}
			w.deliver(true)
		}
		w.check()
	}
}

// partition cuts a random set of members off from the rest (or heals, half the time).
func (w *recoveryWorld) partition() {
	w.cut = map[[2]uint64]bool{}
	if w.rng.IntN(2) == 0 {
		return
	}
	for _, a := range w.ids {
		if w.rng.IntN(3) != 0 {
			continue
		}
		for _, b := range w.ids {
			if a != b {
				w.cut[[2]uint64{a, b}] = true
				w.cut[[2]uint64{b, a}] = true
			}
		}
	}
}

func (w *recoveryWorld) check() {
	for _, m := range w.members {
		r := m.rn.raft
		if !m.up || r.state != StateLeader {
			continue
		}
		if l, ok := w.leaders[r.term]; ok && l != m.id {
			w.fatalf("election safety: leaders %d and %d in term %d", l, m.id, r.term)
		}
		w.leaders[r.term] = m.id
		for idx := max(r.log.firstIndex(), 1); idx <= r.log.committed; idx++ {
			if _, ok := w.commitTerm[idx]; !ok {
				tm, _ := r.log.term(idx)
				w.commitTerm[idx] = [2]uint64{r.term, tm}
			}
		}
	}
	for _, m := range w.members {
		r := m.rn.raft
		if !m.up || r.state != StateLeader {
			continue
		}
		for idx, ct := range w.commitTerm {
			if idx < r.log.firstIndex() || r.term <= ct[0] {
				continue
			}
			if tm, err := r.log.term(idx); err != nil || tm != ct[1] {
				w.fatalf("leader completeness: leader %d of term %d lacks %d/%d, committed in term %d", m.id, r.term, ct[1], idx, ct[0])
			}
		}
	}
}

// recover heals everything and requires the group to elect a leader, commit a new entry and
// bring every member of the configuration up to date.
func (w *recoveryWorld) recover() {
	w.cut = map[[2]uint64]bool{}
	for _, m := range w.members {
		if !m.up {
			w.start(m)
		}
	}
	run := func(rounds int, tickEvery int) {
		for round := range rounds {
			w.step++
			if tickEvery > 0 && round%tickEvery == 0 {
				for _, m := range w.members {
					m.rn.Tick()
				}
			}
			for _, m := range w.members {
				w.handleReady(m, false)
			}
			for len(w.queue) > 0 {
				w.deliver(false)
			}
			w.check()
		}
	}
	currentLeader := func() *recoveryMember {
		var leader *recoveryMember
		for _, m := range w.members {
			if m.rn.raft.state == StateLeader && (leader == nil || m.rn.raft.term > leader.rn.raft.term) {
				leader = m
			}
		}
		return leader
	}
	// At least sixty ticks (several election timeouts: enough for lost snapshots to be resent
	// and heartbeats to reach everybody), and then until there is a leader: split votes may
	// repeat for a while when few members have a log good enough to win.
	var leader *recoveryMember
	for i := 0; i < 80 && (i < 6 || leader == nil); i++ {
		run(50, 5)
		leader = currentLeader()
	}
	if leader == nil {
		for _, m := range w.members {
			r := m.rn.raft
			w.t.Logf("member %d: %s term %d vote %d lead %d last %d/%d committed %d applied %d conf %s elapsed %d/%d", m.id, r.state, r.term, r.vote, r.lead, r.log.lastIndex(), r.log.lastTerm(), r.log.committed, r.log.applied, r.trk.conf, r.electionElapsedTicks, r.randomizedElectionTimeoutTicks)
		}
		w.fatalf("recovery: no leader after healing")
	}
	if err := leader.rn.Propose([]byte("final")); err != nil {
		w.fatalf("recovery: leader %d refused a proposal: %v", leader.id, err)
	}
	run(50, 0)
	conf := leader.rn.Status().Config
	last := leader.rn.raft.log.lastIndex()
	if leader.appliedIndex != last {
		w.fatalf("recovery: leader %d applied %d of %d", leader.id, leader.appliedIndex, last)
	}
	for _, m := range w.members {
		if (slices.Contains(conf.Voters, m.id) || slices.Contains(conf.Learners, m.id)) && m.appliedIndex != last {
			w.fatalf("recovery: member %d applied %d of %d (%s)", m.id, m.appliedIndex, last, m.rn.raft.state)
		}
	}
}
