package rpc

import (
	"context"
	"crypto/rand"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/node"
)

// etcd's Auth service and the identity of every call. Who calls is found as etcd finds it:
// the simple token in the "token" (or "authorization") metadata, resolved on this member
// (kv/node assigns tokens when an Authenticate applies); else, with client certificate
// authentication, the verified client certificate's common name (not for calls through the
// gRPC gateway, whose certificate is the member's own). The user and the auth revision go in
// the request's header, where kv/node checks them when a write applies and when a read is
// served; root-only calls that raft never applies are checked here, against the member's
// applied auth store (kv/node's CheckAdmin and friends). Passwords are hashed here (bcrypt,
// Config.BcryptCost) before they are proposed, and checked here against the stored hash, so
// neither the log nor the store ever holds one; nothing logs a password or a token.

// tokenWaitStep is how often a token assigned at an index this member has not applied yet
// is looked up again (etcd waits for the index as well), and tokenWaitMax how long in all:
// a member that far behind answers as if the token were unknown (etcd would wait for the
// call's deadline, forever without one, for a forged token naming an index never reached).
const (
	tokenWaitStep = 10 * time.Millisecond
	tokenWaitMax  = 5 * time.Second
)

// simpleTokenLetters are etcd's letters of a simple token's random prefix.
const simpleTokenLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// simpleTokenPrefix draws a token's random prefix (16 letters, as etcd's).
func simpleTokenPrefix() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = simpleTokenLetters[int(b[i])%len(simpleTokenLetters)]
	}
	return string(b)
}

// callToken is the token the call carries, if any.
func callToken(ctx context.Context) string {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}
	ts := md.Get(rpctypes.TokenFieldNameGRPC)
	if len(ts) == 0 {
		ts = md.Get(rpctypes.TokenFieldNameSwagger)
	}
	if len(ts) == 0 {
		return ""
	}
	return strings.TrimPrefix(ts[0], "Bearer ")
}

// NoCertIdentity is the metadata key the member's own clients of itself (the JSON gateway,
// the lock and election services) set on every call: they present the member's certificate,
// whose common name must never be taken for the caller's (etcd relies on the gateway's
// "grpcgateway-accept", which the gateway adds only when the HTTP request has an Accept
// header). A client that sets it only gives up its own certificate identity.
const NoCertIdentity = "ballast-no-cert-identity"

// certUser is the common name of the call's verified client certificate; ok is false when
// there is none, or when the call comes through the gateway or another of the member's
// clients of itself. A certificate with an empty common name still identifies its caller,
// as no one in particular: as in etcd, such a caller is not refused as naming no user
// ("user name is empty") where etcd only asks for credentials, and is refused as an unknown
// user ("permission denied") by a permission check.
func certUser(ctx context.Context) (cn string, ok bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return "", false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", false
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && (len(md.Get("grpcgateway-accept")) > 0 || len(md.Get(NoCertIdentity)) > 0) {
		return "", false
	}
	for _, chain := range ti.State.VerifiedChains {
		if len(chain) > 0 {
			return chain[0].Subject.CommonName, true
		}
	}
	return "", false
}

// authInfo is who makes the call: the zero Info when auth is disabled or the call carries
// no credentials; etcd's "invalid auth token" for a token this member does not know.
func (s *Services) authInfo(ctx context.Context) (auth.Info, error) {
	tok := callToken(ctx)
	cn, hasCert := "", false
	if tok == "" && s.cfg.ClientCertAuth {
		cn, hasCert = certUser(ctx)
	}
	if tok == "" && !hasCert {
		return auth.Info{}, nil // no credentials: no one, whether auth is enabled or not
	}
	var waited time.Duration
	for {
		var ai auth.Info
		var enabled, found, applied bool
		err := s.d.Inspect(ctx, func(m *node.Member) {
			enabled = m.AuthEnabled()
			switch {
			case !enabled:
			case tok != "" && s.jwt != nil:
				ai, found = s.jwt.info(tok)
				applied = true
			case tok != "":
				ai, found, applied = m.TokenInfo(tok)
			case hasCert:
				ai = auth.Info{User: cn, Revision: m.AuthRevision()}
			}
		})
		if err != nil {
			return auth.Info{}, toGRPCError(err)
		}
		switch {
		case !enabled:
			return auth.Info{}, nil
		case tok == "" || found:
			return ai, nil
		case applied:
			return auth.Info{}, rpctypes.ErrGRPCInvalidAuthToken
		}
		if waited >= tokenWaitMax {
			return auth.Info{}, rpctypes.ErrGRPCInvalidAuthToken // a forged index far beyond the log
		}
		select { // assigned at an index this member has yet to apply
		case <-ctx.Done():
			return auth.Info{}, rpctypes.ErrGRPCInvalidAuthToken
		case <-time.After(tokenWaitStep):
			waited += tokenWaitStep
		}
	}
}

// withAuth gives req the caller's identity (every client request gets a header: kv/node
// takes a read without one for the API layer's own).
func (s *Services) withAuth(ctx context.Context, req *pb.InternalRaftRequest) error {
	if req.Authenticate != nil {
		return nil
	}
	ai, err := s.authInfo(ctx)
	if err != nil {
		// etcd's gRPC layer validates a Range, Put, DeleteRange or Txn before its server
		// resolves the token: an invalid request gets its own error whatever token it carries.
		var verr error
		if ierr := s.d.Inspect(ctx, func(m *node.Member) { verr = m.Validate(req) }); ierr == nil && verr != nil {
			return toGRPCError(verr)
		}
		return err
	}
	req.Header = &pb.RequestHeader{Username: ai.User, AuthRevision: ai.Revision}
	return nil
}

// checkMember runs one of kv/node's API-layer checks for the caller.
func (s *Services) checkMember(ctx context.Context, check func(m *node.Member, ai auth.Info) error) error {
	ai, err := s.authInfo(ctx)
	if err != nil {
		return err
	}
	var cerr error
	if err := s.d.Inspect(ctx, func(m *node.Member) { cerr = check(m, ai) }); err != nil {
		return toGRPCError(err)
	}
	return toGRPCError(cerr)
}

// checkAdmin refuses a root-only call of a caller without the root role.
func (s *Services) checkAdmin(ctx context.Context) error {
	return s.checkMember(ctx, func(m *node.Member, ai auth.Info) error { return m.CheckAdmin(ai) })
}

// requireUser refuses, with auth enabled, a call without credentials (etcd's
// requireAuthInfo: Status, alarm listing, TimeToLive, LeaseGrant, LeaseRevoke, MemberList).
// Credentials make an Info with the auth revision, never 0 with auth enabled; a certificate
// with an empty common name is credentials naming no user, which etcd lets through here.
func (s *Services) requireUser(ctx context.Context) error {
	return s.checkMember(ctx, func(m *node.Member, ai auth.Info) error {
		if m.AuthEnabled() && ai.Revision == 0 {
			return auth.ErrUserEmpty
		}
		return nil
	})
}

func (s *Services) authCall(ctx context.Context, req *pb.InternalRaftRequest) (any, error) {
	resp, err := s.submit(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.Auth, nil
}

// AuthEnable answers etcd's Auth.AuthEnable (refused without a root user holding root).
func (s *Services) AuthEnable(ctx context.Context, r *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthEnable: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthEnableResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// AuthDisable answers etcd's Auth.AuthDisable.
func (s *Services) AuthDisable(ctx context.Context, r *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthDisable: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthDisableResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// AuthStatus answers etcd's Auth.AuthStatus (through the log, as etcd's: linearizable).
func (s *Services) AuthStatus(ctx context.Context, r *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthStatus: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthStatusResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// Authenticate answers etcd's Auth.Authenticate: the password is checked here against the
// stored hash, and the token assigned through the log (only the user name and the token's
// random prefix are proposed). A password changed between the check and the apply makes it
// try again, as etcd does.
func (s *Services) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if err := s.barrier(ctx); err != nil {
		return nil, err
	}
	for {
		var hash []byte
		var checked uint64
		var perr error
		if err := s.d.Inspect(ctx, func(m *node.Member) { hash, checked, perr = m.AuthPassword(r.Name) }); err != nil {
			return nil, toGRPCError(err)
		}
		if perr != nil {
			if perr != auth.ErrAuthNotEnabled {
				s.logf("invalid authentication was requested", "user", r.Name, "error", perr)
			}
			return nil, toGRPCError(perr)
		}
		if err := auth.CheckPassword(hash, r.Password); err != nil {
			s.logf("invalid password", "user", r.Name)
			return nil, toGRPCError(err)
		}
		prefix := simpleTokenPrefix()
		if s.jwt != nil {
			prefix = "" // kv/node then checks the user and assigns nothing; the token is signed here
		}
		out, err := s.authCall(ctx, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: r.Name, SimpleToken: prefix}})
		if err != nil {
			return nil, err
		}
		var now uint64
		if err := s.d.Inspect(ctx, func(m *node.Member) { now = m.AuthRevision() }); err != nil {
			return nil, toGRPCError(err)
		}
		if now == checked {
			resp := out.(*pb.AuthenticateResponse)
			if s.jwt != nil {
				if resp.Token, err = s.jwt.assign(r.Name, checked); err != nil {
					return nil, toGRPCError(err)
				}
			}
			resp.Header = s.fill(resp.Header)
			return resp, nil
		}
	}
}

// logf logs through Config.Logger at info level (nil: nothing).
func (s *Services) logf(msg string, args ...any) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Info(msg, args...)
	}
}

func (s *Services) hash(password string) (string, error) {
	h, err := auth.HashPassword(password, s.cfg.BcryptCost)
	if err != nil {
		return "", toGRPCError(err)
	}
	return h, nil
}

// UserAdd answers etcd's Auth.UserAdd; the password is hashed before it is proposed.
func (s *Services) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	if r.Options == nil || !r.Options.NoPassword {
		h, err := s.hash(r.Password)
		if err != nil {
			return nil, err
		}
		r = &pb.AuthUserAddRequest{Name: r.Name, HashedPassword: h, Options: r.Options}
	}
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthUserAdd: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthUserAddResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// UserChangePassword answers etcd's Auth.UserChangePassword; the password is hashed first.
func (s *Services) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	if r.Password != "" {
		h, err := s.hash(r.Password)
		if err != nil {
			return nil, err
		}
		r = &pb.AuthUserChangePasswordRequest{Name: r.Name, HashedPassword: h}
	}
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthUserChangePassword: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthUserChangePasswordResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// UserGet answers etcd's Auth.UserGet.
func (s *Services) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthUserGet: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthUserGetResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// UserList answers etcd's Auth.UserList.
func (s *Services) UserList(ctx context.Context, r *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthUserList: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthUserListResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// UserDelete answers etcd's Auth.UserDelete.
func (s *Services) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthUserDelete: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthUserDeleteResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// UserGrantRole answers etcd's Auth.UserGrantRole.
func (s *Services) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthUserGrantRole: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthUserGrantRoleResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// UserRevokeRole answers etcd's Auth.UserRevokeRole.
func (s *Services) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthUserRevokeRole: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthUserRevokeRoleResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// RoleAdd answers etcd's Auth.RoleAdd.
func (s *Services) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthRoleAdd: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthRoleAddResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// RoleGet answers etcd's Auth.RoleGet.
func (s *Services) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthRoleGet: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthRoleGetResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// RoleList answers etcd's Auth.RoleList.
func (s *Services) RoleList(ctx context.Context, r *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthRoleList: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthRoleListResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// RoleDelete answers etcd's Auth.RoleDelete.
func (s *Services) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthRoleDelete: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthRoleDeleteResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// RoleGrantPermission answers etcd's Auth.RoleGrantPermission.
func (s *Services) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthRoleGrantPermission: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthRoleGrantPermissionResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}

// RoleRevokePermission answers etcd's Auth.RoleRevokePermission.
func (s *Services) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	out, err := s.authCall(ctx, &pb.InternalRaftRequest{AuthRoleRevokePermission: r})
	if err != nil {
		return nil, err
	}
	resp := out.(*pb.AuthRoleRevokePermissionResponse)
	resp.Header = s.fill(resp.Header)
	return resp, nil
}
