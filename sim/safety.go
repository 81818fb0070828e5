package sim

import (
	"fmt"
	"slices"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/raft"
	"github.com/ballastdb/ballast/scenarios"
)

// The online safety checker. Every member reports each step (node.Observer): the entries it
// applied (index, term, hash of the data), its hard state and the leader it knows, and what
// became durable at each sync. The checker judges across members as the run goes, so a bug
// that breaks log agreement is caught at the step it shows, not only if it later changes
// HashKV or the client history:
//
//   - one entry per committed index: every member that applies (or installs a snapshot
//     ending at) index i has the same term there, and the same data hash;
//   - a member's commit index never goes back while it runs, and across a restart it is at
//     least what its last sync made durable; so are its term (and its vote in that term) and
//     its applied index;
//   - a vote, once its answer left the member, is never forgotten: at most one candidate per
//     term gets a member's vote, and the member restarts in that term with that vote or in a
//     later term (the vote must be durable before it is sent, and stay so);
//   - a restarted member's log ends where its last sync left it, or where a write after that
//     sync left it (Pebble may have made an unsynced write durable on its own): a truncated
//     suffix that reappears, or entries lost that were synced, show as another end;
//   - at most one leader per term (a member leading in term t, or a member naming the
//     leader of its term t);
//   - a leader never counts an index as held by a follower in its term whose log ends
//     before it (raft's progress Match against the follower's reported log end);
//   - no applied index is skipped: each applied entry follows the last one (or the
//     snapshot installed just before it), and none is beyond the member's commit index;
//   - one configuration per applied index: the configuration a member's table holds at its
//     applied index i (what the log up to i, or a snapshot ending at i, made it) is the one
//     every other member reported at i, so a member that installs a snapshot, or applies a
//     membership change, and ends with another configuration is caught at that step;
//   - a leader commits by counting replicas only an entry of its own term (Raft §5.4.2,
//     Figure 8): when a member that led term t at its last report still leads t and its
//     commit index rose to c, the entry at c is of term t (a leader's commit index moves only
//     by counting; earlier entries commit with it). This catches an unsafe commit at the step
//     it happens, before (and whether or not) a later leader overwrites the entry.
//
// The first violation stops the run at that step (onViolation) with a failure that names
// the members, the index or term, and both sides. The checker also counts the rare paths
// the members report (events), for the coverage of a run.

// safetyPrefix starts every violation's failure sentence; FailureClass keys on it.
const safetyPrefix = "safety violation"

// committedEntry is what the first member to apply (or snapshot past) an index had there.
type committedEntry struct {
	term, hash uint64
	member     uint64
	hashKnown  bool // false when only a snapshot's (index, term) named it
	conf       bool // a membership change, counted (purpose.go)
	// config is the configuration at this index, as the first member applied up to it
	// (configMember) reported it; configKnown once one did.
	config       raft.ConfState
	configKnown  bool
	configMember uint64
}

// memberSafety is what the checker knows of one member.
type memberSafety struct {
	running bool
	term    uint64         // while running
	commit  uint64         // while running: the highest commit index reported
	applied uint64         // while running
	leading uint64         // while running: the term it led at its last report (0: not leading)
	conf    raft.ConfState // while running: its configuration at its last report (a copy)
	// what the member's last sync made durable (survives restarts)
	durable        raft.HardState
	durableApplied uint64
	// ends are the log ends (last index, term) the member may restart with: the one its last
	// sync made durable, then each one a later write reached (survives restarts)
	ends [][2]uint64
	// the latest vote the member handed out, by term (survives restarts)
	grantTerm, grantPeer uint64
}

type safetyChecker struct {
	name        func(id uint64) string
	entries     []committedEntry // by index; index 0 unused
	leaders     map[uint64]uint64
	members     map[uint64]*memberSafety
	violation   string
	onViolation func(string)
	// events counts the rare paths reported, by kind, and per member kind pairs for
	// coverage (snapshot installs by member).
	events    [32]int
	installed map[uint64]int
	// leaderCommits are leaders' commit indexes whose entry's term is not known yet: the
	// term each must have, and who committed it, by index.
	leaderCommits map[uint64]leaderCommit
	// purpose counts (purpose.go), from the workload's start on (started)
	started                                      bool
	skewed                                       func() bool
	atDriftBound                                 func(member uint64) bool
	boundExpiries                                int
	wins, stepDowns, confChanges, skewedExpiries int
	readsAtLeaderChange, longTruncations         int
	snapshotConfChanges                          int // snapshots installed over another configuration
	// onEvent, when set, hears every event after the checker (the cluster's step faults)
	onEvent func(node.Event)
}

type leaderCommit struct{ term, member uint64 }

func newSafetyChecker(name func(uint64) string) *safetyChecker {
	return &safetyChecker{name: name, leaders: map[uint64]uint64{}, members: map[uint64]*memberSafety{},
		installed: map[uint64]int{}, leaderCommits: map[uint64]leaderCommit{}}
}

// observer is the node.Observer of one member: reports go to the checker.
func (s *safetyChecker) observer() node.Observer { return safetyObserver{s} }

type safetyObserver struct{ s *safetyChecker }

func (o safetyObserver) Step(r node.StepReport) { o.s.step(r) }
func (o safetyObserver) Event(e node.Event)     { o.s.event(e) }

func (s *safetyChecker) event(e node.Event) {
	if int(e.Kind) < len(s.events) {
		s.events[e.Kind]++
	}
	if e.Kind == node.EventSnapshotInstalled {
		s.installed[e.Member]++
	}
	if e.Kind == node.EventElectionWon && s.started {
		s.wins++
	}
	if e.Kind == node.EventLeaseExpiry && s.skewed != nil && s.skewed() {
		s.skewedExpiries++
	}
	if e.Kind == node.EventLeaseExpiry && s.atDriftBound != nil && s.member(e.Member).leading != 0 && s.atDriftBound(e.Member) {
		s.boundExpiries++
	}
	if e.Kind == node.EventReadsInFlight && s.started {
		s.readsAtLeaderChange++
	}
	if e.Kind == node.EventSuffixTruncated && e.Count >= scenarios.LongSuffixEntries {
		s.longTruncations++
	}
	if e.Kind == node.EventVoteGranted {
		s.voteGranted(e)
	}
	if s.onEvent != nil {
		s.onEvent(e)
	}
}

// voteGranted checks that a member hands out at most one vote per term, and never one in a
// term below a vote it handed out before.
func (s *safetyChecker) voteGranted(e node.Event) {
	ms := s.member(e.Member)
	switch {
	case e.Term == ms.grantTerm && e.Peer != ms.grantPeer:
		s.violate("two votes in a term", "%s voted for %s and for %s in term %d", s.name(e.Member), s.name(ms.grantPeer), s.name(e.Peer), e.Term)
	case e.Term < ms.grantTerm:
		s.violate("term went back", "%s voted for %s in term %d after voting for %s in term %d", s.name(e.Member), s.name(e.Peer), e.Term, s.name(ms.grantPeer), ms.grantTerm)
	default:
		ms.grantTerm, ms.grantPeer = e.Term, e.Peer
	}
}

func (s *safetyChecker) violate(kind, format string, args ...any) {
	if s.violation != "" {
		return
	}
	s.violation = fmt.Sprintf("%s (%s): %s", safetyPrefix, kind, fmt.Sprintf(format, args...))
	if s.onViolation != nil {
		s.onViolation(s.violation)
	}
}

func (s *safetyChecker) member(id uint64) *memberSafety {
	ms := s.members[id]
	if ms == nil {
		ms = &memberSafety{}
		s.members[id] = ms
	}
	return ms
}

func (s *safetyChecker) step(r node.StepReport) {
	if s.violation != "" {
		return // the run stops at the first violation
	}
	ms := s.member(r.Member)
	who := s.name(r.Member)
	hs := r.HardState
	switch r.Kind {
	case node.StepOpen:
		d := ms.durable
		switch {
		case hs.Term < d.Term:
			s.violate("term went back", "%s restarted in term %d after term %d was synced", who, hs.Term, d.Term)
		case hs.Term == d.Term && d.Vote != 0 && hs.Vote != d.Vote:
			s.violate("vote forgotten", "%s restarted in term %d with vote %d after its vote for %d was synced", who, hs.Term, hs.Vote, d.Vote)
		case hs.Commit < d.Commit:
			s.violate("commit went back", "%s restarted with commit index %d after %d was synced", who, hs.Commit, d.Commit)
		case r.Applied < ms.durableApplied:
			s.violate("applied went back", "%s restarted with applied index %d after %d was synced", who, r.Applied, ms.durableApplied)
		case hs.Term < ms.grantTerm || hs.Term == ms.grantTerm && hs.Vote != ms.grantPeer:
			s.violate("vote forgotten", "%s voted for %s in term %d, then restarted in term %d with vote %d", who, s.name(ms.grantPeer), ms.grantTerm, hs.Term, hs.Vote)
		case len(ms.ends) > 0 && !slices.Contains(ms.ends, [2]uint64{r.LastIndex, r.LastTerm}):
			s.violate("log changed across restart", "%s restarted with its log ending at index %d term %d; its last sync left it at index %d term %d%s",
				who, r.LastIndex, r.LastTerm, ms.ends[0][0], ms.ends[0][1], laterEnds(ms.ends[1:]))
		}
		*ms = memberSafety{running: true, term: hs.Term, commit: hs.Commit, applied: r.Applied,
			durable: ms.durable, durableApplied: ms.durableApplied, grantTerm: ms.grantTerm, grantPeer: ms.grantPeer,
			ends: append(ms.ends[:0], [2]uint64{r.LastIndex, r.LastTerm}), conf: ms.conf}
		s.configAgrees(r, ms)
		return
	case node.StepSynced:
		ms.durable, ms.durableApplied = hs, r.Applied
		ms.ends = append(ms.ends[:0], [2]uint64{r.LastIndex, r.LastTerm})
	case node.StepReady:
		if end := [2]uint64{r.LastIndex, r.LastTerm}; len(ms.ends) > 0 && ms.ends[len(ms.ends)-1] != end {
			ms.ends = append(ms.ends, end)
		}
	}
	if hs.Term < ms.term {
		s.violate("term went back", "%s reported term %d after term %d", who, hs.Term, ms.term)
		return
	}
	if hs.Commit < ms.commit {
		s.violate("commit went back", "%s reported commit index %d after %d", who, hs.Commit, ms.commit)
		return
	}
	if r.Leader && ms.leading == hs.Term && hs.Commit > ms.commit {
		if !s.leaderCommitted(r.Member, hs.Commit, hs.Term) {
			return
		}
	}
	ms.term, ms.commit = hs.Term, hs.Commit
	if ms.leading != 0 && !r.Leader && s.started {
		s.stepDowns++
	}
	ms.leading = 0
	if r.Leader {
		ms.leading = hs.Term
	}
	if r.Lead != 0 {
		if prev, ok := s.leaders[hs.Term]; ok && prev != r.Lead {
			s.violate("two leaders", "term %d has leaders %s and %s (reported by %s)", hs.Term, s.name(prev), s.name(r.Lead), who)
			return
		}
		s.leaders[hs.Term] = r.Lead
	}
	if r.Leader && !s.matchesHeld(r) {
		return
	}
	if r.Snapshot.Index != 0 {
		if r.Snapshot.Index <= ms.applied {
			s.violate("applied went back", "%s installed a snapshot at index %d with %d applied", who, r.Snapshot.Index, ms.applied)
			return
		}
		if !s.agree(r.Member, r.Snapshot.Index, r.Snapshot.Term, 0, false) {
			return
		}
		if s.started && len(ms.conf.Voters) > 0 && !ms.conf.Equal(r.Snapshot.ConfState) {
			s.snapshotConfChanges++ // purpose.go: the member held another configuration
		}
		ms.applied = r.Snapshot.Index
	}
	for _, e := range r.Entries {
		if e.Index != ms.applied+1 {
			s.violate("applied index skipped", "%s applied index %d after %d", who, e.Index, ms.applied)
			return
		}
		if e.Index > hs.Commit {
			s.violate("applied beyond commit", "%s applied index %d with commit index %d", who, e.Index, hs.Commit)
			return
		}
		if !s.agree(r.Member, e.Index, e.Term, e.Hash, true) {
			return
		}
		if e.ConfChange && !s.entries[e.Index].conf {
			s.entries[e.Index].conf = true // counted once, by the first member to apply it
			s.confChanges++
		}
		ms.applied = e.Index
	}
	if r.Applied != ms.applied {
		s.violate("applied index skipped", "%s reports applied index %d after applying up to %d", who, r.Applied, ms.applied)
		return
	}
	s.configAgrees(r, ms)
}

// configAgrees checks that the configuration r reports at its applied index is the one
// every member reported there, records it if r is the first, and keeps a copy in ms (only
// when it changed: a report's Conf is valid during the call only).
func (s *safetyChecker) configAgrees(r node.StepReport, ms *memberSafety) {
	if !ms.conf.Equal(r.Conf) {
		ms.conf = raft.ConfState{Voters: slices.Clone(r.Conf.Voters), Learners: slices.Clone(r.Conf.Learners)}
	}
	if r.Applied == 0 {
		return // a joining member that has applied nothing holds no configuration yet
	}
	for uint64(len(s.entries)) <= r.Applied {
		s.entries = append(s.entries, committedEntry{})
	}
	c := &s.entries[r.Applied]
	if !c.configKnown {
		c.config, c.configKnown, c.configMember = ms.conf, true, r.Member
		return
	}
	if !c.config.Equal(r.Conf) {
		s.violate("configurations differ", "at applied index %d %s holds %v, %s held %v",
			r.Applied, s.name(r.Member), r.Conf, s.name(c.configMember), c.config)
	}
}

// matchesHeld checks a leader's beliefs about its followers' logs: a running member in the
// leader's term holds at least every index the leader counts as matched there. A follower
// acknowledges an index only once it is durable, and within one term its log never shrinks
// below what the term's leader sent it, so a Match beyond the follower's log end is an
// acknowledgement of an entry it does not have (the leader would count it toward commits
// and never send it). A member in another term is skipped: a deposed leader's beliefs are
// stale, harmlessly.
func (s *safetyChecker) matchesHeld(r node.StepReport) bool {
	for _, pm := range r.Matches {
		f := s.members[pm.ID]
		if pm.ID == r.Member || f == nil || !f.running || f.term != r.HardState.Term || len(f.ends) == 0 {
			continue
		}
		if end := f.ends[len(f.ends)-1][0]; pm.Match > end {
			s.violate("match beyond log", "%s leads term %d counting index %d as held by %s, whose log ends at index %d",
				s.name(r.Member), r.HardState.Term, pm.Match, s.name(pm.ID), end)
			return false
		}
	}
	return true
}

// agree records that member has the entry (term, hash) at a committed index, or reports a
// violation (and returns false) if another member had another entry there.
func (s *safetyChecker) agree(member, index, term, hash uint64, hashKnown bool) bool {
	for uint64(len(s.entries)) <= index {
		s.entries = append(s.entries, committedEntry{})
	}
	c := &s.entries[index]
	if c.term == 0 {
		*c = committedEntry{term: term, hash: hash, member: member, hashKnown: hashKnown, conf: c.conf}
		if lc, ok := s.leaderCommits[index]; ok {
			delete(s.leaderCommits, index)
			return s.leaderCommitted(lc.member, index, lc.term)
		}
		return true
	}
	if c.term != term || (c.hashKnown && hashKnown && c.hash != hash) {
		s.violate("conflicting committed entries", "index %d: %s has term %d %s, %s has term %d %s",
			index, s.name(c.member), c.term, hashText(c.hash, c.hashKnown), s.name(member), term, hashText(hash, hashKnown))
		return false
	}
	if !c.hashKnown && hashKnown {
		c.hash, c.hashKnown, c.member = hash, true, member
	}
	return true
}

// leaderCommitted checks (now, or once the entry's term is known) that the leader of term
// committed index by counting an entry of its own term.
func (s *safetyChecker) leaderCommitted(member, index, term uint64) bool {
	if uint64(len(s.entries)) <= index || s.entries[index].term == 0 {
		s.leaderCommits[index] = leaderCommit{term: term, member: member}
		return true
	}
	if t := s.entries[index].term; t != term {
		s.violate("old-term commit", "%s, leader of term %d, committed index %d of term %d by counting replicas", s.name(member), term, index, t)
		return false
	}
	return true
}

// laterEnds names the log ends written after the last sync, for a violation.
func laterEnds(ends [][2]uint64) string {
	if len(ends) == 0 {
		return ""
	}
	out := ", and later writes at"
	for _, e := range ends {
		out += fmt.Sprintf(" %d/%d", e[0], e[1])
	}
	return out
}

func hashText(h uint64, known bool) string {
	if !known {
		return "(by snapshot)"
	}
	return fmt.Sprintf("hash %016x", h)
}
