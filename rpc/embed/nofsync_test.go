package embed

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUnsafeNoFsync: with --unsafe-no-fsync the member serves writes (and reads them back
// after a restart from a clean stop, whose files the OS still has) while none of its files
// is synced: ballast_disk_fsyncs_skipped_total grows with the writes. Without the flag the
// counter is not exported.
func TestUnsafeNoFsync(t *testing.T) {
	ms := testCluster(t, 1)
	ms[0].cfg.UnsafeNoFsync = true
	ms[0].start(t)
	waitReady(t, ms[0])
	base := ms[0].srv.ClientURLs()[0]
	c := testClient(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := value(scrapeMetrics(t, base), "ballast_disk_fsyncs_skipped_total", nil)
	for range 5 {
		_, err := c.Put(ctx, "k", "v")
		require.NoError(t, err)
	}
	after := value(scrapeMetrics(t, base), "ballast_disk_fsyncs_skipped_total", nil)
	require.GreaterOrEqual(t, after-before, 5.0, "each write's WAL sync skipped")
	ms[0].srv.Stop()
	ms[0].start(t)
	waitReady(t, ms[0])
	c2 := testClient(t, ms[0].srv.ClientURLs()[0])
	resp, err := c2.Get(ctx, "k")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1, "a clean stop keeps the writes (the OS has them)")

	plain := testCluster(t, 1)
	plain[0].start(t)
	waitReady(t, plain[0])
	_, exported := scrapeMetrics(t, plain[0].srv.ClientURLs()[0])["ballast_disk_fsyncs_skipped_total"]
	require.False(t, exported)
}
