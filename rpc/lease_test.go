package rpc_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestLease(t *testing.T) {
	c := newCluster(t, 3)
	f := c.follower()
	cli := c.client(f) // lease calls on a follower go to the leader's lessor
	ctx := ctxT(t)

	t.Run("grant, attach, time to live with keys, list, revoke", func(t *testing.T) {
		g, err := cli.Grant(ctx, 60)
		require.NoError(t, err)
		require.EqualValues(t, 60, g.TTL)
		_, err = cli.Put(ctx, "lease/a", "1", clientv3.WithLease(g.ID))
		require.NoError(t, err)
		_, err = cli.Put(ctx, "lease/b", "2", clientv3.WithLease(g.ID))
		require.NoError(t, err)
		ttl, err := cli.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys())
		require.NoError(t, err)
		require.EqualValues(t, 60, ttl.GrantedTTL)
		require.InDelta(t, 60, ttl.TTL, 3)
		require.ElementsMatch(t, []string{"lease/a", "lease/b"}, []string{string(ttl.Keys[0]), string(ttl.Keys[1])})
		list, err := cli.Leases(ctx)
		require.NoError(t, err)
		require.Contains(t, list.Leases, clientv3.LeaseStatus{ID: g.ID})
		ka, err := cli.KeepAliveOnce(ctx, g.ID)
		require.NoError(t, err)
		require.EqualValues(t, 60, ka.TTL)
		r, err := cli.Revoke(ctx, g.ID)
		require.NoError(t, err)
		got, err := cli.Get(ctx, "lease/", clientv3.WithPrefix())
		require.NoError(t, err)
		require.Empty(t, got.Kvs)
		require.GreaterOrEqual(t, got.Header.Revision, r.Header.Revision)
		// Gone: TimeToLive answers TTL -1, keep-alive answers not found.
		ttl, err = cli.TimeToLive(ctx, g.ID)
		require.NoError(t, err)
		require.EqualValues(t, -1, ttl.TTL)
		_, err = cli.KeepAliveOnce(ctx, g.ID)
		require.ErrorIs(t, err, rpctypes.ErrLeaseNotFound)
	})
	t.Run("client-chosen ID", func(t *testing.T) {
		raw := pb.NewLeaseClient(cli.ActiveConnection())
		g, err := raw.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: 0x7e57, TTL: 60})
		require.NoError(t, err)
		require.EqualValues(t, 0x7e57, g.ID)
		_, err = raw.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: 0x7e57, TTL: 60})
		require.ErrorIs(t, err, rpctypes.ErrGRPCLeaseExist)
	})
	t.Run("keep-alive stream keeps a lease past its TTL", func(t *testing.T) {
		g, err := cli.Grant(ctx, 2)
		require.NoError(t, err)
		_, err = cli.Put(ctx, "kept", "v", clientv3.WithLease(g.ID))
		require.NoError(t, err)
		ch, err := cli.KeepAlive(ctx, g.ID)
		require.NoError(t, err)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case ka, ok := <-ch:
				require.True(t, ok, "keep-alive channel closed while the lease lives")
				require.EqualValues(t, 2, ka.TTL)
			case <-time.After(3 * time.Second):
				t.Fatal("no keep-alive answer within 3 s")
			}
		}
		got, err := cli.Get(ctx, "kept")
		require.NoError(t, err)
		require.Len(t, got.Kvs, 1, "a kept-alive lease expired")
	})
	t.Run("expiry deletes the attached keys", func(t *testing.T) {
		g, err := cli.Grant(ctx, 2)
		require.NoError(t, err)
		p, err := cli.Put(ctx, "expiring", "v", clientv3.WithLease(g.ID))
		require.NoError(t, err)
		wch := cli.Watch(ctx, "expiring", clientv3.WithRev(p.Header.Revision+1))
		select {
		case r := <-wch:
			require.NoError(t, r.Err())
			require.Len(t, r.Events, 1)
			require.Equal(t, mvccpb.DELETE, r.Events[0].Type)
		case <-time.After(20 * time.Second):
			t.Fatal("the lease's key was not deleted within 20 s of a 2 s TTL")
		}
		ttl, err := cli.TimeToLive(ctx, g.ID)
		require.NoError(t, err)
		require.EqualValues(t, -1, ttl.TTL)
	})
}

// TestLeaseHeadersCarryCurrentRevision: a keep-alive and the TTL of an unknown lease right
// after a put answer a header with the put's revision, as etcd's (which read the store's
// current revision). Their headers came from the view polled every StatusInterval, a
// revision behind right after a write (found by the compat harness); twenty rounds make
// a pass by luck of the poll's timing vanishingly unlikely.
func TestLeaseHeadersCarryCurrentRevision(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client(c.follower())
	ctx := ctxT(t)
	raw := pb.NewLeaseClient(cli.ActiveConnection())
	g, err := raw.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: 0x4ead, TTL: 600})
	require.NoError(t, err)
	for i := range 20 {
		put, err := cli.Put(ctx, "header/rev", "v")
		require.NoError(t, err)
		for _, id := range []int64{g.ID, 0x404} { // a live lease and an unknown one
			stream, err := raw.LeaseKeepAlive(ctx)
			require.NoError(t, err)
			require.NoError(t, stream.Send(&pb.LeaseKeepAliveRequest{ID: id}))
			ka, err := stream.Recv()
			require.NoError(t, err)
			require.NoError(t, stream.CloseSend())
			require.Equal(t, put.Header.Revision, ka.Header.Revision, "round %d: keep-alive of lease %x", i, id)
		}
		ttl, err := raw.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: 0x404})
		require.NoError(t, err)
		require.EqualValues(t, -1, ttl.TTL)
		require.Equal(t, put.Header.Revision, ttl.Header.Revision, "round %d: TTL of an unknown lease", i)
	}
}
