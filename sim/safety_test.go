package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/raft"
	"github.com/ballastdb/ballast/scenarios"
)

// Synthetic report builders for the checker's table test.
func open(id, term, vote, commit, applied uint64) node.StepReport {
	return node.StepReport{Member: id, Kind: node.StepOpen, HardState: raft.HardState{Term: term, Vote: vote, Commit: commit}, Applied: applied}
}

func ready(id, term, lead, commit uint64, entries ...node.AppliedEntry) node.StepReport {
	r := node.StepReport{Member: id, Kind: node.StepReady, HardState: raft.HardState{Term: term, Vote: lead, Commit: commit},
		Lead: lead, Leader: lead == id, Entries: entries}
	if n := len(entries); n > 0 {
		r.Applied = entries[n-1].Index
	}
	return r
}

// readyAt is ready with an explicit applied index (steps that apply nothing).
func readyAt(id, term, lead, commit, applied uint64) node.StepReport {
	r := ready(id, term, lead, commit)
	r.Applied = applied
	return r
}

func synced(id, term, vote, commit, applied uint64) node.StepReport {
	return node.StepReport{Member: id, Kind: node.StepSynced, HardState: raft.HardState{Term: term, Vote: vote, Commit: commit},
		Applied: applied}
}

func snap(id, term, lead, commit, index, snapTerm uint64) node.StepReport {
	r := ready(id, term, lead, commit)
	r.Snapshot = raft.SnapshotMetadata{Index: index, Term: snapTerm}
	r.Applied = index
	return r
}

// withConf sets the configuration a report holds at its applied index.
func withConf(r node.StepReport, voters ...uint64) node.StepReport {
	r.Conf = raft.ConfState{Voters: voters}
	return r
}

// snapConf is snap with the snapshot's configuration and the one the member reports after it.
func snapConf(r node.StepReport, snapVoters, heldVoters []uint64) node.StepReport {
	r.Snapshot.ConfState = raft.ConfState{Voters: snapVoters}
	r.Conf = raft.ConfState{Voters: heldVoters}
	return r
}

func ent(index, term, hash uint64) node.AppliedEntry {
	return node.AppliedEntry{Index: index, Term: term, Hash: hash}
}

// TestSafetyChecker feeds the checker synthetic report sequences: valid ones (restarts that
// lose unsynced state, snapshots that skip indexes, a member catching up late) must pass, and
// each kind of violation must be named with the members and both sides.
func TestSafetyChecker(t *testing.T) {
	// three members, m0..m2 (IDs 1..3), all open on empty disks
	start := []node.StepReport{open(1, 0, 0, 0, 0), open(2, 0, 0, 0, 0), open(3, 0, 0, 0, 0)}
	cases := []struct {
		name    string
		reports []node.StepReport
		want    string // "" = valid; else the expected violation sentence
	}{
		{name: "valid replication", reports: []node.StepReport{
			ready(1, 2, 1, 2, ent(1, 2, 10), ent(2, 2, 11)),
			ready(2, 2, 1, 1, ent(1, 2, 10)),
			ready(2, 2, 1, 2, ent(2, 2, 11)),
			ready(3, 2, 1, 2, ent(1, 2, 10), ent(2, 2, 11)),
		}},
		{name: "valid restart losing unsynced commit and applied", reports: []node.StepReport{
			ready(1, 2, 1, 1, ent(1, 2, 10)),
			synced(1, 2, 1, 1, 1),
			ready(1, 2, 1, 3, ent(2, 2, 11), ent(3, 2, 12)), // not synced: lost by a crash
			open(1, 2, 1, 1, 1),
			ready(1, 2, 1, 3, ent(2, 2, 11), ent(3, 2, 12)), // applied again, the same entries
		}},
		{name: "valid snapshot skipping indexes", reports: []node.StepReport{
			ready(1, 2, 1, 5, ent(1, 2, 10), ent(2, 2, 11), ent(3, 2, 12), ent(4, 2, 13), ent(5, 2, 14)),
			snap(3, 2, 1, 4, 4, 2),
			ready(3, 2, 1, 5, ent(5, 2, 14)),
			// a snapshot first, before anyone applied its index
			snap(2, 2, 1, 7, 7, 2),
			ready(1, 2, 1, 7, ent(6, 2, 15), ent(7, 2, 16)),
		}},
		{name: "valid new term after a vote", reports: []node.StepReport{
			synced(2, 3, 2, 0, 0),
			open(2, 3, 2, 0, 0),
			synced(2, 4, 3, 0, 0),
			open(2, 4, 3, 0, 0),
			readyAt(2, 4, 3, 0, 0),
		}},
		{name: "conflicting committed entries (term)", reports: []node.StepReport{
			ready(1, 2, 1, 1, ent(1, 2, 10)),
			ready(3, 3, 3, 1, ent(1, 3, 20)),
		}, want: "safety violation (conflicting committed entries): index 1: m0 has term 2 hash 000000000000000a, m2 has term 3 hash 0000000000000014"},
		{name: "conflicting committed entries (data)", reports: []node.StepReport{
			ready(1, 2, 1, 1, ent(1, 2, 10)),
			ready(2, 2, 1, 1, ent(1, 2, 11)),
		}, want: "safety violation (conflicting committed entries): index 1: m0 has term 2 hash 000000000000000a, m1 has term 2 hash 000000000000000b"},
		{name: "snapshot conflicting with an applied entry", reports: []node.StepReport{
			ready(1, 2, 1, 3, ent(1, 2, 10), ent(2, 2, 11), ent(3, 2, 12)),
			snap(3, 4, 3, 3, 3, 4),
		}, want: "safety violation (conflicting committed entries): index 3: m0 has term 2 hash 000000000000000c, m2 has term 4 (by snapshot)"},
		{name: "commit goes back while running", reports: []node.StepReport{
			ready(1, 2, 1, 2, ent(1, 2, 10), ent(2, 2, 11)),
			readyAt(1, 2, 1, 1, 2),
		}, want: "safety violation (commit went back): m0 reported commit index 1 after 2"},
		{name: "commit goes back across a restart", reports: []node.StepReport{
			ready(1, 2, 1, 2, ent(1, 2, 10), ent(2, 2, 11)),
			synced(1, 2, 1, 2, 2),
			open(1, 2, 1, 1, 2),
		}, want: "safety violation (commit went back): m0 restarted with commit index 1 after 2 was synced"},
		{name: "vote forgotten across a restart", reports: []node.StepReport{
			synced(2, 5, 1, 0, 0),
			open(2, 5, 3, 0, 0),
		}, want: "safety violation (vote forgotten): m1 restarted in term 5 with vote 3 after its vote for 1 was synced"},
		{name: "term goes back across a restart", reports: []node.StepReport{
			synced(2, 5, 1, 0, 0),
			open(2, 4, 0, 0, 0),
		}, want: "safety violation (term went back): m1 restarted in term 4 after term 5 was synced"},
		{name: "applied goes back across a restart", reports: []node.StepReport{
			ready(1, 2, 1, 2, ent(1, 2, 10), ent(2, 2, 11)),
			synced(1, 2, 1, 2, 2),
			open(1, 2, 1, 2, 1),
		}, want: "safety violation (applied went back): m0 restarted with applied index 1 after 2 was synced"},
		{name: "two leaders in a term", reports: []node.StepReport{
			readyAt(1, 3, 1, 0, 0),
			readyAt(2, 3, 2, 0, 0),
		}, want: "safety violation (two leaders): term 3 has leaders m0 and m1 (reported by m1)"},
		{name: "a follower names another leader", reports: []node.StepReport{
			readyAt(1, 3, 1, 0, 0),
			readyAt(3, 3, 2, 0, 0),
		}, want: "safety violation (two leaders): term 3 has leaders m0 and m1 (reported by m2)"},
		{name: "valid leader commits of its own term", reports: []node.StepReport{
			ready(1, 2, 1, 1, ent(1, 2, 10)),
			ready(2, 2, 1, 1, ent(1, 2, 10)),
			readyAt(2, 3, 2, 1, 1),                          // m1 leads term 3
			ready(2, 3, 2, 3, ent(2, 2, 11), ent(3, 3, 12)), // the term-2 entry commits with its own
			readyAt(2, 3, 2, 4, 3),                          // commit known before the entry applies
			ready(2, 3, 2, 4, ent(4, 3, 13)),
		}},
		{name: "leader commits an entry of an earlier term", reports: []node.StepReport{
			ready(1, 2, 1, 1, ent(1, 2, 10)),
			ready(2, 3, 2, 1, ent(1, 2, 10)),
			ready(2, 3, 2, 2, ent(2, 2, 11)),
		}, want: "safety violation (old-term commit): m1, leader of term 3, committed index 2 of term 2 by counting replicas"},
		{name: "leader commits an earlier term's entry another member applied first", reports: []node.StepReport{
			ready(2, 3, 2, 0),
			ready(2, 3, 2, 1), // index 1's term not known yet
			ready(1, 3, 2, 1, ent(1, 2, 10)),
		}, want: "safety violation (old-term commit): m1, leader of term 3, committed index 1 of term 2 by counting replicas"},
		{name: "applied index skipped", reports: []node.StepReport{
			ready(1, 2, 1, 3, ent(1, 2, 10), ent(3, 2, 12)),
		}, want: "safety violation (applied index skipped): m0 applied index 3 after 1"},
		{name: "applied beyond commit", reports: []node.StepReport{
			ready(1, 2, 1, 1, ent(1, 2, 10), ent(2, 2, 11)),
		}, want: "safety violation (applied beyond commit): m0 applied index 2 with commit index 1"},
		{name: "snapshot behind the applied index", reports: []node.StepReport{
			ready(1, 2, 1, 3, ent(1, 2, 10), ent(2, 2, 11), ent(3, 2, 12)),
			snap(1, 2, 1, 3, 2, 2),
		}, want: "safety violation (applied went back): m0 installed a snapshot at index 2 with 3 applied"},
		// a leader may count as held by a follower of its term only what the follower's log
		// holds (its last reported end); a follower in another term is skipped
		{name: "valid: matches within the followers' logs", reports: []node.StepReport{
			withEnd(synced(2, 2, 1, 0, 0), 5, 2), withEnd(synced(3, 2, 1, 0, 0), 3, 2),
			withMatches(withEnd(readyAt(1, 2, 1, 0, 0), 5, 2), raft.PeerMatch{ID: 1, Match: 5}, raft.PeerMatch{ID: 2, Match: 5}, raft.PeerMatch{ID: 3, Match: 3}),
		}},
		{name: "valid: a follower in a later term is not held to a deposed leader's belief", reports: []node.StepReport{
			withEnd(synced(2, 2, 1, 0, 0), 5, 2), withEnd(synced(2, 3, 3, 0, 0), 2, 2),
			withMatches(withEnd(readyAt(1, 2, 1, 0, 0), 5, 2), raft.PeerMatch{ID: 2, Match: 5}),
		}},
		{name: "a match beyond the follower's log end", reports: []node.StepReport{
			withEnd(synced(2, 2, 1, 0, 0), 4, 2),
			withMatches(withEnd(readyAt(1, 2, 1, 0, 0), 5, 2), raft.PeerMatch{ID: 2, Match: 5}),
		}, want: "safety violation (match beyond log): m0 leads term 2 counting index 5 as held by m1, whose log ends at index 4"},
		{name: "a match beyond a snapshot a follower installed", reports: []node.StepReport{
			withEnd(snap(2, 2, 1, 0, 7, 2), 7, 2),
			withMatches(withEnd(readyAt(1, 2, 1, 0, 0), 9, 2), raft.PeerMatch{ID: 2, Match: 8}),
		}, want: "safety violation (match beyond log): m0 leads term 2 counting index 8 as held by m1, whose log ends at index 7"},
		// the configuration at an applied index is what the log up to it made it, on every
		// member (m3, ID 4, added and m1, ID 2, removed at indexes 2 and 3)
		{name: "valid: a snapshot's configuration taken with it", reports: []node.StepReport{
			withConf(ready(1, 2, 1, 1, ent(1, 2, 10)), 1, 2, 3),
			withConf(ready(3, 2, 1, 1, ent(1, 2, 10)), 1, 2, 3),
			withConf(ready(1, 2, 1, 3, ent(2, 2, 11), ent(3, 2, 12)), 1, 3, 4),
			snapConf(snap(3, 2, 1, 3, 3, 2), []uint64{1, 3, 4}, []uint64{1, 3, 4}),
		}},
		{name: "a snapshot installed keeping the old configuration", reports: []node.StepReport{
			withConf(ready(1, 2, 1, 1, ent(1, 2, 10)), 1, 2, 3),
			withConf(ready(3, 2, 1, 1, ent(1, 2, 10)), 1, 2, 3),
			withConf(ready(1, 2, 1, 3, ent(2, 2, 11), ent(3, 2, 12)), 1, 3, 4),
			snapConf(snap(3, 2, 1, 3, 3, 2), []uint64{1, 3, 4}, []uint64{1, 2, 3}),
		}, want: "safety violation (configurations differ): at applied index 3 m2 holds voters=[1 2 3] learners=[], m0 held voters=[1 3 4] learners=[]"},
		{name: "a membership change applied to another configuration", reports: []node.StepReport{
			withConf(ready(1, 2, 1, 2, ent(1, 2, 10), ent(2, 2, 11)), 1, 2, 3, 4),
			withConf(ready(2, 2, 1, 1, ent(1, 2, 10)), 1, 2, 3),
			withConf(ready(2, 2, 1, 2, ent(2, 2, 11)), 1, 2, 4),
		}, want: "safety violation (configurations differ): at applied index 2 m1 holds voters=[1 2 4] learners=[], m0 held voters=[1 2 3 4] learners=[]"},
		{name: "a configuration that changes across a restart", reports: []node.StepReport{
			withConf(ready(1, 2, 1, 1, ent(1, 2, 10)), 1, 2, 3),
			withConf(synced(1, 2, 1, 1, 1), 1, 2, 3),
			withConf(open(1, 2, 1, 1, 1), 1, 2),
		}, want: "safety violation (configurations differ): at applied index 1 m0 holds voters=[1 2] learners=[], m0 held voters=[1 2 3] learners=[]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSafetyChecker(func(id uint64) string { return fmt.Sprintf("m%d", id-1) })
			var stopped []string
			s.onViolation = func(msg string) { stopped = append(stopped, msg) }
			for _, r := range append(append([]node.StepReport(nil), start...), tc.reports...) {
				s.observer().Step(r)
			}
			require.Equal(t, tc.want, s.violation)
			if tc.want == "" {
				require.Empty(t, stopped)
			} else {
				require.Equal(t, []string{tc.want}, stopped, "the run is stopped once, at the violation")
			}
		})
	}
}

// TestSafetyViolationStopsTheRun checks the wiring: a violation reported during a run becomes
// its failure, in the safety class, and the run stops at that step.
func TestSafetyViolationStopsTheRun(t *testing.T) {
	sc := smallScenario()
	injected, seen := false, 0
	res := Run(sc, 1, Options{wrapConfig: func(cfg *node.Config) {
		cfg.Observer = lyingObserver{inner: cfg.Observer, lie: &injected, seen: &seen}
	}})
	require.True(t, injected)
	require.False(t, res.Passed)
	require.Contains(t, res.Failure, "safety violation (conflicting committed entries): index 20: ")
	require.Equal(t, "safety violation (conflicting committed entries)", FailureClass(res))
	require.Less(t, res.SimDuration, sc.Duration, "the run stops at the violation")
}

// lyingObserver changes the hash of the first report of index 20 from the second member to
// apply it, as if that member's log held another entry there.
type lyingObserver struct {
	inner node.Observer
	lie   *bool
	seen  *int // reports of index 20 so far
}

func (o lyingObserver) Step(r node.StepReport) {
	for i, e := range r.Entries {
		if e.Index == 20 {
			*o.seen++
			if *o.seen == 2 && !*o.lie {
				*o.lie = true
				r.Entries = append([]node.AppliedEntry(nil), r.Entries...)
				r.Entries[i].Hash ^= 1
			}
		}
	}
	o.inner.Step(r)
}

func (o lyingObserver) Event(e node.Event) { o.inner.Event(e) }

// TestPurposes checks that purposes are counted from what the members did: the small
// scenario's leader crash is followed by an election, and no snapshot is ever installed at
// the default threshold, so declaring SnapshotInstalled fails the run with one line.
func TestPurposes(t *testing.T) {
	sc := smallScenario()
	sc.Purposes = []scenarios.Purpose{{Event: scenarios.LeaderChange}}
	res := Run(sc, 1, Options{})
	require.True(t, res.Passed, res.Failure)
	require.True(t, res.Coverage.Purposes[scenarios.LeaderChange])
	require.False(t, res.Coverage.Purposes[scenarios.SnapshotInstalled])
	require.Positive(t, res.Coverage.Events[node.EventElectionWon.String()])

	sc.Purposes = append(sc.Purposes, scenarios.Purpose{Event: scenarios.SnapshotInstalled})
	res = Run(sc, 1, Options{})
	require.False(t, res.Passed)
	require.Equal(t, "purpose not reached: no snapshot installed", res.Failure)

	// a purpose random by design does not fail a single run
	sc.Purposes[1].MinShare = 0.5
	require.True(t, Run(sc, 1, Options{}).Passed)
}

// TestSnapshotPurpose checks the snapshot-installed purpose on a cluster that compacts its
// log every 100 entries (Scenario.SnapshotEntries): a member added after the leader's log was compacted
// catches up by installing a snapshot, and the coverage counts it (sent and installed).
func TestSnapshotPurpose(t *testing.T) {
	sc := churnScenario(3, scenarios.Fault{Kind: scenarios.AddMember, At: 4 * time.Second})
	sc.SnapshotEntries, sc.SnapshotCatchUpEntries = 100, 20
	sc.OpsPerSecond = 200
	sc.Purposes = []scenarios.Purpose{{Event: scenarios.SnapshotInstalled}}
	res := Run(sc, 1, Options{})
	require.True(t, res.Passed, res.Failure)
	require.True(t, res.Coverage.Purposes[scenarios.SnapshotInstalled])
	require.Positive(t, res.Coverage.Events[node.EventSnapshotSent.String()])
	require.Positive(t, res.Coverage.Events[node.EventSnapshotInstalled.String()])
}

// withEnd sets the log end a report names (LastIndex, LastTerm).
func withEnd(r node.StepReport, last, term uint64) node.StepReport {
	r.LastIndex, r.LastTerm = last, term
	return r
}

// grant is the event of member id handing out its vote for peer in term.
func grant(id, term, peer uint64) node.Event {
	return node.Event{Member: id, Kind: node.EventVoteGranted, Term: term, Peer: peer}
}

// TestSafetyVotesAndLogEnds feeds the checker the two rules TestSafetyChecker's reports alone
// cannot reach: one vote per member per term, counted from the votes handed out to be sent
// (and kept across a restart even when no sync report showed it), and the log end a member
// restarts with, which must be where its last sync or a later write left it.
func TestSafetyVotesAndLogEnds(t *testing.T) {
	start := []any{open(1, 0, 0, 0, 0), open(2, 0, 0, 0, 0), open(3, 0, 0, 0, 0)}
	cases := []struct {
		name    string
		reports []any // node.StepReport or node.Event
		want    string
	}{
		{name: "valid votes: a resent grant, then a later term", reports: []any{
			grant(2, 3, 1), grant(2, 3, 1), grant(2, 4, 3),
		}},
		{name: "two votes in a term", reports: []any{
			grant(2, 3, 1), grant(2, 3, 3),
		}, want: "safety violation (two votes in a term): m1 voted for m0 and for m2 in term 3"},
		{name: "a vote in a term below an earlier vote", reports: []any{
			grant(2, 4, 1), grant(2, 3, 3),
		}, want: "safety violation (term went back): m1 voted for m2 in term 3 after voting for m0 in term 4"},
		{name: "valid restart keeping its vote", reports: []any{
			grant(2, 5, 1), open(2, 5, 1, 0, 0), grant(2, 5, 1),
		}},
		{name: "valid restart in a later term after a vote", reports: []any{
			grant(2, 5, 1), open(2, 6, 0, 0, 0), grant(2, 6, 3),
		}},
		{name: "a vote granted but never synced, forgotten by a restart", reports: []any{
			grant(2, 5, 1), open(2, 5, 0, 0, 0),
		}, want: "safety violation (vote forgotten): m1 voted for m0 in term 5, then restarted in term 5 with vote 0"},
		{name: "a restart into an earlier term than a vote granted", reports: []any{
			grant(2, 5, 1), open(2, 4, 0, 0, 0),
		}, want: "safety violation (vote forgotten): m1 voted for m0 in term 5, then restarted in term 4 with vote 0"},
		{name: "a second vote in its term after a restart", reports: []any{
			grant(2, 5, 1), open(2, 5, 1, 0, 0), grant(2, 5, 3),
		}, want: "safety violation (two votes in a term): m1 voted for m0 and for m2 in term 5"},
		{name: "valid log ends: the synced one, or a later write's", reports: []any{
			withEnd(synced(1, 2, 1, 0, 0), 5, 2),
			withEnd(readyAt(1, 2, 1, 0, 0), 7, 2), // written, not synced
			withEnd(open(1, 2, 1, 0, 0), 5, 2),    // lost by the crash
			withEnd(readyAt(1, 2, 1, 0, 0), 7, 2),
			withEnd(open(1, 2, 1, 0, 0), 7, 2), // Pebble made the write durable on its own
		}},
		{name: "a log end no sync or write left", reports: []any{
			withEnd(synced(1, 2, 1, 0, 0), 5, 2),
			withEnd(readyAt(1, 2, 1, 0, 0), 7, 2),
			withEnd(open(1, 2, 1, 0, 0), 6, 2),
		}, want: "safety violation (log changed across restart): m0 restarted with its log ending at index 6 term 2; its last sync left it at index 5 term 2, and later writes at 7/2"},
		{name: "a synced truncation that comes undone", reports: []any{
			withEnd(synced(2, 2, 1, 0, 0), 9, 2),
			withEnd(readyAt(2, 3, 3, 0, 0), 6, 3), // the suffix 6..9 of term 2 replaced
			withEnd(synced(2, 3, 3, 0, 0), 6, 3),
			withEnd(open(2, 3, 3, 0, 0), 9, 2),
		}, want: "safety violation (log changed across restart): m1 restarted with its log ending at index 9 term 2; its last sync left it at index 6 term 3"},
		{name: "entries lost that were synced", reports: []any{
			withEnd(synced(3, 2, 1, 0, 0), 4, 2),
			withEnd(open(3, 2, 1, 0, 0), 2, 2),
		}, want: "safety violation (log changed across restart): m2 restarted with its log ending at index 2 term 2; its last sync left it at index 4 term 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSafetyChecker(func(id uint64) string { return fmt.Sprintf("m%d", id-1) })
			var stopped []string
			s.onViolation = func(msg string) { stopped = append(stopped, msg) }
			for _, r := range append(append([]any(nil), start...), tc.reports...) {
				switch r := r.(type) {
				case node.StepReport:
					s.observer().Step(r)
				case node.Event:
					s.observer().Event(r)
				}
			}
			require.Equal(t, tc.want, s.violation)
			if tc.want == "" {
				require.Empty(t, stopped)
			} else {
				require.Equal(t, []string{tc.want}, stopped, "the run is stopped once, at the violation")
			}
		})
	}
}

// withMatches sets what a leader's report says it believes each member's log holds.
func withMatches(r node.StepReport, matches ...raft.PeerMatch) node.StepReport {
	r.Matches = matches
	return r
}

// TestSnapshotAcrossConfChangeCount checks what the snapshot-across-conf-change purpose
// counts: a snapshot installed on a member holding another configuration, not one whose
// configuration the member already held, nor a joining member's first (it held none), nor
// one before the workload started.
func TestSnapshotAcrossConfChangeCount(t *testing.T) {
	old, next := []uint64{1, 2, 3}, []uint64{1, 3, 4}
	cases := []struct {
		name    string
		started bool
		reports []node.StepReport
		want    int
	}{
		{name: "across a membership change", started: true, reports: []node.StepReport{
			withConf(open(3, 2, 0, 1, 1), old...), snapConf(snap(3, 2, 1, 5, 5, 2), next, next)}, want: 1},
		{name: "the same configuration", started: true, reports: []node.StepReport{
			withConf(open(3, 2, 0, 1, 1), old...), snapConf(snap(3, 2, 1, 5, 5, 2), old, old)}, want: 0},
		{name: "a joining member's first install", started: true, reports: []node.StepReport{
			open(4, 0, 0, 0, 0), snapConf(snap(4, 2, 1, 5, 5, 2), next, next)}, want: 0},
		{name: "before the workload started", started: false, reports: []node.StepReport{
			withConf(open(3, 2, 0, 1, 1), old...), snapConf(snap(3, 2, 1, 5, 5, 2), next, next)}, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSafetyChecker(func(id uint64) string { return fmt.Sprintf("m%d", id-1) })
			s.started = tc.started
			for _, r := range tc.reports {
				s.observer().Step(r)
			}
			require.Empty(t, s.violation)
			require.Equal(t, tc.want, s.snapshotConfChanges)
		})
	}
}
