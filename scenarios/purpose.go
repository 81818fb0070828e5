package scenarios

import "fmt"

// PurposeEvent names an event a scenario exists to produce. The simulator counts it from what
// the members report as the run goes (kv/node's Observer), never from the scenario's own
// schedule: a fault that was injected but did not have its effect does not count.
type PurposeEvent string

// The purpose events.
const (
	// LeaderChange: a member won an election after the workload started.
	LeaderChange PurposeEvent = "leader-change"
	// LeaderStepDown: a member that led stopped leading while it kept running (a leader cut
	// off with a minority steps down by check-quorum).
	LeaderStepDown PurposeEvent = "leader-step-down"
	// SnapshotInstalled: a member that restarted after a crash, or joined, installed a
	// snapshot (the leader's log was compacted past what it held).
	SnapshotInstalled PurposeEvent = "snapshot-installed"
	// ConfChangeApplied: every membership change the injected faults ask for applied: two
	// for an add-member (add a learner, promote it), one for a remove-member, three for a
	// replace-member (counted as distinct committed conf-change entries).
	ConfChangeApplied PurposeEvent = "conf-change-applied"
	// SyncFailCrash: every disk fault (sync-fail, write-fail, short-write) reached the
	// member's Pebble and stopped the member, as the simulator saw it: its Synced failed in
	// the WAL beneath Pebble and returned the storage error.
	SyncFailCrash PurposeEvent = "sync-fail-crash"
	// LeaseExpiryUnderSkew: a lease expired (its revoke applied) while a member's clock ran
	// skewed.
	LeaseExpiryUnderSkew PurposeEvent = "lease-expiry-under-skew"
	// LeaseExpiryAtDriftBound: a lease expired on the word of a leader whose clock ran fast
	// or slow by exactly the members' drift bound ρ (kv/node's DefaultMaxLeaseDriftRate): the
	// leader, leading when it applied the expiry revoke, had its clock's rate at ±ρ.
	LeaseExpiryAtDriftBound PurposeEvent = "lease-expiry-at-drift-bound"
	// RequestsRefusedWhenFull: a member refused a request with "too many requests" because
	// its table of waiting requests was full (Scenario.MaxWaitingRequests).
	RequestsRefusedWhenFull PurposeEvent = "requests-refused-when-full"
	// StepCrash: every step-crash fault (crash-before-sync, crash-before-send,
	// crash-after-truncate) crashed its member at its step.
	StepCrash PurposeEvent = "step-crash"
	// CrashInVote: a member crashed at a step of a persist cycle that wrote its vote for
	// another member.
	CrashInVote PurposeEvent = "crash-in-vote"
	// ReadsAtLeaderChange: linearizable reads were waiting on a member when the leader it
	// knew changed.
	ReadsAtLeaderChange PurposeEvent = "reads-at-leader-change"
	// LongSuffixTruncated: a member replaced a conflicting suffix of at least
	// LongSuffixEntries entries of its log with a new leader's entries.
	LongSuffixTruncated PurposeEvent = "long-suffix-truncated"
	// SuffixRangeDeleted: a member replaced a conflicting suffix that reached more than
	// kv/raftlog's PointDeletesMax (16) entries beyond the new leader's entries of that
	// append, so its log removed them with one range deletion, not point deletes.
	SuffixRangeDeleted PurposeEvent = "suffix-range-deleted"
	// WatchCatchUpCut: a watcher was far enough behind that a catch-up read of its stream
	// stopped at a bound (kv/watch's MaxEventsPerResponse, 1000 events by default) short of
	// the member's revision, so its catch-up went out in more than one batch.
	WatchCatchUpCut PurposeEvent = "watch-catch-up-cut"
	// CrashAfterTruncation: a member crashed right after the persist cycle in which it
	// truncated a conflicting suffix (crash-after-truncate).
	CrashAfterTruncation PurposeEvent = "crash-after-truncation"
	// SnapshotAcrossConfChange: a member that held a configuration installed a snapshot
	// whose configuration differs from it (membership changed while it was away), as its
	// reports show: the configuration at its last report against the snapshot's.
	SnapshotAcrossConfChange PurposeEvent = "snapshot-across-conf-change"
	// ReadsRefusedCompacted: a client's read at a past revision was refused with etcd's
	// compacted error (a compaction above that revision had applied on its member).
	ReadsRefusedCompacted PurposeEvent = "reads-refused-compacted"
	// WatchCancelledByCompaction: a member cancelled a watch because the revision it had to
	// deliver next was compacted (node.EventWatchCompacted).
	WatchCancelledByCompaction PurposeEvent = "watch-cancelled-by-compaction"
)

// LongSuffixEntries is how long a truncated suffix must be to count as long-suffix-truncated:
// several appends' worth when appends carry one entry, as in divergent-suffix. (A deposed
// leader's suffix is bounded by the clients: each waits up to 2 s on a request it sent to
// the cut-off side.)
const LongSuffixEntries = 4

// PurposeEvents lists every purpose event, in report order.
func PurposeEvents() []PurposeEvent {
	return []PurposeEvent{LeaderChange, LeaderStepDown, SnapshotInstalled, ConfChangeApplied, SyncFailCrash, LeaseExpiryUnderSkew, LeaseExpiryAtDriftBound, RequestsRefusedWhenFull,
		StepCrash, CrashInVote, ReadsAtLeaderChange, LongSuffixTruncated, SuffixRangeDeleted, CrashAfterTruncation, WatchCatchUpCut,
		SnapshotAcrossConfChange, ReadsRefusedCompacted, WatchCancelledByCompaction}
}

// Purpose is one event a scenario exists to produce.
type Purpose struct {
	Event PurposeEvent
	// MinShare, when nonzero, says the event is random by design: a sweep of seeds fails when
	// it happened in fewer than this share of them (a single run does not). Zero: every run
	// must produce it, else the run fails ("purpose not reached").
	MinShare float64
}

func (p Purpose) validate() error {
	known := false
	for _, e := range PurposeEvents() {
		known = known || e == p.Event
	}
	if !known {
		return fmt.Errorf("purpose event %q is unknown", p.Event)
	}
	if p.MinShare < 0 || p.MinShare > 1 {
		return fmt.Errorf("purpose %s: MinShare %v is outside [0, 1]", p.Event, p.MinShare)
	}
	return nil
}
