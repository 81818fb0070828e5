package lease

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func TestRestartKeepsLeasesAndCheckpoints(t *testing.T) {
	clock := &manualClock{}
	m := newMember(t, testConfig(clock))
	m.l.Promote(1)
	m.mustGrant(1, 60)
	m.mustGrant(2, 120)
	m.mustGrant(3, 30)
	clock.advance(10 * time.Second)
	cps := m.l.Checkpoints(10)
	require.Len(t, cps, 3)
	m.mustApplyCheckpoints(cps[0], cps[1]) // leases 1 and 2; lease 3's is lost
	_, err := m.revoke(2)
	require.NoError(t, err)

	clock.advance(5 * time.Second)
	m.restart()
	require.False(t, m.l.IsPrimary(), "a reopened lessor is a follower")
	require.Equal(t, []int64{1, 3}, m.l.Leases())
	for _, want := range []TimeToLive{
		{ID: 1, GrantedTTL: 60, RemainingTTL: 50}, // checkpointed 50 s, counted from the reopen
		{ID: 3, GrantedTTL: 30, RemainingTTL: 30}, // never checkpointed: full TTL
	} {
		got, err := m.l.TimeToLive(want.ID, false)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	clock.advance(20 * time.Second)
	m.l.Promote(2)
	require.Equal(t, 15*time.Second+50*time.Second, m.l.leases[1].deadline)
	require.Equal(t, 35*time.Second+30*time.Second, m.l.leases[3].deadline)
	m.check()
}

func TestOpenChecksTheFormat(t *testing.T) {
	cfg := testConfig(&manualClock{})
	for _, tc := range []struct {
		name    string
		setup   func(b *pebble.Batch)
		nilW    bool
		wantErr string
	}{
		{name: "new store", setup: func(*pebble.Batch) {}},
		{name: "new store without a batch", setup: func(*pebble.Batch) {}, nilW: true,
			wantErr: "lease: new store needs a batch to write format version 1 into"},
		{name: "other prefixes are not ours", setup: func(b *pebble.Batch) { _ = b.Set([]byte("mvcc/x"), []byte("y"), nil) }},
		{name: "unknown version", setup: func(b *pebble.Batch) { _ = b.Set(formatKey, encodeUvarint(2), nil) },
			wantErr: "lease: stored format version 2 is unknown (this build reads 1): refusing to open"},
		{name: "malformed version", setup: func(b *pebble.Batch) { _ = b.Set(formatKey, []byte{0x80}, nil) },
			wantErr: `lease: malformed format version 80 under "lease/format"`},
		{name: "leases without a version", setup: func(b *pebble.Batch) {
			_ = b.Set(leaseKey(1), record{id: 1, ttlSeconds: 5}.encode(), nil)
		}, wantErr: `lease: keys under "lease/" but no format version: refusing to open`},
		{name: "malformed record", setup: func(b *pebble.Batch) {
			_ = b.Set(formatKey, encodeUvarint(FormatVersion), nil)
			_ = b.Set(leaseKey(1), []byte{0x05}, nil)
		}, wantErr: "lease: record of lease 1 has a malformed remaining TTL"},
		{name: "record with trailing bytes", setup: func(b *pebble.Batch) {
			_ = b.Set(formatKey, encodeUvarint(FormatVersion), nil)
			_ = b.Set(leaseKey(1), append(record{id: 1, ttlSeconds: 5}.encode(), 0), nil)
		}, wantErr: "lease: record of lease 1 has a malformed remaining TTL"},
		{name: "record without a TTL", setup: func(b *pebble.Batch) {
			_ = b.Set(formatKey, encodeUvarint(FormatVersion), nil)
			_ = b.Set(leaseKey(1), nil, nil)
		}, wantErr: "lease: record of lease 1 has a malformed TTL"},
		{name: "record out of range", setup: func(b *pebble.Batch) {
			_ = b.Set(formatKey, encodeUvarint(FormatVersion), nil)
			_ = b.Set(leaseKey(1), record{id: 1, ttlSeconds: 5, remaining: 6 * time.Second}.encode(), nil)
		}, wantErr: "lease: record of lease 1 is out of range (TTL 5s, remaining 6s)"},
		{name: "record with TTL 0", setup: func(b *pebble.Batch) {
			_ = b.Set(formatKey, encodeUvarint(FormatVersion), nil)
			_ = b.Set(leaseKey(2), record{id: 2, ttlSeconds: 0}.encode(), nil)
		}, wantErr: "lease: record of lease 2 is out of range (TTL 0s, remaining 0s)"},
		{name: "malformed key", setup: func(b *pebble.Batch) {
			_ = b.Set(formatKey, encodeUvarint(FormatVersion), nil)
			_ = b.Set([]byte("lease/id/x"), record{id: 1, ttlSeconds: 5}.encode(), nil)
		}, wantErr: `lease: malformed lease key "lease/id/x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, vfs.NewMem())
			defer db.Close()
			b := db.NewBatch()
			tc.setup(b)
			require.NoError(t, b.Commit(pebble.Sync))
			w := db.NewBatch()
			defer w.Close()
			if tc.nilW {
				w = nil
			}
			l, err := Open(db, w, cfg)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.Nil(t, l)
				return
			}
			require.NoError(t, err)
			require.NoError(t, w.Commit(pebble.Sync))
			version, ok, err := readFormat(db)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, FormatVersion, version)
		})
	}
}

func TestConfigValidation(t *testing.T) {
	clock := &manualClock{}
	valid := testConfig(clock)
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "defaults", mutate: func(c *Config) {
			c.CheckpointInterval, c.ExpiredRetryInterval, c.ClearRetryInterval = 0, 0, 0
		}},
		{name: "no clock", mutate: func(c *Config) { c.Clock = nil }, wantErr: "lease: config has no Clock"},
		{name: "zero minimum TTL", mutate: func(c *Config) { c.MinTTLSeconds = 0 }, wantErr: "lease: MinTTLSeconds 0 is outside [1, 9000000000]"},
		{name: "negative drift", mutate: func(c *Config) { c.MaxDriftRate = -0.1 }, wantErr: "lease: MaxDriftRate -0.1 is outside [0, 1)"},
		{name: "drift of 1", mutate: func(c *Config) { c.MaxDriftRate = 1 }, wantErr: "lease: MaxDriftRate 1 is outside [0, 1)"},
		{name: "negative interval", mutate: func(c *Config) { c.CheckpointInterval = -time.Second }, wantErr: "lease: CheckpointInterval -1s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			db := openDB(t, vfs.NewMem())
			defer db.Close()
			w := db.NewBatch()
			defer w.Close()
			l, err := Open(db, w, cfg)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Positive(t, l.cfg.CheckpointInterval)
			require.Positive(t, l.cfg.ExpiredRetryInterval)
			require.Positive(t, l.cfg.ClearRetryInterval)
		})
	}
}

func TestMinTTLSecondsForElection(t *testing.T) {
	require.Equal(t, int64(2), MinTTLSecondsForElection(time.Second))          // etcd's default 1 s election timeout
	require.Equal(t, int64(8), MinTTLSecondsForElection(5*time.Second))        // 7.5 s rounded up
	require.Equal(t, int64(1), MinTTLSecondsForElection(100*time.Millisecond)) // 0.15 s rounded up
}

func TestRestartRaisesTTLsToANewMinimum(t *testing.T) {
	clock := &manualClock{}
	cfg := testConfig(clock) // minimum 5 s
	m := newMember(t, cfg)
	m.mustGrant(1, 5)
	m.mustGrant(2, 60)
	m.cfg.MinTTLSeconds = 10
	m.restart()
	for id, want := range map[int64]int64{1: 10, 2: 60} {
		ttl, err := m.l.TimeToLive(id, false)
		require.NoError(t, err)
		require.Equal(t, want, ttl.GrantedTTL, "lease %d", id)
	}
	m.check()
}
