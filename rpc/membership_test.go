package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ballastdb/ballast/rpc/embed"
	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// TestMembershipThroughFollower adds a learner, starts it, promotes it, updates its peer
// URLs and removes it, every call through a follower's endpoint (forwarded to the leader),
// as etcdctl does against whatever endpoint it is given.
func TestMembershipThroughFollower(t *testing.T) {
	c := newCluster(t, 3)
	f := c.follower()
	cli := c.client(f)
	ctx := ctxT(t)

	ports := embedtest.FreePorts(t, 2)
	clientURL := mustURL(t, fmt.Sprintf("http://127.0.0.1:%d", ports[0]))
	peerURL := mustURL(t, fmt.Sprintf("http://127.0.0.1:%d", ports[1]))

	add, err := cli.MemberAddAsLearner(ctx, []string{peerURL.String()})
	require.NoError(t, err)
	require.True(t, add.Member.IsLearner)
	require.Len(t, add.Members, 4)
	newID := add.Member.ID
	require.NotZero(t, newID)

	// Another URL set (so another ID) that reuses the new member's URL.
	_, err = cli.MemberAddAsLearner(ctx, []string{peerURL.String(), "http://127.0.0.1:1"})
	require.ErrorIs(t, err, rpctypes.ErrPeerURLExist)
	// clientv3 checks URLs itself; the server's own check, through the raw API.
	_, err = pb.NewClusterClient(cli.ActiveConnection()).MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"not a url"}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCMemberBadURLs)

	initial := c.cfgs[0].InitialCluster + ",m3=" + peerURL.String()
	cfg := c.cfgs[0]
	cfg.Name = "m3"
	cfg.DataDir = t.TempDir()
	cfg.ListenClientURLs, cfg.AdvertiseClientURLs = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerURLs, cfg.AdvertisePeerURLs = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster, cfg.InitialClusterState = initial, "existing"
	s, err := embed.Start(context.Background(), cfg)
	require.NoError(t, err)
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()
	select {
	case <-s.ReadyNotify():
	case err := <-s.Err():
		t.Fatalf("the new member failed: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the new member did not serve within 60 s")
	}
	require.Equal(t, newID, s.ID())

	// A learner answers serializable reads only.
	lcli := clientWith(t, clientURL.String())
	_, err = lcli.Put(ctx, "from-learner", "x")
	require.ErrorIs(t, err, rpctypes.Error(rpctypes.ErrGRPCNotSupportedForLearner))

	// Promote once it caught up (etcd's "learner not ready" until then).
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = cli.MemberPromote(ctx, newID)
		if err == nil || !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err)

	// The member published its name and client URLs through raft.
	require.Eventually(t, func() bool {
		list, err := cli.MemberList(ctx)
		if err != nil {
			return false
		}
		for _, m := range list.Members {
			if m.ID == newID {
				return !m.IsLearner && m.Name == "m3" && len(m.ClientURLs) == 1 && m.ClientURLs[0] == clientURL.String()
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "member list never showed m3 as a voter with its client URL")

	// Same endpoint, another spelling: the member stays reachable.
	alt := fmt.Sprintf("http://localhost:%d", ports[1])
	upd, err := cli.MemberUpdate(ctx, newID, []string{alt})
	require.NoError(t, err)
	found := false
	for _, m := range upd.Members {
		if m.ID == newID {
			found = true
			require.Equal(t, []string{alt}, m.PeerURLs)
		}
	}
	require.True(t, found)

	_, err = cli.MemberRemove(ctx, newID)
	require.NoError(t, err)
	select {
	case err := <-s.Err():
		require.ErrorContains(t, err, "removed")
	case <-time.After(30 * time.Second):
		t.Fatal("the removed member did not stop within 30 s")
	}
	s.Stop()
	stopped = true
	list, err := cli.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, list.Members, 3)
	_, err = cli.MemberRemove(ctx, newID)
	require.ErrorIs(t, err, rpctypes.ErrMemberNotFound)
	_, err = cli.Put(ctx, "after-removal", "ok")
	require.NoError(t, err)
}

func clientWith(t *testing.T, endpoints ...string) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// TestRequireLeader: with two of three members stopped, the third has no leader: a call
// with clientv3.WithRequireLeader fails with etcd's "no leader" and a watch that requires a
// leader is cancelled with it.
func TestRequireLeader(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client(2)
	ctx := ctxT(t)
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	ch := cli.Watch(wctx, "rl", clientv3.WithCreatedNotify())
	require.True(t, nextWatch(t, ch).Created)
	c.stop(0)
	c.stop(1)
	// A write the survivor cannot commit: its outcome is unknown, and the answer says why as
	// etcd's does (no leader at once, or a timeout blamed on the lost leader), never a plain
	// timeout and never success.
	_, err := cli.Put(ctx, "unknowable", "x")
	require.Error(t, err)
	require.True(t, errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail), "%v", err)
	select {
	case r, ok := <-ch:
		require.True(t, ok)
		require.ErrorIs(t, r.Err(), rpctypes.ErrNoLeader)
	case <-time.After(30 * time.Second):
		t.Fatal("a watch requiring a leader was not cancelled within 30 s of losing it")
	}
	require.Eventually(t, func() bool {
		pctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), 2*time.Second)
		defer cancel()
		_, err := cli.Put(pctx, "rl", "x")
		return errors.Is(err, rpctypes.ErrNoLeader)
	}, 20*time.Second, 100*time.Millisecond)
}
