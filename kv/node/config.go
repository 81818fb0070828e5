package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/mvcc"
)

// Clock is the member's only source of time: a monotonic reading since an arbitrary origin.
// Production passes time.Since(start); the simulator passes its virtual clock, skewed per
// member. It drives lease deadlines only; raft's time is Tick.
type Clock interface {
	Now() time.Duration
}

// RandomSource is the member's only source of randomness: raft's election timeouts, request
// IDs and lease IDs are drawn from it. math/rand/v2's sources satisfy it; the simulator
// passes one seeded from the run's seed.
type RandomSource interface {
	Uint64() uint64
}

// Defaults for the zero fields of a Config.
const (
	DefaultElectionTimeoutTicks   = 10
	DefaultHeartbeatIntervalTicks = 1
	DefaultTickInterval           = 100 * time.Millisecond // etcd's --heartbeat-interval
	DefaultMaxLeaseDriftRate      = 0.01
	DefaultCompactionStepEntries  = 1000
	DefaultMaxAppendBytes         = 1 << 20
	// DefaultMaxWaitingRequests bounds a member's waiting requests (see Config).
	DefaultMaxWaitingRequests = 10000
	maxCommittedBytesPerReady = 4 << 20

	// DefaultWatchProgressInterval is etcd's --experimental-watch-progress-notify-interval.
	DefaultWatchProgressInterval = 10 * time.Minute

	// DefaultSnapshotEntries and DefaultSnapshotCatchUpEntries play the parts of etcd's
	// --snapshot-count and SnapshotCatchUpEntries.
	DefaultSnapshotEntries        = 10000
	DefaultSnapshotCatchUpEntries = 5000
)

// Logger receives the member's notable events (leader changes, lease promotion, storage
// failures). It never decides an outcome; a nil Logger discards them. The simulator passes
// one that writes into its trace with the virtual time, production one that writes to the
// server's log.
type Logger interface {
	Logf(format string, args ...any)
}

// Config configures one member.
type Config struct {
	// ID is this member's raft ID, never 0.
	ID uint64
	// InitialMembers are the founding voters (this member among them). They are used only on
	// the first start, when Dir holds no member yet; a restart takes the membership from disk.
	InitialMembers []uint64
	// InitialMemberAttrs are the founders' names and peer URLs (the IDs of InitialMembers),
	// written into the member table by the founding entries of the log. Optional (the
	// simulator founds clusters by ID only); when given, every founder must pass the same.
	// A joining member (not among InitialMembers) may pass the members it learned from a
	// peer: they are never written into its table (the log or a snapshot brings the table),
	// but Driver.Member falls back to them for a member its table does not know yet, so its
	// transport can answer the leader before it has caught up.
	InitialMemberAttrs []MemberAttrs
	// ClusterID is the cluster's ID, written when the member's DB is created: a founder's, or
	// for a joining member the ID it learned from a peer. A restart with a different nonzero
	// ClusterID is refused (naming both); 0 on a restart takes the stored one. 0 on the first
	// start makes a cluster without an ID (tests, the simulator).
	ClusterID uint64
	// FS and Dir locate the member's one Pebble DB.
	FS  vfs.FS
	Dir string
	// WALDir, when set, puts Pebble's write-ahead log in a directory of its own (etcd's
	// --wal-dir: the log's fsyncs on a disk of their own); default inside Dir. A DB must be
	// opened with the WALDir it was created with (Pebble does not look for its log elsewhere).
	WALDir string
	// Clock and Rand: see their types. Both required.
	Clock Clock
	Rand  RandomSource
	// Logger: see its type. Optional.
	Logger Logger
	// OnLeaseExpired, when set, is told of every revoke of an expired lease this member
	// applies (never of a client's revoke), from inside Work; it must not call the member.
	// See lease_expiry.go for who reports what, and how often.
	OnLeaseExpired func(LeaseExpiry)
	// Observer, when set, hears what the member applied and its state at every step, and the
	// rare paths it took (observe.go); report-only, like Logger. Nil in production: no cost.
	Observer Observer
	// TimeCommit, when set, is called just before the batch of each Ready's applied entries
	// (how many: entries) commits to Pebble, and the func it returns just after:
	// report-only, like Logger (the member never reads a clock for it). Production times the
	// commit with the wall clock for etcd_disk_backend_commit_duration_seconds and counts
	// the entries per batch; nil in the simulator.
	TimeCommit func(entries int) (done func())
	// TimeApply, when set, is called just before each client request (or lease expiry's
	// revoke) applies, and the func it returns just after with the request's answer:
	// report-only, like Logger (the member never reads a clock for it). Production times the
	// apply with the wall clock for etcd's "apply request took too long" warning
	// (--warning-apply-duration); nil in the simulator.
	TimeApply func(req *pb.InternalRaftRequest) (done func(resp Response, err error))

	// ElectionTimeoutTicks and HeartbeatIntervalTicks are raft's timers, in calls to Tick.
	ElectionTimeoutTicks   int
	HeartbeatIntervalTicks int
	// TickInterval is the real (or virtual) time one Tick stands for. It sets the shortest
	// lease TTL (1.5 election timeouts, as etcd).
	TickInterval time.Duration
	// AuthTokenTTL is how long a simple token lives unused (etcd's --auth-token-ttl). Default
	// DefaultAuthTokenTTL.
	AuthTokenTTL time.Duration
	// RequestTimeoutTicks is how long a request may wait to apply (or a read to be confirmed)
	// before it fails with ErrTimeout. Default: 5 election timeouts.
	RequestTimeoutTicks int
	// MaxWaitingRequests bounds the requests waiting on this member (writes, linearizable
	// reads, its own lease calls; membership changes count but are never refused: one runs
	// at a time, and it waits only once proposed), and separately the lease calls it serves
	// for other members as leader. One more is answered at once with
	// ErrTooManyRequests (etcd's "etcdserver: too many requests") and is never proposed, so
	// clients retrying through a partition cannot grow the tables without limit. Default
	// DefaultMaxWaitingRequests.
	MaxWaitingRequests int
	// MaxLearners is etcd's --max-learners: a member add that would make more learners is
	// refused with etcd's "too many learner members in cluster". 0: no bound (the
	// simulator's default; the server passes etcd's default, 1); negative: no learner.
	MaxLearners int
	// ForceNewCluster is etcd's --force-new-cluster: at Open a member with data discards the
	// other members and restarts as a one-member cluster with everything it committed
	// (forcenew.go). Meant for one start; the change it makes to the log is durable.
	ForceNewCluster bool
	// DisablePreVote is etcd's --pre-vote=false: raft campaigns without asking first, raising
	// its term each time (raft.Config.PreVote off). Off by default: Pre-Vote runs, as etcd's.
	DisablePreVote bool
	// StrictReconfigCheck is etcd's --strict-reconfig-check: membership changes that would
	// lose quorum are refused with etcd's errors (reconfig.go). Off by default (the
	// simulator's); the server passes etcd's default, on.
	StrictReconfigCheck bool
	// MaxRequestBytes and MaxTxnOps are etcd's --max-request-bytes and --max-txn-ops.
	MaxRequestBytes int
	MaxTxnOps       int
	// MaxAppendBytes bounds the entries of one raft append message (at least one entry is
	// always sent). Default DefaultMaxAppendBytes (1 MiB, as etcd's MaxSizePerMsg); a tiny
	// value sends one entry per append, which the simulator uses to reach schedules where
	// followers hold old-term entries without the new leader's own (Raft's Figure 8).
	MaxAppendBytes uint64
	// MaxLeaseDriftRate is ρ, the largest rate by which this member's clock may run fast or
	// slow (0.01 = 1%).
	MaxLeaseDriftRate float64
	// LeaseCheckpointInterval bounds how long a lease's remaining TTL goes unrecorded in the
	// log; 0 takes the lease package's default.
	LeaseCheckpointInterval time.Duration
	// CompactionStepEntries bounds the work of one step of a store compaction.
	CompactionStepEntries int
	// WatchProgressInterval is how often watchers that asked for progress notifications and
	// got no events are sent one (counted in Ticks of TickInterval).
	WatchProgressInterval time.Duration
	// SnapshotEntries: once the log holds more than this many applied entries beyond the last
	// snapshot, the member records a snapshot at its applied index and compacts its log.
	SnapshotEntries int
	// SnapshotCatchUpEntries entries below the snapshot stay in the log, so a follower only a
	// little behind catches up from appends rather than a snapshot (etcd's
	// SnapshotCatchUpEntries). Clamped to SnapshotEntries.
	SnapshotCatchUpEntries int
	// snapshotChunkBytes overrides maxSnapshotChunkBytes (tests use tiny chunks).
	snapshotChunkBytes int
	// snapshotTableBytes overrides defaultSnapshotTableBytes, the size at which a follower's
	// staged SSTable ends (tests use tiny tables, so an install crosses many).
	snapshotTableBytes int
	// PebbleMemTableBytes and PebbleCacheBytes size Pebble's memtable and block cache; 0
	// takes Pebble's defaults (4 MiB, 8 MiB). The simulator keeps them small, so many members
	// fit in memory at once, and draws tiny ones, so flushes and cache misses happen often.
	PebbleMemTableBytes uint64
	PebbleCacheBytes    int64
	// LogCacheEntries bounds the raft log's in-memory tail (kv/raftlog); 0 takes its default.
	LogCacheEntries int
	// PebbleUncompressed stores Pebble's blocks uncompressed instead of with Snappy, its
	// default. The simulator's choice on most seeds: its stores live in memory, and decoding
	// Snappy blocks was 15% of BenchmarkSteady1000's profile.
	PebbleUncompressed bool
}

var errConfig = errors.New("node: invalid config")

func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ID == 0:
		return bad("ID must not be 0")
	case c.FS == nil:
		return bad("FS is required")
	case c.Clock == nil:
		return bad("Clock is required")
	case c.Rand == nil:
		return bad("Rand is required (a seeded random source)")
	}
	if c.ElectionTimeoutTicks == 0 {
		c.ElectionTimeoutTicks = DefaultElectionTimeoutTicks
	}
	if c.MaxAppendBytes == 0 {
		c.MaxAppendBytes = DefaultMaxAppendBytes
	}
	if c.MaxRequestBytes == 0 {
		// One effective limit for the proposal guard in Submit and for the store.
		c.MaxRequestBytes = mvcc.DefaultMaxRequestBytes
	}
	if c.HeartbeatIntervalTicks == 0 {
		c.HeartbeatIntervalTicks = DefaultHeartbeatIntervalTicks
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.AuthTokenTTL == 0 {
		c.AuthTokenTTL = DefaultAuthTokenTTL
	}
	if c.AuthTokenTTL < 0 {
		return bad("AuthTokenTTL %v: want a positive duration (0 takes the default)", c.AuthTokenTTL)
	}
	if c.MaxWaitingRequests == 0 {
		c.MaxWaitingRequests = DefaultMaxWaitingRequests
	}
	if c.MaxWaitingRequests < 0 {
		return bad("MaxWaitingRequests %d: want at least 1 (0 takes the default)", c.MaxWaitingRequests)
	}
	if c.RequestTimeoutTicks == 0 {
		c.RequestTimeoutTicks = 5 * c.ElectionTimeoutTicks
	}
	if c.MaxLeaseDriftRate == 0 {
		c.MaxLeaseDriftRate = DefaultMaxLeaseDriftRate
	}
	if c.CompactionStepEntries == 0 {
		c.CompactionStepEntries = DefaultCompactionStepEntries
	}
	if c.WatchProgressInterval <= 0 {
		c.WatchProgressInterval = DefaultWatchProgressInterval
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = DefaultSnapshotCatchUpEntries
	}
	c.SnapshotCatchUpEntries = min(c.SnapshotCatchUpEntries, c.SnapshotEntries)
	if c.snapshotChunkBytes <= 0 {
		c.snapshotChunkBytes = maxSnapshotChunkBytes
	}
	if c.snapshotTableBytes <= 0 {
		c.snapshotTableBytes = defaultSnapshotTableBytes
	}
	if c.Dir == "" {
		c.Dir = "member"
	}
	attrs := make([]MemberAttrs, len(c.InitialMemberAttrs)) // the member keeps no caller's slice
	for i, a := range c.InitialMemberAttrs {
		attrs[i] = a.clone()
	}
	c.InitialMemberAttrs = attrs
	if c.SnapshotEntries < 0 || c.SnapshotCatchUpEntries < 0 {
		return bad("SnapshotEntries (%d) and SnapshotCatchUpEntries (%d) must be positive", c.SnapshotEntries, c.SnapshotCatchUpEntries)
	}
	if c.RequestTimeoutTicks < 0 || c.CompactionStepEntries < 0 {
		return bad("RequestTimeoutTicks (%d) and CompactionStepEntries (%d) must be positive", c.RequestTimeoutTicks, c.CompactionStepEntries)
	}
	if c.PebbleCacheBytes < 0 || c.LogCacheEntries < 0 {
		return bad("PebbleCacheBytes (%d) and LogCacheEntries (%d) must not be negative", c.PebbleCacheBytes, c.LogCacheEntries)
	}
	return c, nil
}
