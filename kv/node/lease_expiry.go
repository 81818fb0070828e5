package node

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// Lease expiry reports (Config.OnLeaseExpired).
//
// A history checker must know when the cluster, not a client, ended a lease: the lease's
// keys vanish at that revoke's revision, and without a record of it the disappearance reads
// as a lost write. The revokes the primary proposes for expired leases therefore travel in an
// entry kind of their own (entryExpiry: the same InternalRaftRequest with only LeaseRevoke
// set), so that every member, when it applies one, knows it is an expiry and not a client's
// revoke, whoever proposed it and after any restart. The kind is decided by the proposer and
// recorded in the log, so the report is the same on every member and deterministic; a
// forwarded proposal must be a client request, so no client can dress a revoke up as an
// expiry (the decoded expiry is not a decodedEntry.request, which Receive requires).
//
// Why a Config hook rather than a field of Work's Output: it is told, never asked (like
// Logger), it costs nothing when unset, and a driver that has no use for it (production's
// Driver, the tests) needs no code. The call happens inside Work, right after the entry's
// batch committed and before the entry's submitter is answered.
//
// Every member that applies the entry reports it, and a member that re-applies it after a
// crash (the applied index is committed unsynced) reports it again, with the same index and
// revision; a member that skips it by installing a snapshot does not. A driver that wants each
// expiry once keeps the first report per (lease, index): the simulator records it at the
// virtual time of the first apply anywhere, the earliest moment any member's store lacked the
// lease's keys.

// LeaseExpiry is one applied revoke of an expired lease.
type LeaseExpiry struct {
	// ID is the lease's ID.
	ID int64
	// Revision is the store's revision after the revoke: the revision it created by deleting
	// the lease's keys (all of them at that one revision), or, when the lease had no keys,
	// the store's revision then, unchanged. It is the revision a client's revoke would have
	// been answered with, and what linearizability's lease_expiry record calls revision.
	Revision int64
	// Index is the raft index of the entry that revoked it (the same on every member).
	Index uint64
}

// encodeExpiryEntry encodes the primary's revoke of expired lease id, with request ID reqID
// (deduplicated like any request).
func encodeExpiryEntry(id int64, reqID uint64) ([]byte, error) {
	req := &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: reqID}, LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}}
	return marshalDeterministic.MarshalAppend([]byte{entryExpiry}, req)
}

// decodeExpiryEntry decodes the body of an entryExpiry: a request that is a lease revoke and
// nothing else.
func decodeExpiryEntry(body []byte) (decodedEntry, error) {
	req := new(pb.InternalRaftRequest)
	if err := proto.Unmarshal(body, req); err != nil {
		return decodedEntry{}, fmt.Errorf("%w: expiry: %v", errEntry, err)
	}
	if req.LeaseRevoke == nil || checkOneKind(req) != nil {
		return decodedEntry{}, fmt.Errorf("%w: expiry: not a lease revoke alone", errEntry)
	}
	return decodedEntry{expiry: req}, nil
}

// reportExpiry tells Config.OnLeaseExpired about an expiry revoke that applied at index,
// answered with resp (its header holds the revision after the revoke).
func (m *Member) reportExpiry(req *pb.InternalRaftRequest, resp Response, index uint64) {
	m.event(Event{Kind: EventLeaseExpiry, Index: index})
	if m.cfg.OnLeaseExpired == nil {
		return
	}
	m.cfg.OnLeaseExpired(LeaseExpiry{ID: req.LeaseRevoke.ID, Revision: resp.LeaseRevoke.GetHeader().GetRevision(), Index: index})
}
