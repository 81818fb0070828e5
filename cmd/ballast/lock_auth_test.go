package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/status"

	"github.com/ballastdb/ballast/rpc/v3lock/v3lockpb"
)

// lockAuthFlags are the flags both members of TestLockAuth run with.
var lockAuthFlags = []string{"--auth-token", "simple", "--bcrypt-cost", "4"}

// TestLockAuth: etcd's v3lock service on an auth-enabled member, called with clientv3
// clients of different users (the service makes its calls with the caller's token):
// alice, whose role grants readwrite on the prefix lk/, takes the lock lk and unlocks it;
// bob, whose role reads lk/ only, and a caller without credentials are refused; root takes
// it, and bob may not unlock root's. Ballast answers every step as etcd v3.7.3 does (the same
// key, header revision, error code and message); without credentials even the lease is
// refused (user name is empty: found by this test, Ballast granted it).
func TestLockAuth(t *testing.T) {
	etcd := startEtcdHTTP(t, lockAuthFlags...)
	ballast := startBallastHTTP(t, lockAuthFlags...)
	got := [2][]string{lockAuthSession(t, etcd.client), lockAuthSession(t, ballast.client)}
	t.Logf("etcd: %q", got[0])
	require.Equal(t, got[0], got[1], "etcd's answers, then Ballast's")
	// etcd's lock service passes its client's errors on as they are: code Unknown.
	require.Equal(t, []string{
		"lock lk as alice: key lk/a11ce rev 2",
		"unlock lk/a11ce as alice: rev 3",
		"lock lk as bob: code Unknown: etcdserver: permission denied",
		"grant as nobody: code InvalidArgument: etcdserver: user name is empty",
		"lock lk as nobody: code Unknown: etcdserver: user name is empty",
		"lock lk as root: key lk/2007 rev 4",
		"unlock lk/2007 as bob: code Unknown: etcdserver: permission denied",
		"unlock lk/2007 as root: rev 5",
	}, got[0], "etcd's answers")
}

// lockAuthSession sets the users up on the member at endpoint, enables auth, and returns
// what each lock step answered.
func lockAuthSession(t *testing.T, endpoint string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := func(user string) *clientv3.Client {
		cfg := clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
		if user != "" {
			cfg.Username, cfg.Password = user, user+"-pw"
		}
		c, err := clientv3.New(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	anon := client("")
	auth := pb.NewAuthClient(anon.ActiveConnection())
	for _, u := range []string{"root", "alice", "bob"} {
		_, err := auth.UserAdd(ctx, &pb.AuthUserAddRequest{Name: u, Password: u + "-pw"})
		require.NoError(t, err)
	}
	for _, r := range []string{"root", "locker", "reader"} {
		_, err := auth.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: r})
		require.NoError(t, err)
	}
	lk := []byte("lk/")
	for _, g := range []struct {
		role string
		perm authpb.Permission_Type
	}{{"locker", authpb.READWRITE}, {"reader", authpb.READ}} {
		_, err := auth.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: g.role,
			Perm: &authpb.Permission{PermType: g.perm, Key: lk, RangeEnd: []byte("lk0")}})
		require.NoError(t, err)
	}
	for _, g := range [][2]string{{"root", "root"}, {"alice", "locker"}, {"bob", "reader"}} {
		_, err := auth.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: g[0], Role: g[1]})
		require.NoError(t, err)
	}
	_, err := auth.AuthEnable(ctx, &pb.AuthEnableRequest{})
	require.NoError(t, err)

	var out []string
	lockAs := func(name string, c *clientv3.Client, lease int64) []byte {
		conn := c.ActiveConnection()
		if _, err := pb.NewLeaseClient(conn).LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: lease, TTL: 60}); err != nil {
			out = append(out, fmt.Sprintf("grant as %s: %s", name, errText(err)))
		}
		resp, err := v3lockpb.NewLockClient(conn).Lock(ctx, &v3lockpb.LockRequest{Name: []byte("lk"), Lease: lease})
		if err != nil {
			out = append(out, fmt.Sprintf("lock lk as %s: %s", name, errText(err)))
			return nil
		}
		out = append(out, fmt.Sprintf("lock lk as %s: key %s rev %d", name, resp.Key, resp.Header.Revision))
		return resp.Key
	}
	unlockAs := func(name string, c *clientv3.Client, key []byte) {
		resp, err := v3lockpb.NewLockClient(c.ActiveConnection()).Unlock(ctx, &v3lockpb.UnlockRequest{Key: key})
		if err != nil {
			out = append(out, fmt.Sprintf("unlock %s as %s: %s", key, name, errText(err)))
			return
		}
		out = append(out, fmt.Sprintf("unlock %s as %s: rev %d", key, name, resp.Header.Revision))
	}
	alice, bob, root := client("alice"), client("bob"), client("root")
	key := lockAs("alice", alice, 0xa11ce)
	unlockAs("alice", alice, key)
	lockAs("bob", bob, 0xb0b)
	lockAs("nobody", anon, 0x707)
	key = lockAs("root", root, 0x2007)
	unlockAs("bob", bob, key)
	unlockAs("root", root, key)
	return out
}

func errText(err error) string {
	s := status.Convert(err)
	return fmt.Sprintf("code %s: %s", s.Code(), s.Message())
}
