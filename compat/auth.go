package compat

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The auth calls of the sequence: users, roles and key-range permissions managed at random
// throughout, and bounded auth phases (AuthEnable ... AuthDisable as root) during which the
// sequence's own calls are made by users with and without the permissions they need, so
// that permission-denied answers (and the auth revision, user-name-empty and invalid-auth-
// management errors) are compared like any answer. Outside a phase, users still make some
// calls: their tokens must be ignored alike. The harness's own reads (sync reads, the watch
// flushes' progress requests on streams already open) go through root's clients while auth
// is on.

// authUsers are the user names the auth calls use ("" is etcd's empty user name, refused);
// clientUsers are those with clients (each side's, one per member, made before any user
// exists: clientv3 logs in again when auth is turned on or a token is refused).
var (
	authUsers   = []string{"root", "alice", "bob", "carol", ""}
	clientUsers = []string{"root", "alice", "bob"}
	authRoles   = []string{"root", "ra", "rb", "rc", ""}
	// tokenUsers make calls with a token they hold, over connections without clientv3
	// (cluster.go's heldToken): the one each side answered the user's last successful
	// Authenticate of the sequence with, kept after auth changes, AuthDisable and AuthEnable,
	// so that the refusals of a stale token ("revision of auth store is old", "invalid auth
	// token"), which clientv3 hides by logging in again, are compared; token:bogus sends a
	// token no server made.
	tokenUsers = []string{tokenPrefix + "root", tokenPrefix + "alice", tokenPrefix + "bob", tokenPrefix + "bogus"}
)

// Prefixes of the identities without a password client: cert:NAME presents a certificate
// whose CN is NAME (only in a pair with certificates), token:NAME the token NAME got last.
const (
	certPrefix  = "cert:"
	tokenPrefix = "token:"
)

// certCNs are the CNs of the certificate users' certificates (cert:NAME; the password
// users present theirs too): users the sequence adds (carol only has a certificate) and one
// it never adds (dave); a certificate with an empty CN is everyone else's in such a pair.
func certCNs() []string { return []string{"root", "alice", "bob", "carol", "dave"} }

// authName is the user name the server sees for an identity.
func authName(identity string) string {
	return strings.TrimPrefix(strings.TrimPrefix(identity, certPrefix), tokenPrefix)
}

// phaseUsers are the users a phase's set-up adds and grants roles to: those with clients.
func (m *model) phaseUsers() []string {
	if m.certs {
		return append(slices.Clone(clientUsers[1:]), "carol")
	}
	return clientUsers[1:]
}

// password is a user's password; every change of it sets the same one, so the users'
// clients keep logging in (a change still bumps the auth revision and ends the tokens).
func password(user string) string { return "pw-" + user }

// authModel is what the generator knows of the auth state, learned from etcd's answers.
type authModel struct {
	enabled    bool
	phaseLeft  int // calls left in the auth phase (while enabled)
	nextEnable int // the call count at which the next phase starts
	calls      int // calls drawn so far
	pending    []*call
	perms      []grantedPerm
	// held are the users whose token user holds a token (one of theirs succeeded).
	held map[string]bool
	// rootLogin: root exists with its password (not added without one), so its clients
	// can log in, which the harness's own reads need while auth is on.
	rootLogin bool
}

type grantedPerm struct {
	role     string
	key, end []byte
}

// nextAuth returns the next auth call when one is due (a phase's set-up, AuthEnable, the
// AuthDisable ending it) or drawn, else nil.
func (m *model) nextAuth() *call {
	a := &m.auth
	a.calls++
	if len(a.pending) > 0 {
		c := a.pending[0]
		a.pending = a.pending[1:]
		return c
	}
	if a.enabled {
		a.phaseLeft--
		if a.phaseLeft <= 0 {
			return &call{kind: kindAuthDisable, member: m.rng.IntN(memberCount), user: "root", req: &pb.AuthDisableRequest{}}
		}
	} else if a.calls >= a.nextEnable {
		m.startPhase()
		return m.nextAuth()
	}
	if m.rng.IntN(100) < 12 {
		return m.authCall(&call{member: m.rng.IntN(memberCount), user: m.caller()})
	}
	return nil
}

// startPhase queues AuthEnable, most times after what makes it succeed (root with the role
// root; refused as already there after the first phase) and a few grants, then the token
// users' logins.
func (m *model) startPhase() {
	a := &m.auth
	a.nextEnable = a.calls + 50 + m.rng.IntN(200)
	mk := func(k kind, req proto.Message) *call {
		return &call{kind: k, member: m.rng.IntN(memberCount), req: req}
	}
	if !a.rootLogin {
		// root added without a password (or never): deleted and added again first, else a
		// phase could start with no one able to log in as root (found as the harness's own
		// sync read failing, seed 1796696375663015351 call 1395)
		a.pending = append(a.pending, mk(kindUserDelete, &pb.AuthUserDeleteRequest{Name: "root"}))
	}
	if !a.rootLogin || m.rng.IntN(4) > 0 {
		a.pending = append(a.pending,
			mk(kindUserAdd, &pb.AuthUserAddRequest{Name: "root", Password: password("root")}),
			mk(kindRoleAdd, &pb.AuthRoleAddRequest{Name: "root"}),
			mk(kindUserGrantRole, &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}))
		for _, u := range m.phaseUsers() {
			a.pending = append(a.pending, mk(kindUserAdd, &pb.AuthUserAddRequest{Name: u, Password: password(u)}))
		}
		for range 3 {
			c := &call{member: m.rng.IntN(memberCount)}
			a.pending = append(a.pending, m.grantPermission(c))
		}
		for range 2 {
			a.pending = append(a.pending, mk(kindUserGrantRole, &pb.AuthUserGrantRoleRequest{User: m.pick(m.phaseUsers()), Role: m.pick(authRoles[1:4])}))
		}
	}
	a.pending = append(a.pending, mk(kindAuthEnable, &pb.AuthEnableRequest{}))
	// The token users' tokens: every later auth change makes them stale.
	for _, u := range tokenUsers[:3] {
		a.pending = append(a.pending, mk(kindAuthenticate, &pb.AuthenticateRequest{Name: authName(u), Password: password(authName(u))}))
	}
}

func (m *model) pick(names []string) string { return names[m.rng.IntN(len(names))] }

// caller draws who makes a call: while auth is on mostly a user with a client (root, or
// alice and bob with what their roles grant), now and then no one; while it is off, mostly
// no one.
func (m *model) caller() string {
	if m.auth.enabled {
		switch r := m.rng.IntN(10); {
		case r == 0:
			return ""
		case r == 1:
			return m.tokenCaller()
		case r == 2 && m.certs:
			return certPrefix + m.pick(certCNs())
		}
		return m.pick(clientUsers)
	}
	switch m.rng.IntN(14) {
	case 0, 1:
		return m.pick(clientUsers)
	case 2:
		return m.tokenCaller()
	case 3:
		if m.certs {
			return certPrefix + m.pick(certCNs())
		}
	}
	return ""
}

// tokenCaller draws a token user holding a token (or token:bogus).
func (m *model) tokenCaller() string {
	var held []string
	for _, u := range tokenUsers {
		if m.auth.held[authName(u)] || u == tokenPrefix+"bogus" {
			held = append(held, u)
		}
	}
	return m.pick(held)
}

// userRange turns an inverted range (end before key) the right way round when c is made
// by a user whose permissions are checked (see intendedDifferences: inverted ranges under
// auth); a range whose end equals its key stays.
func (m *model) userRange(c *call, key, end []byte) ([]byte, []byte) {
	if name := authName(c.user); m.auth.enabled && name != "" && name != "root" && len(end) > 0 && !bytes.Equal(end, []byte{0}) && bytes.Compare(end, key) < 0 {
		return end, key
	}
	return key, end
}

// permRange draws a permission's key range: one key, a prefix, a span, from a key on,
// everything, or (fail) an inverted span or no key.
func (m *model) permRange(c *call) (key, end []byte) {
	switch m.rng.IntN(8) {
	case 0, 1:
		return m.key(), nil
	case 2, 3:
		p := []byte(m.pick([]string{"a/", "b/", "c/", "a"}))
		return p, prefixEnd(p)
	case 4:
		a, b := m.key(), m.key()
		switch bytes.Compare(a, b) {
		case 0:
			b = append(append([]byte{}, a...), 0)
		case 1:
			a, b = b, a
		}
		return a, b
	case 5:
		if m.rng.IntN(2) == 0 {
			return []byte{0}, []byte{0}
		}
		return m.key(), []byte{0}
	case 6:
		a, b := m.key(), m.key()
		if bytes.Equal(a, b) {
			c.note = "permission range end equal to its key"
			return a, b
		}
		if bytes.Compare(a, b) < 0 {
			a, b = b, a
		}
		c.note = "inverted permission range"
		return a, b
	default:
		c.note = "permission without a key"
		return nil, []byte("b")
	}
}

func (m *model) grantPermission(c *call) *call {
	key, end := m.permRange(c)
	c.kind = kindRoleGrantPermission
	c.req = &pb.AuthRoleGrantPermissionRequest{Name: m.pick(authRoles[:4]), Perm: &authpb.Permission{
		PermType: authpb.Permission_Type(m.rng.IntN(3)), Key: key, RangeEnd: end}}
	return c
}

// authCall draws one auth call (any of the Auth service's, by c.user).
func (m *model) authCall(c *call) *call {
	user, role := m.pick(authUsers), m.pick(authRoles)
	switch r := m.rng.IntN(100); {
	case r < 4:
		c.kind, c.req = kindAuthStatus, &pb.AuthStatusRequest{}
	case r < 8:
		pw := password(user)
		if m.rng.IntN(3) == 0 {
			pw, c.note = "wrong", "wrong password"
		}
		c.kind, c.req = kindAuthenticate, &pb.AuthenticateRequest{Name: user, Password: pw}
	case r < 18:
		req := &pb.AuthUserAddRequest{Name: user, Password: password(user)}
		switch m.rng.IntN(6) {
		case 0:
			req.Password, req.Options = "", &authpb.UserAddOptions{NoPassword: true}
		case 1:
			req.Password, c.note = "", "empty password"
		}
		c.kind, c.req = kindUserAdd, req
	case r < 24:
		c.kind, c.req = kindUserGet, &pb.AuthUserGetRequest{Name: user}
	case r < 28:
		c.kind, c.req = kindUserList, &pb.AuthUserListRequest{}
	case r < 32:
		c.kind, c.req = kindUserDelete, &pb.AuthUserDeleteRequest{Name: user}
	case r < 36:
		c.kind, c.req = kindUserChangePassword, &pb.AuthUserChangePasswordRequest{Name: user, Password: password(user)}
	case r < 46:
		c.kind, c.req = kindUserGrantRole, &pb.AuthUserGrantRoleRequest{User: user, Role: role}
	case r < 51:
		c.kind, c.req = kindUserRevokeRole, &pb.AuthUserRevokeRoleRequest{Name: user, Role: role}
	case r < 59:
		c.kind, c.req = kindRoleAdd, &pb.AuthRoleAddRequest{Name: role}
	case r < 64:
		c.kind, c.req = kindRoleGet, &pb.AuthRoleGetRequest{Role: role}
	case r < 67:
		c.kind, c.req = kindRoleList, &pb.AuthRoleListRequest{}
	case r < 70:
		c.kind, c.req = kindRoleDelete, &pb.AuthRoleDeleteRequest{Role: role}
	case r < 84:
		return m.grantPermission(c)
	case r < 94:
		c.kind = kindRoleRevokePermission
		req := &pb.AuthRoleRevokePermissionRequest{Role: role}
		if len(m.auth.perms) > 0 && m.rng.IntN(3) > 0 {
			p := m.auth.perms[m.rng.IntN(len(m.auth.perms))]
			req.Role, req.Key, req.RangeEnd = p.role, p.key, p.end
		} else {
			req.Key, req.RangeEnd = m.permRange(c)
		}
		c.req = req
	case r < 97:
		c.kind, c.req = kindAuthEnable, &pb.AuthEnableRequest{}
	default:
		// Refused unless by root with auth on (which ends the phase early).
		c.kind, c.req = kindAuthDisable, &pb.AuthDisableRequest{}
	}
	return c
}

// learnAuth updates the auth model from etcd's successful answer to c.
func (m *model) learnAuth(c *call) {
	a := &m.auth
	switch c.kind {
	case kindUserAdd:
		if r := c.req.(*pb.AuthUserAddRequest); r.Name == "root" {
			a.rootLogin = r.Password != "" && !r.GetOptions().GetNoPassword()
		}
	case kindUserDelete:
		if c.req.(*pb.AuthUserDeleteRequest).Name == "root" {
			a.rootLogin = false
		}
	case kindUserChangePassword:
		if c.req.(*pb.AuthUserChangePasswordRequest).Name == "root" {
			a.rootLogin = true
		}
	case kindAuthenticate:
		if a.held == nil {
			a.held = map[string]bool{}
		}
		a.held[c.req.(*pb.AuthenticateRequest).Name] = true
	case kindAuthEnable:
		if !a.enabled {
			a.enabled, a.phaseLeft = true, 60+m.rng.IntN(140)
		}
	case kindAuthDisable:
		if a.enabled {
			a.enabled = false
			a.nextEnable = a.calls + 50 + m.rng.IntN(200)
		}
	case kindRoleGrantPermission:
		r := c.req.(*pb.AuthRoleGrantPermissionRequest)
		a.perms = append(a.perms, grantedPerm{role: r.Name, key: r.Perm.Key, end: r.Perm.RangeEnd})
	case kindRoleDelete:
		role := c.req.(*pb.AuthRoleDeleteRequest).Role
		a.perms = deletePerms(a.perms, func(p grantedPerm) bool { return p.role == role })
	case kindRoleRevokePermission:
		r := c.req.(*pb.AuthRoleRevokePermissionRequest)
		a.perms = deletePerms(a.perms, func(p grantedPerm) bool {
			return p.role == r.Role && bytes.Equal(p.key, r.Key) && bytes.Equal(p.end, r.RangeEnd)
		})
	}
}

func deletePerms(ps []grantedPerm, del func(grantedPerm) bool) []grantedPerm {
	var out []grantedPerm
	for _, p := range ps {
		if !del(p) {
			out = append(out, p)
		}
	}
	return out
}

// countAuthRefusals counts etcd's auth refusals in o: errors (by message) and watches
// cancelled at their creation with one.
func countAuthRefusals(counts map[string]int, c *call, o outcome) {
	msg := ""
	if o.err != nil {
		msg = status.Convert(o.err).Message()
	} else if c.kind == kindWatchCreate && len(o.items) > 0 {
		msg = o.items[len(o.items)-1].(*pb.WatchResponse).CancelReason
	}
	for _, e := range []error{rpctypes.ErrGRPCPermissionDenied, rpctypes.ErrGRPCUserEmpty, rpctypes.ErrGRPCAuthFailed,
		rpctypes.ErrGRPCInvalidAuthMgmt, rpctypes.ErrGRPCAuthNotEnabled, rpctypes.ErrGRPCUserNotFound, rpctypes.ErrGRPCRoleNotFound,
		rpctypes.ErrGRPCUserAlreadyExist, rpctypes.ErrGRPCRoleAlreadyExist, rpctypes.ErrGRPCRoleNotGranted, rpctypes.ErrGRPCPermissionNotGranted,
		rpctypes.ErrGRPCRootUserNotExist, rpctypes.ErrGRPCRootRoleNotExist, rpctypes.ErrGRPCInvalidAuthToken,
		rpctypes.ErrGRPCAuthOldRevision} {
		// A watch's cancel reason is the gRPC error's whole text.
		if m := status.Convert(e).Message(); msg == m || strings.HasSuffix(msg, "desc = "+m) {
			counts[fmt.Sprintf("%s %q", c.kind, m)]++
			return
		}
	}
}

// doAuth runs an auth call on conn's Auth service.
func doAuth(ctx context.Context, auth pb.AuthClient, c *call) (proto.Message, error) {
	switch r := c.req.(type) {
	case *pb.AuthEnableRequest:
		return auth.AuthEnable(ctx, r)
	case *pb.AuthDisableRequest:
		return auth.AuthDisable(ctx, r)
	case *pb.AuthStatusRequest:
		return auth.AuthStatus(ctx, r)
	case *pb.AuthenticateRequest:
		return auth.Authenticate(ctx, r)
	case *pb.AuthUserAddRequest:
		return auth.UserAdd(ctx, r)
	case *pb.AuthUserGetRequest:
		return auth.UserGet(ctx, r)
	case *pb.AuthUserListRequest:
		return auth.UserList(ctx, r)
	case *pb.AuthUserDeleteRequest:
		return auth.UserDelete(ctx, r)
	case *pb.AuthUserChangePasswordRequest:
		return auth.UserChangePassword(ctx, r)
	case *pb.AuthUserGrantRoleRequest:
		return auth.UserGrantRole(ctx, r)
	case *pb.AuthUserRevokeRoleRequest:
		return auth.UserRevokeRole(ctx, r)
	case *pb.AuthRoleAddRequest:
		return auth.RoleAdd(ctx, r)
	case *pb.AuthRoleGetRequest:
		return auth.RoleGet(ctx, r)
	case *pb.AuthRoleListRequest:
		return auth.RoleList(ctx, r)
	case *pb.AuthRoleDeleteRequest:
		return auth.RoleDelete(ctx, r)
	case *pb.AuthRoleGrantPermissionRequest:
		return auth.RoleGrantPermission(ctx, r)
	case *pb.AuthRoleRevokePermissionRequest:
		return auth.RoleRevokePermission(ctx, r)
	}
	return nil, fmt.Errorf("compat: %T is not an auth request", c.req)
}
