package embed

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/ballastdb/ballast/kv/node"
)

// TestCorruptCheck: with CorruptCheckTime (--corrupt-check-time) the leader compares
// hashes with the voters. A sound cluster raises nothing; a follower whose store was
// changed behind raft's back (one stored version's value rewritten on disk while it was
// down) is found, the CORRUPT alarm is raised for it through the log, and from then on
// writes are refused with etcd's "etcdserver: corrupt cluster" on every member while reads
// go on; disarming the alarm lets writes through again.
func TestCorruptCheck(t *testing.T) {
	ms := testCluster(t, 3)
	for _, m := range ms {
		m.cfg.CorruptCheckTime = 200 * time.Millisecond
		m.start(t)
	}
	waitReady(t, ms...)
	cli := testClient(t, ms[0].cfg.AdvertiseClientURLs[0].String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	put, err := cli.Put(ctx, "k", "good")
	require.NoError(t, err)
	for i := range 20 {
		_, err := cli.Put(ctx, "other", string(rune('a'+i)))
		require.NoError(t, err)
	}
	time.Sleep(time.Second) // five check intervals over a sound cluster
	alarms, err := cli.AlarmList(ctx)
	require.NoError(t, err)
	require.Empty(t, alarms.Alarms, "a sound cluster raised an alarm")

	// Rewrite the value stored at the put's revision on a follower, behind raft's back.
	var victim *testMember
	isLeader := func(m *testMember) bool {
		var leads bool
		require.NoError(t, m.srv.driver.Inspect(ctx, func(mm *node.Member) { leads = mm.Status().Lead == mm.ID() }))
		return leads
	}
	for _, m := range ms[1:] {
		if !isLeader(m) {
			victim = m
			break
		}
	}
	require.NotNil(t, victim, "no follower among m2, m3")
	victimID := victim.srv.ID()
	victim.srv.Stop()
	db, err := pebble.Open(filepath.Join(victim.cfg.DataDir, "member", dbDirName), &pebble.Options{})
	require.NoError(t, err)
	rev := put.Header.Revision
	etcdKey := binary.BigEndian.AppendUint64(nil, uint64(rev))
	etcdKey = binary.BigEndian.AppendUint64(append(etcdKey, '_'), 0)
	kv, err := proto.Marshal(&mvccpb.KeyValue{Key: []byte("k"), Value: []byte("evil"), CreateRevision: rev, ModRevision: rev, Version: 1})
	require.NoError(t, err)
	var im mvcc.Importer
	b := db.NewBatch()
	require.NoError(t, im.Add(b, etcdKey, kv))
	require.NoError(t, b.Commit(pebble.Sync))
	require.NoError(t, db.Close())
	victim.start(t)
	waitReady(t, victim)

	deadline := time.Now().Add(30 * time.Second)
	for {
		alarms, err := cli.AlarmList(ctx)
		require.NoError(t, err)
		if len(alarms.Alarms) > 0 {
			require.Equal(t, []*pb.AlarmMember{{MemberID: victimID, Alarm: pb.AlarmType_CORRUPT}}, pbAlarms(alarms.Alarms))
			break
		}
		require.True(t, time.Now().Before(deadline), "no CORRUPT alarm 30 s after the corrupted member restarted")
		time.Sleep(100 * time.Millisecond)
	}
	for _, m := range ms {
		c := testClient(t, m.cfg.AdvertiseClientURLs[0].String())
		_, err := c.Put(ctx, "after", "x")
		require.ErrorContains(t, err, "etcdserver: corrupt cluster", "%s took a write under the CORRUPT alarm", m.cfg.Name)
		_, err = c.Get(ctx, "other", clientv3.WithSerializable())
		require.NoError(t, err, "%s refused a read under the CORRUPT alarm", m.cfg.Name)
	}
	// The operator takes the damaged member out (a check would find it again), then disarms.
	victim.srv.Stop()
	victim.srv = nil
	_, err = cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: victimID, Alarm: pb.AlarmType_CORRUPT})
	require.NoError(t, err)
	_, err = cli.Put(ctx, "after", "x")
	require.NoError(t, err, "writes go on once the alarm is disarmed")
}

func pbAlarms(as []*pb.AlarmMember) []*pb.AlarmMember {
	out := make([]*pb.AlarmMember, len(as))
	for i, a := range as {
		out[i] = &pb.AlarmMember{MemberID: a.MemberID, Alarm: a.Alarm}
	}
	return out
}
