package node

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Space: etcd's backend quota and its NOSPACE alarm.
//
// The state machine's part is deterministic and etcd's (applierV3Capped): while any member's
// NOSPACE alarm is raised (an alarm applied through the log, so every member sees the same
// alarms at the same index), a put, a txn whose branches put, and a lease grant are refused
// at apply with etcd's "etcdserver: mvcc: database space exceeded" and change nothing;
// reads, deletes, revokes, compactions and alarm changes go on. Raising and clearing the
// alarm is the serving side's (rpc's quota check before it proposes, as etcd's quota
// servers; its space monitor clears the alarm by itself under 90% of the quota): those
// decisions read StoreBytes, Pebble's estimate, which depends on its background work, so
// they are made outside the state machine and enter it only as Alarm requests through the
// log. The simulator runs no quota.

// storeSpans are the key spans the quota counts: the state machine's (leases, the MVCC
// store, the member table and alarms, the dedup window), not the raft log beside them.
func storeSpans() []keySpan { return stateMachineSpans }

// spaceCapped reports whether a NOSPACE alarm is raised (as of the applied index).
func (m *Member) spaceCapped() bool {
	for _, a := range m.cluster.alarms {
		if a.Alarm == pb.AlarmType_NOSPACE {
			return true
		}
	}
	return false
}

// corrupted reports whether a CORRUPT alarm is raised (as of the applied index): a member's
// store was found to differ from the leader's (rpc/embed's corruption check).
func (m *Member) corrupted() bool {
	for _, a := range m.cluster.alarms {
		if a.Alarm == pb.AlarmType_CORRUPT {
			return true
		}
	}
	return false
}

// corruptRefused answers a request refused while a CORRUPT alarm is raised (etcd's
// applierV3Corrupt: "etcdserver: corrupt cluster" for every change of the key space or the
// leases, until an operator has repaired the member and disarmed the alarm).
func corruptRefused(req *pb.InternalRaftRequest) error {
	switch {
	case req.Put != nil, req.DeleteRange != nil, req.Txn != nil, req.Compaction != nil, req.LeaseGrant != nil, req.LeaseRevoke != nil:
		return rpctypes.ErrGRPCCorrupt
	}
	return nil
}

// CompactRevision is the store's compact revision as of the applied index (-1: none).
func (m *Member) CompactRevision() int64 { return m.kv.CompactRevision() }

// capped answers a request refused while the space is capped (etcd's applierV3Capped).
func capped(req *pb.InternalRaftRequest) error {
	switch {
	case req.Put != nil, req.LeaseGrant != nil:
		return rpctypes.ErrGRPCNoSpace
	case req.Txn != nil && RequestCost(req) > 0:
		return rpctypes.ErrGRPCNoSpace
	}
	return nil
}

// leaseGrantCostBytes is what a lease grant adds to the store in the quota's view.
const leaseGrantCostBytes = 64

// RequestCost is etcd's quota cost of a request in bytes: a put's key and value (plus a
// small overhead), a txn's costlier branch counting its top-level puts only (etcd's
// costTxn; a nested txn costs nothing), a lease grant's record; 0 for everything else,
// which the quota never refuses.
func RequestCost(req *pb.InternalRaftRequest) int {
	switch {
	case req.Put != nil:
		return putCost(req.Put)
	case req.Txn != nil:
		branch := func(ops []*pb.RequestOp) int {
			n := 0
			for _, op := range ops {
				if p := op.GetRequestPut(); p != nil {
					n += putCost(p)
				}
			}
			return n
		}
		return max(branch(req.Txn.Success), branch(req.Txn.Failure))
	case req.LeaseGrant != nil:
		return leaseGrantCostBytes
	}
	return 0
}

// putCostOverheadBytes is a version's share of the store beyond its key and value (its
// revision keys and KeyValue fields; etcd counts its key index entry likewise).
const putCostOverheadBytes = 64

func putCost(p *pb.PutRequest) int { return len(p.Key) + len(p.Value) + putCostOverheadBytes }

// StoreBytes is what the quota counts: Pebble's estimate of the disk space of the state
// machine's key spans (sstables, compressed) plus the live write-ahead log, the writes not
// yet flushed (of every key, the raft log's included: an upper bound until they are
// flushed; Pebble's memtable metric is their allocated capacity, not their content). Safe
// from any goroutine; 0 once the driver stopped.
func (d *Driver) StoreBytes() int64 {
	select {
	case <-d.stopped:
		return 0
	default:
	}
	var n uint64
	for _, s := range storeSpans() {
		size, err := d.m.db.EstimateDiskUsage(s.lo, s.hi)
		if err != nil {
			continue // a closed or failing DB: it answers no size
		}
		n += size
	}
	return int64(n + d.m.db.Metrics().WAL.Size)
}

// CompactStore runs Pebble's manual compaction of the state machine's spans (after an MVCC
// compaction Pebble gives space back only through its compactions: the quota's space
// monitor asks for one so that the NOSPACE alarm can clear). Like Defragment it runs on the
// caller's goroutine beside the driver.
func (d *Driver) CompactStore(ctx context.Context) error {
	select {
	case <-d.stopped:
		return ErrStopped
	default:
	}
	for _, s := range storeSpans() {
		if err := d.m.db.Compact(ctx, s.lo, s.hi, true); err != nil {
			return fmt.Errorf("node %d: compact the store: %w", d.id, err)
		}
	}
	return nil
}
