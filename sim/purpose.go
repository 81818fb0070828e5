package sim

import (
	"fmt"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/kv/raftlog"
	"github.com/ballastdb/ballast/scenarios"
)

// Result.Coverage says, from the members' Observer reports (counted by the safety checker)
// and the simulator's own crashes at failed syncs, which scenarios.PurposeEvents happened and
// how often each rare path ran (node.EventKind, summed over members: a lease expiry applied
// on three members counts three). leader-change counts elections won after the workload
// started; leader-step-down a member whose last report led and whose next one does not,
// while it runs; snapshot-installed an install on a member that crashed before or joined;
// conf-change-applied as many distinct committed membership changes as the membership faults
// ask for (add-member two, remove-member one, replace-member three);
// sync-fail-crash one member stopped by a disk fault that reached its Pebble (its Synced
// failed in the WAL beneath Pebble and returned the storage error) per sync-fail, write-fail
// and short-write fault, counted when the simulator sees it, not from the schedule; lease-expiry-under-skew an
// expiry revoke applied while a live member's clock ran skewed; lease-expiry-at-drift-bound
// an expiry revoke applied by a member leading at its last report whose clock rate was ±ρ
// (node.DefaultMaxLeaseDriftRate) exactly; step-crash one crash per
// step-crash fault (stepcrash.go); crash-in-vote a step crash in a cycle that wrote a vote
// for another member; reads-at-leader-change linearizable reads waiting on a member whose
// leader changed; long-suffix-truncated a truncated suffix of scenarios.LongSuffixEntries or
// more; suffix-range-deleted a truncation whose stale entries beyond the append's reached
// past raftlog.PointDeletesMax (node.EventSuffixRangeDeleted); watch-catch-up-cut a watch
// stream's catch-up read cut at a bound short of its member's revision
// (node.EventWatchCatchUpCut); crash-after-truncation a crash-after-truncate that fired;
// snapshot-across-conf-change a snapshot installed on a member whose configuration at its
// last report (non-empty: not a joining member's first install) differs from the
// snapshot's; reads-refused-compacted a client's read at a past revision answered with
// the compacted error; watch-cancelled-by-compaction a watch a member cancelled because its
// next revision was compacted (node.EventWatchCompacted). After every other judgement
// a run whose scenario declared a purpose (MinShare 0) that did not happen fails with
// "purpose not reached: <why>". ballast-sim's coverage table shows, per scenario, the share of
// seeds in which each purpose event happened (* marks the declared ones) and the rare-path
// counts, and fails a sweep in which a purpose with a MinShare fell below it.

// Coverage is what a run's members did, counted from their reports (node.Observer): whether
// each purpose event of the scenarios happened, and how often each rare path ran.
type Coverage struct {
	// Purposes: whether each purpose event happened in the run (every event, declared by the
	// scenario or not), by name.
	Purposes map[scenarios.PurposeEvent]bool `json:"purposes"`
	// Events counts the rare paths the members reported, by node.EventKind name.
	Events map[string]int `json:"events"`
}

// coverage counts the run's purpose events and rare paths. membershipFaults is the number of
// membership changes the run's faults ask for, diskFaults the disk faults it injected,
// stepFaults its step-crash faults.
func (s *sim) coverage(membershipFaults, diskFaults, stepFaults int) (Coverage, map[scenarios.PurposeEvent]string) {
	sc, c := s.c.safety, s.c
	cov := Coverage{Purposes: map[scenarios.PurposeEvent]bool{}, Events: map[string]int{}}
	for _, k := range node.EventKinds() {
		cov.Events[k.String()] = sc.events[k]
	}
	why := map[scenarios.PurposeEvent]string{}
	set := func(e scenarios.PurposeEvent, ok bool, format string, args ...any) {
		cov.Purposes[e] = ok
		if !ok {
			why[e] = fmt.Sprintf(format, args...)
		}
	}
	set(scenarios.LeaderChange, sc.wins > 0, "no leader elected after the workload started")
	set(scenarios.LeaderStepDown, sc.stepDowns > 0, "no leader stepped down")
	returned := false // a snapshot installed on a member that came back from a crash or joined
	for _, sm := range s.c.slots {
		returned = returned || sc.installed[sm.id] > 0 && (sm.crashes > 0 || c.index(sm.id) >= len(s.c.ids))
	}
	set(scenarios.SnapshotInstalled, returned, "no snapshot installed")
	set(scenarios.ConfChangeApplied, membershipFaults > 0 && sc.confChanges >= membershipFaults,
		"%d membership changes applied of %d the faults asked for", sc.confChanges, membershipFaults)
	set(scenarios.SyncFailCrash, diskFaults > 0 && s.c.diskFaultStops >= diskFaults,
		"%d members stopped by a disk fault that reached Pebble for %d disk faults", s.c.diskFaultStops, diskFaults)
	set(scenarios.LeaseExpiryUnderSkew, sc.skewedExpiries > 0, "no lease expired while a clock ran skewed")
	set(scenarios.LeaseExpiryAtDriftBound, sc.boundExpiries > 0, "no lease expired on the word of a leader whose clock ran at the drift bound ±%v", node.DefaultMaxLeaseDriftRate)
	set(scenarios.RequestsRefusedWhenFull, s.c.refusedFull > 0, "no request was refused as too many: no member's table of waiting requests filled up")
	set(scenarios.StepCrash, stepFaults > 0 && c.stepCrashes >= stepFaults,
		"%d members crashed at a step of a persist cycle for %d step-crash faults", c.stepCrashes, stepFaults)
	set(scenarios.CrashInVote, c.voteCrashes > 0, "no member crashed in a persist cycle that wrote its vote")
	set(scenarios.ReadsAtLeaderChange, sc.readsAtLeaderChange > 0, "no linearizable read was waiting when a leader changed")
	set(scenarios.LongSuffixTruncated, sc.longTruncations > 0, "no member truncated a conflicting suffix of %d entries or more", scenarios.LongSuffixEntries)
	set(scenarios.SuffixRangeDeleted, sc.events[node.EventSuffixRangeDeleted] > 0, "no member truncated a conflicting suffix of more than %d entries beyond the new ones (the range-deletion path)", raftlog.PointDeletesMax)
	set(scenarios.WatchCatchUpCut, sc.events[node.EventWatchCatchUpCut] > 0, "no watch catch-up was cut short of the member's revision (no watcher fell far enough behind)")
	set(scenarios.CrashAfterTruncation, c.truncationCrashes > 0, "no member crashed right after truncating a conflicting suffix")
	set(scenarios.SnapshotAcrossConfChange, sc.snapshotConfChanges > 0, "no member installed a snapshot whose configuration differs from the one it held")
	set(scenarios.ReadsRefusedCompacted, c.refusedCompacted > 0, "no read at a past revision was refused as compacted")
	set(scenarios.WatchCancelledByCompaction, sc.events[node.EventWatchCompacted] > 0, "no watch was cancelled because its next revision was compacted")
	return cov, why
}

// purposeFailure is the failure of a run whose scenario's purposes (those every run must
// reach) did not all happen, "" if they did.
func purposeFailure(sc scenarios.Scenario, why map[scenarios.PurposeEvent]string) string {
	for _, p := range sc.Purposes {
		if w, missed := why[p.Event]; missed && p.MinShare == 0 {
			return "purpose not reached: " + w
		}
	}
	return ""
}

// countFaults counts the faults of fs of the given kinds due within the workload.
func countFaults(fs []scenarios.Fault, before int64, kinds ...scenarios.FaultKind) int {
	n := 0
	for _, f := range fs {
		for _, k := range kinds {
			if f.Kind == k && int64(f.At) < before {
				n++
			}
		}
	}
	return n
}
