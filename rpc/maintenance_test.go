package rpc_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
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
	t.Run("snapshot: a bbolt file in etcd's layout, then its sha256; no temporary file left", func(t *testing.T) {
		one, err := clientv3.New(clientv3.Config{Endpoints: []string{c.endpoint(0)}, DialTimeout: 5 * time.Second})
		require.NoError(t, err)
		defer one.Close()
		rc, err := one.Snapshot(ctx)
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.Equal(t, sha256.Size, len(data)%512, "etcd clients find the trailer by size %% 512 == 32")
		db, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
		want := sha256.Sum256(db)
		require.Equal(t, want[:], sum)
		path := filepath.Join(t.TempDir(), "snap.db")
		require.NoError(t, os.WriteFile(path, db, 0o600))
		bdb, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
		require.NoError(t, err)
		defer bdb.Close()
		var keys []string
		require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("key")).ForEach(func(k, v []byte) error {
				var kv mvccpb.KeyValue
				if err := proto.Unmarshal(v, &kv); err != nil {
					return err
				}
				keys = append(keys, string(kv.Key))
				return nil
			})
		}))
		require.Len(t, keys, 20, "one version per put")
		require.Equal(t, "m/0", keys[0], "revision order: the first put first")
		left, err := filepath.Glob(filepath.Join(c.cfgs[0].DataDir, "member", "ballast-snapshot-*"))
		require.NoError(t, err)
		require.Empty(t, left, "the temporary file is removed once streamed")
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
