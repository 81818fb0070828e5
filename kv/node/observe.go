package node

import (
	"hash/fnv"

	"github.com/ballastdb/ballast/kv/raftlog"
	"github.com/ballastdb/ballast/raft"
)

// Observer hears, report-only, what the member does at each step: what it applied, its hard
// and soft state, and the rare paths it took. It is told, never asked (like Logger): nothing
// it does decides an outcome, and it must not call the member. The simulator checks safety
// across members from these reports as the run goes (sim/safety.go) and counts the rare
// paths; production passes none (Config.Observer nil), and then nothing is computed.
type Observer interface {
	// Step reports one step of the member: one Ready handled by Work, a Synced, or Open.
	Step(StepReport)
	// Event reports a rare path.
	Event(Event)
}

// StepKind says which call a StepReport comes from.
type StepKind uint8

// The steps a member reports.
const (
	// StepOpen: the member opened; HardState and Applied are what it read from its disk.
	StepOpen StepKind = iota + 1
	// StepReady: Work handled a Ready (written unsynced, applied).
	StepReady
	// StepSynced: Synced made every earlier write durable; HardState and Applied are durable.
	StepSynced
)

// StepReport is one step of a member.
type StepReport struct {
	Member uint64
	Kind   StepKind
	// HardState is the member's current hard state (term, vote, commit); on StepSynced the
	// one now durable.
	HardState raft.HardState
	// Lead is the leader the member knows in HardState.Term (0: none); Leader says it is
	// this member.
	Lead   uint64
	Leader bool
	// Snapshot is the snapshot installed in this step (Index 0: none), before Applied.
	Snapshot raft.SnapshotMetadata
	// Entries are the entries applied in this step, in index order.
	Entries []AppliedEntry
	// Applied is the member's applied index after the step.
	Applied uint64
	// LastIndex and LastTerm are the end of the member's stored log after the step (the
	// snapshot's index and term when the log holds no entry after it): on StepOpen what it
	// read from its disk, on StepSynced what is now durable.
	LastIndex, LastTerm uint64
	// Matches is, on a leader's StepReady and StepSynced, the highest index it believes each
	// member's log holds (raft's progress Match); valid only during the call.
	Matches []raft.PeerMatch
	// Conf is the configuration of the member's table at Applied (what the applied prefix of
	// the log, or the snapshot installed, made it); empty on a joining member that has
	// applied nothing yet. Valid only during the call.
	Conf raft.ConfState
}

// AppliedEntry names one applied entry: its index, term and a hash of its type and data.
type AppliedEntry struct {
	Index, Term, Hash uint64
	// ConfChange: the entry is a membership change.
	ConfChange bool
}

// EventKind names a rare path.
type EventKind uint8

// The rare paths a member reports.
const (
	EventElectionStarted    EventKind = iota + 1 // became a candidate (after a pre-vote, if any)
	EventElectionWon                             // became the leader of Term
	EventPreVoteRejected                         // a pre-vote request of this member was refused
	EventFollowerReadIndex                       // a follower served a linearizable read
	EventSnapshotSent                            // a leader sent a whole snapshot (Index) to Peer
	EventSnapshotInstalled                       // a snapshot (Index, Term) was installed
	EventSuffixTruncated                         // entries from Index on were replaced by a leader's
	EventLeaderTransfer                          // this member was told to take over (MsgTimeoutNow)
	EventProposalsInFlight                       // Count writes were waiting when the leader changed
	EventLeaseExpiry                             // an expiry revoke applied (Index)
	EventWatchCompacted                          // a watch was cancelled: its revision was compacted
	EventVoteGranted                             // a vote for Peer in Term was handed out to be sent
	EventReadsInFlight                           // Count linearizable reads were waiting when the leader changed
	EventSuffixRangeDeleted                      // a truncation removed Count stale entries from Index on with one range deletion
	EventWatchCatchUpCut                         // Count catch-up reads of a watch stream stopped at a bound short of the member's revision
	eventKinds
)

var eventNames = [...]string{"", "election-started", "election-won", "prevote-rejected", "follower-readindex",
	"snapshot-sent", "snapshot-installed", "suffix-truncated", "leader-transfer", "proposals-in-flight",
	"lease-expiry", "watch-compacted", "vote-granted", "reads-in-flight", "suffix-range-deleted", "watch-catch-up-cut"}

// String names the event kind.
func (k EventKind) String() string {
	if k > 0 && k < eventKinds {
		return eventNames[k]
	}
	return "event(?)"
}

// EventKinds lists every event kind, in order.
func EventKinds() []EventKind {
	out := make([]EventKind, 0, eventKinds-1)
	for k := EventElectionStarted; k < eventKinds; k++ {
		out = append(out, k)
	}
	return out
}

// Event is one rare path of a member. Fields an event does not use are zero.
type Event struct {
	Member uint64
	Kind   EventKind
	Term   uint64
	Index  uint64
	Peer   uint64
	Count  int
}

// observer state the member keeps only while an Observer is set.
type observeState struct {
	hs      raft.HardState
	applied []AppliedEntry   // reused between Readies
	matches []raft.PeerMatch // reused between steps
}

func (m *Member) observing() bool { return m.cfg.Observer != nil }

func (m *Member) event(e Event) {
	if m.cfg.Observer == nil {
		return
	}
	e.Member = m.cfg.ID
	if e.Term == 0 {
		e.Term = m.obs.hs.Term
	}
	m.cfg.Observer.Event(e)
}

// entryHash hashes an entry's type and data (FNV-1a, 64 bits).
func entryHash(e *raft.Entry) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte{byte(e.Type)})
	_, _ = h.Write(e.Data)
	return h.Sum64()
}

// observeOpen reports the state the member read from its disk.
func (m *Member) observeOpen() {
	if !m.observing() {
		return
	}
	st := m.rn.Status()
	m.obs.hs = st.HardState
	last, term := m.logEnd()
	m.cfg.Observer.Step(StepReport{Member: m.cfg.ID, Kind: StepOpen, HardState: st.HardState, Applied: m.applied,
		LastIndex: last, LastTerm: term, Conf: m.cluster.conf})
}

// logEnd is the last index of the stored log and its term (0, 0 if unreadable: a member
// that cannot read its own log stops on its next read anyway).
func (m *Member) logEnd() (uint64, uint64) {
	last, err := m.log.LastIndex()
	if err != nil {
		return 0, 0
	}
	term, err := m.log.Term(last)
	if err != nil {
		return 0, 0
	}
	return last, term
}

// observeReady reports a handled Ready: hard and soft state, the snapshot and entries applied,
// and the elections it shows.
func (m *Member) observeReady(rd *raft.Ready) {
	if !m.observing() {
		return
	}
	if !rd.HardState.IsEmpty() {
		m.obs.hs = rd.HardState
	}
	if rd.SoftState == nil && rd.HardState.IsEmpty() && len(rd.CommittedEntries) == 0 && rd.Snapshot.IsEmpty() &&
		len(rd.Entries) == 0 {
		return
	}
	if rd.SoftState != nil {
		switch rd.SoftState.RaftState {
		case raft.StateCandidate:
			m.event(Event{Kind: EventElectionStarted})
		case raft.StateLeader:
			m.event(Event{Kind: EventElectionWon})
		}
	}
	if !rd.Snapshot.IsEmpty() {
		m.event(Event{Kind: EventSnapshotInstalled, Index: rd.Snapshot.Metadata.Index, Term: rd.Snapshot.Metadata.Term})
	}
	m.obs.applied = m.obs.applied[:0]
	for i := range rd.CommittedEntries {
		e := &rd.CommittedEntries[i]
		m.obs.applied = append(m.obs.applied, AppliedEntry{Index: e.Index, Term: e.Term, Hash: entryHash(e),
			ConfChange: e.Type == raft.EntryConfChange})
	}
	last, term := m.logEnd()
	m.cfg.Observer.Step(StepReport{Member: m.cfg.ID, Kind: StepReady, HardState: m.obs.hs,
		Lead: m.leader, Leader: m.leader == m.cfg.ID && m.leader != 0,
		Snapshot: rd.Snapshot.Metadata, Entries: m.obs.applied, Applied: m.applied, LastIndex: last, LastTerm: term,
		Matches: m.observeMatches(), Conf: m.cluster.conf})
}

// observeSynced reports what is durable after a sync.
func (m *Member) observeSynced() {
	if !m.observing() {
		return
	}
	last, term := m.logEnd()
	m.cfg.Observer.Step(StepReport{Member: m.cfg.ID, Kind: StepSynced, HardState: m.log.HardState(),
		Lead: m.leader, Leader: m.leader == m.cfg.ID && m.leader != 0, Applied: m.applied, LastIndex: last, LastTerm: term,
		Matches: m.observeMatches(), Conf: m.cluster.conf})
}

// observeMatches is what the member, if it leads, believes each member's log holds.
func (m *Member) observeMatches() []raft.PeerMatch {
	m.obs.matches = m.rn.Matches(m.obs.matches[:0])
	return m.obs.matches
}

// observeReleased reports the votes among msgs, raft messages the member hands the driver
// to send now: a vote is granted when its answer leaves, and from then on the member must
// never forget it (the safety checker holds it to that across restarts).
func (m *Member) observeReleased(msgs []raft.Message) {
	if !m.observing() {
		return
	}
	for i := range msgs {
		if msgs[i].Type == raft.MsgVoteResp && !msgs[i].Reject {
			m.event(Event{Kind: EventVoteGranted, Term: msgs[i].Term, Peer: msgs[i].To})
		}
	}
}

// observeTruncation reports entries that replace a suffix of the stored log.
func (m *Member) observeTruncation(rd *raft.Ready) {
	if !m.observing() || len(rd.Entries) == 0 || !rd.Snapshot.IsEmpty() {
		return
	}
	if last, err := m.log.LastIndex(); err == nil && rd.Entries[0].Index <= last {
		m.event(Event{Kind: EventSuffixTruncated, Index: rd.Entries[0].Index, Count: int(last - rd.Entries[0].Index + 1)})
		// the stale entries beyond the new ones: more than raftlog.PointDeletesMax go in one
		// range deletion (raftlog's Append), a path of its own
		if end := rd.Entries[len(rd.Entries)-1].Index; last > end && last-end > raftlog.PointDeletesMax {
			m.event(Event{Kind: EventSuffixRangeDeleted, Index: end + 1, Count: int(last - end)})
		}
	}
}

// observeLeaderChange reports the writes waiting when the known leader changes.
func (m *Member) observeLeaderChange(lead uint64) {
	if !m.observing() || lead == m.leader {
		return
	}
	writes, reads := 0, 0
	for _, p := range m.requests.order {
		switch {
		case p.finished:
		case p.read == nil:
			writes++
		default:
			reads++
		}
	}
	if writes > 0 {
		m.event(Event{Kind: EventProposalsInFlight, Peer: lead, Count: writes})
	}
	if reads > 0 {
		m.event(Event{Kind: EventReadsInFlight, Peer: lead, Count: reads})
	}
}

// observeMessage reports the rare paths a received raft message shows.
func (m *Member) observeMessage(msg *raft.Message) {
	if !m.observing() {
		return
	}
	switch {
	case msg.Type == raft.MsgPreVoteResp && msg.Reject:
		m.event(Event{Kind: EventPreVoteRejected, Peer: msg.From, Term: msg.Term})
	case msg.Type == raft.MsgTimeoutNow:
		m.event(Event{Kind: EventLeaderTransfer, Peer: msg.From, Term: msg.Term})
	}
}
