package scenarios

import (
	"fmt"
	"time"
)

// Scenario is one named workload with its fault schedule: data that sim/ (and later chaos/)
// run. Times are offsets from the start of the run.
type Scenario struct {
	// Name is the catalogue name, e.g. "steady", "leader-crash".
	Name string
	// Description says in one sentence what the scenario does to the cluster.
	Description string
	// Members is the initial cluster size.
	Members int
	// Duration is how long clients issue requests (simulated or wall time).
	Duration time.Duration
	// Clients is the number of concurrent clients; each issues one request at a time.
	Clients int
	// OpsPerSecond is the whole workload's target rate of requests.
	OpsPerSecond int
	// Keys is the number of distinct keys the workload writes (small = more conflicts).
	Keys int
	// Mix weighs the kinds of requests the workload issues.
	Mix Mix
	// Watchers is the number of watch streams that follow the whole key space (with resumes).
	Watchers int
	// LateWatchers more watchers open at LateWatchersAt, from revision 1 like the others: far
	// behind by then, they are caught up from history in several cut batches.
	LateWatchers   int
	LateWatchersAt time.Duration
	// Faults is the fixed fault schedule.
	Faults []Fault
	// RandomFaults, when set, adds faults drawn per seed (swarm testing: each seed picks which
	// kinds are enabled, then draws their times).
	RandomFaults *RandomFaults
	// Liveness are the thresholds the run must meet besides safety.
	Liveness Liveness
	// MaxAppendBytes, when > 0, bounds the entries of one raft append message on every
	// member (kv/node's Config.MaxAppendBytes; 1 sends one entry per append). 0: the default.
	MaxAppendBytes int
	// MaxWaitingRequests, when > 0, bounds the requests waiting on each member (kv/node's
	// Config.MaxWaitingRequests); one more is refused with "too many requests". 0: the default.
	MaxWaitingRequests int
	// SnapshotEntries and SnapshotCatchUpEntries, when > 0, are every member's snapshot
	// threshold and the entries kept below a snapshot (kv/node's Config fields of the same
	// names). 0: the default, or a value the seed's knobs draw (sim/knobs.go).
	SnapshotEntries        int
	SnapshotCatchUpEntries int
	// ElectionTimeoutTicks, when > 0, is every member's election timeout in ticks (the
	// heartbeat stays at one tick). 0: the default, or a knob draw.
	ElectionTimeoutTicks int
	// Auth, when set, runs the workload with auth enabled: clients acting as different users
	// while a control client grants and revokes a permission (sim/auth.go).
	Auth *AuthWorkload
	// Purposes are the events the scenario exists to produce (purpose.go): a run in which one
	// of them did not happen fails, or for a random one, a sweep below its share.
	Purposes []Purpose
}

// AuthWorkload tunes the auth workload.
type AuthWorkload struct {
	// ChangeEvery is the control client's pause between two permission changes (jittered).
	ChangeEvery time.Duration
}

// Mix weighs request kinds; a zero weight disables the kind.
type Mix struct {
	Put, Get, SerializableGet, Range, Delete, Txn         int
	LeaseGrant, LeaseKeepAlive, LeaseRevoke, PutWithLease int
	// RangeAtRevision reads the whole key space at a past revision, up to twice CompactLag
	// behind the highest revision the clients have seen; Compact compacts the store at
	// CompactLag behind it (etcd's Compaction, not physical).
	RangeAtRevision, Compact int
}

// CompactLag is how many revisions behind the highest one the clients have seen the
// workload's compactions go: a little behind the head, so reads at revisions up to twice as
// far back are refused as compacted about as often as they are served.
const CompactLag = 100

// FaultKind names a fault.
type FaultKind string

// The fault kinds a schedule may use.
const (
	// Crash stops a member at once, losing unsynced writes (power loss); Restart brings it back
	// from its disk (a Crash with Duration > 0 restarts by itself after Duration).
	Crash   FaultKind = "crash"
	Restart FaultKind = "restart"
	// Partition splits Targets (one side) from the rest for Duration; Isolate is a partition of
	// one member; OneWay drops messages from Targets[0] to Targets[1:] only (asymmetric link);
	// Bridge partitions the cluster into two sides that only Targets[0] connects.
	Partition FaultKind = "partition"
	Isolate   FaultKind = "isolate"
	OneWay    FaultKind = "one-way"
	Bridge    FaultKind = "bridge"
	// Loss drops, Duplicate duplicates and Reorder reorders messages at Rate (0..1) on every
	// link for Duration; Latency adds Delay (a spike) to every message.
	Loss      FaultKind = "loss"
	Duplicate FaultKind = "duplicate"
	Reorder   FaultKind = "reorder"
	Latency   FaultKind = "latency"
	// ClockSkew makes Targets' clocks run at rate 1+Rate (Rate within ±ρ) for Duration.
	ClockSkew FaultKind = "clock-skew"
	// SyncFail fails Targets[0]'s next sync, WriteFail a write of its next sync and ShortWrite
	// writes half of one, beneath its Pebble (the member stops; it restarts after Duration from
	// what it had synced); SlowDisk adds Delay to its syncs for Duration; Corrupt flips bytes
	// in a stopped member's sstables or MANIFEST before it restarts (it must refuse to serve).
	SyncFail   FaultKind = "sync-fail"
	WriteFail  FaultKind = "write-fail"
	ShortWrite FaultKind = "short-write"
	SlowDisk   FaultKind = "slow-disk"
	Corrupt    FaultKind = "corrupt"
	// The step crashes cut Targets[0]'s power at one step of its next persist cycle (a Ready
	// written unsynced, synced, then the messages that waited for the sync sent), and restart
	// it right after; each stays armed for Duration. CrashBeforeSync crashes after the write
	// and before the sync (the write is lost); CrashBeforeSend after the sync and before the
	// messages it released go out; CrashAfterTruncate like CrashBeforeSend, at the next cycle
	// that truncated a conflicting suffix of the member's log.
	CrashBeforeSync    FaultKind = "crash-before-sync"
	CrashBeforeSend    FaultKind = "crash-before-send"
	CrashAfterTruncate FaultKind = "crash-after-truncate"
	// AddMember adds a new member; RemoveMember removes Targets[0]; ReplaceMember removes
	// Targets[0] and adds a new one; TransferLeader moves leadership to Targets[0] (or any
	// other member when Targets is empty).
	AddMember      FaultKind = "add-member"
	RemoveMember   FaultKind = "remove-member"
	ReplaceMember  FaultKind = "replace-member"
	TransferLeader FaultKind = "transfer-leader"
	// Pause freezes Targets[0]'s process for Duration (docker pause: a process that stops
	// without noticing): it takes no step, what reaches it waits, in order, and its clock runs
	// on. GracefulRestart stops Targets[0] cleanly (SIGTERM: nothing it wrote is lost) and
	// starts it again; RollingRestart restarts every member so, one after another, followers
	// first and the leader last; KillAll crashes every member at once (a power loss of the
	// whole cluster) and restarts them all after Duration.
	Pause           FaultKind = "pause"
	GracefulRestart FaultKind = "graceful-restart"
	RollingRestart  FaultKind = "rolling-restart"
	KillAll         FaultKind = "kill-all"
)

// Target names a member by its index in the initial membership (0-based), or by role.
type Target string

// Role targets, resolved when the fault starts.
const (
	Leader   Target = "leader"
	Follower Target = "follower" // one follower, chosen by the fault stream
	Minority Target = "minority" // a minority of the members, chosen by the fault stream
)

// Member returns the target for the member at index i of the initial membership.
func Member(i int) Target { return Target(fmt.Sprintf("m%d", i)) }

// Fault is one scheduled fault.
type Fault struct {
	Kind     FaultKind
	At       time.Duration
	Duration time.Duration // 0: instantaneous (or until the end, for network faults)
	Targets  []Target
	Rate     float64       // Loss/Duplicate/Reorder probability, ClockSkew rate
	Delay    time.Duration // Latency and SlowDisk extra delay
}

// RandomFaults draws faults per seed.
type RandomFaults struct {
	// Kinds the seed may enable; each is enabled with probability one half (swarm testing).
	Kinds []FaultKind
	// Count is how many faults to draw among the enabled kinds.
	Count int
}

// Liveness thresholds: safety is always checked; these say the cluster also made progress.
type Liveness struct {
	// MinAckShare is the least share of requests that must be acknowledged (0..1).
	MinAckShare float64
	// MaxRecovery bounds the time from the last fault's end to the next successful write.
	MaxRecovery time.Duration
}
