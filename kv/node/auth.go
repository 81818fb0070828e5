package node

import (
	"reflect"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/auth"
)

// Authentication and authorization, where etcd does them (its apply/auth.go and
// v3_server.go), so that the simulator, which drives this package, exercises them too:
//
//   - Auth requests (users, roles, permissions, enable, disable, status, authenticate) go
//     through the log and apply on every member (kv/auth's Store, under "auth/"), the admin
//     check included: every member decides alike.
//   - Writes are checked when they apply, against the user and auth revision their
//     InternalRaftRequest.Header carries (the API layer fills them from the caller's
//     token or certificate): Put needs write on the key (and read with prev_kv, and write on
//     every key of a lease it attaches to that is already attached elsewhere), DeleteRange
//     write on its range (and read with prev_kv), Txn read on each compare and the checks
//     of every operation in both branches, a client's LeaseRevoke write on every attached
//     key. A denied write applies as its error and changes nothing but the applied index.
//     Lease expiry revokes are the member's own and are not checked.
//   - Reads (Range, read-only Txn) are checked where they are served, against the store at
//     the applied index they are served at. Watch creation, lease keep-alives, TimeToLive
//     and Leases are checked by the API layer through CheckRange, CheckLeaseKeys and
//     CheckAdmin, at this member's applied state.
//   - Simple tokens are assigned when an Authenticate applies (kv/auth's Tokens), so a
//     token works on every member that applied it; they expire after AuthTokenTTL unused.

// DefaultAuthTokenTTL is etcd's --auth-token-ttl default (300 s).
const DefaultAuthTokenTTL = 300 * time.Second

// authTokenExpiryTicks is how often the token table drops expired tokens (a lookup refuses
// an expired token at once; this only bounds the table).
const authTokenExpiryTicks = 64

func (m *Member) openAuth() error {
	s, err := auth.Open(m.db)
	if err != nil {
		return err
	}
	m.auth = s
	if m.tokens == nil {
		ttl := m.cfg.AuthTokenTTL
		m.tokens = auth.NewTokens(uint64((ttl + m.cfg.TickInterval - 1) / m.cfg.TickInterval))
	}
	if !s.Enabled() {
		m.tokens.Clear()
	}
	return nil
}

// authInfo is who made req (the zero Info when its header names no one).
func authInfo(req *pb.InternalRaftRequest) auth.Info {
	h := req.GetHeader()
	return auth.Info{User: h.GetUsername(), Revision: h.GetAuthRevision()}
}

// applyAuth applies one auth request at index.
func (m *Member) applyAuth(b *pebble.Batch, req *pb.InternalRaftRequest, index uint64) (Response, error) {
	out, err := m.auth.Apply(b, req, authInfo(req))
	if err != nil {
		return Response{}, err
	}
	switch {
	case req.Authenticate != nil && req.Authenticate.SimpleToken == "":
		// JWT: the API layer signs the token; applying checks the user only.
	case req.Authenticate != nil:
		tok := auth.SimpleToken(req.Authenticate.SimpleToken, index)
		m.tokens.Assign(tok, req.Authenticate.Name, m.ticks)
		out = &pb.AuthenticateResponse{Token: tok}
	case req.AuthUserDelete != nil:
		m.tokens.InvalidateUser(req.AuthUserDelete.Name)
	case req.AuthUserChangePassword != nil:
		m.tokens.InvalidateUser(req.AuthUserChangePassword.Name)
	case req.AuthDisable != nil:
		m.tokens.Clear()
	}
	setHeaderRevision(out, m.kv.CurrentRevision())
	return Response{Auth: out, AuthRevision: m.auth.Revision()}, nil
}

// setHeaderRevision sets the revision in the header of an auth response (every one has a
// Header field): etcd answers auth calls with its store's revision as they apply, where the
// API layer's polled view may be older (found by the compat harness: an AuthDisable on a
// follower answered the revision before the put acknowledged just before it).
func setHeaderRevision(out any, rev int64) {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	f := v.Elem().FieldByName("Header")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*pb.ResponseHeader]() {
		return
	}
	if f.IsNil() {
		f.Set(reflect.ValueOf(&pb.ResponseHeader{}))
	}
	f.Interface().(*pb.ResponseHeader).Revision = rev
}

// checkWrite is the apply-time permission check of a client's write (see above).
// etcd validates the request before it checks permissions (its API layer), so a request
// that is invalid gets that error whoever sends it.
func (m *Member) checkWrite(req *pb.InternalRaftRequest) error {
	if !m.auth.Enabled() {
		return nil
	}
	if err := m.kv.Validate(req); err != nil {
		return err
	}
	ai := authInfo(req)
	switch {
	case req.Put != nil:
		return m.checkPut(ai, req.Put)
	case req.DeleteRange != nil:
		return m.checkDelete(ai, req.DeleteRange)
	case req.Txn != nil:
		return m.checkTxn(ai, req.Txn)
	case req.LeaseRevoke != nil:
		return m.checkLeaseKeys(ai, req.LeaseRevoke.ID, authpb.WRITE)
	}
	return nil
}

func (m *Member) checkPut(ai auth.Info, r *pb.PutRequest) error {
	if err := m.auth.Check(ai, r.Key, nil, authpb.WRITE); err != nil {
		return err
	}
	if r.Lease != 0 {
		// A lease attached to keys the user may not write cannot be revoked by it, so it may
		// not attach more (etcd's checkLeasePuts).
		if err := m.checkLeaseKeys(ai, r.Lease, authpb.WRITE); err != nil {
			return err
		}
	}
	if r.PrevKv {
		return m.auth.Check(ai, r.Key, nil, authpb.READ)
	}
	return nil
}

func (m *Member) checkDelete(ai auth.Info, r *pb.DeleteRangeRequest) error {
	if err := m.auth.Check(ai, r.Key, r.RangeEnd, authpb.WRITE); err != nil {
		return err
	}
	if r.PrevKv {
		return m.auth.Check(ai, r.Key, r.RangeEnd, authpb.READ)
	}
	return nil
}

func (m *Member) checkTxn(ai auth.Info, t *pb.TxnRequest) error {
	for _, c := range t.Compare {
		if err := m.auth.Check(ai, c.Key, c.RangeEnd, authpb.READ); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			var err error
			switch {
			case op.GetRequestRange() != nil:
				r := op.GetRequestRange()
				err = m.auth.Check(ai, r.Key, r.RangeEnd, authpb.READ)
			case op.GetRequestPut() != nil:
				err = m.checkPut(ai, op.GetRequestPut())
			case op.GetRequestDeleteRange() != nil:
				err = m.checkDelete(ai, op.GetRequestDeleteRange())
			case op.GetRequestTxn() != nil:
				err = m.checkTxn(ai, op.GetRequestTxn())
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRead is the serve-time check of a Range or read-only Txn. A read without a header is
// the API layer's own (its barrier: a read that only waits for the ReadIndex), never a
// client's: the API layer gives every client request a header, naming no one when the
// caller has no credentials.
func (m *Member) checkRead(req *pb.InternalRaftRequest) error {
	if !m.auth.Enabled() || req.Header == nil {
		return nil
	}
	if err := m.kv.Validate(req); err != nil { // first, as in etcd (see checkWrite)
		return err
	}
	ai := authInfo(req)
	var err error
	if r := req.Range; r != nil {
		err = m.auth.Check(ai, r.Key, r.RangeEnd, authpb.READ)
	} else {
		err = m.checkTxn(ai, req.Txn)
	}
	if err != nil {
		return err
	}
	// etcd's doSerialize refuses any read by credentials of another auth revision than the
	// member's, after the permission checks: also a txn with nothing to check (no compares,
	// no ops), by credentials from before an auth change (found by compat/, a JWT's).
	if ai.Revision != 0 && ai.Revision != m.auth.Revision() {
		return auth.ErrAuthOldRevision
	}
	return nil
}

// checkLeaseKeys: ai may act on lease id only if it may access (typ) every key attached to
// it; root may always. An unknown lease passes (the call itself answers "lease not found").
func (m *Member) checkLeaseKeys(ai auth.Info, id int64, typ authpb.Permission_Type) error {
	if !m.auth.Enabled() || m.auth.CheckAdmin(ai) == nil {
		return nil
	}
	ttl, err := m.lessor.TimeToLive(id, true)
	if err != nil {
		return nil
	}
	for _, k := range ttl.Keys {
		if err := m.auth.Check(ai, k, nil, typ); err != nil {
			return err
		}
	}
	return nil
}

// CheckLeaseKeys is the API layer's check of a keep-alive (write on every attached key) or
// a TimeToLive (read on every attached key), as etcd's checkLeaseRenew and
// checkLeaseTimeToLive.
func (m *Member) CheckLeaseKeys(ai auth.Info, id int64, typ authpb.Permission_Type) error {
	if !m.auth.Enabled() {
		return nil
	}
	if ai.Revision == 0 {
		return auth.ErrUserEmpty
	}
	return m.checkLeaseKeys(ai, id, typ)
}

// CheckRange is the API layer's check of a read it serves itself (watch creation).
func (m *Member) CheckRange(ai auth.Info, key, rangeEnd []byte) error {
	return m.auth.Check(ai, key, rangeEnd, authpb.READ)
}

// CheckAdmin is the API layer's check of a root-only call (compaction, defragment, hash,
// snapshot, alarms, leader moves, membership changes).
func (m *Member) CheckAdmin(ai auth.Info) error { return m.auth.CheckAdmin(ai) }

// Validate is kv/mvcc's check of a client's Range, Put, DeleteRange or Txn (nil for any
// other request): the checks etcd's gRPC layer makes first, before it even resolves the
// caller's token (the API layer calls it when the token is refused).
func (m *Member) Validate(req *pb.InternalRaftRequest) error { return m.kv.Validate(req) }

// AuthEnabled reports whether auth is enabled at this member's applied index.
func (m *Member) AuthEnabled() bool { return m.auth.Enabled() }

// AuthRevision is the auth revision at this member's applied index.
func (m *Member) AuthRevision() uint64 { return m.auth.Revision() }

// AuthPassword returns user name's password hash and the auth revision, for the API
// layer's password check (auth.Store.Password).
func (m *Member) AuthPassword(name string) ([]byte, uint64, error) { return m.auth.Password(name) }

// TokenInfo resolves a simple token: its user at the current auth revision. ok is false
// when the token is unknown, expired or names a user deleted since; applied reports
// whether this member has applied the entry that assigned it (a token made on another
// member may not have reached this one yet: etcd waits for the index).
func (m *Member) TokenInfo(token string) (ai auth.Info, ok, applied bool) {
	idx, err := auth.TokenIndex(token)
	if err != nil {
		return auth.Info{}, false, true
	}
	if idx > m.applied {
		return auth.Info{}, false, false
	}
	user, ok := m.tokens.Lookup(token, m.ticks)
	if !ok || !m.auth.HasUser(user) {
		return auth.Info{}, false, true
	}
	return auth.Info{User: user, Revision: m.auth.Revision()}, true, true
}

func (m *Member) tickAuth() {
	if m.ticks%authTokenExpiryTicks == 0 {
		m.tokens.Expire(m.ticks)
	}
}

// CheckLeasesRead is the API layer's check of Leases: read on every key attached to any
// lease, unless root (etcd's checkLeaseLeases).
func (m *Member) CheckLeasesRead(ai auth.Info) error {
	if !m.auth.Enabled() {
		return nil
	}
	if ai.Revision == 0 {
		return auth.ErrUserEmpty
	}
	for _, id := range m.lessor.Leases() {
		if err := m.checkLeaseKeys(ai, id, authpb.READ); err != nil {
			return err
		}
	}
	return nil
}
