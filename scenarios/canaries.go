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
	}
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

// figure8 recreates Raft's Figure 8 (§5.4.2): leaders change terms with entries left only on
// some members, then a leader finds old-term entries on a majority before its own entry.
func figure8() Scenario {
	return Scenario{
		Name:         "canary-figure-8",
		Description:  "Figure 8 of the Raft paper: leaders of a 5-member cluster are isolated and crash around term changes, on slow disks, so old-term entries sit on a majority before a new leader's own entry does.",
		Members:      5,
		Duration:     sec(16),
		Clients:      4,
		OpsPerSecond: 200,
		Keys:         8,
		Mix:          writeMix,
		Watchers:     1,
		Faults: []Fault{
			{Kind: SlowDisk, At: sec(0.5), Duration: sec(12), Targets: []Target{Member(0)}, Delay: 60 * time.Millisecond},
			{Kind: SlowDisk, At: sec(0.5), Duration: sec(12), Targets: []Target{Member(1)}, Delay: 40 * time.Millisecond},
			{Kind: Isolate, At: sec(1.5), Duration: sec(1.2), Targets: []Target{Leader}},
			{Kind: Crash, At: sec(3), Duration: sec(1), Targets: []Target{Leader}},
			{Kind: Isolate, At: sec(4.5), Duration: sec(1.2), Targets: []Target{Leader}},
			{Kind: Partition, At: sec(6), Duration: sec(1.5), Targets: []Target{Leader, Follower}},
			{Kind: Crash, At: sec(7.8), Duration: sec(1), Targets: []Target{Leader}},
			{Kind: Isolate, At: sec(9), Duration: sec(1.2), Targets: []Target{Leader}},
			{Kind: Crash, At: sec(10.5), Duration: sec(1), Targets: []Target{Leader}},
		},
		RandomFaults: &RandomFaults{Kinds: []FaultKind{Isolate, Crash, Partition}, Count: 6},
		Liveness:     Liveness{MinAckShare: 0.2, MaxRecovery: 2 * recoveryBound},
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
	var faults []Fault
	for _, t := range []float64{1.5, 4.5, 7.5, 10.5} {
		faults = append(faults, Fault{Kind: Isolate, At: sec(t), Duration: sec(2.5), Targets: []Target{Leader}})
	}
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
	var faults []Fault
	for i, t := range []float64{1.5, 3, 4.5, 6, 7.5, 9} {
		if i == 3 {
			faults = append(faults, Fault{Kind: Crash, At: sec(t), Duration: sec(1), Targets: []Target{Leader}})
			continue
		}
		faults = append(faults, Fault{Kind: TransferLeader, At: sec(t)})
	}
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
