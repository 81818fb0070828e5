package node

import (
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/kv/faultfs"
)

// faultCluster is a testCluster whose members' disks are kv/faultfs wrappers over their
// crashable in-memory FS (a new wrapper over each restart's clone).
func faultCluster(t *testing.T, n int) (*testCluster, map[uint64]*faultfs.FS) {
	fss := map[uint64]*faultfs.FS{}
	c := newClusterWith(t, n, func(cfg *Config) {
		fss[cfg.ID] = faultfs.New(cfg.FS.(*vfs.MemFS))
		cfg.FS = fss[cfg.ID]
	})
	return c, fss
}

// A disk fault on the WAL during the member's sync stops the member for good: the sync is
// not retried, the Ready is not acknowledged, the waiting write fails, and a restart recovers
// exactly what the last good sync made durable.
func TestDiskFaultStopsMember(t *testing.T) {
	for _, k := range []faultfs.Fault{faultfs.SyncError, faultfs.WriteError, faultfs.ShortWrite} {
		t.Run(k.String(), func(t *testing.T) {
			c, fss := faultCluster(t, 1)
			id := c.leader()
			_, err := c.do(id, put("a", "1"))
			require.NoError(t, err)
			m := c.members[id]
			synced, err := m.log.LastIndex()
			require.NoError(t, err)
			hs := m.log.HardState()

			c.holdSync[id] = true
			r := c.submit(id, put("b", "2"))
			c.work()
			tok, ok := c.held[id]
			require.True(t, ok, "the write waits for its sync")
			written, err := m.log.LastIndex()
			require.NoError(t, err)
			require.Greater(t, written, synced, "the entry is written, not yet synced")

			fss[id].Arm(k)
			fss[id].BeginStep()
			msgs, err := m.Synced(tok)
			require.Equal(t, k, fss[id].EndStep(), "the fault reached Pebble's WAL")
			require.ErrorIs(t, err, ErrStorage)
			require.Empty(t, msgs)
			require.ErrorIs(t, m.Stopped(), ErrStorage)
			require.True(t, r.done)
			require.ErrorIs(t, r.err, ErrStopped, "the write is not acknowledged")
			_, err = m.Synced(tok)
			require.ErrorIs(t, err, ErrStorage, "the sync is never retried")
			_, err = m.Work()
			require.ErrorIs(t, err, ErrStorage, "the member stays stopped")

			c.crash(id)
			m = c.members[id]
			last, err := m.log.LastIndex()
			require.NoError(t, err)
			require.Equal(t, synced, last, "only what was synced survives")
			got := m.log.HardState()
			require.Equal(t, hs.Term, got.Term)
			require.Equal(t, hs.Vote, got.Vote)
			require.LessOrEqual(t, got.Commit, synced, "no commit of the unsynced entry")
			delete(c.holdSync, id)
			_, err = c.do(c.leader(), put("c", "3"))
			require.NoError(t, err, "the restarted member serves")
			v, _, found := c.localValue(id, "a")
			require.True(t, found, "the synced write survives")
			require.Equal(t, "1", v)
			_, _, found = c.localValue(id, "b")
			require.False(t, found, "the write whose sync failed does not")
		})
	}
}

// Pebble's Fatalf on one of its own goroutines records the failure and parks that goroutine
// until the member is discarded; the member stops at its next step, the process goes on.
func TestPebbleFatalParksBackgroundGoroutine(t *testing.T) {
	c := newCluster(t, 1)
	id := c.leader()
	m := c.members[id]
	returned, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		pebbleLogger{m.fatal}.Fatalf("MANIFEST sync failed: %s", "disk gone")
		close(returned)
	}()
	require.Eventually(t, func() bool { return m.fatal.get() != nil }, 10*time.Second, time.Millisecond,
		"Fatalf on a Pebble goroutine never recorded the failure")
	_, err := m.Work()
	require.ErrorIs(t, err, ErrStorage)
	require.ErrorContains(t, err, "pebble fatal: MANIFEST sync failed: disk gone")
	require.ErrorIs(t, m.Stopped(), ErrStorage)
	select {
	case <-exited:
		t.Fatal("the goroutine that called Fatalf went on")
	case <-time.After(20 * time.Millisecond):
	}
	require.Error(t, m.Close(), "Close reports the failure and leaves the DB alone")
	<-exited
	select {
	case <-returned:
		t.Fatal("Fatalf returned")
	default:
	}
	c.members[id] = nil
}

// On the member's own goroutine Fatalf cannot park: its panic is recovered by the step into
// the storage failure that stops the member; other panics pass through.
func TestPebbleFatalOnMemberGoroutineStopsMember(t *testing.T) {
	c := newCluster(t, 1)
	m := c.members[c.leader()]
	require.PanicsWithValue(t, "not pebble", func() {
		var err error
		defer m.recoverFatal(&err)
		panic("not pebble")
	})
	require.NoError(t, m.Stopped())
	err := func() (err error) {
		defer m.recoverFatal(&err)
		pebbleLogger{m.fatal}.Fatalf("fatal commit error: %v", errors.New("wal refused"))
		return nil
	}()
	require.ErrorIs(t, err, ErrStorage)
	require.ErrorContains(t, err, "wal refused")
	require.ErrorIs(t, m.Stopped(), ErrStorage)
}
