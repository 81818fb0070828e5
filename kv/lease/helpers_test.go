package lease

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// manualClock is a Clock tests move by hand.
type manualClock struct{ now time.Duration }

func (c *manualClock) Now() time.Duration      { return c.now }
func (c *manualClock) advance(d time.Duration) { c.now += d }
func (c *manualClock) set(t time.Duration)     { c.now = t }

// counterIDs is an IDSource that counts up from 1.
type counterIDs struct{ next uint64 }

func (c *counterIDs) Uint64() uint64 { c.next++; return c.next }

// quietLogger keeps Pebble's informational logs out of test output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf("pebble fatal: "+format, args...))
}

// openDB opens a small Pebble DB in directory "db" of fs.
func openDB(t testing.TB, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, MemTableSize: 1 << 20, CacheSize: 1 << 20, Logger: quietLogger{}})
	require.NoError(t, err)
	return db
}

// testConfig is a Config with round numbers: 5 s minimum TTL, 10 s checkpoint interval,
// no drift.
func testConfig(clock Clock) Config {
	return Config{
		Clock:                clock,
		IDs:                  &counterIDs{},
		MinTTLSeconds:        5,
		CheckpointInterval:   10 * time.Second,
		ExpiredRetryInterval: 3 * time.Second,
		ClearRetryInterval:   2 * time.Second,
	}
}

// member is one lessor on its own DB, as kv/node would hold it.
type member struct {
	t     testing.TB
	fs    vfs.FS
	db    *pebble.DB
	clock *manualClock
	cfg   Config
	l     *Lessor
}

func newMember(t testing.TB, cfg Config) *member {
	t.Helper()
	clock, ok := cfg.Clock.(*manualClock)
	require.True(t, ok, "tests use a manualClock")
	m := &member{t: t, fs: vfs.NewMem(), clock: clock, cfg: cfg}
	m.db = openDB(t, m.fs)
	t.Cleanup(func() { _ = m.db.Close() })
	m.open()
	return m
}

func (m *member) open() {
	m.t.Helper()
	b := m.db.NewBatch()
	l, err := Open(m.db, b, m.cfg)
	require.NoError(m.t, err)
	require.NoError(m.t, b.Commit(pebble.Sync))
	m.l = l
}

// restart closes the DB and opens it and the lessor again from the same filesystem.
func (m *member) restart() {
	m.t.Helper()
	require.NoError(m.t, m.db.Close())
	m.db = openDB(m.t, m.fs)
	m.open()
}

// batch runs fn on a fresh batch and commits it if fn succeeded.
func (m *member) batch(fn func(b *pebble.Batch) error) error {
	b := m.db.NewBatch()
	defer b.Close()
	if err := fn(b); err != nil {
		return err
	}
	require.NoError(m.t, b.Commit(pebble.Sync))
	return nil
}

func (m *member) grant(id, ttl int64) (Granted, error) {
	cmd, err := m.l.PrepareGrant(id, ttl)
	if err != nil {
		return Granted{}, err
	}
	var g Granted
	err = m.batch(func(b *pebble.Batch) error {
		var err error
		g, err = m.l.ApplyGrant(b, cmd)
		return err
	})
	return g, err
}

func (m *member) mustGrant(id, ttl int64) {
	m.t.Helper()
	_, err := m.grant(id, ttl)
	require.NoError(m.t, err)
}

func (m *member) revoke(id int64) ([][]byte, error) {
	var keys [][]byte
	err := m.batch(func(b *pebble.Batch) error {
		var err error
		keys, err = m.l.ApplyRevoke(b, id)
		return err
	})
	return keys, err
}

func (m *member) applyCheckpoint(cp Checkpoint) error {
	return m.batch(func(b *pebble.Batch) error { return m.l.ApplyCheckpoint(b, cp) })
}

func (m *member) mustApplyCheckpoints(cps ...Checkpoint) {
	m.t.Helper()
	for _, cp := range cps {
		require.NoError(m.t, m.applyCheckpoint(cp))
	}
}

// keepAliveThroughLog runs the caller's side of a keep-alive: propose and apply the clear
// if asked, then ask again. It returns the TTL answered.
func (m *member) keepAliveThroughLog(id int64) int64 {
	m.t.Helper()
	for range 3 {
		res, err := m.l.KeepAlive(id)
		require.NoError(m.t, err)
		switch res.Action {
		case AnswerNow:
			return res.TTLSeconds
		case ProposeClear:
			m.mustApplyCheckpoints(res.Clear)
		default:
			m.t.Fatalf("keep-alive of lease %d: unexpected %v", id, res.Action)
		}
	}
	m.t.Fatalf("keep-alive of lease %d never answered", id)
	return 0
}

// storedRecord reads a lease's record straight from the DB.
func (m *member) storedRecord(id int64) (record, bool) {
	m.t.Helper()
	value, closer, err := m.db.Get(leaseKey(id))
	if err == pebble.ErrNotFound {
		return record{}, false
	}
	require.NoError(m.t, err)
	defer closer.Close()
	rec, err := decodeRecord(leaseKey(id), value)
	require.NoError(m.t, err)
	return rec, true
}

func (m *member) check() { m.l.checkInvariants() }

// testSeed returns the seed of a randomized test: $SEED if set (to re-run a failure), else
// a fresh one. It logs the seed, so every run can be reproduced.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	if s := os.Getenv("SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "SEED=%q", s)
		t.Logf("seed %d (from SEED)", seed)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (re-run with SEED=%d)", seed, seed)
	return seed
}

// requireEtcdError checks that err carries exactly etcd's text: the gRPC status message of
// an etcd error, or the text of any other error.
func requireEtcdError(t require.TestingT, err error, text string, msgAndArgs ...interface{}) {
	require.Error(t, err, msgAndArgs...)
	require.Equal(t, text, rpctypes.ErrorDesc(err), msgAndArgs...)
}
