package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/raft"
)

// The lessor is primary while the member leads, from the moment the new leader has applied
// an entry of its own term (maybePromote: every entry of earlier terms has then applied, as
// kv/lease requires; promoting on the soft state alone would let a checkpoint of the old
// term apply on the new primary) until raft reports another leader or a new term
// (leaderChanged, demoteIfTermMoved: before applying entries of the later term). On each
// Tick the primary proposes revokes of expired leases and checkpoints of remaining TTLs
// (kv/lease decides; the clock is Config.Clock). After a restart the key attachments are
// rebuilt from the live keys. Lease checkpoints are only ever proposed by the leader
// itself: a forwarded proposal must be a client request (a checkpoint from a peer would
// carry a term and sequence the primary never produced). The primary's lease entries (revokes,
// checkpoints, clears) that raft drops (a leadership transfer under way) wait in order and
// are proposed again on the next tick (proposeLease): a dropped checkpoint is not retried
// by the lessor, and the next leader would restart the lease from its own promotion.
//
// The primary's revokes of expired leases are entries of their own kind (entryExpiry), so
// every member knows, when it applies one, that the cluster ended the lease and not a client:
// Config.OnLeaseExpired (optional, told like Logger) hears of each with the lease, the
// revision after the revoke and the entry's index (lease_expiry.go). A history checker needs
// that record, or the lease's keys vanish without a cause. Every member reports each expiry
// it applies, again after re-applying it from a restart; the simulator keeps the first.

// They are served by the leader, whose lessor alone knows the deadlines, and only after a
// ReadIndex round confirmed its leadership (as etcd's LeaseRenew since v3.5): a deposed
// leader cannot renew a lease that the new leader counts from its own promotion. A
// keep-alive then asks lessor.KeepAlive: AnswerNow answers the TTL; ProposeClear proposes
// the clear (a checkpoint entry with RemainingTTL 0) and the call is served again after
// entries apply, until KeepAlive answers AnswerNow; WaitForClear waits the same way (a
// dropped clear is asked for again after the lessor's ClearRetryInterval). TimeToLive and
// Leases answer from the leader's lessor after the same round, so they are linearizable
// (every grant and revoke acknowledged before the call is seen) and TimeToLive reports the
// primary's deadline, as etcd forwards LeaseTimeToLive to its leader. A member that does
// not lead sends the call to the leader in a frameLeaseCall (op, asker, request ID, lease
// ID, keys flag; checksummed) and completes it on the frameLeaseAnswer (request ID, op,
// code, protobuf response; checksummed). Only etcd's lease-not-found travels as an error;
// anything else (lost message, leader change, not primary yet) is answered by silence and
// the asker sends the call again, to the leader it knows then, every election timeout
// until RequestTimeoutTicks (ErrTimeout); with no leader known at the call, ErrNoLeader at
// once. Serving a call twice is harmless (a renewal is idempotent; the first answer wins).

// Lease call operations (the first byte of a frameLeaseCall body).
const (
	leaseOpKeepAlive  byte = 1
	leaseOpTimeToLive byte = 2
	leaseOpLeases     byte = 3
)

// leaseCall is one of this member's waiting lease calls (the pendingRequest of the same ID
// holds its done and deadline).
type leaseCall struct {
	op       byte
	leaseID  int64
	withKeys bool
	sentAt   uint64 // tick it was last sent (or served locally)
}

// leaseServe is a lease call the leader serves: first a ReadIndex round, then the lessor.
type leaseServe struct {
	ctx       uint64 // the ReadIndex context, a request ID of this member
	from      uint64 // the member that asked (this member for its own calls)
	reqID     uint64 // the asker's request ID
	call      leaseCall
	confirmed bool   // the ReadIndex round confirmed leadership
	readAt    uint64 // tick of the last ReadIndex call
	deadline  uint64 // in ticks
}

// leaseCalls is the member's lease-call state: its own waiting calls, and (on the leader)
// the calls it serves, in arrival order.
type leaseCalls struct {
	calls   map[uint64]*leaseCall
	order   []uint64 // request IDs of calls, in submission order
	serving []*leaseServe
	// queue holds the primary's lease entries raft dropped, in order (see proposeLease).
	queue [][]byte
}

// proposeLease proposes an entry of the primary lessor (a revoke, checkpoints or a clear),
// in the order the lessor produced them. One that raft drops (a leadership transfer under
// way, too much uncommitted) waits, with every later one, and is proposed again on the next
// tick while this member is still the primary: a dropped checkpoint would otherwise never
// be retried, and the next leader would restart the lease from its own promotion (an
// election keeping it alive); a dropped revoke would wait for the lessor's
// ExpiredRetryInterval. The queue is dropped when a new term's promotion starts afresh.
func (m *Member) proposeLease(data []byte) {
	if len(m.lease.queue) == 0 && m.rn.Propose(data) == nil {
		return
	}
	m.lease.queue = append(m.lease.queue, data)
}

// flushLeaseQueue proposes the queued lease entries, in order, until raft drops one.
func (m *Member) flushLeaseQueue() {
	for len(m.lease.queue) > 0 {
		if m.rn.Propose(m.lease.queue[0]) != nil {
			return
		}
		m.lease.queue[0] = nil
		m.lease.queue = m.lease.queue[1:]
	}
	m.lease.queue = nil
}

// KeepAlive renews lease id (etcd's LeaseKeepAlive, one request of the stream). done gets a
// Response with LeaseKeepAlive set (the TTL the lease was renewed for, counted from the call
// at the latest), or etcd's lease-not-found error, or ErrNoLeader / ErrTimeout.
func (m *Member) KeepAlive(id int64, done Done) {
	m.startLeaseCall(leaseCall{op: leaseOpKeepAlive, leaseID: id}, done)
}

// TimeToLive answers etcd's LeaseTimeToLive from the leader's lessor (the primary's
// deadline), linearizably: after a ReadIndex round on the leader.
func (m *Member) TimeToLive(req *pb.LeaseTimeToLiveRequest, done Done) {
	if req == nil {
		done(Response{}, fmt.Errorf("%w: nil LeaseTimeToLiveRequest", errRequestKind))
		return
	}
	m.startLeaseCall(leaseCall{op: leaseOpTimeToLive, leaseID: req.ID, withKeys: req.Keys}, done)
}

// Leases answers etcd's LeaseLeases from the leader's lessor, linearizably.
func (m *Member) Leases(done Done) {
	m.startLeaseCall(leaseCall{op: leaseOpLeases}, done)
}

func (m *Member) startLeaseCall(c leaseCall, done Done) {
	defer m.recoverStop()
	if m.stopped != nil {
		done(Response{}, ErrStopped)
		return
	}
	id := m.newRequestID()
	if !m.wait(&pendingRequest{id: id, deadline: m.ticks + uint64(m.cfg.RequestTimeoutTicks), done: done}) {
		return
	}
	if m.lease.calls == nil {
		m.lease.calls = make(map[uint64]*leaseCall)
	}
	m.lease.calls[id] = &c
	m.lease.order = append(m.lease.order, id)
	if !m.routeLeaseCall(id, &c) {
		m.finishLeaseCall(id, Response{}, ErrNoLeader)
	}
}

// routeLeaseCall serves the call here if this member leads, or sends it to the leader. It
// reports false when no leader is known.
func (m *Member) routeLeaseCall(id uint64, c *leaseCall) bool {
	c.sentAt = m.ticks
	_, st := m.rn.States()
	switch {
	case st.RaftState == raft.StateLeader:
		m.serveLeaseCall(m.cfg.ID, id, *c)
	case st.Lead != 0:
		m.outbox = append(m.outbox, Envelope{To: st.Lead, Data: encodeLeaseCallFrame(m.cfg.ID, id, c)})
	default:
		return false
	}
	return true
}

// finishLeaseCall completes this member's call id (a late or repeated answer is ignored).
func (m *Member) finishLeaseCall(id uint64, resp Response, err error) {
	if _, ok := m.lease.calls[id]; !ok {
		return
	}
	delete(m.lease.calls, id)
	m.lease.order = slices.DeleteFunc(m.lease.order, func(x uint64) bool { return x == id })
	if p := m.requests.take(id); p != nil {
		p.done(resp, err)
	}
}

// serveLeaseCall starts serving a call on the leader: a ReadIndex round first. A call that
// cannot start (this member no longer leads) is dropped; the asker sends it again.
func (m *Member) serveLeaseCall(from, reqID uint64, c leaseCall) {
	for _, s := range m.lease.serving {
		if s.from == from && s.reqID == reqID {
			return // a repeat of a call already being served
		}
	}
	s := &leaseServe{ctx: m.newRequestID(), from: from, reqID: reqID, call: c, deadline: m.ticks + uint64(m.cfg.RequestTimeoutTicks)}
	if len(m.lease.serving) >= m.cfg.MaxWaitingRequests {
		m.answerLeaseServe(s, Response{}, ErrTooManyRequests)
		return
	}
	if err := m.issueLeaseRead(s); err != nil {
		return
	}
	m.lease.serving = append(m.lease.serving, s)
}

func (m *Member) issueLeaseRead(s *leaseServe) error {
	s.readAt = m.ticks
	var ctx [8]byte
	binary.BigEndian.PutUint64(ctx[:], s.ctx)
	return m.rn.ReadIndex(ctx[:])
}

// leaseReadConfirmed takes a ReadState that confirms a served lease call, and serves it. It
// reports whether the ReadState was one of the lease calls'.
func (m *Member) leaseReadConfirmed(rs raft.ReadState) bool {
	ctx := binary.BigEndian.Uint64(rs.RequestCtx)
	for _, s := range m.lease.serving {
		if s.ctx == ctx {
			if !s.confirmed {
				s.confirmed = true
				m.runLeaseServe(s)
			}
			return true
		}
	}
	return false
}

// runLeaseServe serves a confirmed call from the lessor. A keep-alive of a lease with a
// checkpoint proposes its clear and is served again once the clear applied.
func (m *Member) runLeaseServe(s *leaseServe) {
	id := s.call.leaseID
	switch s.call.op {
	case leaseOpKeepAlive:
		res, err := m.lessor.KeepAlive(id)
		switch {
		case errors.Is(err, lease.ErrNotPrimary):
			m.dropLeaseServe(s) // leadership moved; the asker sends the call again
		case err != nil:
			m.answerLeaseServe(s, Response{}, err)
		case res.Action == lease.AnswerNow:
			m.answerLeaseServe(s, Response{LeaseKeepAlive: &pb.LeaseKeepAliveResponse{Header: m.header(), ID: id, TTL: res.TTLSeconds}}, nil)
		case res.Action == lease.ProposeClear:
			m.proposeLease(encodeCheckpointEntry([]lease.Checkpoint{res.Clear}))
		case res.Action == lease.WaitForClear:
		default:
			panic(fmt.Sprintf("node: lessor answered keep-alive of lease %d with action %v", id, res.Action))
		}
	case leaseOpTimeToLive:
		ttl, err := m.lessor.TimeToLive(id, s.call.withKeys)
		if err != nil {
			m.answerLeaseServe(s, Response{}, err)
			return
		}
		m.answerLeaseServe(s, Response{LeaseTimeToLive: &pb.LeaseTimeToLiveResponse{Header: m.header(), ID: id,
			TTL: ttl.RemainingTTL, GrantedTTL: ttl.GrantedTTL, Keys: ttl.Keys}}, nil)
	case leaseOpLeases:
		resp := &pb.LeaseLeasesResponse{Header: m.header()}
		for _, lid := range m.lessor.Leases() {
			resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: lid})
		}
		m.answerLeaseServe(s, Response{LeaseLeases: resp}, nil)
	}
}

func (m *Member) dropLeaseServe(s *leaseServe) {
	m.lease.serving = slices.DeleteFunc(m.lease.serving, func(x *leaseServe) bool { return x == s })
}

func (m *Member) answerLeaseServe(s *leaseServe, resp Response, err error) {
	m.dropLeaseServe(s)
	if s.from == m.cfg.ID {
		m.finishLeaseCall(s.reqID, resp, err)
		return
	}
	data, encErr := encodeLeaseAnswerFrame(s.reqID, s.call.op, resp, err)
	if encErr != nil {
		return // cannot happen for the responses built above; the asker times out
	}
	m.outbox = append(m.outbox, Envelope{To: s.from, Data: data})
}

// retryLeaseServes serves again the keep-alives that wait for a clear to apply (called after
// entries applied, and on each tick for clears that may have been dropped).
func (m *Member) retryLeaseServes() {
	for _, s := range slices.Clone(m.lease.serving) {
		if s.confirmed && s.call.op == leaseOpKeepAlive {
			m.runLeaseServe(s)
		}
	}
}

// tickLeaseCalls forgets calls that timed out, sends unanswered calls again every election
// timeout, re-asks unconfirmed ReadIndex rounds, drops served calls past their deadline, and
// retries keep-alives that wait for a clear.
func (m *Member) tickLeaseCalls() {
	election := uint64(m.cfg.ElectionTimeoutTicks)
	for _, id := range slices.Clone(m.lease.order) {
		c := m.lease.calls[id]
		if !m.requests.contains(id) {
			delete(m.lease.calls, id)
			m.lease.order = slices.DeleteFunc(m.lease.order, func(x uint64) bool { return x == id })
			continue
		}
		if m.ticks-c.sentAt >= election {
			m.routeLeaseCall(id, c) // with no leader known, wait for one until the deadline
		}
	}
	m.lease.serving = slices.DeleteFunc(m.lease.serving, func(s *leaseServe) bool { return s.deadline <= m.ticks })
	for _, s := range m.lease.serving {
		if !s.confirmed && m.ticks-s.readAt >= election {
			_ = m.issueLeaseRead(s)
		}
	}
	m.retryLeaseServes()
}

// maybePromote makes the lessor primary once this leader has applied an entry of its own
// term (e), so every entry of earlier terms has applied, as kv/lease requires.
func (m *Member) maybePromote(e raft.Entry) {
	if m.primary || m.leader != m.cfg.ID {
		return
	}
	if hs, ss := m.rn.States(); ss.RaftState == raft.StateLeader && hs.Term == e.Term {
		m.lessor.Promote(e.Term)
		m.logf("lessor promoted in term %d", e.Term)
		m.primary, m.primaryTerm = true, e.Term
		m.lease.queue = nil // entries of an earlier term as primary must not be proposed now
	}
}

// demoteIfTermMoved demotes the lessor when raft's term moved past the one it was promoted
// in, even if the soft state looks unchanged (leader again in a later term between two
// Readies): entries of the terms in between must not apply on a primary of an old term.
func (m *Member) demoteIfTermMoved(hs raft.HardState) {
	if m.primary && !hs.IsEmpty() && hs.Term != m.primaryTerm {
		m.lessor.Demote()
		m.primary = false
	}
}

// Lease call frames. A call: op, asker's member ID, request ID, lease ID (8 bytes BE each),
// withKeys (0 or 1). An answer: request ID, op, error code, then the response (protobuf).
const leaseCallBodyBytes = 1 + 8 + 8 + 8 + 1

// Error codes of a lease answer; an answer carries etcd's lease errors, the rest of the
// failures make the asker retry or time out.
const (
	leaseAnswerOK       byte = 0
	leaseAnswerNotFound byte = 1
	// leaseAnswerTooMany: the leader's table of served lease calls was full.
	leaseAnswerTooMany byte = 2
)

func encodeLeaseCallFrame(from, reqID uint64, c *leaseCall) []byte {
	body := make([]byte, 0, leaseCallBodyBytes)
	body = append(body, c.op)
	body = binary.BigEndian.AppendUint64(body, from)
	body = binary.BigEndian.AppendUint64(body, reqID)
	body = binary.BigEndian.AppendUint64(body, uint64(c.leaseID))
	keys := byte(0)
	if c.withKeys {
		keys = 1
	}
	return encodeChecksummedFrame(frameLeaseCall, append(body, keys))
}

func decodeLeaseCall(body []byte) (from, reqID uint64, c leaseCall, err error) {
	if len(body) != leaseCallBodyBytes {
		return 0, 0, c, fmt.Errorf("%w: lease call of %d bytes, want %d", errFrame, len(body), leaseCallBodyBytes)
	}
	c.op = body[0]
	if c.op < leaseOpKeepAlive || c.op > leaseOpLeases {
		return 0, 0, c, fmt.Errorf("%w: unknown lease call %d", errFrame, c.op)
	}
	from = binary.BigEndian.Uint64(body[1:])
	reqID = binary.BigEndian.Uint64(body[9:])
	c.leaseID = int64(binary.BigEndian.Uint64(body[17:]))
	switch body[25] {
	case 0:
	case 1:
		c.withKeys = true
	default:
		return 0, 0, c, fmt.Errorf("%w: lease call keys flag %d", errFrame, body[25])
	}
	if from == 0 || reqID == 0 {
		return 0, 0, c, fmt.Errorf("%w: lease call from member %d with request ID %d", errFrame, from, reqID)
	}
	return from, reqID, c, nil
}

func encodeLeaseAnswerFrame(reqID uint64, op byte, resp Response, answerErr error) ([]byte, error) {
	body := binary.BigEndian.AppendUint64(nil, reqID)
	body = append(body, op)
	switch {
	case errors.Is(answerErr, lease.ErrLeaseNotFound):
		return encodeChecksummedFrame(frameLeaseAnswer, append(body, leaseAnswerNotFound)), nil
	case errors.Is(answerErr, ErrTooManyRequests):
		return encodeChecksummedFrame(frameLeaseAnswer, append(body, leaseAnswerTooMany)), nil
	case answerErr != nil:
		return nil, fmt.Errorf("node: lease answer with error %v has no wire code", answerErr)
	}
	body = append(body, leaseAnswerOK)
	var msg proto.Message
	switch op {
	case leaseOpKeepAlive:
		msg = resp.LeaseKeepAlive
	case leaseOpTimeToLive:
		msg = resp.LeaseTimeToLive
	case leaseOpLeases:
		msg = resp.LeaseLeases
	}
	body, err := marshalDeterministic.MarshalAppend(body, msg)
	if err != nil {
		return nil, err
	}
	return encodeChecksummedFrame(frameLeaseAnswer, body), nil
}

func decodeLeaseAnswer(body []byte) (reqID uint64, op byte, resp Response, answerErr error, err error) {
	if len(body) < 10 {
		return 0, 0, resp, nil, fmt.Errorf("%w: lease answer of %d bytes", errFrame, len(body))
	}
	reqID, op, code, payload := binary.BigEndian.Uint64(body), body[8], body[9], body[10:]
	switch code {
	case leaseAnswerOK:
	case leaseAnswerNotFound, leaseAnswerTooMany:
		if len(payload) != 0 {
			return 0, 0, resp, nil, fmt.Errorf("%w: lease error answer with %d bytes of payload", errFrame, len(payload))
		}
		if code == leaseAnswerTooMany {
			return reqID, op, resp, ErrTooManyRequests, nil
		}
		return reqID, op, resp, lease.ErrLeaseNotFound, nil
	default:
		return 0, 0, resp, nil, fmt.Errorf("%w: lease answer code %d", errFrame, code)
	}
	var msg proto.Message
	switch op {
	case leaseOpKeepAlive:
		resp.LeaseKeepAlive = new(pb.LeaseKeepAliveResponse)
		msg = resp.LeaseKeepAlive
	case leaseOpTimeToLive:
		resp.LeaseTimeToLive = new(pb.LeaseTimeToLiveResponse)
		msg = resp.LeaseTimeToLive
	case leaseOpLeases:
		resp.LeaseLeases = new(pb.LeaseLeasesResponse)
		msg = resp.LeaseLeases
	default:
		return 0, 0, resp, nil, fmt.Errorf("%w: lease answer to unknown call %d", errFrame, op)
	}
	if err := proto.Unmarshal(payload, msg); err != nil {
		return 0, 0, Response{}, nil, fmt.Errorf("%w: lease answer: %v", errFrame, err)
	}
	return reqID, op, resp, nil, nil
}

// receiveLeaseCall serves a lease call another member sent (dropped unless this member
// leads: the asker sends it again to the leader it knows then).
func (m *Member) receiveLeaseCall(body []byte) error {
	from, reqID, c, err := decodeLeaseCall(body)
	if err != nil {
		return err
	}
	if _, ss := m.rn.States(); ss.RaftState == raft.StateLeader {
		m.serveLeaseCall(from, reqID, c)
	}
	return nil
}

// receiveLeaseAnswer completes one of this member's lease calls.
func (m *Member) receiveLeaseAnswer(body []byte) error {
	reqID, op, resp, answerErr, err := decodeLeaseAnswer(body)
	if err != nil {
		return err
	}
	c, ok := m.lease.calls[reqID]
	if !ok {
		return nil // answered already, or timed out
	}
	if c.op != op {
		return fmt.Errorf("%w: lease answer of kind %d to request %x of kind %d", errFrame, op, reqID, c.op)
	}
	m.finishLeaseCall(reqID, resp, answerErr)
	return nil
}
