package embed

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestCompactHashCheck: with CompactHashCheck (--feature-gates=CompactHashCheck=true) and
// CompactHashCheckTime, the leader compares the hash at its compact revision with the
// voters'. A sound compacted cluster raises nothing; a follower whose answer is changed (a
// planted mismatch, compactHashHook) gets the CORRUPT alarm through the log.
func TestCompactHashCheck(t *testing.T) {
	ms := testCluster(t, 3)
	var planted atomic.Uint64 // the peer whose hash is changed; 0: none
	var hooked = make(chan uint64, 100)
	for _, m := range ms {
		m.cfg.CompactHashCheck = true
		m.cfg.CompactHashCheckTime = 100 * time.Millisecond
		m.cfg.compactHashHook = func(peer uint64, resp *pb.HashKVResponse) {
			select {
			case hooked <- peer:
			default:
			}
			if peer == planted.Load() {
				resp.Hash++
			}
		}
		m.start(t)
	}
	waitReady(t, ms...)
	cli := testClient(t, ms[0].cfg.AdvertiseClientURLs[0].String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rev int64
	for i := range 20 {
		put, err := cli.Put(ctx, "k", string(rune('a'+i)))
		require.NoError(t, err)
		rev = put.Header.Revision
	}
	_, err := cli.Compact(ctx, rev-5)
	require.NoError(t, err)
	// Both followers' hashes at the compact revision are compared, and agree.
	seen := map[uint64]bool{}
	for len(seen) < 2 {
		select {
		case id := <-hooked:
			seen[id] = true
		case <-ctx.Done():
			t.Fatal("the leader never asked both followers for their compaction hash")
		}
	}
	time.Sleep(300 * time.Millisecond)
	alarms, err := cli.AlarmList(ctx)
	require.NoError(t, err)
	require.Empty(t, alarms.Alarms, "a sound cluster raised an alarm")

	// A newer compaction, and one follower's answer differs.
	var victim uint64
	for _, m := range ms {
		st, err := cli.Status(ctx, m.cfg.AdvertiseClientURLs[0].String())
		require.NoError(t, err)
		if st.Leader != m.srv.ID() {
			victim = m.srv.ID()
		}
	}
	planted.Store(victim)
	_, err = cli.Compact(ctx, rev)
	require.NoError(t, err)
	for {
		alarms, err := cli.AlarmList(ctx)
		require.NoError(t, err)
		if len(alarms.Alarms) > 0 {
			require.Equal(t, []*pb.AlarmMember{{MemberID: victim, Alarm: pb.AlarmType_CORRUPT}}, pbAlarms(alarms.Alarms))
			break
		}
		require.NoError(t, ctx.Err(), "no CORRUPT alarm after the planted mismatch")
		time.Sleep(50 * time.Millisecond)
	}
}
