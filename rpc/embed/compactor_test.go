package embed

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestAutoCompaction: --auto-compaction-mode revision compacts to the current revision minus
// the retention (revision 11 - 3 = 8 after ten writes; its interval shortened from etcd's 5
// minutes); periodic with a 1s retention compacts, once a second has passed, to the revision
// of a second ago. Compacted revisions then answer etcd's ErrCompacted; the later ones serve.
func TestAutoCompaction(t *testing.T) {
	for _, tc := range []struct {
		mode, retention string
		compacted       int64 // a revision that must end up compacted
		kept            int64 // and one that must still serve (0: not checked)
	}{
		{CompactionModeRevision, "3", 7, 8},
		{CompactionModePeriodic, "1s", 2, 0},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ms := testCluster(t, 1)
			ms[0].cfg.AutoCompactionMode, ms[0].cfg.AutoCompactionRetention = tc.mode, tc.retention
			ms[0].cfg.autoCompactionRevisionInterval = 100 * time.Millisecond
			ms[0].start(t)
			waitReady(t, ms[0])
			c := testClient(t, ms[0].srv.ClientURLs()...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := range 10 {
				_, err := c.Put(ctx, fmt.Sprintf("k%d", i), "v")
				require.NoError(t, err)
			}
			require.Eventually(t, func() bool {
				_, err := c.Get(ctx, "k0", clientv3.WithRev(tc.compacted))
				return err != nil && err.Error() == "etcdserver: mvcc: required revision has been compacted"
			}, 15*time.Second, 50*time.Millisecond, "revision %d compacted", tc.compacted)
			if tc.kept > 0 {
				_, err := c.Get(ctx, "k0", clientv3.WithRev(tc.kept))
				require.NoError(t, err, "revision %d is kept", tc.kept)
			}
		})
	}
}
