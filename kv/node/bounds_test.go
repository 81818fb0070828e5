package node

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestWaitingRequestsAreBounded: a leader cut off from its followers keeps its writes, reads
// and lease calls waiting; with MaxWaitingRequests of them waiting, the next is answered at
// once with etcd's "too many requests" and never proposed, the waiting ones are answered
// (timeout) as before, and once the table drains the member takes requests again.
func TestWaitingRequestsAreBounded(t *testing.T) {
	const limit = 4
	for _, tc := range []struct {
		name  string
		start func(c *testCluster, id uint64, done Done)
	}{
		{"write", func(c *testCluster, id uint64, done Done) { c.members[id].Submit(put("k", "v"), done) }},
		{"linearizable read", func(c *testCluster, id uint64, done Done) { c.members[id].Submit(get("k", false), done) }},
		{"lease keep-alive", func(c *testCluster, id uint64, done Done) { c.members[id].KeepAlive(7, done) }},
		{"lease time-to-live", func(c *testCluster, id uint64, done Done) {
			c.members[id].TimeToLive(&pb.LeaseTimeToLiveRequest{ID: 7}, done)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterWith(t, 3, func(cfg *Config) { cfg.MaxWaitingRequests = limit })
			leader := c.leader()
			for _, f := range c.followers(leader) {
				c.isolate(f, true)
			}
			lastBefore := c.members[leader].rn.Status().Commit
			var waiting []*result
			for range limit {
				r := &result{}
				tc.start(c, leader, func(resp Response, err error) { r.done, r.resp, r.err = true, resp, err })
				require.False(t, r.done, "a request within the limit waits")
				waiting = append(waiting, r)
			}
			over := &result{}
			tc.start(c, leader, func(resp Response, err error) { over.done, over.resp, over.err = true, resp, err })
			require.True(t, over.done, "the request over the limit is answered at once")
			require.ErrorIs(t, over.err, ErrTooManyRequests)
			require.EqualError(t, over.err, "etcdserver: too many requests")

			for i := 0; !allDone(waiting); i++ {
				require.Less(t, i, 1000, "the waiting requests were never answered")
				c.tick()
			}
			for _, r := range waiting {
				require.ErrorIs(t, r.err, rpctypes.ErrTimeout)
			}
			// Nothing was committed while cut off (the refused request was not proposed either).
			require.Equal(t, lastBefore, c.members[leader].rn.Status().Commit)

			for _, f := range c.followers(leader) {
				c.isolate(f, false)
			}
			c.stabilize()
			_, err := c.do(c.leader(), put("after", "drained"))
			require.NoError(t, err, "once the table drained the member takes requests again")
		})
	}
}

// TestServedLeaseCallsAreBounded: the leader serves at most MaxWaitingRequests lease calls for
// other members; a call beyond it goes back to the asker as "too many requests" over the
// wire, and the asker's client gets that error (not a timeout).
func TestServedLeaseCallsAreBounded(t *testing.T) {
	c := newClusterWith(t, 3, func(cfg *Config) { cfg.MaxWaitingRequests = 2 })
	leader := c.leader()
	m := c.members[leader]
	// Fill the leader's served calls by hand, as calls from a follower whose ReadIndex rounds
	// have not been confirmed yet.
	asker := c.followers(leader)[0]
	for i := range 2 {
		m.serveLeaseCall(asker, uint64(1000+i), leaseCall{op: leaseOpKeepAlive, leaseID: 7})
	}
	require.Len(t, m.lease.serving, 2)
	m.outbox = nil
	m.serveLeaseCall(asker, 2000, leaseCall{op: leaseOpKeepAlive, leaseID: 7})
	require.Len(t, m.lease.serving, 2, "the call over the limit is not served")
	require.Len(t, m.outbox, 1, "it is answered")
	env := m.outbox[0]
	require.Equal(t, asker, env.To)
	kind, body, err := decodeFrame(env.Data)
	require.NoError(t, err)
	require.Equal(t, frameLeaseAnswer, kind)
	reqID, op, _, answerErr, err := decodeLeaseAnswer(body)
	require.NoError(t, err)
	require.Equal(t, uint64(2000), reqID)
	require.Equal(t, leaseOpKeepAlive, op)
	require.ErrorIs(t, answerErr, ErrTooManyRequests)
}

func allDone(rs []*result) bool {
	for _, r := range rs {
		if !r.done {
			return false
		}
	}
	return true
}

func TestMaxWaitingRequestsConfig(t *testing.T) {
	c := newCluster(t, 1)
	cfg := c.config(1)
	cfg.MaxWaitingRequests = -1
	_, err := cfg.withDefaults()
	require.ErrorContains(t, err, fmt.Sprintf("MaxWaitingRequests %d: want at least 1", -1))
	cfg.MaxWaitingRequests = 0
	got, err := cfg.withDefaults()
	require.NoError(t, err)
	require.Equal(t, DefaultMaxWaitingRequests, got.MaxWaitingRequests)
}

// Negative cache sizes are refused by name; the sizes reach Pebble's options as given.
func TestCacheSizesConfig(t *testing.T) {
	c := newCluster(t, 1)
	for _, tc := range []struct {
		name string
		set  func(*Config)
	}{
		{"PebbleCacheBytes (-1)", func(cfg *Config) { cfg.PebbleCacheBytes = -1 }},
		{"LogCacheEntries (-1)", func(cfg *Config) { cfg.LogCacheEntries = -1 }},
	} {
		cfg := c.config(1)
		tc.set(&cfg)
		_, err := cfg.withDefaults()
		require.ErrorIs(t, err, errConfig, tc.name)
		require.ErrorContains(t, err, tc.name)
	}
	cfg := c.config(1)
	cfg.PebbleMemTableBytes, cfg.PebbleCacheBytes = 64<<10, 32<<10
	opts := pebbleOptions(cfg, &corruptionWatch{}, newPebbleFatal())
	require.Equal(t, uint64(64<<10), opts.MemTableSize)
	require.Equal(t, int64(32<<10), opts.CacheSize)
	opts.EnsureDefaults()
	require.NotEqual(t, block.NoCompression, opts.Levels[0].Compression(), "Pebble's default compresses")
	cfg.PebbleUncompressed = true
	opts = pebbleOptions(cfg, &corruptionWatch{}, newPebbleFatal())
	opts.EnsureDefaults()
	for i := range opts.Levels {
		require.Equal(t, block.NoCompression, opts.Levels[i].Compression(), "level %d", i)
	}
}
