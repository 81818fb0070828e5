package rpc_test

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMaintenance(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client()
	ctx := ctxT(t)
	var last int64
	for i := range 20 {
		p, err := cli.Put(ctx, fmt.Sprintf("m/%d", i), "v")
		require.NoError(t, err)
		last = p.Header.Revision
	}
	l := c.leader()

	t.Run("status on every member", func(t *testing.T) {
		for i := range 3 {
			st, err := cli.Status(ctx, c.endpoint(i))
			require.NoError(t, err)
			require.Equal(t, c.servers[i].ID(), st.Header.MemberId)
			require.Equal(t, c.servers[l].ID(), st.Leader)
			require.NotZero(t, st.RaftTerm)
			require.NotZero(t, st.RaftIndex)
			require.NotZero(t, st.RaftAppliedIndex)
			require.Positive(t, st.DbSize)
			require.Positive(t, st.DbSizeQuota)
			require.NotEmpty(t, st.Version)
			require.False(t, st.IsLearner)
			require.Empty(t, st.Errors)
		}
	})
	t.Run("hashkv agrees across members, also at a revision", func(t *testing.T) {
		// Each member applies in its own time: a linearizable read on it first.
		for _, rev := range []int64{0, last - 5} {
			var hashes []uint32
			for i := range 3 {
				_, err := c.client(i).Get(ctx, "m/0")
				require.NoError(t, err)
				h, err := cli.HashKV(ctx, c.endpoint(i), rev)
				require.NoError(t, err)
				hashes = append(hashes, h.Hash)
			}
			require.Equal(t, hashes[0], hashes[1], "rev %d", rev)
			require.Equal(t, hashes[0], hashes[2], "rev %d", rev)
		}
		_, err := cli.HashKV(ctx, c.endpoint(0), last+1000)
		require.ErrorIs(t, err, rpctypes.ErrFutureRev)
	})
	t.Run("alarms: list, activate, deactivate", func(t *testing.T) {
		list, err := cli.AlarmList(ctx)
		require.NoError(t, err)
		require.Empty(t, list.Alarms)
		raw := pb.NewMaintenanceClient(cli.ActiveConnection())
		id := c.servers[0].ID()
		_, err = raw.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: id, Alarm: pb.AlarmType_CORRUPT})
		require.NoError(t, err)
		list, err = cli.AlarmList(ctx)
		require.NoError(t, err)
		require.Len(t, list.Alarms, 1)
		require.Equal(t, id, list.Alarms[0].MemberID)
		// Status reads the member's own state (as etcd's): after a linearizable read there,
		// it has applied the alarm.
		_, err = c.client(1).Get(ctx, "m/0")
		require.NoError(t, err)
		st, err := cli.Status(ctx, c.endpoint(1))
		require.NoError(t, err)
		require.Len(t, st.Errors, 1, "Status lists the active alarm")
		_, err = cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: id, Alarm: pb.AlarmType_CORRUPT})
		require.NoError(t, err)
		list, err = cli.AlarmList(ctx)
		require.NoError(t, err)
		require.Empty(t, list.Alarms)
	})
	t.Run("defragment", func(t *testing.T) {
		_, err := cli.Defragment(ctx, c.endpoint(0))
		require.NoError(t, err)
		g, err := c.client(0).Get(ctx, "m/", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
		require.NoError(t, err)
		require.EqualValues(t, 20, g.Count)
	})
	t.Run("snapshot is not there yet and says so", func(t *testing.T) {
		rc, err := cli.Snapshot(ctx)
		if err == nil {
			_, err = io.ReadAll(rc)
		}
		require.Error(t, err)
		require.Equal(t, codes.Unimplemented, status.Code(err), "%v", err)
		require.Contains(t, err.Error(), "snapshot")
	})
	t.Run("move leader", func(t *testing.T) {
		l := c.leader()
		target := (l + 1) % 3
		other := (l + 2) % 3
		_, err := c.client(other).MoveLeader(ctx, c.servers[target].ID())
		require.ErrorIs(t, err, rpctypes.ErrNotLeader, "only the leader hands leadership on")
		_, err = c.client(l).MoveLeader(ctx, c.servers[target].ID())
		require.NoError(t, err)
		require.Eventually(t, func() bool { return c.leader() == target }, 10*time.Second, 50*time.Millisecond)
		_, err = c.client(target).MoveLeader(ctx, 0xdead)
		require.ErrorIs(t, err, rpctypes.ErrBadLeaderTransferee)
	})
}
