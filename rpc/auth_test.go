package rpc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/ballastdb/ballast/rpc"
	"github.com/ballastdb/ballast/rpc/embed"
	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// userClient is a clientv3 client of member i logged in as name.
func (c *testCluster) userClient(i int, name, password string) *clientv3.Client {
	c.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.endpoint(i)}, DialTimeout: 10 * time.Second,
		Logger: zap.NewNop(), Username: name, Password: password})
	require.NoError(c.t, err)
	c.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// TestAuthCalls: etcd's API-layer checks with auth enabled, through clientv3: a token got
// on one member works on another; watches, keep-alives, TimeToLive with keys, Leases,
// Status and root-only calls (defragment, hash, member add, alarms, compaction, snapshot)
// are refused for a user without the permission, with etcd's errors; root may do them.
func TestAuthCalls(t *testing.T) {
	c := newClusterWith(t, 3, func(cfg *embed.Config) { cfg.BcryptCost = 4 })
	ctx := ctxT(t)
	cli := c.client()
	_, err := cli.UserAdd(ctx, "root", "rootpw")
	require.NoError(t, err)
	_, err = cli.UserGrantRole(ctx, "root", "root")
	require.NoError(t, err)
	_, err = cli.UserAdd(ctx, "alice", "alicepw")
	require.NoError(t, err)
	_, err = cli.RoleAdd(ctx, "pub")
	require.NoError(t, err)
	_, err = cli.RoleGrantPermission(ctx, "pub", "pub/", clientv3.GetPrefixRangeEnd("pub/"), clientv3.PermissionType(clientv3.PermReadWrite))
	require.NoError(t, err)
	_, err = cli.UserGrantRole(ctx, "alice", "pub")
	require.NoError(t, err)
	lease, err := cli.Grant(ctx, 60)
	require.NoError(t, err)
	bare, err := cli.Grant(ctx, 60) // no key attached
	require.NoError(t, err)
	_, err = cli.Put(ctx, "secret", "s", clientv3.WithLease(lease.ID))
	require.NoError(t, err)
	f, l := c.follower(), c.leader() // Status needs a user once auth is enabled
	_, err = cli.AuthEnable(ctx)
	require.NoError(t, err)

	alice := c.userClient(f, "alice", "alicepw")
	root := c.userClient(l, "root", "rootpw")

	_, err = alice.Put(ctx, "pub/a", "1")
	require.NoError(t, err)
	_, err = alice.Get(ctx, "secret")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = cli.Get(ctx, "pub/a")
	require.ErrorIs(t, err, rpctypes.ErrUserEmpty)

	// A watch the user may not read is refused in-band; one it may read works.
	wch := alice.Watch(ctx, "secret")
	resp := <-wch
	require.True(t, resp.Canceled, "the watch of secret was not refused: %+v", resp)
	require.Contains(t, resp.Err().Error(), "permission denied")
	wctx, cancel := clientv3.WithRequireLeader(ctx), func() {}
	defer cancel()
	ok := alice.Watch(wctx, "pub/", clientv3.WithPrefix())
	_, err = root.Put(ctx, "pub/b", "2")
	require.NoError(t, err)
	got := <-ok
	require.NoError(t, got.Err())
	require.Len(t, got.Events, 1)
	require.Equal(t, "pub/b", string(got.Events[0].Kv.Key))

	// Leases attached to keys the user may not write or read.
	_, err = alice.KeepAliveOnce(ctx, lease.ID)
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = alice.TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys())
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = alice.TimeToLive(ctx, lease.ID)
	require.NoError(t, err, "TimeToLive without keys needs a user only")
	_, err = alice.Leases(ctx)
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = alice.Revoke(ctx, lease.ID)
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = root.KeepAliveOnce(ctx, lease.ID)
	require.NoError(t, err)
	// Granting and revoking need a user (etcd's requireAuthInfo), even a lease without keys.
	_, err = cli.Grant(ctx, 60)
	require.ErrorIs(t, err, rpctypes.ErrUserEmpty, "LeaseGrant without a user")
	_, err = cli.Revoke(ctx, bare.ID)
	require.ErrorIs(t, err, rpctypes.ErrUserEmpty, "LeaseRevoke without a user")
	_, err = alice.Revoke(ctx, bare.ID)
	require.NoError(t, err)

	// Root-only calls.
	for name, call := range map[string]func(*clientv3.Client) error{
		"defragment": func(cl *clientv3.Client) error { _, err := cl.Defragment(ctx, c.endpoint(f)); return err },
		"hashkv":     func(cl *clientv3.Client) error { _, err := cl.HashKV(ctx, c.endpoint(f), 0); return err },
		"compact":    func(cl *clientv3.Client) error { _, err := cl.Compact(ctx, 1); return err },
		"alarm disarm": func(cl *clientv3.Client) error {
			_, err := cl.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: 1, Alarm: pb.AlarmType_NOSPACE})
			return err
		},
		"member update": func(cl *clientv3.Client) error {
			ms, err := cl.MemberList(ctx)
			if err != nil {
				return err
			}
			_, err = cl.MemberUpdate(ctx, ms.Members[0].ID, ms.Members[0].PeerURLs)
			return err
		},
	} {
		require.ErrorIs(t, call(alice), rpctypes.ErrPermissionDenied, "alice: %s", name)
		require.NoError(t, call(root), "root: %s", name)
	}
	_, err = cli.Status(ctx, c.endpoint(f))
	require.ErrorIs(t, err, rpctypes.ErrUserEmpty, "Status without a user")
	_, err = alice.Status(ctx, c.endpoint(f))
	require.NoError(t, err)
	_, err = alice.MemberList(ctx)
	require.NoError(t, err, "member list is for every user")

	// A revoked permission holds at once on every member.
	_, err = root.RoleRevokePermission(ctx, "pub", "pub/", clientv3.GetPrefixRangeEnd("pub/"))
	require.NoError(t, err)
	_, err = alice.Put(ctx, "pub/c", "3")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	r, err := root.Get(ctx, "pub/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Len(t, r.Kvs, 2, "a refused put was stored")

	_, err = root.AuthDisable(ctx)
	require.NoError(t, err)
	_, err = cli.Get(ctx, "secret")
	require.NoError(t, err, "after auth disable anyone reads")
}

// TestAuthJWT: with --auth-token jwt the token a member signs is honoured by the others
// (nothing of it goes through the log), carries the user, and stops working once its ttl
// passed (etcd's "invalid auth token"); a token signed with another key is refused.
func TestAuthJWT(t *testing.T) {
	dir := t.TempDir()
	pub, priv := embedtest.WriteRSAKeys(t, dir)
	spec := fmt.Sprintf("jwt,pub-key=%s,priv-key=%s,sign-method=RS256,ttl=2s", pub, priv)
	c := newClusterWith(t, 3, func(cfg *embed.Config) { cfg.BcryptCost = 4; cfg.AuthToken = spec })
	ctx := ctxT(t)
	cli := c.client()
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		require.NoError(t, step())
	}
	// Authenticate on member 0, use the token on member 1 and 2.
	resp, err := pb.NewAuthClient(c.client(0).ActiveConnection()).Authenticate(ctx, &pb.AuthenticateRequest{Name: "root", Password: "rootpw"})
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(resp.Token, "."), "a JWT is header.claims.signature, got %q", resp.Token)
	withToken := func(tok string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, tok)
	}
	for i := 1; i < 3; i++ {
		_, err := pb.NewKVClient(c.client(i).ActiveConnection()).Put(withToken(resp.Token), &pb.PutRequest{Key: []byte("k"), Value: []byte("v")})
		require.NoError(t, err, "member %d refused member 0's token", i)
	}
	// A token of the right shape signed with another key.
	otherPub, otherPriv := embedtest.WriteRSAKeys(t, t.TempDir())
	other, err := rpc.ParseTokenOptionsForTest(fmt.Sprintf("jwt,pub-key=%s,priv-key=%s,sign-method=RS256", otherPub, otherPriv))
	require.NoError(t, err)
	forged, err := other("root", 1)
	require.NoError(t, err)
	_, err = pb.NewKVClient(c.client(1).ActiveConnection()).Put(withToken(forged), &pb.PutRequest{Key: []byte("k"), Value: []byte("x")})
	require.ErrorIs(t, err, rpctypes.ErrGRPCInvalidAuthToken)
	// Expiry: the ttl is 2 s; exp is in whole seconds, so wait 3.
	time.Sleep(3 * time.Second)
	_, err = pb.NewKVClient(c.client(1).ActiveConnection()).Range(withToken(resp.Token), &pb.RangeRequest{Key: []byte("k")})
	require.ErrorIs(t, err, rpctypes.ErrGRPCInvalidAuthToken, "an expired token")
	// clientv3 logs in again by itself.
	root := c.userClient(2, "root", "rootpw")
	_, err = root.Get(ctx, "k")
	require.NoError(t, err)
}

// rootAuthAndPlainConn adds root (password rootpw) with the root role, enables auth, and
// returns a plain gRPC connection to member 0, closed at the test's end: clientv3's own
// retries and re-authentication would hide the answers these tests read.
func rootAuthAndPlainConn(t *testing.T, ctx context.Context, c *testCluster, cli *clientv3.Client) *grpc.ClientConn {
	t.Helper()
	_, err := cli.UserAdd(ctx, "root", "rootpw")
	require.NoError(t, err)
	_, err = cli.UserGrantRole(ctx, "root", "root")
	require.NoError(t, err)
	_, err = cli.AuthEnable(ctx)
	require.NoError(t, err)
	conn, err := grpc.NewClient(strings.TrimPrefix(c.endpoint(0), "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestForgedTokenIndex: a simple token naming an index no member will reach for long is
// answered etcd's "invalid auth token" after a bounded wait, also for a call without a
// deadline.
func TestForgedTokenIndex(t *testing.T) {
	c := newClusterWith(t, 1, func(cfg *embed.Config) { cfg.BcryptCost = 4 })
	ctx := ctxT(t)
	cli := c.client()
	conn := rootAuthAndPlainConn(t, ctx, c, cli)
	noDeadline := metadata.AppendToOutgoingContext(context.Background(), rpctypes.TokenFieldNameGRPC, "forged.18446744073709551615")
	_, err := pb.NewKVClient(conn).Range(noDeadline, &pb.RangeRequest{Key: []byte("k")})
	require.ErrorIs(t, err, rpctypes.ErrGRPCInvalidAuthToken)
}

// TestValidationBeforeToken: etcd's gRPC layer validates a Range, Put, DeleteRange or Txn
// before its server looks at the caller's token, so an invalid request carrying a refused
// token gets the request's error, not "invalid auth token" (found by compat/: a txn putting
// one key twice, by a user whose simple token ended with the user's deletion). A valid
// request with the same token is refused for the token.
func TestValidationBeforeToken(t *testing.T) {
	c := newClusterWith(t, 1, func(cfg *embed.Config) { cfg.BcryptCost = 4; cfg.MaxTxnOps = 2 })
	ctx := ctxT(t)
	cli := c.client()
	conn := rootAuthAndPlainConn(t, ctx, c, cli)
	kv := pb.NewKVClient(conn)
	put := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k)}}}
	}
	for _, tc := range []struct {
		name string
		call func(context.Context) error
		want error
	}{
		{"range without a key", func(ctx context.Context) error { _, err := kv.Range(ctx, &pb.RangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"put without a key", func(ctx context.Context) error { _, err := kv.Put(ctx, &pb.PutRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"delete without a key", func(ctx context.Context) error { _, err := kv.DeleteRange(ctx, &pb.DeleteRangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"txn putting a key twice", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{put("a"), put("a")}})
			return err
		}, rpctypes.ErrGRPCDuplicateKey},
		{"txn over --max-txn-ops", func(ctx context.Context) error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{put("a"), put("b"), put("c")}})
			return err
		}, rpctypes.ErrGRPCTooManyOps},
		{"valid range", func(ctx context.Context) error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a")})
			return err
		}, rpctypes.ErrGRPCInvalidAuthToken},
		{"valid put", func(ctx context.Context) error { _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("a")}); return err }, rpctypes.ErrGRPCInvalidAuthToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, tok := range []string{"not-a-token", "abcdefghijklmnop.1"} {
				err := tc.call(metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, tok))
				require.ErrorIs(t, err, tc.want, "token %q", tok)
			}
		})
	}
}
