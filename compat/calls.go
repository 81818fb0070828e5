package compat

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// kind is what a call does.
type kind int

const (
	kindRange kind = iota
	kindPut
	kindDelete
	kindTxn
	kindCompact
	kindLeaseGrant
	kindLeaseRevoke
	kindKeepAliveOnce
	kindTimeToLive
	kindLeases
	kindWatchCreate
	kindWatchCancel
	kindMemberList
	kindStatus
	kindHashKV
	kindDefragment
	kindAlarm
	kindSnapshot
	// The auth calls (auth.go).
	kindAuthEnable
	kindAuthDisable
	kindAuthStatus
	kindAuthenticate
	kindUserAdd
	kindUserGet
	kindUserList
	kindUserDelete
	kindUserChangePassword
	kindUserGrantRole
	kindUserRevokeRole
	kindRoleAdd
	kindRoleGet
	kindRoleList
	kindRoleDelete
	kindRoleGrantPermission
	kindRoleRevokePermission
)

var kindNames = [...]string{"Range", "Put", "DeleteRange", "Txn", "Compact", "LeaseGrant", "LeaseRevoke",
	"KeepAliveOnce", "LeaseTimeToLive", "LeaseLeases", "Watch(create)", "Watch(cancel)", "MemberList", "Status", "HashKV", "Defragment", "Alarm", "Snapshot",
	"AuthEnable", "AuthDisable", "AuthStatus", "Authenticate", "UserAdd", "UserGet", "UserList", "UserDelete", "UserChangePassword",
	"UserGrantRole", "UserRevokeRole", "RoleAdd", "RoleGet", "RoleList", "RoleDelete", "RoleGrantPermission", "RoleRevokePermission"}

func (k kind) String() string { return kindNames[k] }

// call is one step of the sequence: the same request to the same member on both sides.
type call struct {
	kind   kind
	member int // index of the member the call goes to
	// user is who makes the call: "" through the clients without credentials, else through
	// that identity's clients (auth.go: clientv3 with Username and Password for clientUsers,
	// with a certificate for cert:NAME, connections sending a held token for token:NAME).
	user  string
	req   proto.Message // the request (for Watch(cancel), nil)
	watch int           // Watch(create)/Watch(cancel): the watch's number in the sequence
	// sync: a linearizable read on the member first (not compared), so that a call answered
	// from the member's own applied state (serializable reads, watch starts, Status, HashKV,
	// leases) sees every write acknowledged before it on both sides.
	sync bool
	// note says why the call is meant to fail, when it is.
	note string
	// startAtCompact: a watch starting exactly at the compact revision (see
	// intendedDifferences).
	startAtCompact bool
}

func (c *call) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on m%d", c.kind, c.member+1)
	if c.user != "" {
		fmt.Fprintf(&b, " as %s", c.user)
	}
	if c.kind == kindWatchCreate || c.kind == kindWatchCancel {
		fmt.Fprintf(&b, " (watch #%d)", c.watch)
	}
	if c.note != "" {
		fmt.Fprintf(&b, " [meant to fail: %s]", c.note)
	}
	if c.req != nil {
		text := prototext.MarshalOptions{}.Format(c.req)
		if len(text) > 600 {
			text = text[:600] + fmt.Sprintf("... (%d bytes)", len(text))
		}
		fmt.Fprintf(&b, ": %s", text)
	}
	return b.String()
}

// model is what the generator knows of the clusters, updated from etcd's answers (the
// reference: as long as no difference was found, Ballast's are the same).
type model struct {
	rng        *rand.Rand
	rev        int64 // the store's current revision
	compactRev int64
	leases     []int64 // granted, not revoked (in grant order)
	nextLease  int64
	watches    []openWatch // created, not cancelled
	nextWatch  int
	auth       authModel
	certs      bool // the pair has certificate users (clusterConfig.certs)
}

type openWatch struct {
	n        int
	startRev int64
}

func newModel(seed uint64) *model {
	m := &model{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), rev: 1, nextLease: 0x1000}
	m.auth.nextEnable = 20 + m.rng.IntN(40)
	return m
}

// keys is the key space: twelve keys, so a Range never holds more than twelve and etcd's
// sort.Sort is an insertion sort (stable) on it; above twelve the order of keys that tie on
// a sort target is an intended difference (see intendedDifferences).
var keys = []string{"a", "a/0", "a/1", "a/2", "b", "b/0", "b/1", "c", "c/x", "d", "e\xff", "f"}

func (m *model) key() []byte { return []byte(keys[m.rng.IntN(len(keys))]) }

func (m *model) value() []byte {
	switch m.rng.IntN(6) {
	case 0:
		return nil
	case 1:
		return bytes.Repeat([]byte("v"), 100+m.rng.IntN(2000))
	default:
		return fmt.Appendf(nil, "v%d", m.rng.IntN(1000))
	}
}

// keyRange draws a key and range end: one key, a prefix, a span, from a key on, everything;
// invalid says whether the range may be an empty one (end before key).
func (m *model) keyRange(invalid bool) (key, end []byte) {
	switch m.rng.IntN(7) {
	case 0, 1:
		return m.key(), nil
	case 2:
		p := []string{"a/", "b/", "c/", "a", ""}[m.rng.IntN(5)]
		if p == "" {
			return []byte{0}, []byte{0}
		}
		return []byte(p), prefixEnd([]byte(p))
	case 3:
		a, b := m.key(), m.key()
		if bytes.Compare(a, b) > 0 && !invalid {
			a, b = b, a
		}
		return a, b
	case 4:
		return m.key(), []byte{0}
	case 5:
		return []byte{0}, []byte{0}
	default:
		k := m.key()
		if invalid {
			return k, k // key == range end: etcd's empty range
		}
		return k, append(append([]byte{}, k...), 0)
	}
}

func prefixEnd(p []byte) []byte {
	end := append([]byte{}, p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

// revision draws a read revision: current (0), a past one still kept, or (fail) a compacted
// or future one.
func (m *model) revision(c *call) int64 {
	switch r := m.rng.IntN(10); {
	case r < 5:
		return 0
	case r < 8:
		return m.compactRev + m.rng.Int64N(m.rev-m.compactRev+1)
	case r == 8 && m.compactRev > 1:
		c.note = "compacted revision"
		return 1 + m.rng.Int64N(m.compactRev-1)
	default:
		c.note = "future revision"
		return m.rev + 1 + m.rng.Int64N(3)
	}
}

func (m *model) lease(c *call) int64 {
	if len(m.leases) > 0 && m.rng.IntN(5) > 0 {
		return m.leases[m.rng.IntN(len(m.leases))]
	}
	c.note = "unknown lease"
	return 0x7000 + m.rng.Int64N(100)
}

func (m *model) rangeReq(c *call) *pb.RangeRequest {
	key, end := m.keyRange(true)
	key, end = m.userRange(c, key, end)
	r := &pb.RangeRequest{Key: key, RangeEnd: end}
	if m.rng.IntN(3) == 0 {
		r.Limit = m.rng.Int64N(4)
	}
	if m.rng.IntN(3) == 0 {
		r.Revision = m.revision(c)
	}
	if m.rng.IntN(3) == 0 {
		r.SortOrder = pb.RangeRequest_SortOrder(m.rng.IntN(3))
		r.SortTarget = pb.RangeRequest_SortTarget(m.rng.IntN(5))
	}
	r.Serializable = m.rng.IntN(4) == 0
	r.KeysOnly = m.rng.IntN(5) == 0
	r.CountOnly = m.rng.IntN(6) == 0
	if m.rng.IntN(5) == 0 {
		r.MinModRevision = m.rng.Int64N(m.rev + 1)
	}
	if m.rng.IntN(5) == 0 {
		r.MaxModRevision = m.rng.Int64N(m.rev + 1)
	}
	if m.rng.IntN(5) == 0 {
		r.MinCreateRevision = m.rng.Int64N(m.rev + 1)
	}
	if m.rng.IntN(5) == 0 {
		r.MaxCreateRevision = m.rng.Int64N(m.rev + 1)
	}
	if m.rng.IntN(25) == 0 {
		r.Key = nil
		c.note = "empty key"
	}
	return r
}

func (m *model) putReq(c *call) *pb.PutRequest {
	r := &pb.PutRequest{Key: m.key(), Value: m.value(), PrevKv: m.rng.IntN(2) == 0}
	switch m.rng.IntN(12) {
	case 0, 1:
		r.Lease = m.lease(c)
	case 2:
		r.IgnoreValue, r.Value = true, nil // fails on a key that does not exist
	case 3:
		r.IgnoreLease = true
		if m.rng.IntN(3) == 0 {
			r.Lease = m.lease(c)
			c.note = "lease with ignore_lease"
		}
	case 4:
		if m.rng.IntN(2) == 0 {
			r.Value = bytes.Repeat([]byte("x"), maxRequestBytes+1024)
			c.note = "request over --max-request-bytes"
		} else {
			r.Value = bytes.Repeat([]byte("x"), maxRequestBytes+grpcOverheadBytes+1024)
			c.note = "request over gRPC's receive limit"
		}
	case 5:
		if m.rng.IntN(3) == 0 {
			r.Key = nil
			c.note = "empty key"
		}
	}
	return r
}

func (m *model) deleteReq(c *call) *pb.DeleteRangeRequest {
	key, end := m.keyRange(false)
	r := &pb.DeleteRangeRequest{Key: key, RangeEnd: end, PrevKv: m.rng.IntN(2) == 0}
	if m.rng.IntN(20) == 0 {
		r.Key = nil
		c.note = "empty key"
	}
	return r
}

func (m *model) compare() *pb.Compare {
	cmp := &pb.Compare{Key: m.key(), Result: pb.Compare_CompareResult(m.rng.IntN(4)), Target: pb.Compare_CompareTarget(m.rng.IntN(5))}
	if m.rng.IntN(5) == 0 {
		_, cmp.RangeEnd = m.keyRange(false)
		if bytes.Compare(cmp.RangeEnd, cmp.Key) <= 0 && !bytes.Equal(cmp.RangeEnd, []byte{0}) {
			cmp.RangeEnd = nil
		}
	}
	switch cmp.Target {
	case pb.Compare_VERSION:
		cmp.TargetUnion = &pb.Compare_Version{Version: m.rng.Int64N(4)}
	case pb.Compare_CREATE:
		cmp.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: m.rng.Int64N(m.rev + 1)}
	case pb.Compare_MOD:
		cmp.TargetUnion = &pb.Compare_ModRevision{ModRevision: m.rng.Int64N(m.rev + 1)}
	case pb.Compare_VALUE:
		cmp.TargetUnion = &pb.Compare_Value{Value: fmt.Appendf(nil, "v%d", m.rng.IntN(1000))}
	case pb.Compare_LEASE:
		var l int64
		if len(m.leases) > 0 && m.rng.IntN(2) == 0 {
			l = m.leases[m.rng.IntN(len(m.leases))]
		}
		cmp.TargetUnion = &pb.Compare_Lease{Lease: l}
	}
	return cmp
}

// ops draws n operations of a txn branch; depth bounds nesting. Keys of writes are drawn
// from distinct lists per branch unless dup, so a txn is valid unless meant to fail.
func (m *model) ops(c *call, n, depth int) []*pb.RequestOp {
	var out []*pb.RequestOp
	for range n {
		switch r := m.rng.IntN(10); {
		case r < 3:
			out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: m.rangeReq(c)}})
		case r < 6:
			p := m.putReq(c)
			if len(p.Value) > 4096 { // one oversized call at a time; the txn's own limits are tested here
				p.Value = []byte("big")
				if strings.HasPrefix(c.note, "request over") {
					c.note = ""
				}
			}
			out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: p}})
		case r < 8:
			d := m.deleteReq(c)
			if bytes.Equal(d.RangeEnd, []byte{0}) {
				d.RangeEnd = []byte{0xff} // see intendedDifferences: txnOpenEnded
			}
			out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: d}})
		default:
			if depth > 0 {
				out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: m.txnReq(c, depth-1)}})
			}
		}
	}
	return out
}

func (m *model) txnReq(c *call, depth int) *pb.TxnRequest {
	t := &pb.TxnRequest{}
	for range m.rng.IntN(3) {
		t.Compare = append(t.Compare, m.compare())
	}
	t.Success = m.ops(c, m.rng.IntN(4), depth)
	t.Failure = m.ops(c, m.rng.IntN(3), depth)
	return t
}

func (m *model) topTxn(c *call) *pb.TxnRequest {
	switch m.rng.IntN(8) {
	case 0:
		c.note = "txn over --max-txn-ops"
		t := &pb.TxnRequest{}
		for i := range maxTxnOps + 1 {
			t.Success = append(t.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: fmt.Appendf(nil, "r%d", i)}}})
		}
		return t
	case 2, 3:
		return m.bigTxn()
	case 1:
		c.note = "duplicate key in one txn"
		k := m.key()
		return &pb.TxnRequest{Compare: []*pb.Compare{m.compare()}, Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: k, Value: []byte("1")}}},
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: k, Value: []byte("2")}}},
		}}
	}
	t := m.txnReq(c, 2)
	if countOps(t) > maxTxnOps {
		c.note = "txn over --max-txn-ops"
	}
	return t
}

// bigValueBytes makes bigTxn's request just under --max-request-bytes: a put of every key of
// the key space with a value this long.
const bigValueBytes = (maxRequestBytes - 4096) / 12

// bigTxn puts every key with a large value: its revision's events, with the prev_kv of an
// earlier bigTxn, are about twice --max-request-bytes (bigRevision).
func (m *model) bigTxn() *pb.TxnRequest {
	t := &pb.TxnRequest{}
	for _, k := range keys {
		v := bytes.Repeat([]byte{byte('A' + m.rng.IntN(26))}, bigValueBytes)
		t.Success = append(t.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: v}}})
	}
	return t
}

func countOps(t *pb.TxnRequest) int {
	return max(len(t.Success), len(t.Failure))
}

// next draws the next call.
func (m *model) next() *call {
	if c := m.nextAuth(); c != nil {
		return c
	}
	c := &call{member: m.rng.IntN(memberCount), user: m.caller()}
	if m.rng.IntN(100) < 10 {
		return m.failing(c)
	}
	r := m.rng.IntN(100)
	switch {
	case r < 18:
		c.kind = kindRange
		rr := m.rangeReq(c)
		c.req, c.sync = rr, rr.Serializable
	case r < 34:
		c.kind, c.req = kindPut, m.putReq(c)
	case r < 40:
		c.kind, c.req = kindDelete, m.deleteReq(c)
	case r < 52:
		c.kind, c.req = kindTxn, m.topTxn(c)
	case r < 56:
		c.kind = kindCompact
		req := &pb.CompactionRequest{Physical: m.rng.IntN(2) == 0}
		switch x := m.rng.IntN(6); {
		case x == 0:
			req.Revision = m.rev + 1 + m.rng.Int64N(3)
			c.note = "future revision"
		case x == 1 && m.compactRev > 0:
			req.Revision = 1 + m.rng.Int64N(m.compactRev)
			c.note = "compacted revision"
		default:
			req.Revision = m.compactRev + 1 + m.rng.Int64N(max(1, m.rev-m.compactRev))
			req.Revision = min(req.Revision, m.rev)
			if req.Revision <= m.compactRev {
				c.note = "compacted revision"
			}
		}
		c.req = req
	case r < 61:
		c.kind = kindLeaseGrant
		req := &pb.LeaseGrantRequest{TTL: 3600 + m.rng.Int64N(3600)}
		switch m.rng.IntN(8) {
		case 0:
			if len(m.leases) > 0 {
				req.ID = m.leases[m.rng.IntN(len(m.leases))]
				c.note = "lease already exists"
				break
			}
			fallthrough
		case 1:
			req.TTL = 9000000001
			c.note = "TTL over etcd's maximum"
			m.nextLease++
			req.ID = m.nextLease
		default:
			m.nextLease++
			req.ID = m.nextLease
		}
		c.req = req
	case r < 64:
		c.kind, c.req = kindLeaseRevoke, &pb.LeaseRevokeRequest{ID: m.lease(c)}
	case r < 67:
		c.kind, c.req = kindKeepAliveOnce, &pb.LeaseKeepAliveRequest{ID: m.lease(c)}
		c.sync = true
	case r < 71:
		c.kind, c.req = kindTimeToLive, &pb.LeaseTimeToLiveRequest{ID: m.lease(c), Keys: m.rng.IntN(2) == 0}
		c.sync = true
	case r < 73:
		c.kind, c.req, c.sync = kindLeases, &pb.LeaseLeasesRequest{}, true
	case r < 80:
		if len(m.watches) >= 4 {
			return m.cancelWatch(c)
		}
		c.kind, c.sync = kindWatchCreate, true
		key, end := m.keyRange(true)
		key, end = m.userRange(c, key, end)
		req := &pb.WatchCreateRequest{Key: key, RangeEnd: end, PrevKv: m.rng.IntN(2) == 0}
		if bytes.Equal(key, end) && !bytes.Equal(end, []byte{0}) {
			c.note = "empty watch range"
		}
		switch x := m.rng.IntN(8); {
		case x < 3:
		case x < 6:
			req.StartRevision = m.compactRev + m.rng.Int64N(m.rev-m.compactRev+1)
			c.startAtCompact = m.compactRev > 0 && req.StartRevision == m.compactRev
		case x == 6 && m.compactRev > 1:
			req.StartRevision = 1 + m.rng.Int64N(m.compactRev-1)
			c.note = "compacted revision"
		default:
			req.StartRevision = m.rev + 1 + m.rng.Int64N(3)
		}
		req.ProgressNotify = m.rng.IntN(4) == 0
		req.Fragment = m.rng.IntN(3) == 0
		switch m.rng.IntN(5) {
		case 0:
			req.Filters = []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT}
		case 1:
			req.Filters = []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NODELETE}
		}
		m.nextWatch++
		c.watch, c.req = m.nextWatch, req
		if c.note == "" {
			m.watches = append(m.watches, openWatch{n: c.watch, startRev: req.StartRevision})
		}
	case r < 85:
		if len(m.watches) == 0 {
			c.kind, c.req, c.sync = kindStatus, &pb.StatusRequest{}, true
			return c
		}
		return m.cancelWatch(c)
	case r < 88:
		c.kind, c.req = kindMemberList, &pb.MemberListRequest{Linearizable: m.rng.IntN(2) == 0}
		c.sync = true
	case r < 90:
		c.kind, c.req, c.sync = kindStatus, &pb.StatusRequest{}, true
	case r < 91:
		switch m.rng.IntN(3) {
		case 0:
			c.kind, c.req = kindDefragment, &pb.DefragmentRequest{}
		case 1:
			// GET, and ACTIVATE/DEACTIVATE of NONE (both change nothing): raising NOSPACE
			// would part the sides by design (Ballast clears it under the quota by itself).
			req := &pb.AlarmRequest{Action: pb.AlarmRequest_GET}
			if m.rng.IntN(2) == 0 {
				req.Action = []pb.AlarmRequest_AlarmAction{pb.AlarmRequest_ACTIVATE, pb.AlarmRequest_DEACTIVATE}[m.rng.IntN(2)]
				req.MemberID = 1 + m.rng.Uint64N(100)
			}
			c.kind, c.req, c.sync = kindAlarm, req, true
		default:
			c.kind, c.req, c.sync = kindSnapshot, &pb.SnapshotRequest{}, true
		}
	default:
		c.kind, c.sync = kindHashKV, true
		req := &pb.HashKVRequest{}
		if m.rng.IntN(2) == 0 {
			req.Revision = m.revision(c)
		}
		c.req = req
	}
	return c
}

// failing draws a call meant to fail (on top of those the other draws make fail now and
// then), so that at least a fifth of the sequence is refused.
func (m *model) failing(c *call) *call {
	switch m.rng.IntN(10) {
	case 0:
		c.kind, c.req, c.note = kindRange, &pb.RangeRequest{Key: m.key(), Revision: m.rev + 1 + m.rng.Int64N(5)}, "future revision"
	case 1:
		if m.compactRev > 1 {
			c.kind, c.req, c.note = kindRange, &pb.RangeRequest{Key: m.key(), RangeEnd: []byte{0}, Revision: 1 + m.rng.Int64N(m.compactRev-1)}, "compacted revision"
			return c
		}
		fallthrough
	case 2:
		c.kind, c.req, c.note = kindPut, &pb.PutRequest{Key: m.key(), Value: []byte("v"), Lease: 0x6000 + m.rng.Int64N(100)}, "unknown lease"
	case 3:
		c.kind, c.req = kindTxn, m.topTxn(c)
		for c.note == "" || strings.HasPrefix(c.note, "request over") {
			c.note = ""
			c.req = m.topTxn(c)
		}
	case 4:
		c.kind, c.req, c.note = kindLeaseRevoke, &pb.LeaseRevokeRequest{ID: 0x6000 + m.rng.Int64N(100)}, "unknown lease"
	case 5:
		if len(m.leases) > 0 {
			c.kind, c.req, c.note = kindLeaseGrant, &pb.LeaseGrantRequest{ID: m.leases[m.rng.IntN(len(m.leases))], TTL: 3600}, "lease already exists"
			return c
		}
		fallthrough
	case 6:
		c.kind, c.req, c.note = kindCompact, &pb.CompactionRequest{Revision: m.rev + 1 + m.rng.Int64N(3)}, "future revision"
	case 7:
		c.kind, c.note = kindPut, "request over --max-request-bytes"
		c.req = &pb.PutRequest{Key: m.key(), Value: bytes.Repeat([]byte("x"), maxRequestBytes+m.rng.IntN(grpcOverheadBytes))}
	case 8:
		c.kind, c.req, c.note = kindDelete, &pb.DeleteRangeRequest{RangeEnd: []byte("b")}, "empty key"
	default:
		c.kind, c.req, c.note = kindPut, &pb.PutRequest{Key: m.key(), IgnoreValue: true, Value: []byte("v")}, "value with ignore_value"
	}
	return c
}

func (m *model) cancelWatch(c *call) *call {
	i := m.rng.IntN(len(m.watches))
	c.kind, c.watch = kindWatchCancel, m.watches[i].n
	m.watches = append(m.watches[:i], m.watches[i+1:]...)
	return c
}
