package scenarios

import "time"

// The catalogue's shared shapes. Durations are short (10-16 simulated seconds) so that
// `make sim` runs every scenario over a few seeds in about a minute; the fault times leave the
// last few seconds fault-free so the liveness bound (writes succeed again after the last
// fault heals) is measured on every run.
var (
	// kvMix is the default workload: mostly writes and linearizable reads, some range scans,
	// deletes and compare-and-swap transactions.
	kvMix = Mix{Put: 40, Get: 25, SerializableGet: 5, Range: 10, Delete: 5, Txn: 15}
	// leaseMix adds leases with attached keys, kept alive and revoked, to kvMix.
	leaseMix = Mix{Put: 25, Get: 20, SerializableGet: 5, Range: 5, Delete: 5, Txn: 10,
		LeaseGrant: 8, LeaseKeepAlive: 10, LeaseRevoke: 4, PutWithLease: 8}
)

const (
	// catalogueOpsPerSecond is the workload rate of most scenarios: enough traffic that a
	// fault always lands on requests in flight, small enough that the checker stays quick.
	catalogueOpsPerSecond = 200
	// faultFreeAckShare is the acknowledged share demanded of a cluster with no faults.
	faultFreeAckShare = 0.99
	// recoveryBound is the default bound from the last fault's end to the next successful
	// write: a few election timeouts, with pre-vote and a leader transfer or two.
	recoveryBound = 5 * time.Second
)

func sec(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }

// Catalogue returns every named scenario in a fixed order (the order `ballast-sim run
// -scenario all` and the reports use). Each call returns fresh values, so a caller may change
// its copy.
func Catalogue() []Scenario {
	return []Scenario{
		{
			Name:         "steady",
			Description:  "No faults: a healthy 3-member cluster under the full workload, the baseline every other scenario departs from.",
			Members:      3,
			Duration:     sec(10),
			Clients:      6,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          leaseMix,
			Watchers:     2,
			Liveness:     Liveness{MinAckShare: faultFreeAckShare, MaxRecovery: recoveryBound},
		},
		{
			Name:         "leader-crash",
			Description:  "The leader crashes (power loss) twice and comes back from its disk each time; the survivors elect a new leader.",
			Members:      3,
			Duration:     sec(14),
			Clients:      6,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          kvMix,
			Watchers:     2,
			Faults: []Fault{
				{Kind: Crash, At: sec(2), Duration: sec(3), Targets: []Target{Leader}},
				{Kind: Crash, At: sec(7), Duration: sec(2), Targets: []Target{Leader}},
			},
			Liveness: Liveness{MinAckShare: 0.7, MaxRecovery: recoveryBound},
			Purposes: []Purpose{{Event: LeaderChange}},
		},
		{
			Name:         "crash-restart-power-loss",
			Description:  "Members of a 5-member cluster lose power one after another, two at once at the end, losing unsynced writes; each restarts from what it had synced.",
			Members:      5,
			Duration:     sec(16),
			Clients:      8,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          kvMix,
			Watchers:     2,
			Faults: []Fault{
				{Kind: Crash, At: sec(1.5), Duration: sec(2), Targets: []Target{Follower}},
				{Kind: Crash, At: sec(4), Duration: sec(2), Targets: []Target{Leader}},
				{Kind: Crash, At: sec(7), Targets: []Target{Member(1)}},
				{Kind: Crash, At: sec(7.2), Targets: []Target{Member(2)}},
				{Kind: Restart, At: sec(9), Targets: []Target{Member(1)}},
				{Kind: Restart, At: sec(9.5), Targets: []Target{Member(2)}},
				{Kind: Crash, At: sec(10.5), Duration: sec(1.5), Targets: []Target{Leader}},
			},
			Liveness: Liveness{MinAckShare: 0.6, MaxRecovery: recoveryBound},
			Purposes: []Purpose{{Event: LeaderChange}},
		},
		{
			Name:         "partition-minority",
			Description:  "A minority holding the leader is cut off from the majority, then healed; the majority elects a new leader and the old one steps down.",
			Members:      5,
			Duration:     sec(14),
			Clients:      8,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          kvMix,
			Watchers:     2,
			Faults: []Fault{
				{Kind: Partition, At: sec(2), Duration: sec(4), Targets: []Target{Leader, Follower}},
				{Kind: Isolate, At: sec(7), Duration: sec(3), Targets: []Target{Leader}},
			},
			Liveness: Liveness{MinAckShare: 0.6, MaxRecovery: recoveryBound},
			Purposes: []Purpose{{Event: LeaderStepDown}, {Event: LeaderChange}},
		},
		{
			Name:         "partition-majority-flapping",
			Description:  "Partitions that split the cluster come and go every second or two, moving the majority between sides, with a bridge member in the middle once.",
			Members:      5,
			Duration:     sec(16),
			Clients:      8,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          kvMix,
			Watchers:     2,
			Faults: []Fault{
				{Kind: Partition, At: sec(1), Duration: sec(1.5), Targets: []Target{Member(0), Member(1)}},
				{Kind: Partition, At: sec(3), Duration: sec(1.5), Targets: []Target{Member(2), Member(3)}},
				{Kind: Partition, At: sec(5), Duration: sec(1), Targets: []Target{Leader, Member(4)}},
				{Kind: Partition, At: sec(6.5), Duration: sec(1.5), Targets: []Target{Minority}},
				{Kind: Bridge, At: sec(8.5), Duration: sec(2), Targets: []Target{Member(2)}},
				{Kind: Partition, At: sec(11), Duration: sec(1), Targets: []Target{Leader}},
			},
			Liveness: Liveness{MinAckShare: 0.4, MaxRecovery: recoveryBound},
		},
		{
			Name:         "asymmetric-link",
			Description:  "One-way links: the leader cannot hear a follower, then a follower cannot reach the others while still hearing them (a pre-vote and check-quorum test).",
			Members:      3,
			Duration:     sec(14),
			Clients:      6,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          kvMix,
			Watchers:     2,
			Faults: []Fault{
				{Kind: OneWay, At: sec(2), Duration: sec(3), Targets: []Target{Follower, Leader}},
				{Kind: OneWay, At: sec(6), Duration: sec(3), Targets: []Target{Leader, Member(1), Member(2)}},
				{Kind: OneWay, At: sec(9.5), Duration: sec(1), Targets: []Target{Member(0), Member(1)}},
			},
			Liveness: Liveness{MinAckShare: 0.6, MaxRecovery: recoveryBound},
		},
		{
			Name:         "lossy-network",
			Description:  "Every link drops, duplicates and reorders messages and suffers a delay spike, in overlapping waves.",
			Members:      3,
			Duration:     sec(14),
			Clients:      6,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          kvMix,
			Watchers:     2,
			Faults: []Fault{
				{Kind: Loss, At: sec(1), Duration: sec(8), Rate: 0.2},
				{Kind: Duplicate, At: sec(2), Duration: sec(7), Rate: 0.1},
				{Kind: Reorder, At: sec(2), Duration: sec(7), Rate: 0.2},
				{Kind: Latency, At: sec(5), Duration: sec(2), Delay: 150 * time.Millisecond},
			},
			Liveness: Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
		},
		{
			Name:         "clock-skew-leases",
			Description:  "Lease-heavy workload (TTLs of 2-6 s: leases are kept alive, revoked and left to expire) while members' clocks run fast and slow within the members' drift bound ρ of 1%, with the leader crashing once and leadership moving: leases must never expire early on the leader's word nor live on in a follower's.",
			Members:      3,
			Duration:     sec(16),
			Clients:      6,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          Mix{Put: 15, Get: 15, Range: 5, Txn: 5, LeaseGrant: 15, LeaseKeepAlive: 20, LeaseRevoke: 10, PutWithLease: 15},
			Watchers:     2,
			Faults: []Fault{
				// Within ρ (kv/node's default 1%): a larger skew makes a correct primary expire
				// leases early, which the checker reports (an 8% fast clock did, seeds 1-6).
				{Kind: ClockSkew, At: 0, Duration: sec(12), Targets: []Target{Member(0)}, Rate: 0.009},
				{Kind: ClockSkew, At: 0, Duration: sec(12), Targets: []Target{Member(1)}, Rate: -0.009},
				{Kind: Crash, At: sec(5), Duration: sec(2), Targets: []Target{Leader}},
				{Kind: TransferLeader, At: sec(9)},
			},
			Liveness: Liveness{MinAckShare: 0.7, MaxRecovery: recoveryBound},
			Purposes: []Purpose{{Event: LeaseExpiryUnderSkew}},
		},
		leasesAtDriftBound(),
		{
			Name:         "membership-churn",
			Description:  "Members are added, removed and replaced while leadership moves, growing a 3-member cluster to 4 and back.",
			Members:      3,
			Duration:     sec(16),
			Clients:      6,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          kvMix,
			Watchers:     2,
			Faults: []Fault{
				{Kind: AddMember, At: sec(1.5)},
				{Kind: TransferLeader, At: sec(3.5), Targets: []Target{Follower}},
				{Kind: RemoveMember, At: sec(5), Targets: []Target{Member(1)}},
				{Kind: ReplaceMember, At: sec(7), Targets: []Target{Member(2)}},
				{Kind: ReplaceMember, At: sec(9.5), Targets: []Target{Leader}},
				{Kind: TransferLeader, At: sec(11)},
			},
			Liveness: Liveness{MinAckShare: 0.7, MaxRecovery: recoveryBound},
			Purposes: []Purpose{{Event: ConfChangeApplied}},
		},
		{
			Name:         "disk-faults",
			Description:  "Disk faults beneath Pebble (a failed WAL sync, a failed write, a short write) stop members, which restart from what they had synced, never retrying the sync, while slow disks delay the leader's and a follower's syncs.",
			Members:      3,
			Duration:     sec(14),
			Clients:      6,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          kvMix,
			Watchers:     2,
			Faults: []Fault{
				{Kind: SlowDisk, At: sec(1), Duration: sec(3), Targets: []Target{Leader}, Delay: 50 * time.Millisecond},
				{Kind: SyncFail, At: sec(3), Duration: sec(2), Targets: []Target{Follower}},
				{Kind: SyncFail, At: sec(6), Duration: sec(2), Targets: []Target{Leader}},
				{Kind: SlowDisk, At: sec(8), Duration: sec(2), Targets: []Target{Follower}, Delay: 200 * time.Millisecond},
				{Kind: WriteFail, At: sec(9), Duration: sec(1.5), Targets: []Target{Follower}},
				{Kind: ShortWrite, At: sec(11), Duration: sec(1.5), Targets: []Target{Leader}},
			},
			Liveness: Liveness{MinAckShare: 0.7, MaxRecovery: recoveryBound},
			Purposes: []Purpose{{Event: SyncFailCrash}},
		},
		{
			Name:         "disk-corruption",
			Description:  "Two stopped members' sstables or MANIFEST are corrupted before they restart: each must detect the damage and refuse to serve, never return wrong data; the others carry on, and the operator replaces one of the two with a new member that catches up.",
			Members:      5,
			Duration:     sec(14),
			Clients:      8,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          kvMix,
			Watchers:     2,
			Faults: []Fault{
				{Kind: Crash, At: sec(3), Targets: []Target{Member(3)}},
				{Kind: Corrupt, At: sec(4), Targets: []Target{Member(3)}},
				{Kind: Restart, At: sec(5), Targets: []Target{Member(3)}},
				{Kind: Crash, At: sec(6), Targets: []Target{Member(4)}},
				{Kind: Corrupt, At: sec(7), Targets: []Target{Member(4)}},
				{Kind: Restart, At: sec(8), Targets: []Target{Member(4)}},
				{Kind: ReplaceMember, At: sec(9), Targets: []Target{Member(3)}},
			},
			Liveness: Liveness{MinAckShare: 0.8, MaxRecovery: recoveryBound},
		},
		{
			Name:         "snapshot-catch-up",
			Description:  "A follower is cut off (and crashed) while the others write enough to compact their logs, so it can only catch up from a snapshot when it returns.",
			Members:      3,
			Duration:     sec(16),
			Clients:      8,
			OpsPerSecond: 2 * catalogueOpsPerSecond,
			Keys:         64,
			Mix:          Mix{Put: 70, Get: 15, Range: 5, Delete: 5, Txn: 5},
			Watchers:     2,
			Faults: []Fault{
				{Kind: Isolate, At: sec(1), Duration: sec(6), Targets: []Target{Member(2)}},
				{Kind: Crash, At: sec(2), Duration: sec(4), Targets: []Target{Member(2)}},
				{Kind: Isolate, At: sec(9), Duration: sec(3), Targets: []Target{Follower}},
			},
			// Unacknowledged budget: when the isolated member was leading, about 2 s without a
			// leader (an election, and a second round when the first pre-vote meets a follower
			// still hearing the old leader), plus the third of requests sent to an isolated
			// member for 4 s: up to a quarter of 16 s. Seed 37 acknowledged 87.5%.
			Liveness: Liveness{MinAckShare: 0.7, MaxRecovery: recoveryBound},
			Purposes: []Purpose{{Event: SnapshotInstalled}},
			// runs apply about 1,800 entries: a threshold of 200 compacts the log several
			// times while the member is away, so it returns to a leader that must send it a
			// snapshot (the default 10,000 never snapshots)
			SnapshotEntries:        200,
			SnapshotCatchUpEntries: 50,
		},
		{
			Name:        "flood",
			Description: "Many clients on a 3-member cluster whose members each let only one request wait; the leader is cut off for 3 s, so requests pile up behind it and on the members that still follow it, and the ones over the limit are refused with \"too many requests\".",
			Members:     3,
			Duration:    sec(12),
			Clients:     8,
			// A member carries about 3 of the 8 clients' requests; with one allowed to wait,
			// the others are refused whenever no leader answers. (24 clients made the
			// whole-history Porcupine search run out of its 60 s; 12 took it 16 s.)
			OpsPerSecond:       catalogueOpsPerSecond,
			Keys:               16,
			Mix:                kvMix,
			Watchers:           1,
			MaxWaitingRequests: 1,
			Faults: []Fault{
				{Kind: Isolate, At: sec(3), Duration: sec(3), Targets: []Target{Leader}},
				{Kind: Partition, At: sec(8), Duration: sec(2), Targets: []Target{Follower}},
			},
			// Refused requests are definite failures and count against the share.
			Liveness: Liveness{MinAckShare: 0.3, MaxRecovery: recoveryBound},
			Purposes: []Purpose{{Event: RequestsRefusedWhenFull}, {Event: LeaderChange}},
		},
		persistStepCrashes(),
		readsAtLeaderChange(),
		divergentSuffix(),
		longDivergentSuffix(),
		watchFarBehind(),
		snapshotAcrossMembership(),
		compactionUnderLoad(),
		pauseLeader(),
		gracefulRestart(),
		rollingRestart(),
		killAll(),
		authUnderFaults(),
		{
			Name:         "everything",
			Description:  "Swarm testing: each seed enables a random half of all fault kinds and draws a dozen faults among them, on a 5-member cluster under the lease workload.",
			Members:      5,
			Duration:     sec(16),
			Clients:      8,
			OpsPerSecond: catalogueOpsPerSecond,
			Keys:         16,
			Mix:          leaseMix,
			Watchers:     3,
			RandomFaults: &RandomFaults{Kinds: AllFaultKinds(), Count: 12},
			// Random schedules can stack faults until no majority remains for long stretches:
			// little is demanded of progress, the recovery bound is what matters.
			Liveness: Liveness{MinAckShare: 0.2, MaxRecovery: 2 * recoveryBound},
		},
	}
}

// Names returns the catalogue's names in catalogue order.
func Names() []string {
	cat := Catalogue()
	names := make([]string, len(cat))
	for i, s := range cat {
		names[i] = s.Name
	}
	return names
}

// ByName returns the catalogue scenario called name.
func ByName(name string) (Scenario, bool) {
	for _, s := range Catalogue() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// persistStepCrashes crashes members at each step of the append and vote paths: between a
// Ready's write and its sync, and between the sync and the send of what it released, under
// writes and, twice, in the election that follows a leader crash (every member is armed, so
// the candidate's campaign and the voters' grants are each cut at that step).
func persistStepCrashes() Scenario {
	faults := []Fault{
		{Kind: CrashBeforeSync, At: sec(1), Duration: sec(1), Targets: []Target{Member(0)}},
		{Kind: CrashBeforeSend, At: sec(2), Duration: sec(1), Targets: []Target{Member(1)}},
		{Kind: CrashBeforeSend, At: sec(3), Duration: sec(1), Targets: []Target{Leader}},
		{Kind: Crash, At: sec(4.5), Duration: sec(1.5), Targets: []Target{Leader}},
		{Kind: Crash, At: sec(8), Duration: sec(1), Targets: []Target{Leader}},
	}
	// armed for 3 s: the crashed leader's step comes after its restart
	for _, at := range []float64{4.55, 8.05} {
		kind := CrashBeforeSync
		if at > 8 {
			kind = CrashBeforeSend
		}
		for i := range 3 {
			faults = append(faults, Fault{Kind: kind, At: sec(at), Duration: sec(3), Targets: []Target{Member(i)}})
		}
	}
	return Scenario{
		Name:         "persist-step-crashes",
		Description:  "Members lose power at each step of the append and vote paths (after a Ready is written and before its sync; after the sync and before the messages it released are sent), under writes and in the elections after two leader crashes, and restart at once.",
		Members:      3,
		Duration:     sec(12),
		Clients:      6,
		OpsPerSecond: catalogueOpsPerSecond,
		Keys:         16,
		Mix:          kvMix,
		Watchers:     1,
		Faults:       faults,
		// Two elections with every member cut once in each leave a leader for about half
		// the run (seeds 1-12 acknowledged 49-60%).
		Liveness: Liveness{MinAckShare: 0.4, MaxRecovery: recoveryBound},
		// An armed member down until after its window (the crashed leader restarting into
		// a cluster that needs nothing written from it) misses its step now and then (2 of
		// seeds 1-12); the election's voter, not its candidate, must be the one cut in the
		// vote path (9 of seeds 1-12).
		Purposes: []Purpose{{Event: LeaderChange}, {Event: StepCrash, MinShare: 0.5}, {Event: CrashInVote, MinShare: 0.5}},
	}
}

// readsAtLeaderChange moves leadership every 1.2 s under a read-heavy workload on few keys,
// so linearizable reads are in flight at every change and reach each new leader at once.
// Slow disks hold each new leader's first entry back for a sync while a read's heartbeat
// round, which needs no sync, is answered at once: for that long a new leader's commit index
// may still lag what its predecessor committed and acknowledged.
func readsAtLeaderChange() Scenario {
	var faults []Fault
	for i := range 3 {
		faults = append(faults, Fault{Kind: SlowDisk, At: sec(0.5), Duration: sec(9.5), Targets: []Target{Member(i)}, Delay: 30 * time.Millisecond})
	}
	faults = append(faults, leaderMoves([]float64{1, 2.2, 3.4, 4.6, 5.8, 7, 8.2, 9.4}, 4)...)
	return Scenario{
		Name:         "reads-at-leader-change",
		Description:  "Leadership of a 3-member cluster moves every 1.2 s (seven transfers and a leader crash) under a read-heavy workload on eight keys: reads in flight at each change, and those reaching a new leader before it committed an entry of its term, must still see every acknowledged write.",
		Members:      3,
		Duration:     sec(12),
		Clients:      8,
		OpsPerSecond: 300,
		Keys:         8,
		Mix:          Mix{Put: 35, Get: 45, SerializableGet: 5, Range: 5, Txn: 10},
		Watchers:     1,
		Faults:       faults,
		Liveness:     Liveness{MinAckShare: 0.7, MaxRecovery: recoveryBound},
		Purposes:     []Purpose{{Event: LeaderChange}, {Event: ReadsAtLeaderChange}},
	}
}

// divergentSuffix cuts the leader off with one follower, twice, while clients keep writing to
// both sides: the old leader accepts proposals until check-quorum deposes it, so it and its
// follower hold a long uncommitted suffix when the new leader's appends and heartbeats
// reach them; each truncates it and loses power right after (the truncation synced, its
// acknowledgement not yet sent), then restarts. Small appends leave most of the old suffix
// beyond the first append that truncates it.
func divergentSuffix() Scenario {
	var faults []Fault
	for _, r := range []struct {
		at     float64
		leader int
		other  int // a member of the majority's side
	}{{1.5, 0, 4}, {8, 2, 4}} {
		a, b := Member(r.leader), Member(r.leader+1)
		faults = append(faults,
			Fault{Kind: TransferLeader, At: sec(r.at - 0.5), Targets: []Target{a}},
			Fault{Kind: Partition, At: sec(r.at), Duration: sec(5), Targets: []Target{a, b}},
			// a second leader on the majority's side (unless it already leads): the cut-off
			// pair's suffix then starts below that leader's first probe, which they reject
			Fault{Kind: TransferLeader, At: sec(r.at + 4), Targets: []Target{Member(r.other)}},
			Fault{Kind: CrashAfterTruncate, At: sec(r.at + 4.5), Duration: sec(2), Targets: []Target{a}},
			Fault{Kind: CrashAfterTruncate, At: sec(r.at + 4.5), Duration: sec(2), Targets: []Target{b}})
	}
	return Scenario{
		Name:                 "divergent-suffix",
		Description:          "A leader cut off with one follower of five keeps taking writes until check-quorum deposes it; when the partition heals the two replace the long uncommitted suffix with the new leader's entries and each loses power right after the truncation, twice.",
		Members:              5,
		Duration:             sec(15),
		Clients:              8,
		OpsPerSecond:         300,
		Keys:                 16,
		Mix:                  Mix{Put: 60, Get: 15, Delete: 10, Txn: 15},
		ElectionTimeoutTicks: 20,
		Watchers:             1,
		Faults:               faults,
		Liveness:             Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
		// A round truncates only if the deposed leader took a write while cut off; the
		// suffix's length is the clients' doing (each waits up to 2 s on the cut-off side).
		Purposes: []Purpose{{Event: CrashAfterTruncation}, {Event: LeaderStepDown}, {Event: LeaderChange},
			{Event: LongSuffixTruncated, MinShare: 0.5}},
		MaxAppendBytes: 1,
	}
}

// maxDriftRate is kv/node's DefaultMaxLeaseDriftRate, ρ: the largest rate by which a member's
// clock may run fast or slow for its leases to stay safe (sim's lease-expiry-at-drift-bound
// purpose is reached only at this rate exactly, so the two cannot drift apart unnoticed).
const maxDriftRate = 0.01

// leasesAtDriftBound runs leases with one member's clock fast and another's slow by exactly
// ρ, and moves leadership between them: a lease granted or renewed under one leader is
// expired by another whose clock runs at the other end of the bound.
func leasesAtDriftBound() Scenario {
	return Scenario{
		Name:         "leases-at-drift-bound",
		Description:  "Lease-heavy workload while one member's clock runs fast and another's slow by exactly the drift bound ρ of 1% (the largest skew the lease rules allow), with leadership moved between the fast, the slow and the true clock: no lease may expire early on a leader's word nor live on after its expiry.",
		Members:      3,
		Duration:     sec(12),
		Clients:      6,
		OpsPerSecond: catalogueOpsPerSecond,
		Keys:         16,
		Mix:          Mix{Put: 15, Get: 15, Range: 5, Txn: 5, LeaseGrant: 15, LeaseKeepAlive: 20, LeaseRevoke: 10, PutWithLease: 15},
		Watchers:     1,
		Faults: []Fault{
			{Kind: ClockSkew, At: 0, Duration: sec(12), Targets: []Target{Member(0)}, Rate: maxDriftRate},
			{Kind: ClockSkew, At: 0, Duration: sec(12), Targets: []Target{Member(1)}, Rate: -maxDriftRate},
			{Kind: TransferLeader, At: sec(0.5), Targets: []Target{Member(0)}},
			{Kind: TransferLeader, At: sec(4), Targets: []Target{Member(1)}},
			{Kind: TransferLeader, At: sec(6.5), Targets: []Target{Member(2)}},
			{Kind: TransferLeader, At: sec(8), Targets: []Target{Member(0)}},
		},
		Liveness: Liveness{MinAckShare: 0.8, MaxRecovery: recoveryBound},
		Purposes: []Purpose{{Event: LeaseExpiryUnderSkew}, {Event: LeaseExpiryAtDriftBound}},
	}
}

// longDivergentSuffix is divergentSuffix's one round made long: twice the clients, so the
// cut-off leader takes a write from most of them each client timeout until check-quorum
// deposes it, leaving a suffix well past kv/raftlog's PointDeletesMax (16) entries beyond
// the new leader's first one-entry append, which the two then remove with one range
// deletion (and lose power right after).
func longDivergentSuffix() Scenario {
	a, b := Member(0), Member(1)
	return Scenario{
		Name:                 "long-divergent-suffix",
		Description:          "A leader cut off with one follower of five takes writes from 16 clients until check-quorum deposes it; when the partition heals the two replace a suffix of more than 16 entries with the new leader's, which their logs delete as one range, and each loses power right after the truncation.",
		Members:              5,
		Duration:             sec(12),
		Clients:              40,
		OpsPerSecond:         400,
		Keys:                 16,
		Mix:                  Mix{Put: 90, Txn: 10},
		ElectionTimeoutTicks: 20,
		Watchers:             1,
		Faults: []Fault{
			{Kind: TransferLeader, At: sec(0.5), Targets: []Target{a}},
			{Kind: Partition, At: sec(1), Duration: sec(5), Targets: []Target{a, b}},
			{Kind: TransferLeader, At: sec(5), Targets: []Target{Member(4)}},
			{Kind: CrashAfterTruncate, At: sec(5.5), Duration: sec(2), Targets: []Target{a}},
			{Kind: CrashAfterTruncate, At: sec(5.5), Duration: sec(2), Targets: []Target{b}},
		},
		Liveness:       Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
		Purposes:       []Purpose{{Event: SuffixRangeDeleted}, {Event: CrashAfterTruncation}, {Event: LeaderStepDown}},
		MaxAppendBytes: 1,
		// kv/node's defaults, so no seed draws a small threshold: a member that returns to a
		// compacted log installs a snapshot and truncates nothing (3 of seeds 1-20 did)
		SnapshotEntries:        10000,
		SnapshotCatchUpEntries: 5000,
	}
}

// watchFarBehind opens two watchers from revision 1 nine seconds into a write-heavy run,
// about 2,000 revisions behind: their members catch them up from history in reads cut at
// kv/watch's MaxEventsPerResponse (1,000 events), while the leader crashes, so a watcher
// whose member goes down resumes elsewhere still behind.
func watchFarBehind() Scenario {
	return Scenario{
		Name:           "watch-far-behind",
		Description:    "Two watchers open from revision 1 when the history is about 2,000 revisions long, so their catch-up goes out in batches cut at the watch hub's limit of 1,000 events, while the leader crashes: every event must still arrive once, in order, with nothing lost at a cut.",
		Members:        3,
		Duration:       sec(12),
		Clients:        8,
		OpsPerSecond:   600,
		Keys:           16,
		Mix:            Mix{Put: 60, Get: 15, Range: 5, Delete: 5, Txn: 15},
		Watchers:       1,
		LateWatchers:   2,
		LateWatchersAt: sec(9),
		Faults: []Fault{
			{Kind: Crash, At: sec(9.05), Duration: sec(1.5), Targets: []Target{Leader}},
		},
		Liveness: Liveness{MinAckShare: 0.7, MaxRecovery: recoveryBound},
		Purposes: []Purpose{{Event: WatchCatchUpCut}},
	}
}

// snapshotAcrossMembership cuts a follower off and crashes it while a member is added and
// another removed, under writes enough to compact the log many times over: the follower
// returns holding the configuration it had (the founding three) to a leader whose log
// starts past it, and installs a snapshot whose configuration (the new member in, the
// removed one out) differs from its own.
func snapshotAcrossMembership() Scenario {
	return Scenario{
		Name:         "snapshot-across-membership",
		Description:  "A follower is cut off and crashed while a member is added and another removed, and the others compact their logs; it returns to a snapshot whose configuration differs from the one it holds, and must take both.",
		Members:      3,
		Duration:     sec(14),
		Clients:      8,
		OpsPerSecond: 2 * catalogueOpsPerSecond,
		Keys:         64,
		Mix:          Mix{Put: 70, Get: 15, Range: 5, Delete: 5, Txn: 5},
		Watchers:     2,
		Faults: []Fault{
			{Kind: Isolate, At: sec(1), Duration: sec(7), Targets: []Target{Member(2)}},
			{Kind: Crash, At: sec(1.5), Duration: sec(6), Targets: []Target{Member(2)}},
			{Kind: AddMember, At: sec(2)},
			{Kind: RemoveMember, At: sec(4.5), Targets: []Target{Member(1)}},
		},
		// A third of the requests go to the member away for 7 s, and a leader of the
		// founding three may be the one removed (it hands over first).
		Liveness: Liveness{MinAckShare: 0.6, MaxRecovery: recoveryBound},
		Purposes: []Purpose{{Event: SnapshotAcrossConfChange}, {Event: ConfChangeApplied}, {Event: SnapshotInstalled}},
		// as snapshot-catch-up: a threshold of 200 compacts the log several times while the
		// member is away (the new member joins from a snapshot too)
		SnapshotEntries:        200,
		SnapshotCatchUpEntries: 50,
	}
}

// compactionUnderLoad compacts the store a little behind the head while clients read the
// whole key space at past revisions on both sides of the compacted one and watchers follow
// it, two of them opened late from revision 1, and the leader crashes once: reads below the
// compacted revision are refused, the late watchers are cancelled with the compact revision
// and resume from it, and everything above it must still be served whole.
func compactionUnderLoad() Scenario {
	return Scenario{
		Name:         "compaction-under-load",
		Description:  "Clients compact the store 100 revisions behind the head under writes while others read at revisions up to 200 behind it and watchers follow, two opened late from revision 1, with a leader crash: reads below the compaction must be refused as compacted, watches from a compacted revision cancelled with its compact revision, and everything above it served whole.",
		Members:      3,
		Duration:     sec(12),
		Clients:      8,
		OpsPerSecond: 2 * catalogueOpsPerSecond,
		Keys:         32,
		Mix:          Mix{Put: 50, Get: 10, Range: 5, Delete: 5, Txn: 10, RangeAtRevision: 18, Compact: 2},
		Watchers:     2,
		// by 6 s the workload has compacted well past revision 1
		LateWatchers:   2,
		LateWatchersAt: sec(6),
		Faults: []Fault{
			{Kind: Crash, At: sec(3), Duration: sec(1.5), Targets: []Target{Leader}},
			{Kind: Crash, At: sec(6.05), Duration: sec(1.5), Targets: []Target{Follower}},
		},
		// refused reads are definite failures and count against the share
		Liveness: Liveness{MinAckShare: 0.6, MaxRecovery: recoveryBound},
		Purposes: []Purpose{{Event: ReadsRefusedCompacted}, {Event: WatchCancelledByCompaction}, {Event: LeaderChange}},
	}
}

// pauseLeader freezes the leader for longer than an election: its followers elect another,
// and the old leader, thawed, finds a higher term in the messages that waited for it and
// steps down, having committed nothing alone. Then a follower is frozen, with the leader's
// appends waiting in it.
func pauseLeader() Scenario {
	return Scenario{
		Name:         "pause-leader",
		Description:  "The leader is paused (a frozen process: it notices nothing, what reaches it waits) for 3 s: the followers elect a new leader, and the old one, resumed with its clock jumped, reads the messages that waited for it in order and steps down; then a follower is paused for 2 s.",
		Members:      3,
		Duration:     sec(12),
		Clients:      6,
		OpsPerSecond: catalogueOpsPerSecond,
		Keys:         16,
		Mix:          leaseMix,
		Watchers:     2,
		Faults: []Fault{
			{Kind: Pause, At: sec(2), Duration: sec(3), Targets: []Target{Leader}},
			{Kind: Pause, At: sec(7), Duration: sec(2), Targets: []Target{Follower}},
		},
		// requests sent to a paused member wait until their clients give up
		Liveness: Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
		Purposes: []Purpose{{Event: LeaderChange}, {Event: LeaderStepDown}},
	}
}

// gracefulRestart restarts the leader and then a follower cleanly, as an operator does.
func gracefulRestart() Scenario {
	return Scenario{
		Name:         "graceful-restart",
		Description:  "The leader is stopped cleanly (SIGTERM: nothing it wrote is lost) and started again, then a follower, then the leader again.",
		Members:      3,
		Duration:     sec(10),
		Clients:      6,
		OpsPerSecond: catalogueOpsPerSecond,
		Keys:         16,
		Mix:          kvMix,
		Watchers:     2,
		Faults: []Fault{
			{Kind: GracefulRestart, At: sec(2), Targets: []Target{Leader}},
			{Kind: GracefulRestart, At: sec(4.5), Targets: []Target{Follower}},
			{Kind: GracefulRestart, At: sec(6.5), Targets: []Target{Leader}},
		},
		Liveness: Liveness{MinAckShare: 0.6, MaxRecovery: recoveryBound},
		Purposes: []Purpose{{Event: LeaderChange}},
	}
}

// rollingRestart is an operator's upgrade under load: every member restarted cleanly in
// turn, twice.
func rollingRestart() Scenario {
	return Scenario{
		Name:         "rolling-restart",
		Description:  "Every member is restarted gracefully one after another under load (an operator's upgrade), followers first and the leader last, each serving again before the next, twice.",
		Members:      3,
		Duration:     sec(14),
		Clients:      6,
		OpsPerSecond: catalogueOpsPerSecond,
		Keys:         16,
		Mix:          leaseMix,
		Watchers:     2,
		Faults: []Fault{
			{Kind: RollingRestart, At: sec(2)},
			{Kind: RollingRestart, At: sec(7)},
		},
		Liveness: Liveness{MinAckShare: 0.6, MaxRecovery: recoveryBound},
		Purposes: []Purpose{{Event: LeaderChange}},
	}
}

// killAll takes the power from the whole cluster at once, twice: what it acknowledged must
// have been on every majority's disk.
func killAll() Scenario {
	return Scenario{
		Name:         "kill-all",
		Description:  "Every member is crashed at once under load (power loss of the whole cluster: each keeps only what it synced) and all are started again 2 s later, then again for 1.5 s.",
		Members:      3,
		Duration:     sec(12),
		Clients:      6,
		OpsPerSecond: catalogueOpsPerSecond,
		Keys:         16,
		Mix:          kvMix,
		Watchers:     2,
		Faults: []Fault{
			{Kind: KillAll, At: sec(2.5), Duration: sec(2)},
			{Kind: KillAll, At: sec(7), Duration: sec(1.5)},
		},
		// the cluster is down for 3.5 s of 12, and elects a leader after each
		Liveness: Liveness{MinAckShare: 0.4, MaxRecovery: recoveryBound},
		Purposes: []Purpose{{Event: LeaderChange}},
	}
}

// authUnderFaults runs the auth workload (sim/auth.go) while the leader crashes and a
// minority is cut off: permissions granted and revoked under load must hold for every
// request at the auth revision its credentials carry, on every member, through restarts.
func authUnderFaults() Scenario {
	return Scenario{
		Name:         "auth-under-faults",
		Description:  "Auth enabled: clients act as three users while a control client revokes and grants a key-range permission and a role every 300 ms; the leader crashes twice and a minority is partitioned away, so changes race requests and some outcomes are unknown.",
		Members:      3,
		Duration:     sec(12),
		Clients:      6,
		OpsPerSecond: catalogueOpsPerSecond,
		Keys:         8,
		Mix:          kvMix,
		Watchers:     1,
		Auth:         &AuthWorkload{ChangeEvery: 300 * time.Millisecond},
		Faults: []Fault{
			{Kind: Crash, At: sec(2), Duration: sec(2), Targets: []Target{Leader}},
			{Kind: Partition, At: sec(5), Duration: sec(2), Targets: []Target{Follower}},
			{Kind: Crash, At: sec(8), Duration: sec(1.5), Targets: []Target{Leader}},
		},
		Liveness: Liveness{MinAckShare: 0.5, MaxRecovery: recoveryBound},
		Purposes: []Purpose{{Event: LeaderChange}},
	}
}
