package node

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/raft"
)

const (
	testSnapshotEntries = 20
	testCatchUpEntries  = 5
	testChunkBytes      = 256
)

// newSnapshotCluster is a cluster that snapshots and compacts its log every few entries and
// streams snapshots in tiny chunks, so a short test crosses many chunks.
func newSnapshotCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	c := newCluster(t, n)
	c.tweak = func(cfg *Config) {
		cfg.SnapshotEntries = testSnapshotEntries
		cfg.SnapshotCatchUpEntries = testCatchUpEntries
		cfg.snapshotChunkBytes = testChunkBytes
	}
	for _, id := range c.ids { // reopen with the tweak
		c.stop(id)
		c.open(id)
	}
	return c
}

func (c *testCluster) putN(via uint64, prefix string, n int) {
	c.t.Helper()
	for i := range n {
		_, err := c.do(via, put(fmt.Sprintf("%s-%03d", prefix, i), strings.Repeat("v", 40)))
		require.NoError(c.t, err)
	}
}

func (c *testCluster) logBounds(id uint64) (snapIndex, first uint64) {
	snap, err := c.members[id].log.Snapshot()
	require.NoError(c.t, err)
	first, err = c.members[id].log.FirstIndex()
	require.NoError(c.t, err)
	return snap.Metadata.Index, first
}

// countStaged counts the pairs member id's stage holds; the stage directory holds a table
// exactly when it does (ended tables and the one being written).
func (c *testCluster) countStaged(id uint64) int {
	c.t.Helper()
	m := c.members[id]
	files, err := m.cfg.FS.List(m.stageDir())
	require.NoError(c.t, err)
	if m.snap.tables == nil {
		require.Empty(c.t, files, "member %d: tables in the stage directory, no stage", id)
		return 0
	}
	require.Len(c.t, files, m.snap.tables.tables(), "member %d: the stage directory holds the stage's tables", id)
	return m.snap.tables.pairs
}

// Every member records a snapshot and compacts its log once more than SnapshotEntries
// entries were applied beyond the last snapshot, keeping SnapshotCatchUpEntries below it;
// a restarted member starts from the compacted log and serves everything.
func TestLogCompaction(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	leader := c.leader()
	c.putN(leader, "k", 3*testSnapshotEntries)
	c.stabilize()
	for _, id := range c.ids {
		snapIndex, first := c.logBounds(id)
		applied := c.members[id].AppliedIndex()
		require.Greater(t, snapIndex, uint64(0), "member %d recorded no snapshot", id)
		require.LessOrEqual(t, applied-snapIndex, uint64(testSnapshotEntries), "member %d: more than SnapshotEntries beyond the snapshot", id)
		require.Equal(t, snapIndex-testCatchUpEntries+1, first, "member %d keeps SnapshotCatchUpEntries below its snapshot", id)
		_, err := c.members[id].log.Entries(first-1, first, 1<<20)
		require.ErrorIs(t, err, raft.ErrCompacted, "member %d: entries below the first index are gone", id)
	}
	f := c.followers(leader)[0]
	c.crash(f)
	c.leader()
	for i := range 3 * testSnapshotEntries {
		v, _, ok := c.localValue(f, fmt.Sprintf("k-%03d", i))
		require.True(t, ok, "k-%03d after restart", i)
		require.Equal(t, strings.Repeat("v", 40), v)
	}
	c.requireConsistent()
}

// tickOnly advances the clock and ticks every live member, without working.
func (c *testCluster) tickOnly() {
	c.clock.now += DefaultTickInterval
	for _, id := range c.ids {
		if m := c.members[id]; m != nil {
			m.Tick()
		}
	}
}

// untilStaged works (ticking now and then) until member id staged a chunk.
func (c *testCluster) untilStaged(id uint64) {
	for i := 0; c.members[id].snap.stage.next == 0; i++ {
		require.Less(c.t, i, 500, "no chunk staged")
		if i%4 == 0 {
			c.tickOnly()
		}
		c.work()
	}
}

// catchUp ticks until member id has applied the leader's applied index.
func (c *testCluster) catchUp(id, leader uint64) {
	c.t.Helper()
	for i := 0; c.members[id].AppliedIndex() < c.members[leader].AppliedIndex(); i++ {
		require.Less(c.t, i, 200, "member %d did not catch up (applied %d, leader %d)", id, c.members[id].AppliedIndex(), c.members[leader].AppliedIndex())
		c.tick()
	}
	c.stabilize()
}

// A member down while the others wrote and compacted their logs is caught up by a snapshot
// streamed in many chunks: it installs the leader's store (keys, leases and their keys, the
// dedup window), and every member hashes identically at the same revision. It serves the
// installed state after a restart, and a lease revoked afterwards deletes its keys there too.
func TestFarBehindMemberCaughtUpBySnapshot(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	leader := c.leader()
	down := c.followers(leader)[0]
	c.putN(leader, "before", 5)
	c.stabilize()
	c.stop(down)

	grant, err := c.do(leader, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 3600}})
	require.NoError(t, err)
	leaseID := grant.LeaseGrant.ID
	_, err = c.do(leader, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("leased"), Value: []byte("x"), Lease: leaseID}})
	require.NoError(t, err)
	c.putN(leader, "while-down", 4*testSnapshotEntries)
	_, err = c.do(leader, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("before-000")}})
	require.NoError(t, err)
	_, first := c.logBounds(leader)
	c.open(down)
	require.Less(t, c.members[down].AppliedIndex()+1, first, "the restarted member needs entries the leader compacted")
	c.catchUp(down, leader)

	snapIndex, _ := c.logBounds(down)
	require.Greater(t, snapIndex, uint64(0), "the member installed a snapshot")
	require.Zero(t, c.countStaged(down), "the stage is gone after the install")
	_, _, ok := c.localValue(down, "before-000")
	require.False(t, ok, "a key deleted while the member was down is gone")
	v, _, ok := c.localValue(down, "while-down-079")
	require.True(t, ok)
	require.Equal(t, strings.Repeat("v", 40), v)
	require.Contains(t, c.members[down].lessor.Leases(), leaseID, "the lease moved with the snapshot")
	require.Equal(t, c.members[leader].dedup.order, c.members[down].dedup.order, "the dedup window moved with the snapshot")
	c.requireConsistent()

	c.crash(down)
	c.leader()
	v, _, ok = c.localValue(down, "leased")
	require.True(t, ok, "a restarted member serves the installed state")
	require.Equal(t, "x", v)
	c.requireConsistent()

	_, err = c.do(leader, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: leaseID}})
	require.NoError(t, err)
	c.catchUp(down, leader)
	_, _, ok = c.localValue(down, "leased")
	require.False(t, ok, "the revoke deleted the key attached on the installed member")
	c.requireConsistent()
}

// lagBehind stops a follower, writes enough for the others to compact past it and restarts
// it; it returns the follower and the leader.
func lagBehind(t *testing.T, c *testCluster) (down, leader uint64) {
	leader = c.leader()
	down = c.followers(leader)[0]
	c.putN(leader, "old", 3)
	c.stabilize()
	c.stop(down)
	c.putN(leader, "new", 4*testSnapshotEntries)
	c.open(down)
	return down, leader
}

// requireOldState checks that member id holds exactly what it held when it went down.
func requireOldState(t *testing.T, c *testCluster, id, applied uint64) {
	require.Equal(t, applied, c.members[id].AppliedIndex(), "the applied index is the old one")
	_, _, ok := c.localValue(id, "old-002")
	require.True(t, ok, "old state intact")
	_, _, ok = c.localValue(id, "new-000")
	require.False(t, ok, "nothing of the snapshot is visible")
	require.Zero(t, c.countStaged(id), "a stale stage is cleared at Open")
}

// A crash between chunks leaves the old state intact; the restarted member clears the
// stage and is caught up by a new stream.
func TestCrashBetweenSnapshotChunks(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	down, leader := lagBehind(t, c)
	applied := c.members[down].AppliedIndex()
	c.untilStaged(down)
	require.False(t, c.members[down].snap.stage.complete, "the stream needs many chunks")
	require.Positive(t, c.countStaged(down))
	c.crash(down)
	requireOldState(t, c, down, applied)
	c.catchUp(down, leader)
	c.requireConsistent()
}

// installUntilHeld works the lagging member until it installed the snapshot and its
// Ready's sync is held (the ingest is done, the raft half written unsynced).
func installUntilHeld(t *testing.T, c *testCluster, down, applied uint64) {
	c.holdSync[down] = true
	for i := 0; c.members[down].AppliedIndex() == applied; i++ {
		require.Less(t, i, 2000, "the snapshot was not installed")
		if _, held := c.held[down]; held {
			c.releaseSync(down) // syncs before the install go through
		}
		if i%4 == 0 {
			c.tickOnly()
		}
		c.work()
	}
	require.Contains(t, c.held, down, "the install waits for its sync")
}

// requireInstalled checks that member id restarted with the whole snapshot: the new keys,
// an applied index that is raft's snapshot index, no pending install, an empty stage.
func requireInstalled(t *testing.T, c *testCluster, id uint64) {
	t.Helper()
	m := c.members[id]
	snapIndex, first := c.logBounds(id)
	require.Equal(t, snapIndex, m.AppliedIndex(), "the applied index is the installed snapshot's")
	require.Equal(t, snapIndex+1, first, "raft's log starts after the snapshot")
	require.GreaterOrEqual(t, m.log.HardState().Commit, snapIndex)
	_, _, ok := c.localValue(id, "new-000")
	require.True(t, ok, "the snapshot's keys are there")
	v, closer, err := m.db.Get(nodePendingInstallKey)
	if err == nil {
		closer.Close()
	}
	require.ErrorIs(t, err, pebble.ErrNotFound, "the pending install %x is finished at Open", v)
	require.Zero(t, c.countStaged(id))
}

// A crash after the ingest, before the Ready (raft's half of the install: the log reset to
// the snapshot) was synced, restarts with the new store: the ingest is durable and atomic,
// and Open finishes the raft half from node/applied-snapshot; the member then serves and
// catches up like any other.
func TestCrashBeforeSnapshotSwitchSync(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	down, leader := lagBehind(t, c)
	applied := c.members[down].AppliedIndex()
	installUntilHeld(t, c, down, applied)
	installed := c.members[down].AppliedIndex()
	c.crash(down)
	c.holdSync[down] = false
	require.Equal(t, installed, c.members[down].AppliedIndex())
	requireInstalled(t, c, down)
	c.catchUp(down, leader)
	c.requireConsistent()
}

// A crash in the middle of an install restarts to the old store or the new one, never a
// mix: one before the ingest (here an error from the step before it) leaves the old store
// with its applied index and removes the staged tables; one right after the ingest (an
// error from the step after it: raft's half never written) leaves the new store, whose raft
// half Open finishes. Either way the member is then caught up and consistent.
func TestCrashMidSnapshotInstall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		before    bool // fail before the ingest (else after it)
		installed bool // the restarted member holds the snapshot
	}{{"before the ingest", true, false}, {"after the ingest", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSnapshotCluster(t, 3)
			down, leader := lagBehind(t, c)
			applied := c.members[down].AppliedIndex()
			m := c.members[down]
			failed := false
			hook := func() error { failed = true; return errors.New("injected install fault") }
			if tc.before {
				m.testHookBeforeIngest = hook
			} else {
				m.testHookAfterIngest = hook
			}
			c.faulty[down] = true
			for i := 0; m.Stopped() == nil; i++ {
				require.Less(t, i, 2000, "the install was not reached")
				if i%4 == 0 {
					c.tickOnly()
				}
				c.work()
			}
			require.True(t, failed)
			require.ErrorIs(t, m.Stopped(), ErrStorage)
			c.faulty[down] = false
			c.crash(down)
			if tc.installed {
				requireInstalled(t, c, down)
			} else {
				requireOldState(t, c, down, applied)
			}
			c.catchUp(down, leader)
			c.requireConsistent()
		})
	}
}

// The leader fails a stream that stops being acknowledged (ReportSnapshot(failed)) and
// starts a new one once raft asks again.
func TestSnapshotStreamTimesOut(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	down, leader := lagBehind(t, c)
	c.untilStaged(down)
	c.cut[[2]uint64{leader, down}] = true
	first := c.members[leader].snap.streams[0].id
	for range snapshotTimeoutElections*DefaultElectionTimeoutTicks + 1 {
		c.tick()
	}
	for _, s := range c.members[leader].snap.streams {
		require.NotEqual(t, first, s.id, "the stalled stream ended")
	}
	c.cut[[2]uint64{leader, down}] = false
	c.catchUp(down, leader)
	c.requireConsistent()
}

// chunkFrame builds a chunk frame of stream 7 at index 1000 from member from.
func chunkFrame(from uint64, seq uint32, last bool, pairs ...string) []byte {
	c := snapChunk{from: from, stream: 7, index: 1000, term: 9, seq: seq, last: last}
	body := c.appendHeader(nil)
	for _, p := range pairs {
		body = appendBytes(body, []byte(p))
	}
	return encodeChecksummedFrame(frameSnapChunk, body)
}

func (c *testCluster) takeAcks(id uint64) []snapAck {
	var acks []snapAck
	for _, e := range c.members[id].outbox {
		kind, body, err := decodeFrame(e.Data)
		require.NoError(c.t, err)
		if kind == frameSnapAck {
			a, err := decodeSnapAck(body)
			require.NoError(c.t, err)
			acks = append(acks, a)
		}
	}
	c.members[id].outbox = nil
	return acks
}

// Chunks are staged in order only: a corrupted or malformed chunk is rejected with an error
// and stages nothing; a chunk of a stream the stage does not hold is refused to the leader;
// a chunk beyond the next one is ignored; a duplicate is acknowledged again and stages
// nothing twice; raft's MsgSnap is refused until the stage is complete.
func TestSnapshotChunksOutOfOrderDuplicatedCorrupted(t *testing.T) {
	c := newCluster(t, 3)
	c.leader()
	f := c.ids[2]
	m := c.members[f]

	corrupt := chunkFrame(1, 0, false, "mvcc/a", "1")
	corrupt[len(corrupt)-1] ^= 0xff
	require.ErrorIs(t, m.Receive(corrupt), errFrame)
	require.ErrorIs(t, m.Receive(chunkFrame(1, 0, false, "raft/hardstate", "x")), errFrame, "a key outside the state machine")
	for name, ch := range map[string]snapChunk{
		"zero stream": {from: 1, index: 1000, term: 9},
		"zero index":  {from: 1, stream: 7, term: 9},
	} {
		require.ErrorIs(t, m.Receive(encodeChecksummedFrame(frameSnapChunk, ch.appendHeader(nil))), errFrame, name)
	}
	badFlag := append([]byte(nil), mustBody(t, chunkFrame(1, 0, false))...)
	badFlag[snapChunkLastOffset] = 2
	require.ErrorIs(t, m.Receive(encodeChecksummedFrame(frameSnapChunk, badFlag)), errFrame, "last flag 2")
	require.ErrorIs(t, m.Receive(encodeChecksummedFrame(frameSnapChunk, make([]byte, snapChunkHeaderBytes-1))), errFrame, "short header")
	truncated := chunkFrame(1, 0, false, "mvcc/a", "1")
	require.ErrorIs(t, m.Receive(encodeChecksummedFrame(frameSnapChunk, mustBody(t, truncated)[:len(mustBody(t, truncated))-1])), errFrame)
	require.Zero(t, c.countStaged(f))
	require.Empty(t, c.takeAcks(f), "a malformed chunk is not answered")

	require.Error(t, m.Receive(chunkFrame(1, 1, false, "mvcc/b", "2")), "chunk 1 before chunk 0")
	require.Equal(t, []snapAck{{from: f, stream: 7, seq: 1, ok: false}}, c.takeAcks(f))
	require.Zero(t, c.countStaged(f))

	require.NoError(t, m.Receive(chunkFrame(1, 0, false, "mvcc/a", "1")))
	require.NoError(t, m.Receive(chunkFrame(1, 0, false, "mvcc/a", "1")), "a duplicate")
	require.Equal(t, []snapAck{{from: f, stream: 7, seq: 0, ok: true}, {from: f, stream: 7, seq: 0, ok: true}}, c.takeAcks(f))
	require.Equal(t, uint32(1), m.snap.stage.next)
	require.Equal(t, 1, c.countStaged(f), "one pair")

	require.Error(t, m.Receive(chunkFrame(1, 2, true, "mvcc/c", "3")), "a gap")
	require.Empty(t, c.takeAcks(f), "a chunk beyond the next is ignored (the leader sends again from the gap)")
	require.Equal(t, 1, c.countStaged(f))

	msg := raft.Message{Type: raft.MsgSnap, From: 1, To: f, Term: 9,
		Snapshot: &raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 1000, Term: 9, ConfState: raft.ConfState{Voters: c.ids}}}}
	frame, err := encodeRaftFrame(m.codec, &msg)
	require.NoError(t, err)
	require.ErrorContains(t, m.Receive(frame), "before its data was staged")
	require.False(t, m.snap.pinned)

	require.NoError(t, m.Receive(chunkFrame(1, 1, true, "mvcc/b", "2")))
	require.True(t, m.snap.stage.complete)
	require.Error(t, m.Receive(chunkFrame(2, 1, true, "mvcc/z", "9")), "a stage is replaced by chunk 0 of another stream only")
	require.Equal(t, 2, c.countStaged(f))

	// raft ignores a MsgSnap of a stale term: the admitted stage is released at once or with
	// the next Ready, and a new stream may replace it.
	msg.Term = 1
	frame, err = encodeRaftFrame(m.codec, &msg)
	require.NoError(t, err)
	_ = m.Receive(frame)
	c.work()
	require.False(t, m.snap.pinned, "a declined snapshot does not pin the stage")
	c.takeAcks(f)
	require.NoError(t, m.Receive(chunkFrame(2, 0, false, "mvcc/z", "9")))
	require.Equal(t, 1, c.countStaged(f), "chunk 0 of a new stream replaced the stage")

	// A restart drops the stage (its tables are removed at Close and at Open).
	c.stop(f)
	c.open(f)
	require.Zero(t, c.countStaged(f))
	require.Equal(t, stageHeader{}, c.members[f].snap.stage)
}

func mustBody(t *testing.T, frame []byte) []byte {
	_, body, err := decodeFrame(frame)
	require.NoError(t, err)
	return body
}

// Acks are checked like chunks.
func TestSnapshotAckDecoding(t *testing.T) {
	good := mustBody(t, encodeSnapAck(snapAck{from: 2, stream: 5, seq: 3, ok: true}))
	a, err := decodeSnapAck(good)
	require.NoError(t, err)
	require.Equal(t, snapAck{from: 2, stream: 5, seq: 3, ok: true}, a)
	for name, body := range map[string][]byte{
		"short":     good[:len(good)-1],
		"long":      append(append([]byte(nil), good...), 0),
		"flag":      append(append([]byte(nil), good[:len(good)-1]...), 2),
		"zero from": append(make([]byte, 8), good[8:]...),
	} {
		_, err := decodeSnapAck(body)
		require.ErrorIs(t, err, errFrame, name)
	}
}

// A brand-new member added after the log was compacted joins from a snapshot.
func TestNewMemberJoinsFromSnapshot(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	leader := c.leader()
	c.putN(leader, "k", 3*testSnapshotEntries)
	_, first := c.logBounds(leader)
	require.Greater(t, first, uint64(1), "the leader compacted its log")
	c.addNew(4)
	_, err := c.change(leader, func(m *Member, done ConfDone) { m.AddLearner(4, done) })
	require.NoError(t, err)
	c.catchUp(4, leader)
	snapIndex, _ := c.logBounds(4)
	require.GreaterOrEqual(t, snapIndex, first-1, "the new member installed a snapshot")
	c.requireConsistent()
}

// snapshotSeeds are the seeds the randomized snapshot test runs: SNAPSHOT_SEED=n runs only n.
func snapshotSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("SNAPSHOT_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "SNAPSHOT_SEED")
		return []uint64{seed}
	}
	return []uint64{1, 2, 3, 4}
}

// Randomized: while a far-behind member is caught up, the network reorders, duplicates and
// drops messages (chunks, acks, MsgSnap and raft's own) to and from it, and writes go on. The
// member still catches up, and every store hashes as the leader's (the reference) at the same
// revision. Re-run one seed with SNAPSHOT_SEED=n.
func TestSnapshotUnderReorderDuplicateDrop(t *testing.T) {
	for _, seed := range snapshotSeeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d (re-run with SNAPSHOT_SEED=%d)", seed, seed)
			c := newSnapshotCluster(t, 3)
			down, leader := lagBehind(t, c)
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			c.mangle = func(q []queued) []queued {
				var out []queued
				for _, m := range q {
					if m.from != down && m.env.To != down {
						out = append(out, m)
						continue
					}
					switch r := rng.IntN(100); {
					case r < 10: // dropped
					case r < 20:
						out = append(out, m, m)
					default:
						out = append(out, m)
					}
				}
				for i := 1; i < len(out); i++ {
					if rng.IntN(100) < 20 {
						out[i-1], out[i] = out[i], out[i-1]
					}
				}
				return out
			}
			installed := func() bool { idx, _ := c.logBounds(down); return idx > 0 }
			for i := 0; !installed(); i++ {
				require.Less(t, i, 400, "no snapshot installed under the misbehaving network")
				if i < 20 {
					c.submit(leader, put(fmt.Sprintf("during-%d", i), "x"))
				}
				c.tickOnly()
				for range 3 {
					c.work()
				}
			}
			c.mangle = nil
			t.Logf("member %d installed a snapshot at %d while the network misbehaved", down, c.members[down].AppliedIndex())
			c.catchUp(down, leader)
			c.requireConsistent()
		})
	}
}

// Two followers far behind at once are sent the same source (one Pebble snapshot), and
// both catch up; the source is closed once both streams ended.
func TestTwoFollowersShareASnapshotSource(t *testing.T) {
	c := newSnapshotCluster(t, 5)
	leader := c.leader()
	downs := c.followers(leader)[:2]
	for _, id := range downs {
		c.stop(id)
	}
	c.putN(leader, "k", 4*testSnapshotEntries)
	for _, id := range downs {
		c.open(id)
	}
	lm := c.members[leader]
	for i := 0; len(lm.snap.streams) < 2; i++ {
		require.Less(t, i, 500, "the leader never streamed to both followers at once")
		if i%4 == 0 {
			c.tickOnly()
		}
		c.work()
	}
	require.Same(t, lm.snap.streams[0].src, lm.snap.streams[1].src, "one source for both streams")
	require.Equal(t, 2, lm.snap.streams[0].src.refs)
	for _, id := range downs {
		c.catchUp(id, leader)
	}
	require.Empty(t, lm.snap.streams)
	require.Nil(t, lm.snap.src, "no Pebble snapshot outlives its streams")
	c.requireConsistent()
}

// Acks of streams that ended, or of chunks never sent, change nothing.
func TestStaleSnapshotAcks(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	down, leader := lagBehind(t, c)
	c.untilStaged(down)
	lm := c.members[leader]
	require.Len(t, lm.snap.streams, 1)
	s := lm.snap.streams[0]
	require.ErrorIs(t, lm.Receive(encodeSnapAck(snapAck{from: down, stream: s.id, seq: s.sent + 5, ok: true})), errFrame, "an ack of a chunk never sent")
	require.NoError(t, lm.Receive(encodeSnapAck(snapAck{from: down, stream: s.id + 1, seq: 0, ok: false})), "a refusal for another stream")
	require.Len(t, lm.snap.streams, 1, "the stream goes on")
	c.catchUp(down, leader)
	c.requireConsistent()
}

// A leader deposed mid-stream ends its stream (and closes its source); the new leader
// streams its own snapshot, which replaces the partial stage, and the member catches up.
func TestLeaderChangeDuringSnapshot(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	down, old := lagBehind(t, c)
	c.untilStaged(down)
	require.False(t, c.members[down].snap.stage.complete)
	c.isolate(old, true)
	var leader uint64
	for i := 0; leader == 0 || leader == old; i++ {
		require.Less(t, i, 200, "no new leader")
		c.tick()
		for _, id := range c.followers(old) {
			if c.members[id].Status().RaftState == raft.StateLeader {
				leader = id
			}
		}
	}
	for i := 0; c.members[old].Status().RaftState == raft.StateLeader; i++ {
		require.Less(t, i, 100, "the isolated leader never stepped down")
		c.tick()
	}
	c.work()
	require.Empty(t, c.members[old].snap.streams, "the deposed leader's stream ended")
	require.Nil(t, c.members[old].snap.src)
	c.catchUp(down, leader)
	c.isolate(old, false)
	c.catchUp(old, leader)
	c.requireConsistent()
}

// A watcher on a member that installs a snapshot sees every revision it missed, in order,
// once: the hub catches it up from the installed store.
func TestWatchAcrossSnapshotInstall(t *testing.T) {
	c := newSnapshotCluster(t, 3)
	leader := c.leader()
	down := c.followers(leader)[0]
	c.putN(leader, "old", 3)
	c.stabilize()
	c.stop(down)
	c.putN(leader, "new", 4*testSnapshotEntries)
	c.open(down)
	from := c.members[down].CurrentRevision() + 1
	ws, err := c.members[down].NewWatchStream()
	require.NoError(t, err)
	require.NoError(t, ws.Handle(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte("new-"), RangeEnd: []byte("new."), StartRevision: from}}}))
	c.catchUp(down, leader)
	snapIndex, _ := c.logBounds(down)
	require.Greater(t, snapIndex, uint64(0), "the member installed a snapshot")
	_, err = c.do(leader, put("new-last", "x"))
	require.NoError(t, err)
	c.stabilize()
	evs, _ := drainWatch(t, ws)
	require.Len(t, evs, 4*testSnapshotEntries+1, "every put once")
	for i, ev := range evs {
		if i < 4*testSnapshotEntries {
			require.Equal(t, fmt.Sprintf("new-%03d", i), ev.key)
		}
		if i > 0 {
			require.Equal(t, evs[i-1].rev+1, ev.rev, "revisions in order without gaps")
		}
	}
}

// stateMachinePairs is every raw state-machine pair of member id, span by span.
func (c *testCluster) stateMachinePairs(id uint64) [][2]string {
	c.t.Helper()
	var out [][2]string
	for _, sp := range stateMachineSpans {
		it, err := c.members[id].db.NewIter(&pebble.IterOptions{LowerBound: sp.lo, UpperBound: sp.hi})
		require.NoError(c.t, err)
		for valid := it.First(); valid; valid = it.Next() {
			out = append(out, [2]string{string(it.Key()), string(it.Value())})
		}
		require.NoError(c.t, it.Close())
	}
	return out
}

// A snapshot many chunks and many tables long (each span split across several, some
// empty on the receiver before, some holding keys the snapshot deletes) installs exactly the
// sender's store: every key with its revisions, version and lease, every lease with its TTL
// and keys, and every raw state-machine pair; no key of the old store survives.
func TestSnapshotInstallMatchesSender(t *testing.T) {
	c := newCluster(t, 3)
	c.tweak = func(cfg *Config) {
		cfg.SnapshotEntries = testSnapshotEntries
		cfg.SnapshotCatchUpEntries = testCatchUpEntries
		cfg.snapshotChunkBytes = 512
		cfg.snapshotTableBytes = 2 << 10
	}
	for _, id := range c.ids {
		c.stop(id)
		c.open(id)
	}
	leader := c.leader()
	down := c.followers(leader)[0]
	c.putN(leader, "gone", 30) // on the lagging member; deleted while it is down
	c.stabilize()
	c.stop(down)
	var leases []int64
	for i := range 5 {
		grant, err := c.do(leader, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: int64(600 + i)}})
		require.NoError(t, err)
		leases = append(leases, grant.LeaseGrant.ID)
	}
	_, err := c.do(leader, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("gone"), RangeEnd: []byte("gonf")}})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 300 {
		key := fmt.Sprintf("key-%03d", rng.IntN(150)) // overwrites: versions above 1
		req := &pb.PutRequest{Key: []byte(key), Value: []byte(strings.Repeat(strconv.Itoa(i%10), 1+rng.IntN(200)))}
		if i%7 == 0 {
			req.Lease = leases[rng.IntN(len(leases))]
		}
		_, err := c.do(leader, &pb.InternalRaftRequest{Put: req})
		require.NoError(t, err)
	}
	c.open(down)
	c.catchUp(down, leader)

	snapIndex, _ := c.logBounds(down)
	require.Greater(t, snapIndex, uint64(0), "the member installed a snapshot")
	st := c.members[down].snap.tables
	require.NotNil(t, st)
	require.Greater(t, st.made, 2*len(stateMachineSpans), "the install spans many tables")
	require.Zero(t, c.countStaged(down))

	all := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}
	var kvs [2]*pb.RangeResponse
	for i, id := range []uint64{leader, down} {
		m := c.members[id]
		kvs[i], err = m.kv.RangeApplied(m.db, all)
		require.NoError(t, err)
	}
	require.Len(t, kvs[1].Kvs, len(kvs[0].Kvs))
	require.Greater(t, len(kvs[0].Kvs), 100)
	for i, want := range kvs[0].Kvs {
		got := kvs[1].Kvs[i]
		require.Equal(t, string(want.Key), string(got.Key))
		require.Equal(t, want.CreateRevision, got.CreateRevision, "%s", want.Key)
		require.Equal(t, want.ModRevision, got.ModRevision, "%s", want.Key)
		require.Equal(t, want.Version, got.Version, "%s", want.Key)
		require.Equal(t, want.Lease, got.Lease, "%s", want.Key)
		require.Equal(t, want.Value, got.Value, "%s", want.Key)
		require.Equal(t, want.Lease, c.members[down].lessor.LeaseOf(want.Key), "%s attached", want.Key)
		require.False(t, strings.HasPrefix(string(got.Key), "gone"), "a deleted key survived the install")
	}
	require.Equal(t, c.members[leader].lessor.Leases(), c.members[down].lessor.Leases())
	for _, id := range leases {
		want, err := c.members[leader].lessor.TimeToLive(id, true)
		require.NoError(t, err)
		got, err := c.members[down].lessor.TimeToLive(id, true)
		require.NoError(t, err)
		require.Equal(t, want.GrantedTTL, got.GrantedTTL)
		require.Equal(t, want.Keys, got.Keys)
	}
	require.Equal(t, c.stateMachinePairs(leader), c.stateMachinePairs(down), "the raw state machine")
	c.requireConsistent()
}
