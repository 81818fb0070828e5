package scenarios

// Descriptor is the static part of one fault kind: the targets it takes, the parameters it
// reads, how a random fault of the kind is drawn, and its one-line summary for the docs. It
// is data, with no behaviour: the validator checks schedules against it, the simulator keys
// its apply/undo registry (sim/faults.go) by Kind and draws random faults from it, and a
// runner outside the simulator (the Docker chaos harness) reuses it as is, supplying its own
// apply and undo. Applying a fault needs the runner's world (the simulator's links and
// disks, or containers and iptables), so it cannot live here: scenarios imports nothing of
// ours but linearizability (arch_test.go).
type Descriptor struct {
	Kind FaultKind
	// MinTargets and MaxTargets bound len(Fault.Targets) (MaxTargets -1: no bound).
	MinTargets, MaxTargets int
	// Rate says what Fault.Rate means for this kind (RateNone: it must be 0).
	Rate RateRule
	// Delay says the kind takes Fault.Delay (> 0); otherwise Delay must be 0.
	Delay bool
	// Random says how a random fault of this kind picks its targets; Instant drawn random
	// faults have Duration 0.
	Random  RandomTargets
	Instant bool
	// Summary is the kind's line in the fault table of the docs.
	Summary string
}

// RateRule says what Fault.Rate means for a kind.
type RateRule int

// The rate rules.
const (
	RateNone        RateRule = iota // no rate: Rate must be 0
	RateProbability                 // a probability within [0,1]
	RateSkew                        // a clock rate offset within (-1,1)
)

// RandomTargets says how a random fault picks its targets.
type RandomTargets int

// The random target rules.
const (
	RandomNone     RandomTargets = iota // no targets (cluster-wide, or the runner chooses)
	RandomMember                        // one founding member by index
	RandomMinority                      // the Minority role
	RandomPair                          // two distinct founding members (from, to)
)

// descriptors holds every fault kind, in declaration order.
var descriptors = []Descriptor{
	{Kind: Crash, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "stops the member at once, losing unsynced writes; restarts after Duration when set"},
	{Kind: Restart, MinTargets: 1, MaxTargets: 1,
		Summary: "restarts a stopped member from its disk"},
	{Kind: Partition, MinTargets: 1, MaxTargets: -1, Random: RandomMinority,
		Summary: "cuts Targets (one side) from the rest for Duration"},
	{Kind: Isolate, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "cuts one member from all others for Duration"},
	{Kind: OneWay, MinTargets: 2, MaxTargets: -1, Random: RandomPair,
		Summary: "drops messages from Targets[0] to Targets[1:] only"},
	{Kind: Bridge, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "splits the others in two halves that only Targets[0] connects"},
	{Kind: Loss, Rate: RateProbability,
		Summary: "drops messages on every link at Rate"},
	{Kind: Duplicate, Rate: RateProbability,
		Summary: "duplicates messages on every link at Rate"},
	{Kind: Reorder, Rate: RateProbability,
		Summary: "reorders messages on every link at Rate"},
	{Kind: Latency, Delay: true,
		Summary: "adds Delay to every message"},
	{Kind: ClockSkew, MinTargets: 1, MaxTargets: -1, Rate: RateSkew, Random: RandomMember,
		Summary: "runs Targets' clocks at rate 1+Rate"},
	{Kind: SyncFail, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "fails the member's next WAL sync beneath Pebble: it stops, losing what it had not synced, and restarts after Duration"},
	{Kind: WriteFail, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "fails a WAL write of the member's next sync beneath Pebble: it stops and restarts after Duration"},
	{Kind: ShortWrite, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "writes half of a WAL write of the member's next sync beneath Pebble: it stops and restarts after Duration"},
	{Kind: SlowDisk, MinTargets: 1, MaxTargets: 1, Delay: true, Random: RandomMember,
		Summary: "adds Delay to the member's syncs"},
	{Kind: CrashBeforeSync, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "crashes the member at its next persist cycle, after the write and before the sync (losing the write), and restarts it right after; armed for Duration"},
	{Kind: CrashBeforeSend, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "crashes the member at its next persist cycle, after the sync and before the messages it released go out, and restarts it right after; armed for Duration"},
	{Kind: CrashAfterTruncate, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "crashes the member once its next persist cycle that truncates a conflicting suffix is synced, before its messages go out, and restarts it right after; armed for Duration"},
	{Kind: Corrupt, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "flips bytes in a stopped member's sstables or MANIFEST before it restarts"},
	{Kind: AddMember, Instant: true,
		Summary: "adds a new member as a learner, promoted once caught up"},
	{Kind: RemoveMember, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "removes the member from the configuration"},
	{Kind: ReplaceMember, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "adds a new member, then removes the target"},
	{Kind: TransferLeader, MinTargets: 0, MaxTargets: 1, Instant: true,
		Summary: "moves leadership to Targets[0] (or any other member)"},
	{Kind: Pause, MinTargets: 1, MaxTargets: 1, Random: RandomMember,
		Summary: "freezes the member's process for Duration: it takes no step, the messages and requests that reach it wait and are handled in arrival order when it resumes, and its clock runs on"},
	{Kind: GracefulRestart, MinTargets: 1, MaxTargets: 1, Random: RandomMember, Instant: true,
		Summary: "stops the member cleanly (everything it wrote kept, as after SIGTERM) and starts it again on its disk"},
	{Kind: RollingRestart, MinTargets: 0, MaxTargets: 0, Instant: true,
		Summary: "restarts every member gracefully in turn, followers first and the leader last, each serving again before the next"},
	{Kind: KillAll, MinTargets: 0, MaxTargets: 0,
		Summary: "crashes every member at once, each losing what it had not synced, and restarts them all after Duration"},
}

// Descriptors returns every fault kind's descriptor, in declaration order.
func Descriptors() []Descriptor { return append([]Descriptor(nil), descriptors...) }

// Describe returns k's descriptor, and false for an unknown kind.
func Describe(k FaultKind) (Descriptor, bool) {
	for _, d := range descriptors {
		if d.Kind == k {
			return d, true
		}
	}
	return Descriptor{}, false
}

// AllFaultKinds lists every fault kind, in declaration order (for swarm scenarios and flags).
func AllFaultKinds() []FaultKind {
	out := make([]FaultKind, len(descriptors))
	for i, d := range descriptors {
		out[i] = d.Kind
	}
	return out
}

// Known reports whether k is one of the fault kinds above.
func (k FaultKind) Known() bool {
	_, ok := Describe(k)
	return ok
}
