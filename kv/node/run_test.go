package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/raft"
)

// The goroutine driver's tests run real goroutines and real time (make test runs kv/node with
// -race). They wait for conditions with deadlines (require.Eventually, contexts) and assert
// outcomes only, never durations.

const (
	// runTickInterval is short so elections and retries are quick; the election timeout is
	// ElectionTimeoutTicks (10) of them.
	runTickInterval = 20 * time.Millisecond
	// runWait bounds every wait for a condition (a leader, a catch-up, a stop).
	runWait = 20 * time.Second
)

// runSeed is the seed of the randomized choices in these tests (which member a client
// talks to); NODE_RUN_SEED re-runs one.
func runSeed(t testing.TB) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NODE_RUN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "NODE_RUN_SEED")
		seed = v
	}
	t.Logf("seed %d (re-run with NODE_RUN_SEED=%d)", seed, seed)
	return seed
}

// driverCluster is members driven by goroutine Drivers over one LocalTransport.
type driverCluster struct {
	t       testing.TB
	ids     []uint64
	net     *LocalTransport
	members map[uint64]*Member
	drivers map[uint64]*Driver
	cancels map[uint64]context.CancelFunc
	results map[uint64]chan error // Run's result per running driver
	opts    RunOptions
}

// newDriverCluster opens n members, each on its own FS from newFS, and starts a driver for
// each. Cleanup stops the drivers and closes the members.
func newDriverCluster(t testing.TB, n int, seed uint64, tickInterval time.Duration, newFS func(id uint64) (vfs.FS, string), tweaks ...func(*Config)) *driverCluster {
	c := &driverCluster{t: t, net: NewLocalTransport(), members: map[uint64]*Member{}, drivers: map[uint64]*Driver{},
		cancels: map[uint64]context.CancelFunc{}, results: map[uint64]chan error{}, opts: RunOptions{TickInterval: tickInterval}}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
	}
	clock := NewRealClock()
	for _, id := range c.ids {
		fs, dir := newFS(id)
		cfg := Config{ID: id, InitialMembers: c.ids, FS: fs, Dir: dir, Clock: clock,
			Rand: rand.New(rand.NewPCG(seed, id)), TickInterval: tickInterval, PebbleMemTableBytes: 4 << 20, PebbleCacheBytes: 1 << 20}
		for _, tweak := range tweaks {
			tweak(&cfg)
		}
		m, err := Open(cfg)
		require.NoError(t, err)
		c.members[id] = m
		c.start(id)
	}
	t.Cleanup(c.close)
	return c
}

func memFS(uint64) (vfs.FS, string) { return vfs.NewMem(), "member" }

// tempDirFS puts each member in its own directory under dir, on the real disk.
func tempDirFS(dir string) func(id uint64) (vfs.FS, string) {
	return func(id uint64) (vfs.FS, string) {
		return vfs.Default, filepath.Join(dir, fmt.Sprintf("member-%d", id))
	}
}

func (c *driverCluster) start(id uint64) {
	d, err := NewDriver(c.members[id], c.net.Endpoint(id), c.opts)
	require.NoError(c.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	c.drivers[id], c.cancels[id], c.results[id] = d, cancel, result
	c.net.Attach(d)
	go func() { result <- d.Run(ctx) }()
}

// stop cancels member id's driver and returns what Run returned.
func (c *driverCluster) stop(id uint64) error {
	c.cancels[id]()
	c.net.Detach(id)
	select {
	case err := <-c.results[id]:
		delete(c.results, id)
		return err
	case <-time.After(runWait):
		c.t.Fatalf("driver %d did not stop within %v", id, runWait)
		return nil
	}
}

func (c *driverCluster) close() {
	for _, id := range c.ids {
		if _, running := c.results[id]; running {
			require.NoError(c.t, c.stop(id))
		}
		if m := c.members[id]; m != nil {
			require.NoError(c.t, m.Close())
			c.members[id] = nil
		}
	}
}

func (c *driverCluster) running() []uint64 {
	var out []uint64
	for _, id := range c.ids {
		if _, ok := c.results[id]; ok {
			out = append(out, id)
		}
	}
	return out
}

// status reads member id's raft status on its driver goroutine.
func (c *driverCluster) status(id uint64) (raft.Status, error) {
	var st raft.Status
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	err := c.drivers[id].Inspect(ctx, func(m *Member) { st = m.Status() })
	return st, err
}

// leader waits until exactly one running member leads and every running member follows it.
// (Conditions of Eventually run on another goroutine: they report, never require.)
func (c *driverCluster) leader() uint64 {
	var leader uint64
	require.Eventually(c.t, func() bool {
		leader = 0
		for _, id := range c.running() {
			st, err := c.status(id)
			if err != nil {
				return false
			}
			if st.RaftState == raft.StateLeader {
				if leader != 0 {
					return false
				}
				leader = id
			}
		}
		if leader == 0 {
			return false
		}
		for _, id := range c.running() {
			if st, err := c.status(id); err != nil || st.Lead != leader {
				return false
			}
		}
		return true
	}, runWait, 10*time.Millisecond, "no agreed leader among %v", c.running())
	return leader
}

// retriable reports whether a request may be tried again: the cluster was electing, or the
// request timed out (a write's outcome is then unknown, and repeating it is harmless here
// because every key is written with one value only).
func retriable(err error) bool { return errors.Is(err, ErrNoLeader) || errors.Is(err, ErrTimeout) }

// callRetry repeats f while it fails with a retriable error; f's context bounds the tries
// (it fails with the context's error, which is not retriable).
func callRetry(f func() (Response, error)) (Response, error) {
	for {
		resp, err := f()
		if err == nil || !retriable(err) {
			return resp, err
		}
	}
}

// putRetry writes key=value through member id until it is acknowledged or ctx ends.
func (c *driverCluster) putRetry(ctx context.Context, id uint64, key, value string) error {
	_, err := callRetry(func() (Response, error) { return c.drivers[id].Submit(ctx, put(key, value)) })
	return err
}

// getRetry reads key linearizably through member id until the read is answered.
func (c *driverCluster) getRetry(ctx context.Context, id uint64, key string) (value string, found bool, err error) {
	resp, err := callRetry(func() (Response, error) { return c.drivers[id].Submit(ctx, get(key, false)) })
	if err != nil || len(resp.Range.Kvs) == 0 {
		return "", false, err
	}
	return string(resp.Range.Kvs[0].Value), true, nil
}

// requireSeen checks that a linearizable read of every acknowledged key through every given
// member returns the acknowledged value.
func (c *driverCluster) requireSeen(ctx context.Context, acked map[string]string, through []uint64) {
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, id := range through {
		for _, k := range keys {
			v, found, err := c.getRetry(ctx, id, k)
			require.NoError(c.t, err, "read %q through member %d", k, id)
			require.True(c.t, found, "acknowledged key %q missing on member %d", k, id)
			require.Equal(c.t, acked[k], v, "key %q on member %d", k, id)
		}
	}
}

// requireConverged waits until every running member has applied the same index, then checks
// that their stores hash alike at the same revision.
func (c *driverCluster) requireConverged() {
	type state struct {
		applied uint64
		rev     int64
		hash    uint32
	}
	// read runs on Eventually's goroutine and the driver's: it reports errors, never requires.
	read := func(id uint64) (state, error) {
		var s state
		var hashErr error
		ctx, cancel := context.WithTimeout(context.Background(), runWait)
		defer cancel()
		err := c.drivers[id].Inspect(ctx, func(m *Member) {
			s.applied, s.rev = m.AppliedIndex(), m.CurrentRevision()
			h, err := m.HashKV(s.rev)
			if err != nil {
				hashErr = err
				return
			}
			s.hash = h.Hash
		})
		return s, errors.Join(err, hashErr)
	}
	var lastErr error
	require.Eventually(c.t, func() bool {
		var first state
		for i, id := range c.running() {
			s, err := read(id)
			if err != nil {
				lastErr = err
				return false
			}
			if i == 0 {
				first = s
			} else if s != first {
				return false
			}
		}
		return true
	}, runWait, 10*time.Millisecond, "members did not converge on one applied index and hash")
	require.NoError(c.t, lastErr)
}

// requireNoDriverGoroutines waits until no goroutine but the caller's runs code of this
// package (drivers, transports, test clients): nothing leaked.
func requireNoDriverGoroutines(t testing.TB) {
	t.Helper()
	var leaked string
	self := make([]byte, 64)
	self = self[:runtime.Stack(self, false)]
	self = self[:strings.IndexByte(string(self), '[')] // "goroutine N "
	gone := func() bool {
		buf := make([]byte, 4<<20)
		stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
		leaked = ""
		// stacks[0] is the goroutine running this check; self is the test's.
		for _, s := range stacks[1:] {
			if !strings.HasPrefix(s, string(self)) && strings.Contains(s, "ballast/kv/node.") {
				leaked = s
				return false
			}
		}
		return true
	}
	if !assert.Eventually(t, gone, runWait, 10*time.Millisecond) {
		t.Fatalf("leaked goroutine:\n%s", leaked)
	}
}

// TestDriverConcurrentClients: 3 members on real disks, clients on many goroutines writing
// through any member; after each acknowledged write, a linearizable read through another
// member sees it, and in the end every acknowledged write is visible on every member and
// the stores agree.
func TestDriverConcurrentClients(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 3, seed, runTickInterval, tempDirFS(t.TempDir()))
	c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()

	const clients, writesPerClient = 8, 12
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		errs  = make([]error, clients)
		wg    sync.WaitGroup
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			for j := range writesPerClient {
				key, value := fmt.Sprintf("client-%d/%03d", i, j), fmt.Sprintf("v%d.%d", i, j)
				via := c.ids[rng.IntN(len(c.ids))]
				if err := c.putRetry(ctx, via, key, value); err != nil {
					errs[i] = fmt.Errorf("put %q through %d: %w", key, via, err)
					return
				}
				mu.Lock()
				acked[key] = value
				mu.Unlock()
				readVia := c.ids[rng.IntN(len(c.ids))]
				got, found, err := c.getRetry(ctx, readVia, key)
				if err != nil || !found || got != value {
					errs[i] = fmt.Errorf("read %q through %d after its write was acknowledged: %q found=%v err=%v, want %q", key, readVia, got, found, err, value)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, acked, clients*writesPerClient)
	c.requireSeen(ctx, acked, c.ids)
	c.requireConverged()

	var syncs uint64
	for _, id := range c.ids {
		syncs += c.drivers[id].Stats().Syncs
	}
	t.Logf("%d writes, %d fsyncs across the members", len(acked), syncs)
	c.close()
	requireNoDriverGoroutines(t)
}

// TestDriverLeaderChange: the leader's driver stops; the other two elect a leader and go on
// serving writes and linearizable reads with every earlier write; the old leader's member,
// driven again by a new driver, catches up.
func TestDriverLeaderChange(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 3, seed, runTickInterval, memFS)
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	old := c.leader()
	acked := map[string]string{}
	for i := range 5 {
		k, v := fmt.Sprintf("before/%d", i), fmt.Sprintf("b%d", i)
		require.NoError(t, c.putRetry(ctx, c.ids[i%3], k, v))
		acked[k] = v
	}

	require.NoError(t, c.stop(old), "a cancelled driver returns nil")
	survivors := c.running()
	require.Len(t, survivors, 2)
	for i := range 6 {
		k, v := fmt.Sprintf("after/%d", i), fmt.Sprintf("a%d", i)
		require.NoError(t, c.putRetry(ctx, survivors[i%2], k, v))
		acked[k] = v
	}
	newLeader := c.leader()
	require.NotEqual(t, old, newLeader)
	c.requireSeen(ctx, acked, survivors)

	// The stopped driver closed nothing: the member runs again under a new driver.
	c.start(old)
	c.requireSeen(ctx, acked, []uint64{old})
	c.requireConverged()
}

// TestDriverShutdownWithRequestsInFlight: writes that cannot commit (the leader's followers
// are stopped) wait on the leader; cancelling its driver fails every one of them with
// ErrStopped, later calls fail at once, and no goroutine is left behind.
func TestDriverShutdownWithRequestsInFlight(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 3, seed, runTickInterval, memFS)
	leader := c.leader()
	for _, id := range c.ids {
		if id != leader {
			require.NoError(t, c.stop(id))
		}
	}
	d := c.drivers[leader]

	const inFlight = 16
	errs := make(chan error, inFlight)
	for i := range inFlight {
		go func() {
			_, err := d.Submit(context.Background(), put(fmt.Sprintf("k%d", i), "v"))
			errs <- err
		}()
	}
	// Wait until the member holds all of them (none can commit without a quorum).
	waiting := func() int {
		n := -1
		if err := d.Inspect(context.Background(), func(m *Member) { n = len(m.requests.byID) }); err != nil {
			return -1
		}
		return n
	}
	require.Eventually(t, func() bool { return waiting() == inFlight }, runWait, 10*time.Millisecond)

	// A caller that gives up gets its context's error (the write's outcome is unknown).
	giveUp, cancelGiveUp := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := d.Submit(giveUp, put("given-up", "v"))
		gaveUp <- err
	}()
	require.Eventually(t, func() bool { return waiting() == inFlight+1 }, runWait, 10*time.Millisecond)
	cancelGiveUp()
	require.ErrorIs(t, <-gaveUp, context.Canceled)

	require.NoError(t, c.stop(leader))
	for range inFlight {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, ErrStopped)
		case <-time.After(runWait):
			t.Fatal("a request in flight did not return after its driver stopped")
		}
	}
	_, err := d.Submit(context.Background(), put("late", "v"))
	require.ErrorIs(t, err, ErrStopped, "a call after the driver stopped")
	require.False(t, d.Deliver([]byte{frameRaft}), "a message after the driver stopped is dropped")
	require.ErrorIs(t, d.Run(context.Background()), ErrDriverUsed)

	c.close()
	requireNoDriverGoroutines(t)
}

// TestDriverStopsOnStorageFailure: a storage failure inside the member stops the driver,
// which returns the error (wrapping ErrStorage) and fails the waiting calls.
func TestDriverStopsOnStorageFailure(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 1, seed, runTickInterval, memFS)
	leader := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	require.NoError(t, c.putRetry(ctx, leader, "k", "v"))

	d := c.drivers[leader]
	require.NoError(t, d.Inspect(ctx, func(m *Member) {
		_ = m.storageFailure(errors.New("injected: disk write failed"))
	}))
	select {
	case <-d.Stopped():
	case <-time.After(runWait):
		t.Fatal("driver kept running after a storage failure")
	}
	select {
	case err := <-c.results[leader]:
		delete(c.results, leader)
		require.ErrorIs(t, err, ErrStorage)
		require.ErrorContains(t, err, "injected: disk write failed")
	case <-time.After(runWait):
		t.Fatal("driver kept running after a storage failure")
	}
	_, err := d.Submit(ctx, put("k2", "v"))
	require.ErrorIs(t, err, ErrStopped)
}

// TestDriverInboxBounds: Deliver drops beyond the message and byte bounds of the inbox.
func TestDriverInboxBounds(t *testing.T) {
	m, err := Open(Config{ID: 1, InitialMembers: []uint64{1}, FS: vfs.NewMem(), Clock: NewRealClock(),
		Rand: rand.New(rand.NewPCG(1, 1)), PebbleMemTableBytes: 4 << 20, PebbleCacheBytes: 1 << 20})
	require.NoError(t, err)
	defer m.Close()

	tests := []struct {
		name      string
		opts      RunOptions
		sizes     []int
		delivered []bool
	}{
		{"messages", RunOptions{InboxMessagesMax: 2}, []int{1, 1, 1}, []bool{true, true, false}},
		{"bytes", RunOptions{InboxBytesMax: 10}, []int{6, 5, 4}, []bool{true, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDriver(m, NewLocalTransport().Endpoint(1), tc.opts)
			require.NoError(t, err)
			var got []bool
			for _, n := range tc.sizes {
				got = append(got, d.Deliver(make([]byte, n)))
			}
			require.Equal(t, tc.delivered, got)
			dropped := 0
			for _, ok := range tc.delivered {
				if !ok {
					dropped++
				}
			}
			require.Equal(t, uint64(dropped), d.Stats().MessagesDropped)
		})
	}
	_, err = NewDriver(m, NewLocalTransport().Endpoint(1), RunOptions{CallQueueMax: -1})
	require.ErrorContains(t, err, "must not be negative")
	_, err = NewDriver(nil, NewLocalTransport().Endpoint(1), RunOptions{})
	require.Error(t, err)
}

// TestDriverOverLinkCut: a leader cut off from both followers is replaced; the followers'
// new leader serves writes, and once the links are restored the old leader catches up.
func TestDriverOverLinkCut(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 3, seed, runTickInterval, memFS)
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	old := c.leader()
	var others []uint64
	for _, id := range c.ids {
		if id != old {
			others = append(others, id)
			c.net.Cut(old, id, true)
		}
	}
	require.NoError(t, c.putRetry(ctx, others[0], "during-cut", "x"))
	for _, id := range others {
		c.net.Cut(old, id, false)
	}
	require.Positive(t, c.net.Dropped())
	c.requireSeen(ctx, map[string]string{"during-cut": "x"}, c.ids)
	c.requireConverged()
}

// TestDriverLeaseCalls: a lease granted through one member is renewed, inspected and listed
// through every member's driver (a call made on a follower is forwarded to the leader).
func TestDriverLeaseCalls(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 3, seed, runTickInterval, memFS)
	leader := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	granted, err := callRetry(func() (Response, error) {
		return c.drivers[leader].Submit(ctx, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 30}})
	})
	require.NoError(t, err)
	id := granted.LeaseGrant.ID
	require.NotZero(t, id)
	for _, via := range c.ids {
		d := c.drivers[via]
		resp, err := callRetry(func() (Response, error) { return d.KeepAlive(ctx, id) })
		require.NoError(t, err, "keep-alive through %d", via)
		require.Equal(t, int64(30), resp.LeaseKeepAlive.TTL, "keep-alive through %d", via)
		resp, err = callRetry(func() (Response, error) { return d.TimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: id}) })
		require.NoError(t, err, "time-to-live through %d", via)
		require.Equal(t, int64(30), resp.LeaseTimeToLive.GrantedTTL, "time-to-live through %d", via)
		resp, err = callRetry(func() (Response, error) { return d.Leases(ctx) })
		require.NoError(t, err, "leases through %d", via)
		require.Len(t, resp.LeaseLeases.Leases, 1, "leases through %d", via)
		require.Equal(t, id, resp.LeaseLeases.Leases[0].ID)
	}
}

// TestDriverRefusesMalformedMessages: a malformed peer message is refused (counted in
// ReceiveErrors) and the driver goes on serving.
func TestDriverRefusesMalformedMessages(t *testing.T) {
	seed := runSeed(t)
	c := newDriverCluster(t, 1, seed, runTickInterval, memFS)
	leader := c.leader()
	d := c.drivers[leader]
	for _, data := range [][]byte{{}, {0xff}, {frameForward, 1, 2}, {frameRaft, 0xff, 0xff}} {
		require.True(t, d.Deliver(data))
	}
	require.Eventually(t, func() bool { return d.Stats().ReceiveErrors == 4 }, runWait, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	require.NoError(t, c.putRetry(ctx, leader, "after-garbage", "v"))
}
