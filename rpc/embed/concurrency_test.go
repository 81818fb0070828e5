package embed

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/ballastdb/ballast/rpc/v3election/v3electionpb"
	"github.com/ballastdb/ballast/rpc/v3lock/v3lockpb"
)

// TestLockService: etcd's v3lock gRPC service on a 3-member cluster, called on a follower.
// Lock answers the key name/lease; a second Lock on the same name (another lease) waits
// with its key queued behind the first, and is answered with it once the first is
// unlocked; Unlock deletes the key.
func TestLockService(t *testing.T) {
	ms := testCluster(t, 3)
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)
	c := testClient(t, ms[1].srv.ClientURLs()[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc := v3lockpb.NewLockClient(c.ActiveConnection())
	grant := func() int64 {
		l, err := c.Grant(ctx, 60)
		require.NoError(t, err)
		return int64(l.ID)
	}
	l1, l2 := grant(), grant()
	first, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("L"), Lease: l1})
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("L/%x", l1), string(first.Key))

	second := make(chan *v3lockpb.LockResponse, 1)
	errs := make(chan error, 1)
	go func() {
		resp, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("L"), Lease: l2})
		if err != nil {
			errs <- err
			return
		}
		second <- resp
	}()
	waiter := fmt.Sprintf("L/%x", l2)
	require.Eventually(t, func() bool {
		r, err := c.Get(ctx, waiter)
		return err == nil && len(r.Kvs) == 1
	}, 10*time.Second, 10*time.Millisecond, "the second Lock queued its key")
	require.Empty(t, second, "the second Lock was answered while the first holds the lock")

	_, err = lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: first.Key})
	require.NoError(t, err)
	select {
	case resp := <-second:
		require.Equal(t, waiter, string(resp.Key))
	case err := <-errs:
		t.Fatalf("second Lock: %v", err)
	case <-ctx.Done():
		t.Fatal("the second Lock was not answered after the Unlock")
	}
	r, err := c.Get(ctx, string(first.Key))
	require.NoError(t, err)
	require.Empty(t, r.Kvs, "Unlock deleted the first key")
}

// TestElectionService: etcd's v3election gRPC service. A campaign makes its candidate the
// leader (Leader answers its value, Observe streams it), Proclaim changes the value (Observe
// sees it), a second candidate waits until the first resigns, then leads; Leader after the
// last resign answers etcd's "election: no leader", Proclaim without a leader key etcd's
// error.
func TestElectionService(t *testing.T) {
	ms := testCluster(t, 3)
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)
	c := testClient(t, ms[2].srv.ClientURLs()[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ec := v3electionpb.NewElectionClient(c.ActiveConnection())
	grant := func() int64 {
		l, err := c.Grant(ctx, 60)
		require.NoError(t, err)
		return int64(l.ID)
	}
	name := []byte("E")
	first, err := ec.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: grant(), Value: []byte("a1")})
	require.NoError(t, err)
	leader := func() string {
		resp, err := ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
		require.NoError(t, err)
		return string(resp.Kv.Value)
	}
	require.Equal(t, "a1", leader())

	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs, err := ec.Observe(octx, &v3electionpb.LeaderRequest{Name: name})
	require.NoError(t, err)
	observed := func() string {
		resp, err := obs.Recv()
		require.NoError(t, err)
		return string(resp.Kv.Value)
	}
	require.Equal(t, "a1", observed())
	_, err = ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: first.Leader, Value: []byte("a2")})
	require.NoError(t, err)
	require.Equal(t, "a2", observed())
	require.Equal(t, "a2", leader())

	second := make(chan *v3electionpb.CampaignResponse, 1)
	errs := make(chan error, 1)
	go func() {
		resp, err := ec.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: grant(), Value: []byte("b1")})
		if err != nil {
			errs <- err
			return
		}
		second <- resp
	}()
	require.Eventually(t, func() bool {
		r, err := c.Get(ctx, "E/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && r.Count == 2
	}, 10*time.Second, 10*time.Millisecond, "the second candidate queued its key")
	require.Empty(t, second, "the second candidate leads while the first has not resigned")
	_, err = ec.Resign(ctx, &v3electionpb.ResignRequest{Leader: first.Leader})
	require.NoError(t, err)
	var next *v3electionpb.CampaignResponse
	select {
	case next = <-second:
	case err := <-errs:
		t.Fatalf("second Campaign: %v", err)
	case <-ctx.Done():
		t.Fatal("the second candidate did not lead after the first resigned")
	}
	require.Equal(t, "b1", observed())
	require.Equal(t, "b1", leader())
	_, err = ec.Resign(ctx, &v3electionpb.ResignRequest{Leader: next.Leader})
	require.NoError(t, err)
	_, err = ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	require.ErrorContains(t, err, "election: no leader")
	_, err = ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Value: []byte("x")})
	require.ErrorContains(t, err, `"leader" field must be provided`)
}

// TestForwardToken: the services' client passes on the caller's token (gRPC's "token", the
// gateway's "authorization"), once, and only those keys.
func TestForwardToken(t *testing.T) {
	for _, c := range []struct {
		name      string
		incoming  metadata.MD
		outgoing  metadata.MD
		wantToken []string
		wantAuthz []string
	}{
		{name: "no metadata"},
		{name: "gRPC token", incoming: metadata.Pairs("token", "t1", "other", "x"), wantToken: []string{"t1"}},
		{name: "gateway authorization", incoming: metadata.Pairs("authorization", "a1"), wantAuthz: []string{"a1"}},
		{name: "already outgoing", incoming: metadata.Pairs("token", "t1"), outgoing: metadata.Pairs("token", "t0"), wantToken: []string{"t0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			if c.incoming != nil {
				ctx = metadata.NewIncomingContext(ctx, c.incoming)
			}
			if c.outgoing != nil {
				ctx = metadata.NewOutgoingContext(ctx, c.outgoing)
			}
			out, _ := metadata.FromOutgoingContext(forwardToken(ctx))
			require.Equal(t, c.wantToken, out.Get("token"))
			require.Equal(t, c.wantAuthz, out.Get("authorization"))
			require.Empty(t, out.Get("other"))
		})
	}
}
