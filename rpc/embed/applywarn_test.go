package embed

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// TestWarningApplyDurationAndCompactionBatchLimit: with --warning-apply-duration=1ns a
// member logs etcd's "apply request took too long" for a put, with etcd's fields; with an
// hour it logs none. With --compaction-batch-limit=1 a physical compaction of 20 revisions
// of a key runs at least 20 store compaction steps; with the default (0: 1000) one or two.
func TestWarningApplyDurationAndCompactionBatchLimit(t *testing.T) {
	const revisions = 20
	for _, tc := range []struct {
		name       string
		warn       time.Duration
		batchLimit int
		warned     bool
		minSteps   uint64
		maxSteps   uint64
	}{
		{"tiny", time.Nanosecond, 1, true, revisions, 2 * revisions},
		{"large", time.Hour, 0, false, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := testCluster(t, 1)
			logs := &embedtest.LockedBuffer{}
			ms[0].cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			ms[0].cfg.WarningApplyDuration = tc.warn
			ms[0].cfg.CompactionBatchLimit = tc.batchLimit
			ms[0].start(t)
			waitReady(t, ms[0])
			c := testClient(t, ms[0].srv.ClientURLs()[0])
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var last int64
			for range revisions + 1 {
				resp, err := c.Put(ctx, "slow-key", "value")
				require.NoError(t, err)
				last = resp.Header.Revision
			}
			stepsOf := func() (n uint64) {
				require.NoError(t, ms[0].srv.driver.Inspect(ctx, func(m *node.Member) { n = m.CompactionSteps() }))
				return n
			}
			before := stepsOf()
			_, err := c.Compact(ctx, last, clientv3.WithCompactPhysical())
			require.NoError(t, err)
			steps := stepsOf() - before
			require.GreaterOrEqual(t, steps, tc.minSteps, "store compaction steps")
			require.LessOrEqual(t, steps, tc.maxSteps, "store compaction steps")

			var warning map[string]any
			sc := bufio.NewScanner(strings.NewReader(logs.String()))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var line map[string]any
				require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
				if line["msg"] == "apply request took too long" && strings.Contains(line["request"].(string), "slow-key") {
					warning = line
					break
				}
			}
			if !tc.warned {
				require.Nil(t, warning, "no warning under an hour")
				return
			}
			require.NotNil(t, warning, "the put's apply is logged:\n%s", logs.String())
			require.Equal(t, "WARN", warning["level"])
			require.Equal(t, "1ns", warning["expected-duration"])
			took, err := time.ParseDuration(warning["took"].(string))
			require.NoError(t, err)
			require.Positive(t, took)
			require.Contains(t, warning, "prefix")
			require.Contains(t, warning["request"], "value_size:5", "values redacted as etcd does")
			require.Regexp(t, `^size:\d+$`, warning["response"])
		})
	}
}
