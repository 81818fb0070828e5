package embed

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLogfMilestones: kv/node's snapshot lines are logged as etcd's "applied snapshot" and
// "sending database snapshot" with etcd's field names; other lines pass through. The
// formats matched are kv/node's own (checked in its source, so a rewording there fails here).
func TestLogfMilestones(t *testing.T) {
	var buf bytes.Buffer
	a := logfAdapter{slog.New(slog.NewJSONHandler(&buf, nil))}
	a.Logf("member %d: installed a snapshot at index %d (term %d)", uint64(255), uint64(40), uint64(3))
	a.Logf("member %d: sending a snapshot at index %d (term %d) to member %d", uint64(255), uint64(40), uint64(3), uint64(16))
	a.Logf("member %d: leader is now %d (was %d)", uint64(1), uint64(2), uint64(0))
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		delete(m, "time")
		delete(m, "level")
		lines = append(lines, m)
	}
	require.Equal(t, []map[string]any{
		{"msg": "applied snapshot", "local-member-id": "ff", "incoming-leader-snapshot-index": 40.0, "incoming-leader-snapshot-term": 3.0},
		{"msg": "sending database snapshot", "local-member-id": "ff", "snapshot-index": 40.0, "snapshot-term": 3.0, "remote-peer-id": "10"},
		{"msg": "member 1: leader is now 2 (was 0)"},
	}, lines)
	var src bytes.Buffer
	for _, f := range []string{"../../kv/node/snapshot_stage.go", "../../kv/node/snapshot.go", "../../kv/node/work.go"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		src.Write(b)
	}
	for _, format := range []string{`"member %d: "+format`, `"installed a snapshot at index %d (term %d)"`, `"sending a snapshot at index %d (term %d) to member %d"`} {
		require.Contains(t, src.String(), format, "kv/node's format")
	}
}
