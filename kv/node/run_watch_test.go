package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/raft"
)

// watchCreate is a create request for every key under prefix.
func watchCreate(prefix string, watchID int64) *pb.WatchRequest {
	return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte(prefix), RangeEnd: []byte(prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)), WatchId: watchID}}}
}

// TestDriverWatch: a watch opened through a follower's driver, from another goroutine, gets
// its created response and then every write (made through the leader while Next waits) in
// revision order; Next blocks while nothing is ready (it ends with the caller's deadline,
// not with an empty answer); Close ends a waiting Next with ErrWatchClosed; a stopped driver
// ends one with ErrStopped.
func TestDriverWatch(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 3, seed, runTickInterval, memFS)
	leader := c.leader()
	follower := withoutID(c.ids, leader)[rand.New(rand.NewPCG(seed, 0)).IntN(2)]
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()

	w, err := c.drivers[follower].Watch()
	require.NoError(t, err)
	require.NoError(t, w.Handle(watchCreate("w/", 7)))
	resps, err := w.Next(ctx, 10)
	require.NoError(t, err)
	require.Len(t, resps, 1)
	require.True(t, resps[0].Created)
	require.Equal(t, int64(7), resps[0].WatchId)

	// Nothing written: Next waits until its context ends.
	short, cancelShort := context.WithTimeout(ctx, 5*runTickInterval)
	_, err = w.Next(short, 10)
	cancelShort()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	const writes = 20
	seen := make(chan []int64, 1)
	go func() {
		var revs []int64
		for len(revs) < writes {
			resps, err := w.Next(ctx, 3)
			if err != nil {
				break
			}
			for _, r := range resps {
				for _, ev := range r.Events {
					revs = append(revs, ev.Kv.ModRevision)
				}
			}
		}
		seen <- revs
	}()
	var want []int64
	for i := range writes {
		resp, err := callRetry(func() (Response, error) {
			return c.drivers[leader].Submit(ctx, put(fmt.Sprintf("w/%02d", i), "v"))
		})
		require.NoError(t, err)
		want = append(want, resp.Put.Header.Revision)
		if i%5 == 0 {
			_, err := c.drivers[leader].Submit(ctx, put("other", "v")) // not watched
			require.NoError(t, err)
		}
	}
	select {
	case got := <-seen:
		require.Equal(t, want, got)
	case <-ctx.Done():
		t.Fatal("the watch did not see every write")
	}

	waiting := make(chan error, 1)
	go func() {
		_, err := w.Next(ctx, 10)
		waiting <- err
	}()
	w.Close()
	require.ErrorIs(t, <-waiting, ErrWatchClosed)
	require.ErrorIs(t, w.Handle(watchCreate("x/", 1)), ErrWatchClosed)
	w.Close() // twice is harmless

	w2, err := c.drivers[follower].Watch()
	require.NoError(t, err)
	go func() {
		_, err := w2.Next(ctx, 10)
		waiting <- err
	}()
	total, _ := c.drivers[follower].DBSize()
	require.Positive(t, total)
	require.NoError(t, c.stop(follower))
	require.ErrorIs(t, <-waiting, ErrStopped)
	total, inUse := c.drivers[follower].DBSize()
	require.Zero(t, total+inUse, "a stopped driver reports no size")
	_, err = c.drivers[follower].Watch()
	require.ErrorIs(t, err, ErrStopped)
	w2.Close() // after the driver stopped: returns at once
}

// TestDriverMembershipCalls: a new member is added as a learner through the leader's
// driver, promoted once it caught up, made leader, and the old leader removed, each through
// a Driver call; a call on a follower's driver is refused with a NotLeaderError.
func TestDriverMembershipCalls(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 3, seed, runTickInterval, memFS)
	leader := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	require.NoError(t, c.putRetry(ctx, leader, "before", "v"))

	_, err := c.drivers[withoutID(c.ids, leader)[0]].AddMember(ctx, MemberAttrs{ID: 4, IsLearner: true})
	var notLeader *NotLeaderError
	require.ErrorAs(t, err, &notLeader)
	require.Equal(t, leader, notLeader.Leader)

	conf, err := c.drivers[leader].AddMember(ctx, MemberAttrs{ID: 4, PeerURLs: []string{"http://m4:2380"}, IsLearner: true})
	require.NoError(t, err)
	require.Equal(t, []uint64{4}, conf.Learners)
	c.addNewMember(4, seed)

	// Promotion is refused until the learner caught up.
	require.Eventually(t, func() bool {
		conf, err = c.drivers[leader].PromoteMember(ctx, 4)
		return err == nil
	}, runWait, 10*time.Millisecond)
	require.Equal(t, []uint64{1, 2, 3, 4}, conf.Voters)

	// A transfer is abandoned when the target does not win within an election timeout (raft
	// gives up, as etcd's MoveLeader does): on a loaded machine that happens, so try again.
	for try := 1; ; try++ {
		err := c.drivers[leader].TransferLeader(ctx, 4)
		if err == nil {
			break
		}
		require.ErrorIs(t, err, ErrTimeout, "transfer try %d", try)
		require.Less(t, try, 10, "the transfer was abandoned 10 times: %v", err)
	}
	require.Equal(t, uint64(4), c.leader())
	conf, err = c.drivers[4].RemoveMember(ctx, leader)
	require.NoError(t, err)
	require.NotContains(t, conf.Voters, leader)
	require.NoError(t, c.putRetry(ctx, 4, "after", "v"))
	// Every remaining member applies the removal (a follower may not have yet when the put
	// is acknowledged).
	want := raft.ConfState{Voters: withoutID([]uint64{1, 2, 3, 4}, leader)}
	for _, id := range withoutID(c.running(), leader) {
		require.Eventually(t, func() bool {
			st, err := c.status(id)
			require.NoError(t, err)
			return st.Config.Equal(want)
		}, runWait, 10*time.Millisecond, "member %d never applied configuration %v", id, want)
	}
}

// addNewMember opens a brand-new member (not among the founders) and starts its driver.
func (c *driverCluster) addNewMember(id, seed uint64) {
	fs, dir := memFS(id)
	m, err := Open(Config{ID: id, InitialMembers: c.ids, FS: fs, Dir: dir, Clock: NewRealClock(),
		Rand: rand.New(rand.NewPCG(seed, id)), TickInterval: c.opts.TickInterval, PebbleMemTableBytes: 4 << 20, PebbleCacheBytes: 1 << 20})
	require.NoError(c.t, err)
	c.ids = append(c.ids, id)
	c.members[id] = m
	c.start(id)
}

func TestIsBulkFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		bulk bool
	}{
		{"empty", nil, false},
		{"raft message", []byte{frameRaft, 1}, false},
		{"forwarded proposal", encodeForwardFrame([]byte{1}), false},
		{"snapshot chunk", encodeChecksummedFrame(frameSnapChunk, []byte{1}), true},
		{"snapshot ack", encodeSnapAck(snapAck{from: 1, stream: 2, seq: 3, ok: true}), false},
	} {
		require.Equal(t, tc.bulk, IsBulkFrame(tc.data), tc.name)
	}
}

// TestDBSize: the sizes grow with the data written, and the live estimate never exceeds the
// total.
func TestDBSize(t *testing.T) {
	c := newCluster(t, 1)
	leader := c.leader()
	total0, inUse0 := c.members[leader].DBSize()
	require.Positive(t, total0)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 32 {
		value := make([]byte, 64<<10) // random: Pebble compresses sstables
		for j := range value {
			value[j] = byte(rng.Uint32())
		}
		_, err := c.do(leader, put(fmt.Sprintf("big/%d", i), string(value)))
		require.NoError(t, err)
	}
	total, inUse := c.members[leader].DBSize()
	require.Greater(t, total, total0+(1<<20))
	require.Greater(t, inUse, inUse0+(1<<20))
	require.LessOrEqual(t, inUse, total)
}
