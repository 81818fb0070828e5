package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/ballastdb/ballast/kv/raftlog"
	"github.com/ballastdb/ballast/kv/watch"
	"github.com/ballastdb/ballast/kv/wire"
	"github.com/ballastdb/ballast/raft"
)

// Keys node owns in the member's Pebble DB (every key under "node/").
var (
	nodeFormatKey  = []byte("node/format")
	nodeAppliedKey = []byte("node/applied")
	// nodeBootKey counts the member's starts; request IDs include it (see newRequestID).
	nodeBootKey = []byte("node/boot")
	// nodeRequestPrefix + 8-byte big-endian entry index -> request ID applied at that index,
	// for the last dedupWindowEntries requests (see dedup.go).
	nodeRequestPrefix = []byte("node/req/")
)

const nodeFormatVersion = "1"

// ErrFormat: the DB holds node state of a layout this build does not know.
var ErrFormat = errors.New("node: unknown on-disk format")

// Member is one Ballast member. It is not safe for concurrent use: one goroutine (the
// simulator's event loop, or Run in production) calls every method.
type Member struct {
	cfg     Config
	db      *pebble.DB
	log     *raftlog.Log
	rn      *raft.RawNode
	kv      *mvcc.Store
	lessor  *lease.Lessor
	auth    *auth.Store  // users, roles, permissions (auth.go)
	tokens  *auth.Tokens // simple tokens assigned by applied Authenticates
	codec   wire.Codec
	applied uint64
	// tableOpts are the options of the SSTables a snapshot stage writes for this DB.
	tableOpts sstable.WriterOptions
	// testHookBeforeIngest and testHookAfterIngest, when set, run around a snapshot's
	// ingest; an error they return fails the install there (tests of a crash mid-install).
	testHookBeforeIngest, testHookAfterIngest func() error

	ticks    uint64 // calls to Tick since Open; request deadlines are counted in them
	leader   uint64 // the leader raft last reported (0 = none known)
	primary  bool   // whether the lessor is primary (this member leads)
	stopped  error
	syncSeq  uint64
	inflight *inflightReady // the Ready whose writes await Synced
	outbox   []Envelope     // forwarded proposals, sent with the next Work

	requests        requestTable
	dedup           dedupWindow
	requestIDPrefix uint64 // member ID and boot count; see newRequestID
	requestSeq      uint32

	primaryTerm uint64      // the term the lessor was promoted in (while primary)
	lease       leaseCalls  // keep-alive, time-to-live and leases calls (lease_keepalive.go)
	hub         *watch.Hub  // the member's watchers (watch.go)
	confCalls   []*confCall // membership changes and transfers waiting (membership.go)

	snap snapshotState // snapshot streams and the stage (snapshot.go, snapshot_stage.go)

	corrupt *corruptionWatch // Pebble's corruption reports (corruption.go)
	fatal   *pebbleFatal     // Pebble's fatal errors (pebble.go)

	obs observeState // what the Observer was told last (observe.go)

	cluster        *clusterState // the member table (members.go)
	clusterVersion uint64        // counts table changes since Open (the driver republishes on change)
	nextCluster    *clusterState // the table the entry being applied produces (nil: unchanged)
	removedSelf    bool          // this member applied its own removal
	removedAtTick  uint64        // ... at this tick (it stops removedStopElections later)

	// compactIdle: no store compaction was pending when m.kv had compact revision
	// compactIdleRev (see compactionStep).
	compactIdle    *mvcc.Store
	compactIdleRev int64
	physicalWaits  []physicalWait // compactions answered once the store compaction finished
	appliedScratch []appliedEntry // applyEntries' list, reused between Readies

	checkpointsApplied uint64 // lease checkpoints applied since Open (for metrics)
	compactionSteps    uint64 // store compaction steps run since Open (CompactionSteps)

	contacts map[uint64]*peerContact // when each peer was first and last heard (reconfig.go)
}

// Open opens (creating on first start) the member in cfg.Dir on cfg.FS and replays its hard
// state, log and applied state. A member whose DB is new and whose ID is among
// cfg.InitialMembers founds the cluster with them; a new member not among them starts empty
// and learns the configuration from the leader.
func Open(cfg Config) (*Member, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	// The MANIFEST is checked before Pebble reads it (and may rewrite it), the sstables it
	// names right after: damage is found here, deterministically, not by whichever read or
	// background compaction touches it first.
	if err := verifyManifest(cfg.FS, cfg.Dir); err != nil {
		return nil, fmt.Errorf("node %d: %w", cfg.ID, err)
	}
	watch, fatal := &corruptionWatch{}, newPebbleFatal()
	opts := pebbleOptions(cfg, watch, fatal)
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		if pebble.IsCorruptionError(err) && !errors.Is(err, ErrCorruption) {
			err = fmt.Errorf("%w: %v", ErrCorruption, err)
		}
		return nil, fmt.Errorf("node %d: open pebble in %q: %w", cfg.ID, cfg.Dir, err)
	}
	err = verifyTables(db, cfg.FS, cfg.Dir)
	if err == nil {
		err = watch.get() // a background read may have found it first
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("node %d: %w", cfg.ID, err)
	}
	m := &Member{cfg: cfg, db: db, corrupt: watch, fatal: fatal, tableOpts: tableWriterOptions(opts, db)}
	if err := m.open(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("node %d: %w", cfg.ID, err)
	}
	m.observeOpen()
	return m, nil
}

func (m *Member) open() error {
	if err := checkFormat(m.db); err != nil {
		return err
	}
	if err := clearStage(m.db, m.cfg.FS, m.stageDir()); err != nil {
		return err
	}
	boot, err := countBoot(m.db)
	if err != nil {
		return err
	}
	m.requestIDPrefix = (m.cfg.ID&0xffff)<<48 | (boot&0xffff)<<32
	if m.log, err = raftlog.Open(m.db); err != nil {
		return err
	}
	m.log.LimitTailCache(m.cfg.LogCacheEntries)
	if err := m.finishPendingInstall(); err != nil {
		return err
	}
	if m.kv, err = mvcc.Open(m.db, m.mvccConfig()); err != nil {
		return err
	}
	b := m.db.NewBatch()
	defer b.Close()
	m.lessor, err = lease.Open(m.db, b, m.lessorConfig())
	if err != nil {
		return err
	}
	if err := m.openAuth(); err != nil {
		return err
	}
	if err := m.bootstrapIfNew(b); err != nil {
		return err
	}
	if err := m.checkClusterID(b); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("write initial state: %w", err)
	}
	if m.applied, err = readUint64(m.db, nodeAppliedKey); err != nil {
		return err
	}
	if m.cfg.ForceNewCluster {
		fb := m.db.NewBatch()
		defer fb.Close()
		if err := m.forceNewCluster(fb); err != nil {
			return err
		}
		if err := fb.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("force-new-cluster: write the log: %w", err)
		}
	}
	if err := m.attachLeasedKeys(); err != nil {
		return err
	}
	m.hub = watch.NewHub(watch.Config{MaxResponseBytes: m.cfg.MaxRequestBytes + watchOverheadBytes}, m.kv.CurrentRevision())
	if m.dedup, err = loadDedupWindow(m.db); err != nil {
		return err
	}
	m.rn, err = raft.NewRawNode(&raft.Config{
		ID:                     m.cfg.ID,
		Storage:                m.log,
		Applied:                m.applied,
		ElectionTimeoutTicks:   m.cfg.ElectionTimeoutTicks,
		HeartbeatIntervalTicks: m.cfg.HeartbeatIntervalTicks,
		Rand:                   m.cfg.Rand,
		PreVote:                !m.cfg.DisablePreVote,
		CheckQuorum:            true,
		MaxBytesPerMsg:         m.cfg.MaxAppendBytes,
		MaxInflightMsgs:        256,
		MaxInflightBytes:       32 << 20,
		MaxUncommittedEntries:  8192,
		MaxApplyBytesPerReady:  maxCommittedBytesPerReady,
	})
	if err != nil {
		return err
	}
	// raft's configuration is now the one at the applied index, as the table's.
	if m.cluster, err = loadClusterState(m.db, m.rn.Status().Config); err != nil {
		return err
	}
	if m.IsRemoved(m.cfg.ID) {
		m.removedSelf = true
		m.stopped = ErrRemoved
	}
	return nil
}

func (m *Member) mvccConfig() mvcc.Config {
	return mvcc.Config{MaxRequestBytes: m.cfg.MaxRequestBytes, MaxTxnOps: m.cfg.MaxTxnOps}
}

func (m *Member) lessorConfig() lease.Config {
	return lease.Config{
		Clock:              m.cfg.Clock,
		IDs:                m.cfg.Rand,
		MinTTLSeconds:      lease.MinTTLSecondsForElection(m.cfg.TickInterval * time.Duration(m.cfg.ElectionTimeoutTicks)),
		MaxDriftRate:       m.cfg.MaxLeaseDriftRate,
		CheckpointInterval: m.cfg.LeaseCheckpointInterval,
	}
}

// checkFormat writes node's format version on a new DB and refuses an unknown one.
func checkFormat(db *pebble.DB) error {
	v, closer, err := db.Get(nodeFormatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return db.Set(nodeFormatKey, []byte(nodeFormatVersion), pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", nodeFormatKey, err)
	}
	defer closer.Close()
	if string(v) != nodeFormatVersion {
		return fmt.Errorf("%w: %s is %q, this build reads %q", ErrFormat, nodeFormatKey, v, nodeFormatVersion)
	}
	return nil
}

// countBoot increments and returns the member's durable start count.
func countBoot(db *pebble.DB) (uint64, error) {
	boot, err := readUint64(db, nodeBootKey)
	if err != nil {
		return 0, err
	}
	boot++
	if err := db.Set(nodeBootKey, binary.BigEndian.AppendUint64(nil, boot), pebble.Sync); err != nil {
		return 0, fmt.Errorf("write %s: %w", nodeBootKey, err)
	}
	return boot, nil
}

// bootstrapIfNew writes the founding configuration into an empty log.
func (m *Member) bootstrapIfNew(b *pebble.Batch) error {
	last, err := m.log.LastIndex()
	if err != nil {
		return err
	}
	snap, err := m.log.Snapshot()
	if err != nil {
		return err
	}
	if last != 0 || !m.log.HardState().IsEmpty() || !snap.IsEmpty() || !slices.Contains(m.cfg.InitialMembers, m.cfg.ID) {
		return nil
	}
	contexts, err := m.cfg.bootstrapContexts()
	if err != nil {
		return err
	}
	hs, ents, err := raft.BootstrapWithContexts(m.cfg.InitialMembers, contexts)
	if err != nil {
		return err
	}
	if err := m.log.Append(b, ents); err != nil {
		return err
	}
	return m.log.SetHardState(b, hs)
}

// readUint64 reads an 8-byte big-endian value; a missing key reads as 0.
func readUint64(r pebble.Reader, key []byte) (uint64, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("%s holds %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// attachLeasedKeys rebuilds the lessor's key attachments from the live keys.
func (m *Member) attachLeasedKeys() error {
	resp, err := m.kv.Range(m.db, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		return fmt.Errorf("scan live keys for leases: %w", err)
	}
	for _, kv := range resp.Kvs {
		if kv.Lease != 0 {
			if err := m.lessor.Attach(kv.Lease, kv.Key); err != nil {
				return fmt.Errorf("attach %q to lease %d: %w", kv.Key, kv.Lease, err)
			}
		}
	}
	return nil
}

// Close fails every waiting request with ErrStopped and closes the DB. Writes not yet synced
// may be lost, exactly as in a crash.
func (m *Member) Close() error {
	m.stop(ErrStopped)
	if m.fatal.discard() {
		// Pebble failed fatally: a goroutine of its may have stopped inside it, holding its
		// locks, so the DB is left as it is (pebble.go); a restart reads the disk.
		return m.stopped
	}
	m.closeSnapshots()
	return m.db.Close()
}

// stop makes the member refuse all further work.
func (m *Member) stop(reason error) {
	if m.stopped == nil {
		m.stopped = reason
	}
	m.requests.failAll(ErrStopped)
	waits := m.physicalWaits
	m.physicalWaits = nil
	for _, w := range waits {
		w.done(Response{}, ErrStopped)
	}
}

// Stopped returns why the member stopped serving (nil while it serves).
func (m *Member) Stopped() error { return m.stopped }

// ID is the member's raft ID.
func (m *Member) ID() uint64 { return m.cfg.ID }

// Status is raft's view of the member.
func (m *Member) Status() raft.Status { return m.rn.Status() }

// States is raft's hard and soft state: what Status says of term, vote, commit, leader and
// role, without its copies of the configuration and the progress.
func (m *Member) States() (raft.HardState, raft.SoftState) { return m.rn.States() }

// AppliedIndex is the index of the last entry applied to the store.
func (m *Member) AppliedIndex() uint64 { return m.applied }

// LeaseCheckpointsApplied counts the lease checkpoints (remaining TTLs recorded in the
// log) this member applied since Open.
func (m *Member) LeaseCheckpointsApplied() uint64 { return m.checkpointsApplied }

// CompactionSteps counts the steps of store compactions (each deleting at most
// Config.CompactionStepEntries revisions) this member ran since Open.
func (m *Member) CompactionSteps() uint64 { return m.compactionSteps }

// Keys is the number of live keys in the member's store (mvcc.Store.Keys).
func (m *Member) Keys() int64 { return m.kv.Keys() }

// WatchStats counts the member's watch streams and watchers (watch.Hub.Stats; it walks
// every watcher).
func (m *Member) WatchStats() watch.Stats { return m.hub.Stats() }

// HashKV is the store's hash at rev (etcd's HashKV), for the cluster consistency check.
func (m *Member) HashKV(rev int64) (*pb.HashKVResponse, error) { return m.kv.HashKV(m.db, rev) }

// HashKVCarried is HashKV for a caller that asks at growing revisions: it does not read
// again the versions it hashed for the last call (mvcc.Store.HashKVCarried), so it finds no
// damage at rest in them.
func (m *Member) HashKVCarried(rev int64) (*pb.HashKVResponse, error) {
	return m.kv.HashKVCarried(m.db, rev)
}

// CurrentRevision is the store revision after the last applied entry.
func (m *Member) CurrentRevision() int64 { return m.kv.CurrentRevision() }

// DBSize is the member's disk usage (total: every file of its Pebble DB, live and obsolete,
// the WAL included; etcd's db size) and its live data estimate (inUse: the live sstables and
// the data still only in the WAL; etcd's db size in use). Unlike the other methods it may be
// called from any goroutine: Pebble's metrics are.
func (m *Member) DBSize() (total, inUse int64) {
	met := m.db.Metrics()
	tot := met.Total()
	total = int64(met.DiskSpaceUsage())
	inUse = min(tot.AggregateSize()+int64(met.WAL.Size), total)
	return total, inUse
}
