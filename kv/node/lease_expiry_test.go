package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// expiryCluster is a 3-member cluster whose members record their OnLeaseExpired reports.
func expiryCluster(t *testing.T) (*testCluster, map[uint64][]LeaseExpiry) {
	reports := map[uint64][]LeaseExpiry{}
	c := newTweakedCluster(t, 3, func(cfg *Config) {
		id := cfg.ID
		cfg.OnLeaseExpired = func(e LeaseExpiry) { reports[id] = append(reports[id], e) }
	})
	return c, reports
}

// tickUntil ticks until cond holds, failing after limit of (manual) time.
func (c *testCluster) tickUntil(limit time.Duration, what string, cond func() bool) {
	start := c.clock.now
	for !cond() {
		require.Less(c.t, c.clock.now-start, limit, "%s did not happen within %v", what, limit)
		c.tick()
	}
}

// Every member reports the expiry of a lease once, with the revision at which the revoke
// deleted the lease's keys (one revision for all of them) and the entry's index; a lease
// without keys reports the store's revision then, unchanged; client revokes are never
// reported, whether of a lease with keys or without.
func TestLeaseExpiryReported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		keys   []string
		revoke bool // a client revokes the lease before it expires
	}{
		{name: "expiry with keys", keys: []string{"a", "b"}},
		{name: "expiry without keys"},
		{name: "client revoke with keys", keys: []string{"a", "b"}, revoke: true},
		{name: "client revoke without keys", revoke: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, reports := expiryCluster(t)
			leader := c.leader()
			follower := c.followers(leader)[0]
			id := c.grant(follower, 2)
			for _, k := range tc.keys {
				_, err := c.do(follower, putLeased(k, id))
				require.NoError(t, err)
			}
			// an unrelated write so the store's revision is not the lease's alone
			_, err := c.do(leader, put("other", "v"))
			require.NoError(t, err)
			before := c.members[leader].CurrentRevision()
			want := before
			if len(tc.keys) > 0 {
				want = before + 1
			}
			if tc.revoke {
				rv, err := c.do(follower, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}})
				require.NoError(t, err)
				require.Equal(t, want, rv.LeaseRevoke.Header.Revision)
			}
			gone := func() bool {
				for _, mid := range c.ids {
					if _, err := c.members[mid].lessor.TimeToLive(id, false); err == nil {
						return false
					}
				}
				return true
			}
			c.tickUntil(10*time.Second, "the lease's end", gone)
			for range 30 { // 3 s more: no second report, no report of a retried revoke
				c.tick()
			}
			for _, mid := range c.ids {
				require.Equal(t, want, c.members[mid].CurrentRevision(), "member %d", mid)
				for _, k := range tc.keys {
					_, _, ok := c.localValue(mid, k)
					require.False(t, ok, "member %d still has %s", mid, k)
				}
				if tc.revoke {
					require.Empty(t, reports[mid], "member %d reported a client's revoke as an expiry", mid)
					continue
				}
				require.Len(t, reports[mid], 1, "member %d: one report of the expiry", mid)
				e := reports[mid][0]
				require.Equal(t, id, e.ID, "member %d", mid)
				require.Equal(t, want, e.Revision, "member %d: the revision the revoke created (or the store's, without keys)", mid)
				require.Equal(t, reports[leader][0].Index, e.Index, "member %d: the same entry on every member", mid)
				require.Greater(t, e.Index, uint64(0))
			}
			c.requireConsistent()
		})
	}
}

// A member that crashes after applying an expiry, before its applied state was synced,
// applies the entry again after its restart and reports it again: the same lease, revision
// and index (a driver keeps the first report per lease and index).
func TestLeaseExpiryReportedAgainAfterReapply(t *testing.T) {
	c, reports := expiryCluster(t)
	leader := c.leader()
	follower := c.followers(leader)[0]
	id := c.grant(leader, 2)
	_, err := c.do(leader, putLeased("k", id))
	require.NoError(t, err)
	// The follower's syncs wait for the test, which confirms each until the follower reports
	// the expiry: nothing synced its apply then (an apply is committed unsynced, and a Ready
	// with nothing but a new commit index asks for no sync).
	c.holdSync[follower] = true
	c.tickUntil(10*time.Second, "the expiry on the follower", func() bool {
		if len(reports[follower]) > 0 {
			return true
		}
		if _, ok := c.held[follower]; ok {
			c.releaseSync(follower)
		}
		return false
	})
	first := reports[follower][0]
	c.holdSync[follower] = false
	c.crash(follower) // power loss: the applied state since the last sync is gone
	c.tickUntil(5*time.Second, "the expiry re-applied", func() bool { return len(reports[follower]) > 1 })
	require.Equal(t, []LeaseExpiry{first, first}, reports[follower], "a re-applied expiry is reported as it was the first time")
	_, _, ok := c.localValue(follower, "k")
	require.False(t, ok)
	require.Len(t, reports[leader], 1)
	c.requireConsistent()
}

// Only the primary proposes expiry entries: one forwarded by a peer (a client dressing a
// revoke up as an expiry) is refused and neither revokes the lease nor is reported.
func TestForwardedExpiryRefused(t *testing.T) {
	c, reports := expiryCluster(t)
	leader := c.leader()
	id := c.grant(leader, 60)
	applied := c.members[leader].AppliedIndex()
	data, err := encodeExpiryEntry(id, c.members[leader].newRequestID())
	require.NoError(t, err)
	require.ErrorIs(t, c.members[leader].Receive(encodeForwardFrame(data)), errFrame)
	c.stabilize()
	require.Equal(t, applied, c.members[leader].AppliedIndex())
	require.Empty(t, reports)
	_, err = c.keepAlive(leader, id)
	require.NoError(t, err, "the lease is still alive")
}

// Expiry entries round-trip; malformed ones are refused with errEntry.
func TestExpiryEntryEncoding(t *testing.T) {
	data, err := encodeExpiryEntry(42, 7)
	require.NoError(t, err)
	dec, err := decodeEntry(data)
	require.NoError(t, err)
	require.Nil(t, dec.request, "an expiry is not a client request")
	require.Equal(t, int64(42), dec.expiry.LeaseRevoke.ID)
	require.Equal(t, uint64(7), dec.expiry.Header.ID)

	notRevoke, err := marshalDeterministic.MarshalAppend([]byte{entryExpiry}, put("k", "v"))
	require.NoError(t, err)
	both, err := marshalDeterministic.MarshalAppend([]byte{entryExpiry},
		&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}, Put: &pb.PutRequest{Key: []byte("k")}})
	require.NoError(t, err)
	for name, data := range map[string][]byte{
		"garbage":    {entryExpiry, 0xff, 0xff},
		"a put":      notRevoke,
		"two kinds":  both,
		"empty body": {entryExpiry},
	} {
		_, err := decodeEntry(data)
		require.ErrorIs(t, err, errEntry, name)
		require.ErrorContains(t, err, "expiry", name)
	}
}
