package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/raft"
)

// newTweakedCluster is newCluster with every member's config adjusted by tweak (the members
// are reopened with it before anything happens).
func newTweakedCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	c := newCluster(t, n)
	c.tweak = tweak
	for _, id := range c.ids {
		c.stop(id)
		c.open(id)
	}
	return c
}

// leaseResult runs a lease call on member id and ticks until it completes.
func (c *testCluster) leaseCall(id uint64, call func(*Member, Done)) (Response, error) {
	r := &result{}
	call(c.members[id], func(resp Response, err error) {
		require.False(c.t, r.done, "done called twice")
		r.done, r.resp, r.err = true, resp, err
	})
	for i := 0; !r.done; i++ {
		require.Less(c.t, i, 1000, "lease call did not complete in 1000 ticks")
		if i == 0 {
			c.stabilize()
			continue
		}
		c.tick()
	}
	return r.resp, r.err
}

func (c *testCluster) keepAlive(id uint64, lease int64) (Response, error) {
	return c.leaseCall(id, func(m *Member, done Done) { m.KeepAlive(lease, done) })
}

func (c *testCluster) grant(id uint64, ttl int64) int64 {
	g, err := c.do(id, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: ttl}})
	require.NoError(c.t, err)
	return g.LeaseGrant.ID
}

func putLeased(key string, lease int64) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte("v"), Lease: lease}}
}

// A keep-alive is answered on the leader and through a follower (forwarded as a lease call
// frame, answered by a lease answer frame); an unknown lease gets etcd's error either way.
func TestKeepAliveOnLeaderAndThroughFollower(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	follower := c.followers(leader)[0]
	id := c.grant(follower, 7)
	for _, via := range []uint64{leader, follower} {
		resp, err := c.keepAlive(via, id)
		require.NoError(t, err, "keep-alive through member %d", via)
		require.Equal(t, id, resp.LeaseKeepAlive.ID)
		require.Equal(t, int64(7), resp.LeaseKeepAlive.TTL)
		require.Equal(t, leader, resp.LeaseKeepAlive.Header.MemberId, "the leader answers")
		_, err = c.keepAlive(via, id+1)
		require.ErrorIs(t, err, rpctypes.ErrGRPCLeaseNotFound, "through member %d", via)
		require.Equal(t, rpctypes.ErrGRPCLeaseNotFound.Error(), err.Error(), "etcd's text")
	}
	require.Empty(t, c.members[follower].lease.calls, "answered calls are forgotten")
	require.Empty(t, c.members[leader].lease.serving)
}

// Keep-alives through a follower keep a lease alive well past its TTL; once they stop, it
// expires and its key is deleted.
func TestKeepAliveKeepsLeaseAlive(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	follower := c.followers(leader)[0]
	id := c.grant(leader, 5)
	_, err := c.do(leader, putLeased("alive", id))
	require.NoError(t, err)
	start := c.clock.now
	for c.clock.now-start < 20*time.Second {
		_, err := c.keepAlive(follower, id)
		require.NoError(t, err)
		for range 20 { // 2 s
			c.tick()
		}
		_, _, ok := c.localValue(follower, "alive")
		require.True(t, ok, "the key of a lease kept alive was deleted after %v", c.clock.now-start)
	}
	stopped := c.clock.now
	for {
		c.tick()
		if _, _, ok := c.localValue(follower, "alive"); !ok {
			break
		}
		require.Less(t, c.clock.now-stopped, 30*time.Second, "the lease never expired after keep-alives stopped")
	}
	c.requireConsistent()
}

// A keep-alive of a lease with a checkpoint in the log proposes a clear and is answered once
// the clear applied (so a new leader resumes the lease at its full TTL, not the checkpoint).
func TestKeepAliveClearsCheckpoint(t *testing.T) {
	c := newTweakedCluster(t, 3, func(cfg *Config) { cfg.LeaseCheckpointInterval = time.Second })
	leader := c.leader()
	id := c.grant(leader, 10)
	for range 30 { // 3 s: the lease's checkpoint (due 1 s after the grant) applies
		c.tick()
	}
	ttl, err := c.members[c.followers(leader)[0]].lessor.TimeToLive(id, false)
	require.NoError(t, err)
	require.Less(t, ttl.RemainingTTL, int64(9), "a checkpoint applied: a new leader would resume from it")
	before := c.members[leader].AppliedIndex()
	resp, err := c.keepAlive(c.followers(leader)[1], id)
	require.NoError(t, err)
	require.Equal(t, int64(10), resp.LeaseKeepAlive.TTL)
	require.Greater(t, c.members[leader].AppliedIndex(), before, "the keep-alive's clear went through the log")
	for _, mid := range c.ids {
		ttl, err := c.members[mid].lessor.TimeToLive(id, false)
		require.NoError(t, err)
		require.GreaterOrEqual(t, ttl.RemainingTTL, int64(9), "member %d: after the clear a new leader would resume at the full TTL", mid)
	}
	c.requireConsistent()
}

// A deposed leader, cut off from the others, never answers a keep-alive: it cannot confirm
// its leadership with a ReadIndex round. The new leader answers the same call sent to it.
func TestDeposedLeaderDoesNotRenew(t *testing.T) {
	c := newCluster(t, 3)
	old := c.leader()
	id := c.grant(old, 5)
	c.isolate(old, true)
	r := &result{}
	c.members[old].KeepAlive(id, func(resp Response, err error) { r.done, r.resp, r.err = true, resp, err })
	for range 3 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	require.False(t, r.done && r.err == nil, "the isolated old leader renewed the lease: %+v", r.resp)
	var newLeader uint64
	for _, f := range c.followers(old) {
		if c.members[f].leader == f {
			newLeader = f
		}
	}
	require.NotZero(t, newLeader, "the majority elected a new leader")
	resp, err := c.keepAlive(newLeader, id)
	require.NoError(t, err)
	require.Equal(t, newLeader, resp.LeaseKeepAlive.Header.MemberId)
	for i := 0; !r.done; i++ {
		require.Less(t, i, 1000)
		c.tick()
	}
	require.ErrorIs(t, r.err, rpctypes.ErrTimeout, "the old leader's call times out")
}

// TimeToLive and Leases are answered by the leader, through any member.
func TestTimeToLiveAndLeases(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	follower := c.followers(leader)[0]
	a, b := c.grant(leader, 30), c.grant(follower, 40)
	_, err := c.do(leader, putLeased("k1", a))
	require.NoError(t, err)
	_, err = c.do(follower, putLeased("k0", a))
	require.NoError(t, err)
	for _, via := range []uint64{leader, follower} {
		resp, err := c.leaseCall(via, func(m *Member, done Done) {
			m.TimeToLive(&pb.LeaseTimeToLiveRequest{ID: a, Keys: true}, done)
		})
		require.NoError(t, err)
		ttl := resp.LeaseTimeToLive
		require.Equal(t, a, ttl.ID)
		require.Equal(t, int64(30), ttl.GrantedTTL)
		require.LessOrEqual(t, ttl.TTL, int64(30))
		require.Greater(t, ttl.TTL, int64(25))
		require.Equal(t, [][]byte{[]byte("k0"), []byte("k1")}, ttl.Keys)

		_, err = c.leaseCall(via, func(m *Member, done Done) { m.TimeToLive(&pb.LeaseTimeToLiveRequest{ID: a + b}, done) })
		require.ErrorIs(t, err, rpctypes.ErrGRPCLeaseNotFound)

		resp, err = c.leaseCall(via, func(m *Member, done Done) { m.Leases(done) })
		require.NoError(t, err)
		var ids []int64
		for _, l := range resp.LeaseLeases.Leases {
			ids = append(ids, l.ID)
		}
		require.ElementsMatch(t, []int64{a, b}, ids)
	}
	_, err = c.leaseCall(leader, func(m *Member, done Done) { m.TimeToLive(nil, done) })
	require.ErrorIs(t, err, errRequestKind)
}

// With no leader known a lease call fails at once with etcd's no-leader error; on a closed
// member with ErrStopped.
func TestLeaseCallWithoutLeader(t *testing.T) {
	c := newCluster(t, 3)
	r := &result{}
	c.members[1].KeepAlive(1, func(resp Response, err error) { r.done, r.err = true, err })
	require.True(t, r.done)
	require.ErrorIs(t, r.err, rpctypes.ErrNoLeader)
	c.stop(2)
	m, err := Open(c.config(2))
	require.NoError(t, err)
	require.NoError(t, m.Close())
	r = &result{}
	m.Leases(func(resp Response, err error) { r.done, r.err = true, err })
	require.ErrorIs(t, r.err, ErrStopped)
}

// A lease call to a leader whose answer is lost is sent again and answered.
func TestLeaseCallRetriedAfterLostAnswer(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	follower := c.followers(leader)[0]
	id := c.grant(leader, 9)
	c.cut[[2]uint64{leader, follower}] = true // answers (and heartbeats) to the follower are lost
	r := &result{}
	c.members[follower].KeepAlive(id, func(resp Response, err error) { r.done, r.resp, r.err = true, resp, err })
	for range 3 {
		c.tick()
	}
	require.False(t, r.done)
	c.cut[[2]uint64{leader, follower}] = false
	for i := 0; !r.done; i++ {
		require.Less(t, i, 1000)
		c.tick()
	}
	require.NoError(t, r.err)
	require.Equal(t, int64(9), r.resp.LeaseKeepAlive.TTL)
}

// Lease frames that are malformed are rejected with an error and change nothing.
func TestLeaseFramesRejectMalformed(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	m := c.members[1]
	good := encodeLeaseCallFrame(2, 7, &leaseCall{op: leaseOpKeepAlive, leaseID: 5})
	require.NoError(t, m.Receive(good))
	bad := [][]byte{
		encodeChecksummedFrame(frameLeaseCall, []byte{1, 2, 3}),
		encodeChecksummedFrame(frameLeaseCall, append([]byte{9}, good[6:]...)),
		encodeChecksummedFrame(frameLeaseCall, append(append([]byte{}, good[5:len(good)-1]...), 7)),
		encodeLeaseCallFrame(0, 7, &leaseCall{op: leaseOpLeases}),
		encodeChecksummedFrame(frameLeaseAnswer, []byte{1}),
		encodeChecksummedFrame(frameLeaseAnswer, []byte{0, 0, 0, 0, 0, 0, 0, 1, leaseOpKeepAlive, 9}),
		encodeChecksummedFrame(frameLeaseAnswer, []byte{0, 0, 0, 0, 0, 0, 0, 1, leaseOpKeepAlive, leaseAnswerNotFound, 1}),
		encodeChecksummedFrame(frameLeaseAnswer, []byte{0, 0, 0, 0, 0, 0, 0, 1, 9, leaseAnswerOK}),
		encodeChecksummedFrame(frameLeaseAnswer, []byte{0, 0, 0, 0, 0, 0, 0, 1, leaseOpLeases, leaseAnswerOK, 0xff}),
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-2] ^= 1
	bad = append(bad, flipped)
	for _, data := range bad {
		require.ErrorIs(t, m.Receive(data), errFrame, "%x", data)
	}
	// An answer to a call of another kind is refused; one to no call is ignored.
	m.lease.calls = map[uint64]*leaseCall{3: {op: leaseOpLeases}}
	ans, err := encodeLeaseAnswerFrame(3, leaseOpKeepAlive, Response{LeaseKeepAlive: &pb.LeaseKeepAliveResponse{}}, nil)
	require.NoError(t, err)
	require.ErrorIs(t, m.Receive(ans), errFrame)
	ans, err = encodeLeaseAnswerFrame(4, leaseOpKeepAlive, Response{LeaseKeepAlive: &pb.LeaseKeepAliveResponse{}}, nil)
	require.NoError(t, err)
	require.NoError(t, m.Receive(ans))
	_, err = encodeLeaseAnswerFrame(4, leaseOpKeepAlive, Response{}, ErrTimeout)
	require.Error(t, err, "only etcd's lease errors have a wire code")
}

// Lease checkpoints are proposed only by the leader itself: one forwarded by a peer (with a
// term and sequence not the primary's) is refused, instead of reaching the lessor, which
// would panic on a checkpoint it did not produce.
func TestForwardedCheckpointRefused(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	id := c.grant(leader, 10)
	applied := c.members[leader].AppliedIndex()
	for _, cp := range []lease.Checkpoint{{ID: id, RemainingTTL: time.Second, Term: 99, Seq: 1}, {ID: id, RemainingTTL: time.Hour, Term: 99, Seq: 1}} {
		err := c.members[leader].Receive(encodeForwardFrame(encodeCheckpointEntry([]lease.Checkpoint{cp})))
		require.ErrorIs(t, err, errFrame)
		c.stabilize()
	}
	require.Equal(t, applied, c.members[leader].AppliedIndex())
	require.NoError(t, c.members[leader].Stopped())
	_, err := c.keepAlive(leader, id)
	require.NoError(t, err)
}

// A new leader becomes the lessor's primary only after applying an entry of its own term: a
// put and then a checkpoint the old leader proposed, which reached the followers but were
// not yet committed when the old leader was cut off, apply on the new leader before it is
// promoted (kv/lease panics if a checkpoint of another term applies on its primary).
func TestNewLeaderPromotedAfterOldTermEntries(t *testing.T) {
	c := newTweakedCluster(t, 3, func(cfg *Config) { cfg.LeaseCheckpointInterval = 300 * time.Millisecond })
	old := c.leader()
	id := c.grant(old, 10)
	followers := c.followers(old)
	for _, f := range followers {
		c.cut[[2]uint64{f, old}] = true // acknowledgements are lost: nothing new commits
	}
	c.submit(old, put("uncommitted", "x")) // an old-term entry ahead of the checkpoint
	pending := func() bool {
		for _, f := range followers {
			if st := c.members[f].Status(); st.LastIndex < st.Commit+2 {
				return false
			}
		}
		return true
	}
	for i := 0; !pending(); i++ {
		require.Less(t, i, 8, "the old leader's checkpoint never reached the followers")
		c.tick()
	}
	c.isolate(old, true)
	var leader uint64
	for i := 0; leader == 0; i++ {
		require.Less(t, i, 100)
		c.tick()
		for _, f := range followers {
			if c.members[f].primary {
				leader = f
			}
		}
	}
	ttl, err := c.members[leader].lessor.TimeToLive(id, false)
	require.NoError(t, err)
	require.Less(t, ttl.RemainingTTL, int64(10), "the old leader's checkpoint applied on the new one")
	c.isolate(old, false)
	for range 2 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	_, err = c.keepAlive(leader, id)
	require.NoError(t, err)
	c.requireConsistent()
}

// A primary whose raft term moved on (leader again in a later term between two Readies, so
// the soft state looks unchanged) is demoted, and promoted again only once an entry of the
// new term applies.
func TestPrimaryDemotedWhenTermMoves(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	m := c.members[1]
	require.True(t, m.primary)
	term := m.primaryTerm
	m.demoteIfTermMoved(raft.HardState{Term: term, Commit: 5})
	require.True(t, m.primary, "the same term keeps the primary")
	m.demoteIfTermMoved(raft.HardState{})
	require.True(t, m.primary, "an unchanged hard state keeps the primary")
	m.demoteIfTermMoved(raft.HardState{Term: term + 1})
	require.False(t, m.primary)
	require.False(t, m.lessor.IsPrimary())
	m.maybePromote(raft.Entry{Term: term + 1, Index: m.AppliedIndex()})
	require.False(t, m.primary, "an entry of a term that is not raft's does not promote")
}

// A lease checkpoint raft drops (proposals are refused while a leadership transfer is under
// way) is proposed again once raft takes proposals: otherwise it would never be retried, and
// the next leader would restart the lease from its own promotion.
func TestDroppedLeaseCheckpointIsProposedAgain(t *testing.T) {
	c := newTweakedCluster(t, 3, func(cfg *Config) { cfg.LeaseCheckpointInterval = 300 * time.Millisecond })
	leader := c.leader()
	id := c.grant(leader, 10)
	target, other := c.followers(leader)[0], c.followers(leader)[1]
	c.isolate(target, true) // the transfer cannot finish: it is abandoned after an election timeout
	c.members[leader].TransferLeader(target, func(error) {})
	for range 5 {
		c.tick()
	}
	require.NotEmpty(t, c.members[leader].lease.queue, "the checkpoint was dropped during the transfer")
	for range 2 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	require.Equal(t, leader, c.members[other].leader, "the abandoned transfer left the leader in place")
	require.Empty(t, c.members[leader].lease.queue)
	ttl, err := c.members[other].lessor.TimeToLive(id, false)
	require.NoError(t, err)
	require.Less(t, ttl.RemainingTTL, int64(9), "the checkpoint applied: a new leader would resume from it")
}
