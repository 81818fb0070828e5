package node

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"golang.org/x/crypto/bcrypt"

	"github.com/ballastdb/ballast/kv/auth"
)

// as sets who makes req (the API layer does this from the caller's token).
func as(ai auth.Info, req *pb.InternalRaftRequest) *pb.InternalRaftRequest {
	req.Header = &pb.RequestHeader{Username: ai.User, AuthRevision: ai.Revision}
	return req
}

func hashed(t *testing.T, password string) string {
	h, err := auth.HashPassword(password, bcrypt.MinCost)
	require.NoError(t, err)
	return h
}

// authCluster is a 3-member cluster with users root (root role) and alice (role reader:
// read on the prefix pub/, readwrite on the key own) and auth enabled.
func authCluster(t *testing.T) *testCluster {
	c := newCluster(t, 3)
	for i := 0; i < 100 && c.leader() == 0; i++ {
		c.tick()
	}
	require.NotZero(t, c.leader())
	for _, req := range []*pb.InternalRaftRequest{
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hashed(t, "rootpw")}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}},
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", HashedPassword: hashed(t, "alicepw")}},
		{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "reader"}},
		{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "reader", Perm: &authpb.Permission{PermType: authpb.READ, Key: []byte("pub/"), RangeEnd: []byte("pub0")}}},
		{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "reader", Perm: &authpb.Permission{PermType: authpb.READWRITE, Key: []byte("own")}}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "reader"}},
		put("pub/a", "1"),
		put("secret", "2"),
		{AuthEnable: &pb.AuthEnableRequest{}},
	} {
		_, err := c.do(c.leader(), req)
		require.NoError(t, err, "%v", req)
	}
	return c
}

// login authenticates name on member id and resolves the token there.
func (c *testCluster) login(id uint64, name string) auth.Info {
	resp, err := c.do(id, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: name, SimpleToken: "tok" + name}})
	require.NoError(c.t, err)
	tok := resp.Auth.(*pb.AuthenticateResponse).Token
	ai, ok, applied := c.members[id].TokenInfo(tok)
	require.True(c.t, ok && applied, "token %q of %s unknown on member %d", tok, name, id)
	require.Equal(c.t, name, ai.User)
	return ai
}

// TestAuthChecks: with auth enabled every member refuses, at apply or serve time, what the
// user's roles do not permit, with etcd's errors, and the refused writes change nothing.
func TestAuthChecks(t *testing.T) {
	c := authCluster(t)
	l := c.leader()
	f := c.followers(l)[0]
	alice := c.login(f, "alice")
	root := c.login(l, "root")

	cases := []struct {
		name string
		who  auth.Info
		req  *pb.InternalRaftRequest
		want error
	}{
		{"no user put", auth.Info{}, put("own", "x"), auth.ErrUserEmpty},
		{"no user read", auth.Info{}, get("pub/a", false), auth.ErrUserEmpty},
		{"read granted prefix", alice, get("pub/a", false), nil},
		{"serializable read granted prefix", alice, get("pub/a", true), nil},
		{"read outside grant", alice, get("secret", false), auth.ErrPermissionDenied},
		{"range wider than grant", alice, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("pub/"), RangeEnd: []byte("pub1")}}, auth.ErrPermissionDenied},
		{"write read-only prefix", alice, put("pub/b", "x"), auth.ErrPermissionDenied},
		{"write readwrite key", alice, put("own", "mine"), nil},
		{"delete outside grant", alice, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("secret")}}, auth.ErrPermissionDenied},
		{"txn reads granted, writes not", alice, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("pub/a"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("secret"), Value: []byte("x")}}}},
		}}, auth.ErrPermissionDenied},
		{"read-only txn outside grant", alice, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("secret")}}}},
		}}, auth.ErrPermissionDenied},
		{"user list needs root", alice, &pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}}, auth.ErrPermissionDenied},
		{"own user get", alice, &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "alice"}}, nil},
		{"other user get", alice, &pb.InternalRaftRequest{AuthUserGet: &pb.AuthUserGetRequest{Name: "root"}}, auth.ErrPermissionDenied},
		{"own role get", alice, &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "reader"}}, nil},
		{"root writes anything", root, put("secret", "3"), nil},
		{"root cannot delete root", root, &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "root"}}, auth.ErrInvalidAuthMgmt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.do(f, as(tc.who, tc.req))
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
	for _, id := range c.ids {
		v, _, _ := c.localValue(id, "secret")
		require.Equal(t, "3", v, "member %d", id)
		_, _, found := c.localValue(id, "pub/b")
		require.False(t, found, "a denied put applied on member %d", id)
		require.Equal(t, c.members[l].AuthRevision(), c.members[id].AuthRevision())
	}
	c.requireConsistent()
}

// TestAuthRevisionAndTokens: a permission change makes credentials checked at an earlier
// revision stale (etcd's "revision of auth store is old"), a password change invalidates
// the user's tokens, and the store survives a restart (tokens do not, as in etcd).
func TestAuthRevisionAndTokens(t *testing.T) {
	c := authCluster(t)
	l := c.leader()
	alice := c.login(l, "alice")
	_, err := c.do(l, as(alice, get("pub/a", false)))
	require.NoError(t, err)
	root := c.login(l, "root")
	_, err = c.do(l, as(root, &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: "reader", Key: []byte("pub/"), RangeEnd: []byte("pub0")}}))
	require.NoError(t, err)
	_, err = c.do(l, as(alice, put("own", "y")))
	require.ErrorIs(t, err, auth.ErrAuthOldRevision, "credentials from before the revoke")
	alice = c.login(l, "alice")
	_, err = c.do(l, as(alice, get("pub/a", false)))
	require.ErrorIs(t, err, auth.ErrPermissionDenied, "the revoked read")

	tok, err := c.do(l, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", SimpleToken: "again"}})
	require.NoError(t, err)
	token := tok.Auth.(*pb.AuthenticateResponse).Token
	root = c.login(l, "root")
	_, err = c.do(l, as(root, &pb.InternalRaftRequest{AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: "alice", HashedPassword: hashed(t, "new")}}))
	require.NoError(t, err)
	for _, id := range c.ids {
		_, ok, _ := c.members[id].TokenInfo(token)
		require.False(t, ok, "member %d still takes alice's token after her password changed", id)
	}

	rev := c.members[l].AuthRevision()
	c.crash(l)
	for i := 0; i < 200 && (c.leader() == 0 || c.members[l].AuthRevision() != rev); i++ {
		c.tick()
	}
	require.True(t, c.members[l].AuthEnabled())
	require.Equal(t, rev, c.members[l].AuthRevision())
	hash, _, err := c.members[l].AuthPassword("alice")
	require.NoError(t, err)
	require.NoError(t, auth.CheckPassword(hash, "new"))
	require.ErrorIs(t, auth.CheckPassword(hash, "alicepw"), auth.ErrAuthFailed)
}

// TestAuthEnableNeedsRoot: auth enable is refused without a root user holding the root role.
func TestAuthEnableNeedsRoot(t *testing.T) {
	c := newCluster(t, 1)
	for i := 0; i < 100 && c.leader() == 0; i++ {
		c.tick()
	}
	_, err := c.do(1, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}})
	require.ErrorIs(t, err, auth.ErrRootUserNotExist)
	_, err = c.do(1, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hashed(t, "pw")}})
	require.NoError(t, err)
	_, err = c.do(1, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}})
	require.ErrorIs(t, err, auth.ErrRootRoleNotExist)
	require.False(t, c.members[1].AuthEnabled())
	_, err = c.do(1, put("k", "v")) // still open to anyone
	require.NoError(t, err)
}

// TestAuthMovesWithSnapshot: a member that missed the auth changes while down, and is
// caught up by a snapshot (the log it needs was compacted), holds the same auth store
// (enabled, revision, users, grants) and decides the same permission checks.
func TestAuthMovesWithSnapshot(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	leader := c.leader()
	down := c.followers(leader)[0]
	c.putN(leader, "before", 3)
	c.stabilize()
	c.stop(down)
	for _, req := range []*pb.InternalRaftRequest{
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hashed(t, "rootpw")}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}},
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "alice", HashedPassword: hashed(t, "alicepw")}},
		{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "w"}},
		{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "w", Perm: &authpb.Permission{PermType: authpb.WRITE, Key: []byte("while-down")}}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "alice", Role: "w"}},
		{AuthEnable: &pb.AuthEnableRequest{}},
	} {
		_, err := c.do(leader, req)
		require.NoError(t, err, "%v", req)
	}
	root := auth.Info{User: "root", Revision: c.members[leader].AuthRevision()}
	for i := range 3 * testSnapshotEntries {
		_, err := c.do(leader, as(root, put(fmt.Sprintf("while-down-%03d", i), "v")))
		require.NoError(t, err)
	}
	_, first := c.logBounds(leader)
	c.open(down)
	require.Less(t, c.members[down].AppliedIndex()+1, first, "the restarted member needs entries the leader compacted")
	c.catchUp(down, leader)
	snapIndex, _ := c.logBounds(down)
	require.Greater(t, snapIndex, uint64(0), "the member installed a snapshot")
	require.True(t, c.members[down].AuthEnabled())
	require.Equal(t, c.members[leader].AuthRevision(), c.members[down].AuthRevision())
	alice := auth.Info{User: "alice", Revision: c.members[down].AuthRevision()}
	require.NoError(t, c.members[down].auth.Check(alice, []byte("while-down"), nil, authpb.WRITE))
	require.ErrorIs(t, c.members[down].auth.Check(alice, []byte("before-000"), nil, authpb.WRITE), auth.ErrPermissionDenied)
	hash, _, err := c.members[down].AuthPassword("alice")
	require.NoError(t, err)
	require.NoError(t, auth.CheckPassword(hash, "alicepw"))
	_, err = c.do(down, as(alice, put("before-000", "x")))
	require.ErrorIs(t, err, auth.ErrPermissionDenied, "the installed member refuses what alice may not write")
	c.requireConsistent()
}

// TestAuthResponseRevision: an auth call's answer carries the store's revision as it
// applied (etcd's header), set by the member, not left to the API layer.
func TestAuthResponseRevision(t *testing.T) {
	c := authCluster(t)
	l := c.leader()
	root := c.login(l, "root")
	resp, err := c.do(l, as(root, put("own", "z")))
	require.NoError(t, err)
	rev := resp.Put.Header.Revision
	require.Positive(t, rev)
	for _, req := range []*pb.InternalRaftRequest{
		{AuthStatus: &pb.AuthStatusRequest{}},
		{AuthUserList: &pb.AuthUserListRequest{}},
		{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "another"}},
	} {
		out, err := c.do(l, as(root, req))
		require.NoError(t, err)
		h := out.Auth.(interface{ GetHeader() *pb.ResponseHeader }).GetHeader()
		require.NotNil(t, h, "%v", req)
		require.Equal(t, rev, h.Revision, "%v", req)
	}
}

// TestAuthValidatesFirst: a request that is invalid gets its validation error whoever sends
// it, before any permission check, as in etcd (its API layer validates first): a txn with a
// keyless nested range, a keyless put, a serializable range without a key, by alice, who
// may write none of them.
func TestAuthValidatesFirst(t *testing.T) {
	c := authCluster(t)
	l := c.leader()
	alice := c.login(l, "alice")
	for _, req := range []*pb.InternalRaftRequest{
		{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("secret"), Value: []byte("x")}}},
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{RangeEnd: []byte("z")}}},
		}}},
		{Put: &pb.PutRequest{Value: []byte("x")}},
		{Range: &pb.RangeRequest{RangeEnd: []byte("z"), Serializable: true}},
	} {
		_, err := c.do(l, as(alice, req))
		require.ErrorIs(t, err, rpctypes.ErrGRPCEmptyKey, "%v", req)
	}
	_, err := c.do(l, as(alice, put("secret", "x")))
	require.ErrorIs(t, err, auth.ErrPermissionDenied, "a valid put alice may not make")
}

// TestAuthOldRevisionOnReads: a read by credentials from before an auth change is refused
// as etcd's doSerialize refuses it, also when there is nothing to check permissions on (a
// txn without compares or ops); without credentials such a txn still succeeds, as in etcd.
func TestAuthOldRevisionOnReads(t *testing.T) {
	c := authCluster(t)
	l := c.leader()
	alice := c.login(l, "alice")
	empty := func() *pb.InternalRaftRequest { return &pb.InternalRaftRequest{Txn: &pb.TxnRequest{}} }
	_, err := c.do(l, as(alice, empty()))
	require.NoError(t, err)
	root := c.login(l, "root")
	_, err = c.do(l, as(root, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "another"}}))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		req  *pb.InternalRaftRequest
		want error
	}{
		{"empty txn", as(alice, empty()), auth.ErrAuthOldRevision},
		{"range", as(alice, get("pub/a", false)), auth.ErrAuthOldRevision},
		{"empty txn without credentials", as(auth.Info{}, empty()), nil},
		{"empty txn with fresh credentials", as(c.login(l, "alice"), empty()), nil},
	} {
		_, err := c.do(l, tc.req)
		if tc.want == nil {
			require.NoError(t, err, tc.name)
		} else {
			require.ErrorIs(t, err, tc.want, tc.name)
		}
	}
}
