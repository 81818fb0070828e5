package node

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/raft"
)

// manualClock is the members' Clock: it moves only when the test ticks.
type manualClock struct{ now time.Duration }

func (c *manualClock) Now() time.Duration { return c.now }

// queued is a message in flight between members.
type queued struct {
	from uint64
	env  Envelope
}

// testCluster runs members through the step-at-a-time API, one event at a time, with message
// delivery, syncs and crashes under the test's control. Each member has its own crashable
// in-memory FS, so a crash (CrashClone with UnsyncedDataPercent 0) keeps exactly what that
// member synced.
type testCluster struct {
	t         *testing.T
	seed      uint64
	ids       []uint64
	fs        map[uint64]*vfs.MemFS
	members   map[uint64]*Member
	clock     *manualClock
	queue     []queued
	cut       map[[2]uint64]bool // links that drop messages, by (from, to)
	holdSync  map[uint64]bool    // members whose syncs wait for the test
	held      map[uint64]uint64  // held sync token per member
	delivered int
	tweak     func(*Config) // when set, adjusts every member's config (e.g. lease intervals)
	// faulty members may fail their Work and Synced (a fault was injected); once stopped they
	// are skipped.
	faulty map[uint64]bool
	// mangle, when set, may reorder, duplicate or drop each round's messages before delivery.
	mangle func([]queued) []queued
}

func newCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return newClusterWith(t, n, nil)
}

// newClusterWith is newCluster with tweak applied to every member's config from the start.
func newClusterWith(t *testing.T, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, seed: 1, fs: map[uint64]*vfs.MemFS{}, members: map[uint64]*Member{}, clock: &manualClock{},
		cut: map[[2]uint64]bool{}, holdSync: map[uint64]bool{}, held: map[uint64]uint64{}, faulty: map[uint64]bool{}, tweak: tweak}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
	}
	for _, id := range c.ids {
		c.fs[id] = vfs.NewCrashableMem()
		c.open(id)
	}
	t.Cleanup(func() {
		for _, id := range c.ids {
			if m := c.members[id]; m != nil {
				_ = m.Close()
			}
		}
	})
	return c
}

func (c *testCluster) config(id uint64) Config {
	cfg := Config{ID: id, InitialMembers: c.ids, FS: c.fs[id], Dir: "member", Clock: c.clock,
		Rand: rand.New(rand.NewPCG(c.seed, id)), PebbleMemTableBytes: 4 << 20, PebbleCacheBytes: 1 << 20}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

func (c *testCluster) open(id uint64) {
	m, err := Open(c.config(id))
	require.NoError(c.t, err)
	c.members[id] = m
}

// crash drops member id's memory and unsynced writes, and restarts it from what it synced.
func (c *testCluster) crash(id uint64) {
	crashed := c.fs[id].CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	_ = c.members[id].Close()
	c.fs[id] = crashed
	delete(c.held, id)
	c.open(id)
}

// stop takes member id down (closed, not restarted).
func (c *testCluster) stop(id uint64) {
	require.NoError(c.t, c.members[id].Close())
	c.members[id] = nil
	delete(c.held, id)
}

func (c *testCluster) isolate(id uint64, isolated bool) {
	for _, other := range c.ids {
		if other != id {
			c.cut[[2]uint64{id, other}] = isolated
			c.cut[[2]uint64{other, id}] = isolated
		}
	}
}

// work runs one round of Work (and the syncs not held) on every live member, then delivers
// every queued message. It reports whether anything happened.
func (c *testCluster) work() bool {
	busy := false
	for _, id := range c.ids {
		m := c.members[id]
		if m == nil || errors.Is(m.Stopped(), ErrRemoved) {
			continue // a removed member has stopped on its own
		}
		faulty := c.faulty[id]
		if faulty && m.Stopped() != nil {
			continue
		}
		out, err := m.Work()
		if faulty && err != nil {
			continue
		}
		require.NoError(c.t, err)
		c.enqueue(id, out.Messages)
		if out.SyncToken != 0 {
			busy = true
			if c.holdSync[id] {
				c.held[id] = out.SyncToken
			} else {
				msgs, err := m.Synced(out.SyncToken)
				if faulty && err != nil {
					continue
				}
				require.NoError(c.t, err)
				c.enqueue(id, msgs)
			}
		}
	}
	q := c.queue
	c.queue = nil
	if c.mangle != nil {
		q = c.mangle(q)
	}
	for _, qm := range q {
		busy = true
		to := c.members[qm.env.To]
		if to == nil || c.cut[[2]uint64{qm.from, qm.env.To}] {
			continue
		}
		c.delivered++
		_ = to.Receive(qm.env.Data) // raft refuses stale messages with errors; that is fine here
	}
	return busy
}

func (c *testCluster) enqueue(from uint64, msgs []Envelope) {
	for _, e := range msgs {
		c.queue = append(c.queue, queued{from: from, env: e})
	}
}

// releaseSync confirms member id's held sync.
func (c *testCluster) releaseSync(id uint64) {
	tok, ok := c.held[id]
	require.True(c.t, ok, "member %d has no held sync", id)
	delete(c.held, id)
	msgs, err := c.members[id].Synced(tok)
	require.NoError(c.t, err)
	c.enqueue(id, msgs)
}

// stabilize works until nothing happens (bounded).
func (c *testCluster) stabilize() {
	for range 1000 {
		if !c.work() {
			return
		}
	}
	c.t.Fatal("cluster did not stabilize in 1000 rounds")
}

// tick advances every live member's clock by one tick and stabilizes.
func (c *testCluster) tick() {
	c.clock.now += DefaultTickInterval
	for _, id := range c.ids {
		if m := c.members[id]; m != nil {
			m.Tick()
		}
	}
	c.stabilize()
}

// leader ticks until exactly one live member leads and all live members know it.
func (c *testCluster) leader() uint64 {
	for range 500 {
		var leaders []uint64
		agreed := true
		var known uint64
		for _, id := range c.ids {
			m := c.members[id]
			if m == nil {
				continue
			}
			st := m.Status()
			if st.RaftState == raft.StateLeader {
				leaders = append(leaders, id)
			}
			if known == 0 {
				known = m.leader
			} else if m.leader != known {
				agreed = false
			}
		}
		if len(leaders) == 1 && agreed && known == leaders[0] {
			return leaders[0]
		}
		c.tick()
	}
	c.t.Fatal("no leader after 500 ticks")
	return 0
}

func (c *testCluster) followers(leader uint64) []uint64 {
	var out []uint64
	for _, id := range c.ids {
		if id != leader && c.members[id] != nil {
			out = append(out, id)
		}
	}
	return out
}

// result is a request's outcome, once done has run.
type result struct {
	done bool
	resp Response
	err  error
}

func (c *testCluster) submit(id uint64, req *pb.InternalRaftRequest) *result {
	r := &result{}
	c.members[id].Submit(req, func(resp Response, err error) {
		require.False(c.t, r.done, "done called twice")
		r.done, r.resp, r.err = true, resp, err
	})
	return r
}

// do submits req on member id and ticks until it completes.
func (c *testCluster) do(id uint64, req *pb.InternalRaftRequest) (Response, error) {
	r := c.submit(id, req)
	for i := 0; !r.done; i++ {
		require.Less(c.t, i, 1000, "request did not complete in 1000 ticks")
		if i == 0 {
			c.stabilize()
			continue
		}
		c.tick()
	}
	return r.resp, r.err
}

func put(key, value string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}
}

func get(key string, serializable bool) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(key), Serializable: serializable}}
}

// localValue reads key on member id without going through raft.
func (c *testCluster) localValue(id uint64, key string) (value string, modRev int64, found bool) {
	m := c.members[id]
	resp, err := m.kv.RangeApplied(m.db, get(key, true).Range) // no permission check
	require.NoError(c.t, err)
	if len(resp.Kvs) == 0 {
		return "", 0, false
	}
	return string(resp.Kvs[0].Value), resp.Kvs[0].ModRevision, true
}

// requireConsistent checks that every live member applied the same revision and hashes its
// store identically (etcd's cluster consistency check).
func (c *testCluster) requireConsistent() {
	var rev int64 = -1
	var hash uint32
	for _, id := range c.ids {
		m := c.members[id]
		if m == nil {
			continue
		}
		if rev == -1 {
			rev = m.CurrentRevision()
		}
		require.Equal(c.t, rev, m.CurrentRevision(), "member %d revision", id)
		h, err := m.HashKV(rev)
		require.NoError(c.t, err)
		if id == c.ids[slices.IndexFunc(c.ids, func(x uint64) bool { return c.members[x] != nil })] {
			hash = h.Hash
		}
		require.Equal(c.t, hash, h.Hash, "member %d HashKV at revision %d", id, rev)
	}
}
