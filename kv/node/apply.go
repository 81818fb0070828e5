package node

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/raft"
)

// The committed entries of one Ready are applied in one indexed batch with the new applied
// index ("node/applied"), committed unsynced: the raft log is the durable record, so a crash
// re-applies from the applied index and never applies an entry twice or skips one. One
// batch and one commit per Ready, not per entry: a commit is a WAL record and a pass through
// Pebble's commit pipeline, and the entries of a Ready are applied together anyway (a crash
// loses all of them or none, as it would lose a suffix of per-entry commits). Entry data is
// a kind byte and a body (entry.go): an InternalRaftRequest, or a batch of lease checkpoints
// (Ballast's own, since they carry the primary's term and sequence). A lease revoke deletes
// every attached key at one revision (a txn of deletes). Compactions run in bounded steps,
// one per Work, on every member at its own pace (HashKV does not depend on the progress); a
// compaction request with Physical set is answered only once this member's store compaction
// finished (the driver then runs Work without waiting for events, so the steps follow each
// other).

// appliedEntry is what an entry's apply leaves for after its batch committed: the answer
// to its waiter, the events for watchers, the expiry report.
type appliedEntry struct {
	index   uint64
	waiter  uint64
	resp    Response
	reqErr  error
	events  []*mvccpb.Event
	expired *pb.InternalRaftRequest // an expiry revoke that applied (lease_expiry.go)
	// physical: a compaction that answers once the store compaction finished here
	physical bool
}

// applyEntries applies a Ready's committed entries, in order: their effects and the new
// applied index go into one batch, so after a crash the entries are either wholly applied
// or not at all, and never applied twice or skipped. What each entry changes in memory
// (the store's revisions and caches, the lessor, the member table) is done entry by entry,
// as the next entry must see it; what leaves the member (answers, watch events, expiry
// reports) waits until the batch committed, so nothing outside sees an effect that a
// failed commit would take back. Errors are storage failures (the member stops); a
// request's own error (etcd's, e.g. an unknown lease) is its answer and changes nothing
// but the applied index.
func (m *Member) applyEntries(entries []raft.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	b := m.db.NewIndexedBatch()
	defer b.Close()
	// applied records that the entries applied: the applied index and the requests' dedup records.
	applied := b
	if canary.On(canary.ApplyTwice) {
		applied = m.db.NewBatch() // broken on purpose: recorded in a later batch than the effects
		defer applied.Close()
	}
	done := m.appliedScratch[:0]
	defer func() {
		clear(done) // the scratch keeps no answers alive
		m.appliedScratch = done[:0]
	}()
	for _, e := range entries {
		a, err := m.applyEntry(b, applied, e)
		if err != nil {
			return err
		}
		done = append(done, a)
	}
	last := entries[len(entries)-1].Index
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], last)
	if err := applied.Set(nodeAppliedKey, idx[:], nil); err != nil {
		return err
	}
	if canary.On(canary.ApplyTwice) { // the effects are synced, the applied index is not
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("commit entries %d..%d: %w", entries[0].Index, last, err)
		}
	}
	var timed func()
	if m.cfg.TimeCommit != nil {
		timed = m.cfg.TimeCommit(len(entries))
	}
	err := applied.Commit(pebble.NoSync)
	if timed != nil {
		timed()
	}
	if err != nil {
		return fmt.Errorf("commit entries %d..%d: %w", entries[0].Index, last, err)
	}
	for i := range done {
		m.finishApply(&done[i])
	}
	return nil
}

// applyEntry writes one committed entry's effects into b and its dedup record into applied
// (b itself, but for a canary), and takes its in-memory effects.
func (m *Member) applyEntry(b, applied *pebble.Batch, e raft.Entry) (appliedEntry, error) {
	if e.Index != m.applied+1 {
		panic(fmt.Sprintf("node %d: applying entry %d after %d: an applied index would be skipped", m.cfg.ID, e.Index, m.applied))
	}
	a := appliedEntry{index: e.Index}
	m.nextCluster = nil
	if e.Type == raft.EntryConfChange {
		next, err := m.applyConfChangeEntry(b, e)
		if err != nil {
			return a, fmt.Errorf("entry %d: member table: %w", e.Index, err)
		}
		m.nextCluster = next
	}
	if e.Type == raft.EntryNormal {
		dec, err := decodeEntry(e.Data)
		if err != nil {
			return a, fmt.Errorf("committed entry %d: %w", e.Index, err)
		}
		req := dec.request
		if dec.expiry != nil {
			req = dec.expiry
		}
		if req != nil {
			id := req.GetHeader().GetID()
			if !m.dedup.contains(id) {
				var timed func(Response, error)
				if m.cfg.TimeApply != nil {
					timed = m.cfg.TimeApply(req)
				}
				a.resp, a.events, a.reqErr = m.applyRequest(b, req, e.Index, dec.expiry != nil)
				if timed != nil {
					timed(a.resp, a.reqErr)
				}
				if a.reqErr != nil && !isRequestError(a.reqErr) {
					// the disk's failure, not the request's: nothing of the Ready commits
					return a, fmt.Errorf("entry %d: %w", e.Index, a.reqErr)
				}
				if err := m.dedup.add(applied, e.Index, id); err != nil {
					return a, err
				}
				a.waiter = id
				if c := req.Compaction; c != nil && c.Physical && a.reqErr == nil {
					a.physical = true
				}
				if dec.expiry != nil && a.reqErr == nil {
					a.expired = dec.expiry // a revoke of a lease already gone applies as an error
				}
			}
		}
		for _, cp := range dec.checkpoints {
			if err := m.lessor.ApplyCheckpoint(b, cp); err != nil {
				return a, fmt.Errorf("entry %d: lease checkpoint %d: %w", e.Index, cp.ID, err)
			}
			m.checkpointsApplied++
		}
	}
	m.applied = e.Index
	if next := m.nextCluster; next != nil {
		m.nextCluster = nil
		m.setCluster(next)
	}
	m.maybePromote(e)
	m.confEntryApplied(e)
	if err := m.lessor.ApplyEvents(a.events); err != nil {
		return a, fmt.Errorf("entry %d: lease attachments: %w", e.Index, err)
	}
	return a, nil
}

// finishApply hands out what an applied entry leaves for after its batch committed.
func (m *Member) finishApply(a *appliedEntry) {
	m.notifyWatchers(a.events)
	if a.expired != nil {
		m.reportExpiry(a.expired, a.resp, a.index)
	}
	if p := m.requests.take(a.waiter); p != nil {
		if a.physical {
			m.physicalWaits = append(m.physicalWaits, physicalWait{resp: a.resp, done: p.done})
		} else {
			p.done(a.resp, a.reqErr)
		}
	}
}

// physicalWait is a compaction request with Physical set that applied on this member and
// waits for the store compaction to finish (etcd's physical: the compacted revisions are
// gone from disk, not just from view).
type physicalWait struct {
	resp Response
	done Done
}

// finishPhysicalCompactions answers the physical compactions once no store compaction is
// pending (compactionStep has just found none): every waiting one has applied, so its
// revision is at most the compact revision, and its compaction is done.
func (m *Member) finishPhysicalCompactions() {
	if len(m.physicalWaits) == 0 || m.compactIdle != m.kv || m.compactIdleRev != m.kv.CompactRevision() {
		return
	}
	waits := m.physicalWaits
	m.physicalWaits = nil
	for _, w := range waits {
		w.done(w.resp, nil)
	}
}

// applyRequest applies a client request's effects into b. An error is the request's answer
// (etcd's error) and means nothing was written.
func (m *Member) applyRequest(b *pebble.Batch, req *pb.InternalRaftRequest, index uint64, internal bool) (Response, []*mvccpb.Event, error) {
	if auth.IsAuthRequest(req) {
		resp, err := m.applyAuth(b, req, index)
		return resp, nil, err
	}
	if !internal {
		if err := m.checkWrite(req); err != nil {
			return Response{}, nil, err // auth.go
		}
	}
	if m.corrupted() {
		if err := corruptRefused(req); err != nil {
			return Response{}, nil, err // quota.go
		}
	}
	if m.spaceCapped() {
		if err := capped(req); err != nil {
			return Response{}, nil, err // quota.go
		}
	}
	switch {
	case req.Put != nil:
		resp, events, err := m.kv.Put(b, req.Put, m.lessor)
		return Response{Put: resp}, events, err
	case req.DeleteRange != nil:
		resp, events, err := m.kv.DeleteRange(b, req.DeleteRange)
		return Response{DeleteRange: resp}, events, err
	case req.Txn != nil:
		resp, events, err := m.kv.Txn(b, req.Txn, m.lessor)
		return Response{Txn: resp}, events, err
	case req.Compaction != nil:
		resp, err := m.kv.Compact(b, req.Compaction.Revision)
		return Response{Compaction: resp}, nil, err
	case req.LeaseGrant != nil:
		g, err := m.lessor.ApplyGrant(b, lease.GrantCommand{ID: req.LeaseGrant.ID, TTLSeconds: req.LeaseGrant.TTL})
		if err != nil {
			return Response{}, nil, err
		}
		return Response{LeaseGrant: &pb.LeaseGrantResponse{Header: m.header(), ID: g.ID, TTL: g.TTLSeconds}}, nil, nil
	case req.LeaseRevoke != nil:
		return m.applyRevoke(b, req.LeaseRevoke.ID)
	case req.Alarm != nil:
		resp, next, err := m.applyAlarm(b, req.Alarm)
		if err != nil {
			return Response{}, nil, err
		}
		m.nextCluster = next
		return resp, nil, nil
	case req.ClusterMemberAttrSet != nil:
		next, err := m.applyMemberAttrSet(b, req.ClusterMemberAttrSet)
		if err != nil {
			return Response{}, nil, err
		}
		m.nextCluster = next
		return Response{}, nil, nil
	}
	return Response{}, nil, fmt.Errorf("%w: %v is not a write", errRequestKind, req)
}

// applyRevoke deletes a lease and all its keys at one revision.
func (m *Member) applyRevoke(b *pebble.Batch, id int64) (Response, []*mvccpb.Event, error) {
	keys, err := m.lessor.ApplyRevoke(b, id)
	if err != nil {
		return Response{}, nil, err
	}
	var events []*mvccpb.Event
	if len(keys) > 0 {
		txn := &pb.TxnRequest{}
		for _, k := range keys {
			txn.Success = append(txn.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: k}}})
		}
		if _, events, err = m.kv.Txn(b, txn, m.lessor); err != nil {
			// The lease is gone from the batch but its keys could not be deleted: the batch
			// must not commit half of a revoke.
			return Response{}, nil, fmt.Errorf("node: revoke of lease %d could not delete its keys: %w", id, err)
		}
	}
	return Response{LeaseRevoke: &pb.LeaseRevokeResponse{Header: m.header()}}, events, nil
}

// term is raft's current term.
func (m *Member) term() uint64 {
	hs, _ := m.rn.States()
	return hs.Term
}

func (m *Member) header() *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: m.cluster.id, MemberId: m.cfg.ID, Revision: m.kv.CurrentRevision(), RaftTerm: m.term()}
}

// proposeLeaseWork proposes, on the leader, revokes of expired leases and checkpoints of
// remaining TTLs.
func (m *Member) proposeLeaseWork() {
	const maxPerTick = 16
	m.flushLeaseQueue()
	for _, id := range m.lessor.Expired(maxPerTick) {
		if data, err := encodeExpiryEntry(id, m.newRequestID()); err == nil {
			m.proposeLease(data)
		}
	}
	if cps := m.lessor.Checkpoints(maxPerTick); len(cps) > 0 {
		m.proposeLease(encodeCheckpointEntry(cps))
	}
}
