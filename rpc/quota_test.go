package rpc_test

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ballastdb/ballast/rpc/embed"
)

// TestQuotaNOSPACEClearsItself: with a 1 MiB quota, puts of incompressible values fill it;
// the refused put raises the NOSPACE alarm through the log, after which every member
// refuses puts, txns that put and lease grants with etcd's error, while reads (every
// acknowledged write is there), deletes and the compaction go on; once the space is given
// back the alarm clears by itself (no alarm disarm) and puts are taken again.
func TestQuotaNOSPACEClearsItself(t *testing.T) {
	const quota = 1 << 20
	c := newClusterWith(t, 3, func(cfg *embed.Config) { cfg.QuotaBackendBytes = quota })
	cli := c.client()
	ctx := ctxT(t)
	acked := map[string][]byte{}
	var refused error
	for i := 0; i < 200 && refused == nil; i++ {
		value := make([]byte, 32<<10)
		_, _ = rand.Read(value)
		key := fmt.Sprintf("q/%03d", i)
		if _, err := c.client(0).Put(ctx, key, string(value)); err != nil {
			refused = err
			break
		}
		acked[key] = value
	}
	require.ErrorIs(t, refused, rpctypes.ErrNoSpace, "200 puts of 32 KiB must cross a 1 MiB quota")
	require.Equal(t, "etcdserver: mvcc: database space exceeded", rpctypes.ErrorDesc(refused))
	t.Logf("%d puts of 32 KiB acknowledged before NOSPACE", len(acked))

	alarms, err := cli.AlarmList(ctx)
	require.NoError(t, err)
	require.Equal(t, []*pb.AlarmMember{{MemberID: c.servers[0].ID(), Alarm: pb.AlarmType_NOSPACE}}, alarms.Alarms)
	for i := range 3 {
		_, err := c.client(i).Put(ctx, "small", "x")
		require.ErrorIs(t, err, rpctypes.ErrNoSpace, "member %d: the alarm caps every member", i)
	}
	_, err = cli.Txn(ctx).Then(clientv3.OpPut("t", "x")).Commit()
	require.ErrorIs(t, err, rpctypes.ErrNoSpace)
	_, err = cli.Grant(ctx, 60)
	require.ErrorIs(t, err, rpctypes.ErrNoSpace)

	all, err := c.client(1).Get(ctx, "q/", clientv3.WithPrefix())
	require.NoError(t, err, "reads go on")
	require.Len(t, all.Kvs, len(acked), "no acknowledged write is lost")
	for _, kv := range all.Kvs {
		require.Equal(t, acked[string(kv.Key)], kv.Value, "key %s", kv.Key)
	}
	del, err := cli.Delete(ctx, "q/", clientv3.WithPrefix())
	require.NoError(t, err, "deletes go on")
	require.EqualValues(t, len(acked), del.Deleted)
	_, err = cli.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical())
	require.NoError(t, err, "compactions go on")

	require.Eventually(t, func() bool {
		a, err := cli.AlarmList(ctx)
		return err == nil && len(a.Alarms) == 0
	}, 20*time.Second, 100*time.Millisecond, "the NOSPACE alarm clears by itself once the store is under 90% of the quota")
	_, err = c.client(0).Put(ctx, "after", "x")
	require.NoError(t, err)
}
