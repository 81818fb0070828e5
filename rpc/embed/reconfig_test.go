package embed

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestStrictReconfigCheck: with --strict-reconfig-check (etcd's default) a three-member
// cluster with one member stopped refuses, through clientv3 and with etcd's errors, a member
// add (voter or learner: the connected members would be fewer than a quorum of four) and the
// removal of a live member; it accepts the removal of the stopped one. With a member added
// that never started, another add and the removal of a started member are refused as not
// enough started members. With --strict-reconfig-check=false (NoStrictReconfigCheck) the
// same add is accepted.
func TestStrictReconfigCheck(t *testing.T) {
	ms := testCluster(t, 3)
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := testClient(t, ms[0].srv.ClientURLs()[0], ms[1].srv.ClientURLs()[0])
	// Stop a follower (the leader's view is the one that decides; a follower forwards).
	status, err := c.Status(ctx, ms[2].srv.ClientURLs()[0])
	require.NoError(t, err)
	down, live := ms[2], []*testMember{ms[0], ms[1]}
	for i, m := range ms {
		if m.srv.ID() == status.Leader && i == 2 {
			down, live = ms[1], []*testMember{ms[0], ms[2]}
			c = testClient(t, ms[0].srv.ClientURLs()[0], ms[2].srv.ClientURLs()[0])
		}
	}
	down.srv.Stop()

	_, err = c.MemberAdd(ctx, []string{"http://127.0.0.1:1"})
	require.ErrorIs(t, err, rpctypes.ErrUnhealthy, "one of three down: adding a voter breaks the active quorum")
	require.EqualError(t, err, "etcdserver: unhealthy cluster")
	_, err = c.MemberAddAsLearner(ctx, []string{"http://127.0.0.1:1"})
	require.ErrorIs(t, err, rpctypes.ErrUnhealthy, "a learner too")
	_, err = c.MemberRemove(ctx, live[1].srv.ID())
	require.ErrorIs(t, err, rpctypes.ErrUnhealthy, "removing a live member")
	_, err = c.MemberRemove(ctx, live[0].srv.ID())
	require.ErrorIs(t, err, rpctypes.ErrUnhealthy, "removing a live member")
	list, err := c.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, list.Members, 3, "nothing changed")

	// The stopped member is no part of the active quorum: its removal goes through once the
	// leader lost its connection (an election timeout without a message from it).
	retryUnhealthy(t, ctx, func() error { _, err := c.MemberRemove(ctx, down.srv.ID()); return err })

	// Two voters, connected: a third that never starts is accepted (once they have been
	// connected for etcd's HealthInterval, 5 s) ...
	retryUnhealthy(t, ctx, func() error { _, err := c.MemberAdd(ctx, []string{"http://127.0.0.1:1"}); return err })
	// ... then a fourth is not: two started of four is less than a quorum.
	_, err = c.MemberAdd(ctx, []string{"http://127.0.0.1:2"})
	require.ErrorIs(t, err, rpctypes.ErrMemberNotEnoughStarted)
	require.EqualError(t, err, "etcdserver: re-configuration failed due to not enough started members")
	// Removing a started member would leave one started of two.
	_, err = c.MemberRemove(ctx, live[0].srv.ID())
	require.ErrorIs(t, err, rpctypes.ErrMemberNotEnoughStarted)
	list, err = c.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, list.Members, 3, "two started, one added")

	// --strict-reconfig-check=false: the same add is accepted.
	for _, m := range live {
		m.srv.Stop()
		m.cfg.NoStrictReconfigCheck = true
	}
	for _, m := range live {
		m.start(t)
	}
	waitReady(t, live...)
	c = testClient(t, live[0].srv.ClientURLs()[0], live[1].srv.ClientURLs()[0])
	_, err = c.MemberAdd(ctx, []string{"http://127.0.0.1:2"})
	require.NoError(t, err, "not checked")
}

// retryUnhealthy calls f until it returns something else than etcd's unhealthy-cluster
// error, which must be nil.
func retryUnhealthy(t *testing.T, ctx context.Context, f func() error) {
	t.Helper()
	for {
		err := f()
		if err == nil {
			return
		}
		require.ErrorIs(t, err, rpctypes.ErrUnhealthy)
		select {
		case <-ctx.Done():
			t.Fatalf("still %v: %v", err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
