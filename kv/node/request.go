package node

import (
	"encoding/binary"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/raft"
)

// Requests are etcd's InternalRaftRequest (one of Range, Put, DeleteRange, Txn, Compaction,
// LeaseGrant, LeaseRevoke, Alarm, ClusterMemberAttrSet). Writes go through the log: proposed
// on the leader; on a follower forwarded to the leader as a checksummed frame, as etcd
// forwards MsgProp; the submitter completes when it applies the entry itself (every member
// applies every entry), so a follower answers from its own state. Each request carries an ID
// (member ID, boot count, sequence: unique across restarts, see newRequestID); a member
// remembers the last dedupWindowEntries applied IDs durably, in the batch of each request, so
// a proposal duplicated by the network or re-forwarded applies once. Serializable reads read
// the local store at once; linearizable reads and read-only txns wait for a ReadIndex
// confirmation, which raft hands out only once this member has applied its index, and are
// re-asked every election timeout until their deadline. Requests fail with etcd's errors:
// ErrNoLeader when no leader is known, ErrTimeout after RequestTimeoutTicks, ErrStopped on
// Close; a request's own error (etcd's, from the store) is its answer and changes nothing.
// Lease keep-alives, TimeToLive and Leases are calls of their own (below), watches are streams
// (NewWatchStream), membership changes and leadership transfer are calls (AddVoter, ...).

// Response is the answer to one request: the field of the request's kind is set.
type Response struct {
	Range       *pb.RangeResponse
	Put         *pb.PutResponse
	DeleteRange *pb.DeleteRangeResponse
	Txn         *pb.TxnResponse
	Compaction  *pb.CompactionResponse
	LeaseGrant  *pb.LeaseGrantResponse
	LeaseRevoke *pb.LeaseRevokeResponse
	Alarm       *pb.AlarmResponse
	// Auth is the answer to an auth request: etcd's *pb.AuthXxxResponse for its kind, its
	// header's revision the store's as it applied (the API layer sets the rest).
	Auth any
	// AuthRevision is, for an auth request, the auth store's revision right after it applied
	// (the simulator records it; etcd's ResponseHeader has no field for it).
	AuthRevision uint64
	// Set by the lease calls KeepAlive, TimeToLive and Leases (lease_keepalive.go).
	LeaseKeepAlive  *pb.LeaseKeepAliveResponse
	LeaseTimeToLive *pb.LeaseTimeToLiveResponse
	LeaseLeases     *pb.LeaseLeasesResponse
}

// Done receives a request's outcome. It runs on the member's goroutine, from the call that
// completes the request (Submit, Work, Synced, Tick or Close), exactly once.
type Done func(Response, error)

// pendingRequest is a request that waits: a write for its entry to apply on this member, a
// linearizable read for its ReadIndex to be confirmed and applied.
type pendingRequest struct {
	id           uint64
	deadline     uint64 // in ticks
	done         Done
	finished     bool
	read         *pb.InternalRaftRequest // set for a linearizable read
	readIssuedAt uint64                  // tick of the last ReadIndex call for it
}

// requestTable holds the waiting requests: by ID for completion, and in submission order,
// which is deadline order (every request gets the same timeout), for expiry and for failing
// them all deterministically.
type requestTable struct {
	byID  map[uint64]*pendingRequest
	order []*pendingRequest
}

func (t *requestTable) add(p *pendingRequest) {
	if t.byID == nil {
		t.byID = make(map[uint64]*pendingRequest)
	}
	t.byID[p.id] = p
	t.order = append(t.order, p)
}

func (t *requestTable) contains(id uint64) bool { _, ok := t.byID[id]; return ok }

// wait adds p to the waiting requests, or, when MaxWaitingRequests already wait, answers it
// at once with ErrTooManyRequests and reports false: the caller must not propose it.
func (m *Member) wait(p *pendingRequest) bool {
	if len(m.requests.byID) >= m.cfg.MaxWaitingRequests {
		if canary.On(canary.DropWhenFull) {
			return false // the canary: the request is neither kept nor answered
		}
		p.done(Response{}, ErrTooManyRequests)
		return false
	}
	m.requests.add(p)
	return true
}

// take removes and returns the waiting request id, or nil.
func (t *requestTable) take(id uint64) *pendingRequest {
	p, ok := t.byID[id]
	if !ok {
		return nil
	}
	delete(t.byID, id)
	p.finished = true
	return p
}

// expire fails every request whose deadline has passed with ErrTimeout.
func (t *requestTable) expire(now uint64) {
	for len(t.order) > 0 {
		p := t.order[0]
		if !p.finished && p.deadline > now {
			return
		}
		t.order[0] = nil
		t.order = t.order[1:]
		if !p.finished {
			t.take(p.id)
			p.done(Response{}, ErrTimeout)
		}
	}
}

// reads returns the waiting linearizable reads, in submission order.
func (t *requestTable) reads() []*pendingRequest {
	var out []*pendingRequest
	for _, p := range t.order {
		if !p.finished && p.read != nil {
			out = append(out, p)
		}
	}
	return out
}

func (t *requestTable) failAll(err error) {
	order := t.order
	t.order = nil
	for _, p := range order {
		if !p.finished {
			t.take(p.id)
			p.done(Response{}, err)
		}
	}
}

// newRequestID returns a request ID no member has used in the dedup window: as etcd's
// idutil, the member ID in the top 16 bits, this start's boot count in the next 16 and a
// sequence number in the low 32. IDs are not drawn from Rand: a restarted member whose
// random source is seeded as before would draw the IDs of requests it already applied, and
// the dedup window would then skip its new requests.
func (m *Member) newRequestID() uint64 {
	for {
		m.requestSeq++
		if id := m.requestIDPrefix | uint64(m.requestSeq); id != 0 && !m.requests.contains(id) {
			return id
		}
	}
}

// Submit starts a client request: etcd's InternalRaftRequest with exactly one of Range,
// Put, DeleteRange, Txn, Compaction, LeaseGrant, LeaseRevoke, Alarm or ClusterMemberAttrSet
// set. An alarm GET is answered at once from the local member table (Response.Alarm); a
// Compaction with Physical set completes only once this member's store compaction to that
// revision has finished, not when it applies. done runs once, when
// the request completes or fails. Writes go through the log: on the leader they are
// proposed, on a follower forwarded to the leader, and they complete when this member
// applies them. Serializable reads are answered at once from the local store; linearizable
// reads (and read-only txns) wait for a ReadIndex confirmation and for this member to apply
// up to it.
func (m *Member) Submit(req *pb.InternalRaftRequest, done Done) {
	defer m.recoverStop()
	if m.stopped != nil {
		done(Response{}, ErrStopped)
		return
	}
	if err := checkOneKind(req); err != nil {
		done(Response{}, err)
		return
	}
	if req.Alarm != nil && req.Alarm.Action == pb.AlarmRequest_GET {
		done(m.alarmGet(req.Alarm), nil)
		return
	}
	if isReadOnly(req) {
		m.submitRead(req, done)
		return
	}
	id := m.newRequestID()
	req.Header = &pb.RequestHeader{ID: id, Username: req.GetHeader().GetUsername(), AuthRevision: req.GetHeader().GetAuthRevision()}
	if g := req.LeaseGrant; g != nil {
		cmd, err := m.lessor.PrepareGrant(g.ID, g.TTL)
		if err != nil {
			done(Response{}, err)
			return
		}
		req.LeaseGrant = &pb.LeaseGrantRequest{ID: cmd.ID, TTL: cmd.TTLSeconds}
	}
	data, err := encodeRequestEntry(req)
	if err != nil {
		done(Response{}, err)
		return
	}
	if len(data) > m.cfg.MaxRequestBytes+1024 {
		// The store refuses oversized requests with etcd's error when applying; refusing here
		// as well keeps them out of the log. The margin covers the request header.
		done(Response{}, errRequestTooLarge)
		return
	}
	if !m.wait(&pendingRequest{id: id, deadline: m.ticks + uint64(m.cfg.RequestTimeoutTicks), done: done}) {
		return
	}
	m.propose(id, data)
}

// propose proposes data on the leader, or forwards it to the leader from a follower.
func (m *Member) propose(id uint64, data []byte) {
	err := m.rn.Propose(data)
	var notLeader *raft.NotLeaderError
	switch {
	case err == nil:
	case errors.As(err, &notLeader) && notLeader.LeaderID != 0:
		m.outbox = append(m.outbox, Envelope{To: notLeader.LeaderID, Data: encodeForwardFrame(data)})
	case errors.As(err, &notLeader):
		m.fail(id, ErrNoLeader)
	default:
		m.fail(id, err)
	}
}

func (m *Member) fail(id uint64, err error) {
	if p := m.requests.take(id); p != nil {
		p.done(Response{}, err)
	}
}

func (m *Member) submitRead(req *pb.InternalRaftRequest, done Done) {
	if req.Range != nil && req.Range.Serializable {
		resp, err := m.readLocal(req)
		done(resp, err)
		return
	}
	id := m.newRequestID()
	p := &pendingRequest{id: id, deadline: m.ticks + uint64(m.cfg.RequestTimeoutTicks), done: done, read: req}
	if !m.wait(p) {
		return
	}
	if err := m.issueReadIndex(p); err != nil {
		var notLeader *raft.NotLeaderError
		if errors.As(err, &notLeader) {
			err = ErrNoLeader
		}
		m.fail(id, err)
	}
}

// issueReadIndex asks raft to confirm a read. A re-issued request that fails keeps waiting
// for the next try or its deadline (an election may be under way).
func (m *Member) issueReadIndex(p *pendingRequest) error {
	p.readIssuedAt = m.ticks
	var ctx [8]byte
	binary.BigEndian.PutUint64(ctx[:], p.id)
	return m.rn.ReadIndex(ctx[:])
}

// serveReadState answers the linearizable read a ReadState confirms (raft hands it out only
// once this member has applied its index).
func (m *Member) serveReadState(rs raft.ReadState) {
	if len(rs.RequestCtx) != 8 {
		panic("node: ReadState with a request context that is not a request ID")
	}
	if m.leaseReadConfirmed(rs) {
		return
	}
	p := m.requests.take(binary.BigEndian.Uint64(rs.RequestCtx))
	if p == nil {
		return // answered by an earlier ReadState, or timed out
	}
	if m.applied < rs.Index {
		panic("node: ReadState handed out before its index was applied")
	}
	resp, err := m.readLocal(p.read)
	if m.leader != m.cfg.ID {
		m.event(Event{Kind: EventFollowerReadIndex, Index: rs.Index})
	}
	p.done(resp, err)
}

// A read that fails for another reason than the request's own (isRequestError) is a
// storage failure: the member stops and the read is answered with that failure.
func (m *Member) readLocal(req *pb.InternalRaftRequest) (Response, error) {
	var resp Response
	if err := m.checkRead(req); err != nil {
		return resp, err
	}
	var err error
	if req.Range != nil {
		resp.Range, err = m.kv.RangeApplied(m.db, req.Range) // between applies: the store's revisions
	} else {
		resp.Txn, err = m.kv.ReadTxn(m.db, req.Txn)
	}
	if err != nil && !isRequestError(err) {
		return Response{}, m.storageFailure(err)
	}
	return resp, err
}
