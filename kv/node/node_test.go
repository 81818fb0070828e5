package node

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// A write submitted on any member (leader or follower, which forwards it) is applied on every
// member at the same revision, and the stores hash identically.
func TestWriteOnAnyMemberAppliesOnAll(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d members", n), func(t *testing.T) {
			c := newCluster(t, n)
			leader := c.leader()
			var revs []int64
			for i, id := range c.ids {
				resp, err := c.do(id, put(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)))
				require.NoError(t, err, "put through member %d (leader %d)", id, leader)
				revs = append(revs, resp.Put.Header.Revision)
			}
			for i := 1; i < len(revs); i++ {
				require.Equal(t, revs[i-1]+1, revs[i], "each put creates exactly one revision")
			}
			c.stabilize()
			for _, id := range c.ids {
				for i := range c.ids {
					v, modRev, ok := c.localValue(id, fmt.Sprintf("k%d", i))
					require.True(t, ok, "member %d lacks k%d", id, i)
					require.Equal(t, fmt.Sprintf("v%d", i), v)
					require.Equal(t, revs[i], modRev)
				}
			}
			c.requireConsistent()
		})
	}
}

// A linearizable read on a follower that missed a write waits until it has applied it; a
// serializable read on the same follower may be stale (it promises only the local state).
func TestLinearizableReadOnFollowerSeesAcknowledgedWrites(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	lagging := c.followers(leader)[0]
	c.isolate(lagging, true)
	_, err := c.do(leader, put("x", "1"))
	require.NoError(t, err, "a majority acknowledges without the lagging follower")

	stale, err := c.do(lagging, get("x", true))
	require.NoError(t, err)
	require.Empty(t, stale.Range.Kvs, "the lagging follower has not seen the write: serializable reads may be stale")

	c.isolate(lagging, false)
	resp, err := c.do(lagging, get("x", false))
	require.NoError(t, err)
	require.Len(t, resp.Range.Kvs, 1, "a linearizable read sees every write acknowledged before it was called")
	require.Equal(t, "1", string(resp.Range.Kvs[0].Value))
}

// A read-only txn is served by ReadIndex too, without a log entry.
func TestReadOnlyTxnDoesNotGoThroughTheLog(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	_, err := c.do(leader, put("a", "1"))
	require.NoError(t, err)
	before := c.members[leader].AppliedIndex()
	resp, err := c.do(c.followers(leader)[0], &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("1")}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a")}}}},
	}})
	require.NoError(t, err)
	require.True(t, resp.Txn.Succeeded)
	require.Equal(t, before, c.members[leader].AppliedIndex(), "a read-only txn appends nothing")
}

// A txn whose nested txn only reads is answered like any (etcd counts a nested txn as a
// write and sends it through raft; it was routed to the read path, which refused it).
func TestNestedReadOnlyTxnIsAnswered(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	_, err := c.do(leader, put("a", "1"))
	require.NoError(t, err)
	before := c.members[leader].CurrentRevision()
	rng := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a")}}}
	resp, err := c.do(c.followers(leader)[0], &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{rng}}}}},
	}})
	require.NoError(t, err)
	require.True(t, resp.Txn.Succeeded)
	require.Len(t, resp.Txn.Responses[0].GetResponseTxn().Responses[0].GetResponseRange().Kvs, 1)
	require.Equal(t, before, c.members[leader].CurrentRevision(), "a txn that only reads creates no revision")
}

// A forwarded proposal delivered twice is proposed twice, but the request is applied once.
func TestDuplicatedForwardAppliesOnce(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	follower := c.followers(leader)[0]
	r := c.submit(follower, put("dup", "once"))
	out, err := c.members[follower].Work()
	require.NoError(t, err)
	require.NotEmpty(t, out.Messages)
	c.enqueue(follower, out.Messages)
	c.enqueue(follower, out.Messages) // the network duplicates the forward
	before := c.members[leader].CurrentRevision()
	c.stabilize()
	require.True(t, r.done)
	require.NoError(t, r.err)
	for _, id := range c.ids {
		require.Equal(t, before+1, c.members[id].CurrentRevision(), "member %d: the duplicate created a revision", id)
	}
	// The window survives a restart: the applied request IDs are durable.
	window := c.members[follower].dedup.order
	reqID := window[len(window)-1].id
	c.stop(follower)
	c.open(follower)
	require.True(t, c.members[follower].dedup.contains(reqID), "the applied request ID is remembered after a restart")
}

// Request IDs never repeat across restarts, even with a random source seeded as before.
func TestRequestIDsUniqueAcrossRestarts(t *testing.T) {
	c := newCluster(t, 1)
	seen := map[uint64]bool{}
	for range 3 {
		for range 100 {
			id := c.members[1].newRequestID()
			require.False(t, seen[id], "request ID %x repeated", id)
			seen[id] = true
		}
		c.stop(1)
		c.open(1)
	}
}

// A crash between the write and the sync loses the unsynced entry, which nobody was told of;
// an acknowledged write survives a crash.
func TestCrashBetweenWriteAndSync(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	_, err := c.do(1, put("acked", "yes"))
	require.NoError(t, err)

	c.holdSync[1] = true
	r := c.submit(1, put("unsynced", "lost"))
	c.work()
	require.Contains(t, c.held, uint64(1), "the proposal's write waits for its sync")
	require.False(t, r.done, "nothing is acknowledged before the sync")
	c.crash(1)
	c.holdSync[1] = false
	require.True(t, r.done, "the crash fails the waiting request")
	c.leader()
	_, _, ok := c.localValue(1, "unsynced")
	require.False(t, ok, "an entry written but never synced is gone after a crash")
	v, _, ok := c.localValue(1, "acked")
	require.True(t, ok)
	require.Equal(t, "yes", v)
	_, err = c.do(1, put("after", "crash"))
	require.NoError(t, err, "the member serves again after restarting from its disk")
}

// In a 3-member cluster a follower's append acknowledgement waits for its sync: while the
// followers' syncs are held, the leader cannot commit.
func TestAppendAckWaitsForSync(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	for _, f := range c.followers(leader) {
		c.holdSync[f] = true
	}
	c.holdSync[leader] = false
	r := c.submit(leader, put("k", "v"))
	for range 5 {
		c.work()
	}
	require.False(t, r.done, "committed without a synced quorum")
	f := c.followers(leader)[0]
	c.holdSync[f] = false
	c.releaseSync(f)
	c.stabilize()
	require.True(t, r.done)
	require.NoError(t, r.err)
}

// A member that was down rejoins from its disk and catches up.
func TestRestartedMemberRejoins(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	down := c.followers(leader)[1]
	_, err := c.do(leader, put("before", "1"))
	require.NoError(t, err)
	c.stop(down)
	for i := range 20 {
		_, err := c.do(leader, put(fmt.Sprintf("while-down-%d", i), "x"))
		require.NoError(t, err)
	}
	c.open(down)
	for range 3 * DefaultElectionTimeoutTicks {
		c.tick()
	}
	v, _, ok := c.localValue(down, "while-down-19")
	require.True(t, ok, "the restarted member caught up")
	require.Equal(t, "x", v)
	c.requireConsistent()
}

// Without a quorum a write times out with etcd's error; a member that knows no leader fails
// at once with etcd's no-leader error.
func TestTimeoutAndNoLeader(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	for _, f := range c.followers(leader) {
		c.isolate(f, true)
	}
	_, err := c.do(leader, put("k", "v"))
	require.ErrorIs(t, err, rpctypes.ErrTimeout)

	fresh := newCluster(t, 3) // no ticks yet: nobody knows a leader
	r := fresh.submit(1, put("k", "v"))
	require.True(t, r.done)
	require.ErrorIs(t, r.err, rpctypes.ErrNoLeader)
	r = fresh.submit(1, get("k", false))
	require.True(t, r.done)
	require.ErrorIs(t, r.err, rpctypes.ErrNoLeader)
}

// Leases: granted through a follower, keys attached, revoke deletes every attached key on
// every member at one revision; a put with an unknown lease fails and changes nothing.
func TestLeaseGrantAttachRevoke(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	follower := c.followers(leader)[0]
	g, err := c.do(follower, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 60}})
	require.NoError(t, err)
	id := g.LeaseGrant.ID
	require.NotZero(t, id)
	for _, k := range []string{"l1", "l2"} {
		_, err := c.do(leader, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Value: []byte("v"), Lease: id}})
		require.NoError(t, err)
	}
	before := c.members[leader].CurrentRevision()
	_, err = c.do(leader, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("bad"), Value: []byte("v"), Lease: id + 1}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCLeaseNotFound)
	require.Equal(t, before, c.members[leader].CurrentRevision(), "a refused put creates no revision")

	rv, err := c.do(follower, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}})
	require.NoError(t, err)
	c.stabilize()
	for _, mid := range c.ids {
		for _, k := range []string{"l1", "l2"} {
			_, _, ok := c.localValue(mid, k)
			require.False(t, ok, "member %d still has %s after the revoke", mid, k)
		}
		require.Equal(t, before+1, c.members[mid].CurrentRevision(), "the revoke deletes both keys at one revision")
	}
	require.Equal(t, before+1, rv.LeaseRevoke.Header.Revision)
	c.requireConsistent()
}

// A lease nobody keeps alive expires: the leader proposes its revoke once its TTL (plus the
// drift margin) has passed on its clock, and never before.
func TestLeaseExpiresOnTheLeader(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	g, err := c.do(leader, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 5}})
	require.NoError(t, err)
	_, err = c.do(leader, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("eph"), Value: []byte("v"), Lease: g.LeaseGrant.ID}})
	require.NoError(t, err)
	granted := c.clock.now
	ttl := g.LeaseGrant.TTL
	for {
		c.tick()
		if _, _, ok := c.localValue(leader, "eph"); !ok {
			break
		}
		require.Less(t, c.clock.now-granted, 10*time.Duration(ttl)*time.Second, "lease never expired")
	}
	elapsed := c.clock.now - granted
	require.GreaterOrEqual(t, elapsed.Seconds(), float64(ttl), "the lease expired before its TTL")
	c.stabilize()
	c.requireConsistent()
}

// Malformed messages are rejected with an error and change nothing.
func TestReceiveRejectsMalformed(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	m := c.members[1]
	applied := m.AppliedIndex()
	for _, data := range [][]byte{nil, {0}, {9, 1, 2}, {frameRaft, 1, 2, 3}, {frameForward, 1}, {frameForward, 0, 0, 0, 0, 1}} {
		require.Error(t, m.Receive(data), "%x", data)
	}
	good := encodeForwardFrame([]byte{entryRequest, 0xff})
	good[len(good)-1] ^= 1
	require.ErrorIs(t, m.Receive(good), errFrame)
	require.Equal(t, applied, m.AppliedIndex())
}

// Bad requests get clear errors and nothing is proposed.
func TestSubmitRejectsBadRequests(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	_, err := c.do(1, &pb.InternalRaftRequest{})
	require.ErrorIs(t, err, errRequestKind)
	_, err = c.do(1, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k")}, DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}})
	require.ErrorIs(t, err, errRequestKind)
	_, err = c.do(1, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: nil, Value: []byte("v")}})
	require.ErrorIs(t, err, rpctypes.ErrGRPCEmptyKey)
	applied := c.members[1].AppliedIndex()
	_, err = c.do(1, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: make([]byte, 2<<20)}})
	require.True(t, errors.Is(err, rpctypes.ErrRequestTooLarge) || errors.Is(err, rpctypes.ErrGRPCRequestTooLarge), "got %v", err)
	require.Equal(t, applied, c.members[1].AppliedIndex(), "with the default limit an oversized request never enters the log")
	require.Equal(t, int64(1), c.members[1].CurrentRevision(), "no bad request created a revision")
}

// An unknown node format version refuses to open, naming the key.
func TestOpenRefusesUnknownFormat(t *testing.T) {
	c := newCluster(t, 1)
	c.stop(1)
	db, err := pebble.Open("member", pebbleOptions(c.config(1), &corruptionWatch{}, newPebbleFatal()))
	require.NoError(t, err)
	require.NoError(t, db.Set(nodeFormatKey, []byte("99"), pebble.Sync))
	require.NoError(t, db.Close())
	_, err = Open(c.config(1))
	require.ErrorIs(t, err, ErrFormat)
	require.ErrorContains(t, err, "node/format")
}

// Compaction through the log runs in bounded steps on every member and keeps them agreeing.
func TestCompactionThroughTheLog(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	for i := range 30 {
		_, err := c.do(leader, put("k", fmt.Sprint(i)))
		require.NoError(t, err)
	}
	rev := c.members[leader].CurrentRevision()
	_, err := c.do(leader, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev - 5}})
	require.NoError(t, err)
	c.stabilize()
	for _, id := range c.ids {
		_, err := c.members[id].readLocal(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("k"), Revision: rev - 10}})
		require.Error(t, err, "member %d serves a compacted revision", id)
	}
	c.requireConsistent()
	// Every member finished its compaction, and a second one, after Work remembered that none
	// was pending, runs to its end too (compactionStep's "none pending" is per compact revision).
	for round := range 2 {
		for _, id := range c.ids {
			m := c.members[id]
			pending, err := m.kv.CompactPending(m.db)
			require.NoError(t, err)
			require.False(t, pending, "round %d: member %d still has a compaction pending", round, id)
		}
		if round == 0 {
			for i := range 30 {
				_, err := c.do(leader, put("k", fmt.Sprint("again", i)))
				require.NoError(t, err)
			}
			_, err := c.do(leader, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: c.members[leader].CurrentRevision() - 5}})
			require.NoError(t, err)
			c.stabilize()
		}
	}
}

// recordingLogger keeps what the member logs.
type recordingLogger struct{ lines []string }

func (l *recordingLogger) Logf(format string, args ...any) {
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// The configured Logger hears of leader changes, lessor promotion and a storage failure.
func TestLoggerReceivesEvents(t *testing.T) {
	lg := &recordingLogger{}
	c := newTweakedCluster(t, 1, func(cfg *Config) { cfg.Logger = lg })
	c.leader()
	_, err := c.do(1, put("k", "v"))
	require.NoError(t, err)
	err = c.members[1].storageFailure(errors.New("disk on fire"))
	require.ErrorIs(t, err, ErrStorage)
	joined := strings.Join(lg.lines, "\n")
	require.Contains(t, joined, "member 1: leader is now 1 (was 0)")
	require.Contains(t, joined, "member 1: lessor promoted in term")
	require.Contains(t, joined, "member 1: stopping: ")
	require.Contains(t, joined, "disk on fire")
}
