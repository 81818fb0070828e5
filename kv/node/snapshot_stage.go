package node

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/ballastdb/ballast/raft"
)

// Snapshots, the follower's side: chunks are staged as SSTables (snapshot_ingest.go), and
// raft's MsgSnap is stepped only once its stage is complete; installing it (writeReady)
// ingests the tables, which replace the state machine and the applied index at once, then
// writes raft's snapshot metadata. See snapshot.go for the protocol.

// stagePrefix held the stage of earlier builds (a header and every staged pair, under
// node/stage/); Open still clears it, for a data dir such a build left mid-stream.
var stagePrefix = []byte("node/stage/")

// stageHeader says which stream the stage holds and how far: chunks [0, next) are staged,
// and complete once the last one is. It lives in memory only: a stage never outlives the
// process that filled it (a stream resumes nothing; the leader starts a new one).
type stageHeader struct {
	from, stream, index, term uint64
	next                      uint32
	complete                  bool
}

// clearStage drops a stage left by a crash or a restart: the tables in the stage directory,
// and the keys of an earlier build's stage.
func clearStage(db *pebble.DB, fs vfs.FS, dir string) error {
	if err := db.DeleteRange(stagePrefix, prefixEnd(stagePrefix), pebble.NoSync); err != nil {
		return fmt.Errorf("clear snapshot stage: %w", err)
	}
	return clearStageDir(fs, dir)
}

// receiveSnapChunk stages one chunk and acknowledges it. A duplicate is acknowledged again
// and changes nothing; a chunk beyond the next one of the stage's stream (one was lost or
// overtaken) is ignored, and the leader sends again from the first unacknowledged one. A
// chunk that cannot continue any stage (a later chunk of a stream the stage does not hold,
// e.g. after a restart; a snapshot not newer than the applied index; another stream while a
// complete stage waits for raft) is refused, and the leader fails the stream at once.
func (m *Member) receiveSnapChunk(body []byte) error {
	c, err := decodeSnapChunk(body)
	if err != nil {
		return err
	}
	h := m.snap.stage
	ack := func(ok bool) {
		m.outbox = append(m.outbox, Envelope{To: c.from, Data: encodeSnapAck(snapAck{from: m.cfg.ID, stream: c.stream, seq: c.seq, ok: ok})})
	}
	refuse := func(format string, args ...any) error {
		ack(false)
		return fmt.Errorf("node %d: snapshot chunk %d of stream %x (index %d) refused: %s", m.cfg.ID, c.seq, c.stream, c.index, fmt.Sprintf(format, args...))
	}
	sameStream := h.stream == c.stream && h.index == c.index && h.term == c.term && h.from == c.from
	switch {
	case c.index <= m.applied:
		return refuse("already applied %d", m.applied)
	case m.snap.pinned && !sameStream:
		return refuse("the staged snapshot at %d awaits installing", h.index)
	case sameStream && c.seq < h.next:
		ack(true) // a duplicate
		return nil
	case sameStream && c.seq == h.next && !h.complete:
	case sameStream && c.seq > h.next:
		return fmt.Errorf("node %d: snapshot chunk %d of stream %x ignored: expecting chunk %d", m.cfg.ID, c.seq, c.stream, h.next)
	case c.seq == 0:
		h = stageHeader{from: c.from, stream: c.stream, index: c.index, term: c.term}
	default:
		return refuse("the stage holds chunks [0, %d) of stream %x", h.next, h.stream)
	}
	st := m.stage()
	if c.seq == 0 {
		m.snap.stage = stageHeader{} // the stage holds nothing of any stream now
		if err := st.reset(); err != nil {
			return m.storageFailure(err)
		}
	}
	if err := c.eachPair(func(k, _ []byte) error { return st.checkOrder(k) }); err != nil {
		return refuse("%v", err)
	}
	if err := c.eachPair(st.add); err != nil {
		return m.storageFailure(err)
	}
	if c.last {
		if err := st.complete(); err != nil {
			return m.storageFailure(err)
		}
	}
	h.next = c.seq + 1
	h.complete = c.last
	m.snap.stage = h
	ack(true)
	return nil
}

// stage is the member's SSTable stage, created at its first use.
func (m *Member) stage() *sstStage {
	if m.snap.tables == nil {
		m.snap.tables = newSSTStage(m.cfg.FS, m.stageDir(), m.tableOpts, m.cfg.snapshotTableBytes)
	}
	return m.snap.tables
}

func (m *Member) stageDir() string { return m.cfg.FS.PathJoin(m.cfg.Dir, stageDirName) }

// admitSnapshot decides whether raft may see a MsgSnap: only once its data is staged
// completely. The stage is then pinned until the next Ready installs it (or raft declines).
func (m *Member) admitSnapshot(msg raft.Message) error {
	meta := msg.Snapshot.Metadata
	h := m.snap.stage
	if !h.complete || h.index != meta.Index || h.term != meta.Term {
		return fmt.Errorf("node %d: snapshot at index %d term %d arrived before its data was staged (stage: index %d, term %d, complete %t)",
			m.cfg.ID, meta.Index, meta.Term, h.index, h.term, h.complete)
	}
	m.snap.pinned = true
	return nil
}

// unpinIfDeclined releases the stage when raft holds no Ready to hand out while none is
// outstanding: it cannot then hold the admitted snapshot (it ignored the message, e.g. of a
// stale term), and a pinned stage would refuse every new stream.
func (m *Member) unpinIfDeclined() {
	if m.snap.pinned && m.inflight == nil && !m.rn.HasReady() {
		m.snap.pinned = false
	}
}

// switchToSnapshot installs the staged snapshot meta: its tables are ingested (atomically
// and durably: the state-machine keys are replaced, node/applied becomes meta's index, and
// node/applied-snapshot records meta; snapshot_ingest.go), then b gets the raft half: raft's
// log reset to meta, and the removal of node/applied-snapshot. A crash before b is synced
// leaves the new store, whose raft half Open finishes; one before the ingest, the old store.
func (m *Member) switchToSnapshot(b *pebble.Batch, meta raft.SnapshotMetadata) error {
	h := m.snap.stage
	if !m.snap.pinned || !h.complete || h.index != meta.Index || h.term != meta.Term {
		panic(fmt.Sprintf("node %d: raft installs the snapshot at %d/%d, but the stage holds %d/%d (complete %t, admitted %t)",
			m.cfg.ID, meta.Index, meta.Term, h.index, h.term, h.complete, m.snap.pinned))
	}
	st := m.stage()
	if err := m.checkSnapshotCluster(st.clusterID); err != nil {
		return err
	}
	if m.testHookBeforeIngest != nil {
		if err := m.testHookBeforeIngest(); err != nil {
			return err
		}
	}
	if err := st.ingest(m.db, meta); err != nil {
		return err
	}
	if m.testHookAfterIngest != nil {
		if err := m.testHookAfterIngest(); err != nil {
			return err
		}
	}
	if err := b.Delete(nodePendingInstallKey, nil); err != nil {
		return err
	}
	return m.log.ApplySnapshot(b, meta)
}

// reopenStateMachine rebuilds the in-memory views from the switched store: mvcc, the
// lessor and its key attachments, the dedup window; watchers catch up from the new store.
// Requests waiting for entries the snapshot covers time out (their outcome is unknown, as
// after any timeout).
func (m *Member) reopenStateMachine(meta raft.SnapshotMetadata) error {
	if meta.Index <= m.applied {
		panic(fmt.Sprintf("node %d: installed snapshot at %d, not beyond the applied index %d", m.cfg.ID, meta.Index, m.applied))
	}
	m.logf("installed a snapshot at index %d (term %d)", meta.Index, meta.Term)
	m.applied = meta.Index
	m.snap.stage = stageHeader{}
	m.snap.pinned = false
	var err error
	if m.kv, err = mvcc.Open(m.db, m.mvccConfig()); err != nil {
		return fmt.Errorf("reopen store after snapshot %d: %w", meta.Index, err)
	}
	b := m.db.NewBatch()
	defer b.Close()
	if m.primary {
		m.lessor.Demote()
		m.primary = false
	}
	if m.lessor, err = lease.Open(m.db, b, m.lessorConfig()); err != nil {
		return fmt.Errorf("reopen leases after snapshot %d: %w", meta.Index, err)
	}
	if !b.Empty() {
		return fmt.Errorf("snapshot %d holds no lease format version", meta.Index)
	}
	if err := m.attachLeasedKeys(); err != nil {
		return err
	}
	if m.dedup, err = loadDedupWindow(m.db); err != nil {
		return err
	}
	if err := m.openAuth(); err != nil {
		return fmt.Errorf("reload auth store after snapshot %d: %w", meta.Index, err)
	}
	cluster, err := loadClusterState(m.db, meta.ConfState)
	if err != nil {
		return fmt.Errorf("reload member table after snapshot %d: %w", meta.Index, err)
	}
	if canary.On(canary.SnapshotKeepsConf) && len(m.cluster.conf.Voters) > 0 {
		// broken on purpose: the snapshot's configuration is taken only by a member that has
		// none yet (a joining member's first install); one that had a configuration keeps it
		cluster.conf = m.cluster.conf
	}
	m.setCluster(cluster)
	m.hub.Restore(m.kv.CurrentRevision())
	return nil
}
