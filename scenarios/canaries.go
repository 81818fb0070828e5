package scenarios

import (
	"time"

	"github.com/ballastdb/ballast/canary"
)

// CanaryScenario pairs a canary (a deliberately broken variant, see package canary) with the
// scenario meant to catch it.
type CanaryScenario struct {
	Canary   string
	Scenario Scenario
	// Why says in one sentence how the scenario exposes the canary.
	Why string
}

// Canaries returns, for every canary in canary.Names order, the scenario meant to catch it.
// They are not in the catalogue: each is sharpened for one bug, and a correct build passes
// them like any other scenario (the canary test checks that on the seed that caught each
// canary). Each call returns fresh values.
func Canaries() []CanaryScenario {
	return []CanaryScenario{
		{Canary: canary.CommitOldTerm, Scenario: figure8(), Why: "leaders are cut off and crash around term changes while a slow disk delays each new leader's own entry, so a leader finds old-term entries on a majority before its own; counting them commits what a later leader overwrites"},
		{Canary: canary.NoLogCheck, Scenario: staleCandidate(), Why: "a follower cut off long enough to fall behind returns as the leader crashes; half the time it times out first, and without the log check it wins and overwrites committed entries"},
		{Canary: canary.ReadNoQuorum, Scenario: staleLeaderReads(), Why: "the leader is isolated over and over under a read-heavy workload on few keys; until check-quorum deposes it, it answers linearizable reads while the new leader commits writes"},
		{Canary: canary.AckBeforeSync, Scenario: powerLossMajority(), Why: "with one follower down and the other on a slow disk, the leader and that follower lose power together: the follower loses entries it acknowledged, and the two followers elect a leader without them"},
		{Canary: canary.ApplyTwice, Scenario: crashLoop(), Why: "members lose power one after another on slow disks under steady writes, so a crash lands between an entry's synced effects and its unsynced applied index"},
		{Canary: canary.WatchSkip, Scenario: watchResume(), Why: "watchers over the whole key space resume on other members after crashes while writes flow, so hand-overs from catch-up to live delivery happen mid-stream"},
		{Canary: canary.LeaseFollowerClock, Scenario: leaseHandover(), Why: "leadership moves every 1.5 s under a lease-heavy workload, so new primaries resume leases that the old one kept alive from memory; deciding their expiry from what the new primary's clock said as a follower expires them before the TTL a keep-alive promised"},
		{Canary: canary.DropWhenFull, Scenario: floodCanary(), Why: "members let one request wait while the leader is cut off, so requests over the limit arrive all the time; one dropped instead of answered is never answered, which the simulator's answer check sees"},
		{Canary: canary.SyncErrorIgnored, Scenario: diskFaultsCanary(), Why: "disk faults fail members' WAL syncs beneath Pebble under steady writes; a member that takes the failed sync for done reports the Ready durable and sends what waited for it, then loses power with its disk, and restarts with a commit or applied index below the one it called durable"},
		{Canary: canary.SnapshotKeepsCovered, Scenario: staleLeaderSnapshot(), Why: "the leader is cut off again and again while many clients wait on it, so it returns holding a long uncommitted suffix to a leader that keeps two entries of log and sends it a snapshot ending inside that suffix; keeping its own entries there, it applies entries that conflict with the ones the others committed, which the online checker sees"},
		{Canary: canary.SnapshotDropsNext, Scenario: snapshotReturn(), Why: "a follower cut off and crashed returns to a leader that compacted past it and installs a snapshot; answering with the index after the snapshot, it makes the leader count and skip an entry it never received, so it rejects every later append and never converges with the others"},
		{Canary: canary.FollowerCommitBeyondMatch, Scenario: catalogueAs("divergent-suffix", "canary-divergent-commit"), Why: "a deposed leader and its follower hold an uncommitted suffix when the new leader's appends (one entry each) arrive; committing up to the leader's commit index bounded only by the log's end commits entries of the old suffix, which the safety checker sees applied at indexes where others applied the new leader's"},
		{Canary: canary.VoteNotDurable, Scenario: catalogueAs("persist-step-crashes", "canary-persist-step-crashes"), Why: "every member is armed to lose power between its next write and its sync right after the leader crashes, so a voter's grant that left before the vote was synced is followed by a restart without it, which the safety checker sees as a vote forgotten"},
		{Canary: canary.NewLeaderRead, Scenario: catalogueAs("reads-at-leader-change", "canary-reads-at-leader-change"), Why: "leadership moves every 1.2 s under reads on eight keys; a new leader whose commit index still lags its predecessor's answers reads at that index, missing writes already acknowledged, which the linearizability checker sees"},
		{Canary: canary.TruncationNotDurable, Scenario: catalogueAs("divergent-suffix", "canary-divergent-truncate-restart"), Why: "the followers that replace a deposed leader's suffix with the new leader's first entry lose power right after the truncation is synced; the old suffix beyond that entry comes back from the disk, which the safety checker sees as a log that changed across the restart"},
		{Canary: canary.LeaseNoDriftMargin, Scenario: catalogueAs("leases-at-drift-bound", "canary-leases-at-drift-bound"), Why: "leadership moves to a member whose clock runs fast by exactly ρ under a lease-heavy workload; waiting the TTL on that clock without the margin ρ expires leases up to 1% of their TTL early, which the linearizability checker's lease rule sees (clock-skew-leases, at ±0.9%, passed seeds 1-12 with this departure)"},
		{Canary: canary.TruncationRangePartial, Scenario: catalogueAs("long-divergent-suffix", "canary-long-divergent-suffix"), Why: "a deposed leader and its follower replace a suffix of more than 16 stale entries beyond the new leader's first one-entry append and lose power right after; a range deletion that stops after 16 entries leaves the rest on disk, which the safety checker sees as a log that changed across the restart (divergent-suffix's suffixes never reach the range path: no suffix-range-deleted in its seeds 1-10)"},
		{Canary: canary.WatchCutDropsLast, Scenario: catalogueAs("watch-far-behind", "canary-watch-far-behind"), Why: "watchers open from revision 1 about 2,000 revisions into the run, so their catch-up is cut at 1,000 events; losing the last event of a cut batch leaves a gap the linearizability checker's watch rule sees (the catalogue's watchers resume about 100 ms behind, never 1,000 events)"},
		{Canary: canary.SnapshotKeepsConf, Scenario: catalogueAs("snapshot-across-membership", "canary-snapshot-across-membership"), Why: "a follower cut off and crashed returns, holding the founding configuration, to a snapshot taken after a member was added and another removed; keeping its own configuration, it reports at the snapshot's index another configuration than every other member had there, which the safety checker sees (snapshot-catch-up installs snapshots with the receiver's own configuration, and a joining member, which has none, takes the snapshot's)"},
		{Canary: canary.WatchCompactedSkips, Scenario: catalogueAs("compaction-under-load", "canary-compaction-under-load"), Why: "watchers open from revision 1 after the clients compacted the store far past it; moved past the compacted revisions instead of cancelled with the compact revision, a stream that claims to start at revision 1 never delivers their events, which the linearizability checker's watch rule sees as a gap (no scenario compacted before: no watch was ever cancelled by compaction)"},
	}
}

// floodCanary is the catalogue's flood scenario under its canary name.
func floodCanary() Scenario { return catalogueAs("flood", "canary-flood") }

// diskFaultsCanary is the catalogue's disk-faults scenario under its canary name.
func diskFaultsCanary() Scenario { return catalogueAs("disk-faults", "canary-disk-faults") }

// catalogueAs returns the catalogue's scenario name under the name as.
func catalogueAs(name, as string) Scenario {
	for _, s := range Catalogue() {
		if s.Name == name {
			s.Name = as
			return s
		}
	}
	panic("scenarios: the catalogue has no " + name + " scenario")
}

// CanaryByName returns the scenario meant to catch the named canary.
func CanaryByName(name string) (CanaryScenario, bool) {
	for _, c := range Canaries() {
		if c.Canary == name {
			return c, true
		}
	}
	return CanaryScenario{}, false
}

// writeMix is mostly writes and linearizable reads: what the raft canaries corrupt.
var writeMix = Mix{Put: 45, Get: 30, Range: 5, Delete: 5, Txn: 15}

// figure8 recreates Raft's Figure 8 (§5.4.2) on five members, m0..m4 standing for the
// paper's S1..S5, with one entry per append so a follower can hold an old-term entry without
// the new leader's own:
//
//	(a) m0 leads and is cut off with m1: its new entries (term a) reach m1 only;
//	(b) m2 and m3 cannot hear each other, so of the other side only m4 can win (term b); its
//	    first entry reaches m2 and m3 on slow disks, and both lose power before syncing it,
//	    while m4 is cut off: the term-b entry survives on m4 alone;
//	(c) m0 or m1 wins term c and replicates the term-a entries to m2 and m3 one at a time:
//	    the broken rule commits them once three members hold them, before its own entry;
//	(d) m0 and m1 are cut off again and m4 (last term b, higher than m2's and m3's a) wins
//	    term d and overwrites the entry the broken leader committed: a member that learned
//	    the commit panics, and a client's acknowledged write is gone.
func figure8() Scenario {
	m := Member
	return Scenario{
		Name:         "canary-figure-8",
		Description:  "Figure 8 of the Raft paper, scripted: an old leader's entries reach a majority under a later leader before that leader's own entry does, and a member holding a conflicting entry of an intermediate term wins next.",
		Members:      5,
		Duration:     sec(14),
		Clients:      4,
		OpsPerSecond: 200,
		Keys:         8,
		Mix:          writeMix,
		Watchers:     1,
		Faults: []Fault{
			{Kind: TransferLeader, At: sec(0.3), Targets: []Target{m(0)}},
			{Kind: OneWay, At: sec(1), Duration: sec(11), Targets: []Target{m(2), m(3)}},
			{Kind: OneWay, At: sec(1), Duration: sec(11), Targets: []Target{m(3), m(2)}},
			{Kind: SlowDisk, At: sec(1), Duration: sec(11), Targets: []Target{m(2)}, Delay: 500 * time.Millisecond},
			{Kind: SlowDisk, At: sec(1), Duration: sec(11), Targets: []Target{m(3)}, Delay: 500 * time.Millisecond},
			// (a), (b): m4 wins at 3.1-3.5 s (seeds 1-3); its entry is unsynced on m2 and m3
			// for the next 0.5 s
			{Kind: Partition, At: sec(1.5), Duration: sec(2.15), Targets: []Target{m(0), m(1)}},
			{Kind: Isolate, At: sec(3.55), Duration: sec(3), Targets: []Target{m(4)}},
			{Kind: Crash, At: sec(3.55), Duration: sec(0.3), Targets: []Target{m(2)}},
			{Kind: Crash, At: sec(3.55), Duration: sec(0.3), Targets: []Target{m(3)}},
			// (d), after (c) began
			{Kind: Partition, At: sec(6.55), Duration: sec(3), Targets: []Target{m(0), m(1)}},
		},
		Liveness: Liveness{MinAckShare: 0.05, MaxRecovery: 3 * recoveryBound},
		// One entry per append: a follower can then hold an old-term entry without the new
		// leader's own, the only state in which counting replicas of an old-term entry
		// commits something the correct rule would not.
		MaxAppendBytes: 1,
	}
}

// staleCandidate cuts a follower off long enough to fall far behind, then crashes the leader
// the moment it returns, three times over.
func staleCandidate() Scenario {
	var faults []Fault
	for _, t := range []float64{1, 5.5, 10} {
		faults = append(faults,
			Fault{Kind: Isolate, At: sec(t), Duration: sec(2.5), Targets: []Target{Follower}},
			Fault{Kind: Crash, At: sec(t + 2.5), Duration: sec(1.5), Targets: []Target{Leader}})
	}
	return Scenario{
		Name:         "canary-stale-candidate",
		Description:  "A follower is cut off while writes flow and returns just as the leader crashes, three times: only the log up-to-date check keeps it from winning the election.",
		Members:      3,
		Duration:     sec(15),
		Clients:      6,
		OpsPerSecond: 300,
		Keys:         8,
		Mix:          writeMix,
		Watchers:     1,
		Faults:       faults,
		Liveness:     Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
	}
}

// staleLeaderReads isolates the leader four times under a read-heavy workload on few keys.
func staleLeaderReads() Scenario {
	faults := leaderIsolations(2.5, 1.5, 4.5, 7.5, 10.5)
	return Scenario{
		Name:         "canary-stale-leader-reads",
		Description:  "The leader of a 5-member cluster is isolated four times under a read-heavy workload on four keys: a deposed leader must not answer linearizable reads while the new one takes writes.",
		Members:      5,
		Duration:     sec(14),
		Clients:      10,
		OpsPerSecond: 400,
		Keys:         4,
		Mix:          Mix{Put: 40, Get: 50, Txn: 10},
		Watchers:     1,
		Faults:       faults,
		Liveness:     Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
	}
}

// powerLossMajority takes one follower down, slows the other's disk, then cuts the power of
// the leader and that follower at the same instant, twice.
func powerLossMajority() Scenario {
	// Once only: a broken run's logs diverge, and the cluster then spends its simulated time
	// in an append/reject storm that slows the simulator down, so the run stops soon after.
	faults := []Fault{
		// the follower that will have to elect a leader with the other, lagging
		{Kind: Crash, At: sec(1), Duration: sec(3), Targets: []Target{Follower}},
		// the only live follower now: every sync takes 100 ms more
		{Kind: SlowDisk, At: sec(1.2), Duration: sec(2.5), Targets: []Target{Follower}, Delay: 100 * time.Millisecond},
		// a majority loses power at once; the leader stays down until the others elected
		{Kind: Crash, At: sec(3), Duration: sec(3), Targets: []Target{Leader}},
		{Kind: Crash, At: sec(3), Duration: sec(0.3), Targets: []Target{Follower}},
	}
	return Scenario{
		Name:         "canary-power-loss-majority",
		Description:  "A follower is down, the other runs on a slow disk, then the leader and that follower lose power at the same instant (a majority): what they acknowledged must have been on disk.",
		Members:      3,
		Duration:     sec(8),
		Clients:      4,
		OpsPerSecond: 100,
		Keys:         8,
		Mix:          writeMix,
		Watchers:     1,
		Faults:       faults,
		Liveness:     Liveness{MinAckShare: 0.3, MaxRecovery: recoveryBound},
	}
}

// crashLoop cuts the power of members one after another while every disk is slow.
func crashLoop() Scenario {
	faults := []Fault{
		{Kind: SlowDisk, At: 0, Duration: sec(13), Targets: []Target{Member(0)}, Delay: 20 * time.Millisecond},
		{Kind: SlowDisk, At: 0, Duration: sec(13), Targets: []Target{Member(1)}, Delay: 20 * time.Millisecond},
		{Kind: SlowDisk, At: 0, Duration: sec(13), Targets: []Target{Member(2)}, Delay: 20 * time.Millisecond},
	}
	for i, t := range []float64{1, 2.5, 4, 5.5, 7, 8.5, 10, 11.5} {
		target := Follower
		if i%2 == 1 {
			target = Leader
		}
		faults = append(faults, Fault{Kind: Crash, At: sec(t), Duration: sec(0.6), Targets: []Target{target}})
	}
	return Scenario{
		Name:         "canary-crash-loop",
		Description:  "Members of a 3-member cluster on slow disks lose power one after another, every 1.5 s, under steady writes: each must restart from its disk with every entry applied exactly once.",
		Members:      3,
		Duration:     sec(14),
		Clients:      6,
		OpsPerSecond: 300,
		Keys:         8,
		Mix:          writeMix,
		Watchers:     1,
		Faults:       faults,
		Liveness:     Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
	}
}

// watchResume crashes members under watchers so the watchers resume mid-stream.
func watchResume() Scenario {
	var faults []Fault
	for i, t := range []float64{1.5, 3.5, 5.5, 7.5, 9.5} {
		target := Follower
		if i%2 == 1 {
			target = Leader
		}
		faults = append(faults, Fault{Kind: Crash, At: sec(t), Duration: sec(0.8), Targets: []Target{target}})
	}
	return Scenario{
		Name:         "canary-watch-resume",
		Description:  "Four watchers follow the whole key space of a 3-member cluster while members crash in turn, so watchers resume on other members while writes flow.",
		Members:      3,
		Duration:     sec(12),
		Clients:      6,
		OpsPerSecond: 300,
		Keys:         8,
		Mix:          writeMix,
		Watchers:     4,
		Faults:       faults,
		Liveness:     Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
	}
}

// leaseHandover moves leadership often under leases kept alive from memory.
func leaseHandover() Scenario {
	faults := leaderMoves([]float64{1.5, 3, 4.5, 6, 7.5, 9}, 3)
	return Scenario{
		Name:         "canary-lease-handover",
		Description:  "Leadership of a 3-member cluster moves every 1.5 s (five transfers and a leader crash) under a workload of short leases kept alive, left to expire and revoked: every new primary must count a lease it cannot know was renewed from its own promotion.",
		Members:      3,
		Duration:     sec(12),
		Clients:      6,
		OpsPerSecond: 200,
		Keys:         8,
		Mix:          Mix{Put: 15, Get: 15, Range: 5, Txn: 5, LeaseGrant: 15, LeaseKeepAlive: 25, LeaseRevoke: 5, PutWithLease: 15},
		Watchers:     1,
		Faults:       faults,
		Liveness:     Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
	}
}

// staleLeaderSnapshot cuts the leader off five times while 30 clients each wait on one request
// (a client that picks the cut-off leader waits on it for its whole timeout, so many pile up
// there): the old leader appends their requests, uncommitted, until check-quorum deposes it.
// The others elect a leader that keeps only two entries of log (a snapshot every 2 entries,
// 1 kept behind it), so the returning member is sent a snapshot; while few clients have
// come back from the old leader the new one commits slowly, and the snapshot often ends at
// or below the old leader's last entry, inside its uncommitted suffix.
func staleLeaderSnapshot() Scenario {
	faults := leaderIsolations(1.8, 1, 3.5, 6, 8.5, 11)
	return Scenario{
		Name:                   "canary-stale-leader-snapshot",
		Description:            "The leader of a 3-member cluster is cut off five times while 12 clients wait on it, and returns to a leader that compacts its log every two entries: the snapshot it is sent ends inside its own uncommitted suffix, which the snapshot must replace.",
		Members:                3,
		Duration:               sec(14),
		Clients:                12,
		OpsPerSecond:           300,
		Keys:                   8,
		Mix:                    writeMix,
		Watchers:               1,
		Faults:                 faults,
		Liveness:               Liveness{MinAckShare: 0.3, MaxRecovery: recoveryBound},
		SnapshotEntries:        2,
		SnapshotCatchUpEntries: 1,
	}
}

// snapshotReturn is snapshot-catch-up without its last fault: a follower cut off and
// crashed returns to a leader that compacted past it, installs a snapshot, and nothing
// disturbs the cluster afterwards (no leader change that would reset what the leader knows
// of it).
func snapshotReturn() Scenario {
	return Scenario{
		Name:         "canary-snapshot-return",
		Description:  "A follower is cut off and crashed while the others write enough to compact their logs many times over; it returns, installs a snapshot, and must take the entries that follow it.",
		Members:      3,
		Duration:     sec(10),
		Clients:      8,
		OpsPerSecond: 300,
		Keys:         32,
		Mix:          writeMix,
		Watchers:     1,
		Faults: []Fault{
			{Kind: Isolate, At: sec(1), Duration: sec(4), Targets: []Target{Member(2)}},
			{Kind: Crash, At: sec(1.5), Duration: sec(3), Targets: []Target{Member(2)}},
		},
		Liveness:               Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
		Purposes:               []Purpose{{Event: SnapshotInstalled}},
		SnapshotEntries:        100,
		SnapshotCatchUpEntries: 20,
	}
}

// leaderIsolations cuts the leader off for duration seconds at each of times.
func leaderIsolations(duration float64, times ...float64) []Fault {
	var faults []Fault
	for _, t := range times {
		faults = append(faults, Fault{Kind: Isolate, At: sec(t), Duration: sec(duration), Targets: []Target{Leader}})
	}
	return faults
}

// leaderMoves moves leadership at each of the times (seconds): a leader transfer, except at
// index crashAt, where the leader crashes for a second instead.
func leaderMoves(times []float64, crashAt int) []Fault {
	var faults []Fault
	for i, t := range times {
		if i == crashAt {
			faults = append(faults, Fault{Kind: Crash, At: sec(t), Duration: sec(1), Targets: []Target{Leader}})
			continue
		}
		faults = append(faults, Fault{Kind: TransferLeader, At: sec(t)})
	}
	return faults
}
