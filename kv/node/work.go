package node

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/raft"
)

// Output is what one call of Work hands the driver.
type Output struct {
	// Messages may be sent at once.
	Messages []Envelope
	// SyncToken, when nonzero, asks the driver to make the member's writes durable: it calls
	// Synced(SyncToken) when the disk has done so (the simulator after a virtual sync delay,
	// production at once). Messages that depend on those writes come from Synced. Until then
	// Work hands out no new raft work (Receive and Tick may still be called).
	SyncToken uint64
}

// inflightReady is a Ready whose writes are committed but not yet synced.
type inflightReady struct {
	token     uint64
	rd        raft.Ready
	afterSync []Envelope
}

// Receive hands the member a message from a peer, as the bytes another member's Work or
// Synced produced. A malformed message is rejected with an error and changes nothing.
func (m *Member) Receive(data []byte) (err error) {
	defer m.recoverFatal(&err)
	if m.stopped != nil {
		return ErrStopped
	}
	kind, body, err := decodeFrame(data)
	if err != nil {
		return err
	}
	switch kind {
	case frameForward:
		// A follower's proposal: propose it if this member leads, else drop it (the
		// submitter times out; forwarding again could loop between stale leaders). Only a
		// client request may be forwarded: lease checkpoints are the leader's own, and one
		// from elsewhere would break the lessor's bookkeeping (found by FuzzReceive's seeds).
		dec, err := decodeEntry(body)
		if err != nil {
			return err
		}
		if dec.request == nil {
			return fmt.Errorf("%w: a forwarded proposal must be a client request", errFrame)
		}
		if _, ss := m.rn.States(); ss.RaftState == raft.StateLeader {
			_ = m.rn.Propose(append([]byte(nil), body...))
		}
		return nil
	case frameLeaseCall:
		return m.receiveLeaseCall(body)
	case frameLeaseAnswer:
		return m.receiveLeaseAnswer(body)
	case frameSnapChunk:
		return m.receiveSnapChunk(body)
	case frameSnapAck:
		return m.receiveSnapAck(body)
	default:
		msg, err := m.codec.Decode(body)
		if err != nil {
			return err
		}
		m.observeMessage(&msg)
		m.heardFrom(msg.From)
		if msg.Type == raft.MsgSnap {
			if err := m.admitSnapshot(msg); err != nil {
				return err
			}
			defer m.unpinIfDeclined()
		}
		return m.rn.Step(msg)
	}
}

// Tick advances the member's logical clock by one tick: raft's timers, request deadlines,
// re-issued ReadIndex requests, and on the leader lease expiry and checkpoints.
func (m *Member) Tick() {
	defer m.recoverStop()
	if m.stopped != nil {
		return
	}
	m.ticks++
	m.stopIfRemoved()
	if m.stopped != nil {
		return
	}
	m.rn.Tick()
	m.requests.expire(m.ticks)
	for _, p := range m.requests.reads() {
		// A ReadIndex request or its answer may be lost; ask again every election timeout.
		if m.ticks-p.readIssuedAt >= uint64(m.cfg.ElectionTimeoutTicks) {
			_ = m.issueReadIndex(p)
		}
	}
	m.tickLeaseCalls()
	m.tickAuth()
	m.tickWatchProgress()
	m.tickSnapshots()
	m.finishConfCalls()
	if m.primary {
		m.proposeLeaseWork()
	}
}

// AdvanceTicks fast-forwards raft's timers by n ticks (raft.RawNode.AdvanceTicks) and
// nothing else of the member's (request deadlines, leases): etcd's advanceTicks, with which
// a starting member's first election comes sooner (--initial-election-tick-advance). The
// server decides when (etcd's conditions: rpc/embed's ticks.go); the simulator never calls it.
// Only a follower that knows no leader advances: by the time a member found its peers it may
// lead already (a leader's ticks at once send a burst of heartbeats and run its check-quorum
// round before the answers come back, stepping it down), or follow one (ticks at once could
// fire its election timer between two heartbeats). AdvanceTicks reports whether it advanced.
func (m *Member) AdvanceTicks(n int) bool {
	defer m.recoverStop()
	if m.stopped != nil {
		return false
	}
	if _, ss := m.rn.States(); ss.RaftState != raft.StateFollower || ss.Lead != 0 {
		return false
	}
	m.rn.AdvanceTicks(n)
	return true
}

// Work hands out one round of work: it writes raft's new entries and hard state (unsynced),
// applies committed entries, answers confirmed reads, and returns the messages that may go
// now and, if the writes must be synced, the token to confirm with Synced. An error means a
// storage failure: the member has stopped.
func (m *Member) Work() (out Output, err error) {
	defer m.recoverFatal(&err)
	return m.work()
}

func (m *Member) work() (Output, error) {
	if err := m.checkCorruption(); err != nil {
		return Output{}, err
	}
	out := Output{Messages: m.outbox}
	m.outbox = nil
	var err error
	if out.Messages, err = m.pumpSnapshots(out.Messages); err != nil {
		return out, m.storageFailure(err)
	}
	if m.inflight != nil {
		return out, nil
	}
	if err := m.compactionStep(); err != nil {
		return out, m.storageFailure(err)
	}
	m.finishPhysicalCompactions()
	// Between Readies raft's applied index and configuration are the member's: the moment
	// to record a snapshot of the store and compact the log.
	if err := m.maybeSnapshotLog(); err != nil {
		return out, m.storageFailure(err)
	}
	if err := m.startSnapshotStreams(); err != nil {
		return out, m.storageFailure(err)
	}
	if out.Messages, err = m.pumpSnapshots(out.Messages); err != nil {
		return out, m.storageFailure(err)
	}
	if !m.rn.HasReady() {
		return out, nil
	}
	rd := m.rn.Ready()
	if rd.SoftState != nil {
		m.leaderChanged(rd.SoftState.Lead)
	}
	m.demoteIfTermMoved(rd.HardState)
	if err := m.writeReady(rd); err != nil {
		return out, m.storageFailure(err)
	}
	m.snap.pinned = false // raft took the admitted snapshot (installed above) or declined it
	if out.Messages, err = m.encode(out.Messages, rd.MessagesNow); err != nil {
		return out, m.storageFailure(err)
	}
	m.observeReleased(rd.MessagesNow)
	if err := m.applyEntries(rd.CommittedEntries); err != nil {
		return out, m.storageFailure(err)
	}
	m.observeReady(&rd)
	for _, rs := range rd.ReadStates {
		m.serveReadState(rs)
	}
	if len(rd.CommittedEntries) > 0 {
		m.retryLeaseServes() // keep-alives waiting for a clear that may just have applied
	}
	afterSync, err := m.encode(nil, rd.MessagesAfterSync)
	if err != nil {
		return out, m.storageFailure(err)
	}
	if rd.MustSync {
		if canary.On(canary.AckBeforeSync) {
			// broken on purpose: acknowledgements and votes go out before the sync
			out.Messages, afterSync = append(out.Messages, afterSync...), nil
			m.observeReleased(rd.MessagesAfterSync)
		}
		m.syncSeq++
		m.inflight = &inflightReady{token: m.syncSeq, rd: rd, afterSync: afterSync}
		out.SyncToken = m.syncSeq
		return out, nil
	}
	out.Messages = append(out.Messages, afterSync...)
	m.observeReleased(rd.MessagesAfterSync)
	m.rn.Advance(rd)
	m.finishConfCalls()
	return out, nil
}

// Synced performs the sync Work asked for with token, then acknowledges the Ready and
// returns the messages that waited for it. A crash before Synced loses the unsynced writes,
// and nothing that depended on them was sent.
//
// A failed sync stops the member for good (storageFailure): it is never retried, and the
// Ready is never acknowledged, since a retry that succeeds proves nothing of the writes
// the failed one covered (Linux may have dropped them and marked them clean, the fsyncgate
// that bit Postgres and etcd). A restart recovers what the last good sync made durable.
func (m *Member) Synced(token uint64) (msgs []Envelope, err error) {
	defer m.recoverFatal(&err)
	if m.stopped != nil {
		return nil, m.stopped
	}
	if err := m.fatal.get(); err != nil {
		return nil, m.storageFailure(err)
	}
	if m.inflight == nil || m.inflight.token != token {
		panic(fmt.Sprintf("node %d: Synced(%d) without a matching Work sync token", m.cfg.ID, token))
	}
	if err := m.log.Sync(); err != nil {
		if !canary.On(canary.SyncErrorIgnored) {
			return nil, m.storageFailure(err)
		}
		// canary: the failed sync is taken as done; what it covered is acknowledged
	}
	m.observeSynced()
	in := m.inflight
	m.inflight = nil
	if in.afterSync != nil {
		m.observeReleased(in.rd.MessagesAfterSync)
	}
	m.rn.Advance(in.rd)
	m.finishConfCalls()
	return in.afterSync, nil
}

// writeReady writes a Ready's entries and hard state into one unsynced batch.
func (m *Member) writeReady(rd raft.Ready) error {
	b := m.db.NewBatch()
	defer b.Close()
	if !rd.Snapshot.IsEmpty() {
		if err := m.switchToSnapshot(b, rd.Snapshot.Metadata); err != nil {
			return fmt.Errorf("install snapshot at %d: %w", rd.Snapshot.Metadata.Index, err)
		}
	}
	if len(rd.Entries) > 0 {
		m.observeTruncation(&rd)
		if err := m.log.Append(b, rd.Entries); err != nil {
			return err
		}
	}
	if !rd.HardState.IsEmpty() {
		if err := m.log.SetHardState(b, rd.HardState); err != nil {
			return err
		}
	}
	if b.Empty() {
		return nil
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	if !rd.Snapshot.IsEmpty() {
		return m.reopenStateMachine(rd.Snapshot.Metadata)
	}
	return nil
}

func (m *Member) encode(dst []Envelope, msgs []raft.Message) ([]Envelope, error) {
	for i := range msgs {
		if msgs[i].Type == raft.MsgSnap {
			// The store goes first, in chunks; the MsgSnap follows its last one (snapshot.go).
			m.wantSnapshot(msgs[i])
			continue
		}
		data, err := encodeRaftFrame(m.codec, &msgs[i])
		if err != nil {
			return dst, fmt.Errorf("encode %s to %d: %w", msgs[i].Type, msgs[i].To, err)
		}
		dst = append(dst, Envelope{To: msgs[i].To, Data: data})
	}
	return dst, nil
}

// leaderChanged demotes the lessor when this member stops leading. It is promoted later,
// once the new leader has applied an entry of its own term (maybePromote), since kv/lease
// requires every entry of earlier terms to be applied first.
func (m *Member) leaderChanged(lead uint64) {
	m.observeLeaderChange(lead)
	if lead != m.leader {
		m.logf("leader is now %d (was %d)", lead, m.leader)
	}
	m.leader = lead
	if lead != m.cfg.ID && m.primary {
		m.lessor.Demote()
		m.primary = false
	}
}

func (m *Member) storageFailure(err error) error {
	if pebble.IsCorruptionError(err) && !errors.Is(err, ErrCorruption) {
		// a read met a damaged block: the member refuses to serve, as at Open
		err = fmt.Errorf("%w: %v", ErrCorruption, err)
	}
	err = fmt.Errorf("%w: node %d: %w", ErrStorage, m.cfg.ID, err)
	m.logf("stopping: %v", err)
	m.stop(err)
	return err
}

// logf hands an event to the configured Logger, if any.
func (m *Member) logf(format string, args ...any) {
	if m.cfg.Logger != nil {
		m.cfg.Logger.Logf("member %d: "+format, append([]any{m.cfg.ID}, args...)...)
	}
}

// compactionStep runs one bounded step of a store compaction in progress.
//
// Whether one is in progress is a Pebble read, and Work runs after every event: that read was
// 9% of a simulated run's CPU (go test -bench Steady1000 -cpuprofile ./sim/). So the answer
// "none" is remembered for the store and its compact revision: only a Compact starts a
// compaction, and it always raises the compact revision (its batch is committed within the
// apply, before the next Work); a snapshot install opens a new Store, and a restart a new
// Member.
func (m *Member) compactionStep() error {
	if m.compactIdle == m.kv && m.compactIdleRev == m.kv.CompactRevision() {
		return nil
	}
	pending, err := m.kv.CompactPending(m.db)
	if err != nil {
		return err
	}
	if !pending {
		m.compactIdle, m.compactIdleRev = m.kv, m.kv.CompactRevision()
		return nil
	}
	b := m.db.NewIndexedBatch()
	defer b.Close()
	if _, err := m.kv.CompactStep(b, m.cfg.CompactionStepEntries); err != nil {
		return err
	}
	m.compactionSteps++
	return b.Commit(pebble.NoSync)
}
