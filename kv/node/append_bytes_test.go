package node

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/kv/wire"
	"github.com/ballastdb/ballast/raft"
)

// TestMaxAppendBytes: a follower that fell behind by 20 entries gets them in one append with
// the default bound, and one entry per append with MaxAppendBytes 1 (the simulator's Figure 8
// scenario relies on that to let a follower hold old entries without a new leader's own).
func TestMaxAppendBytes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		bytes      uint64
		wantMost   func(int) bool
		wantString string
	}{
		{"default", 0, func(n int) bool { return n > 1 }, "more than one entry"},
		{"one byte", 1, func(n int) bool { return n == 1 }, "exactly one entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterWith(t, 3, func(cfg *Config) { cfg.MaxAppendBytes = tc.bytes })
			leader := c.leader()
			behind := c.followers(leader)[0]
			c.isolate(behind, true)
			for i := range 20 {
				_, err := c.do(leader, put("k", fmt.Sprint(i)))
				require.NoError(t, err)
			}
			most := 0
			var codec wire.Codec
			c.mangle = func(qs []queued) []queued {
				for _, q := range qs {
					if q.from != leader || q.env.To != behind {
						continue
					}
					kind, body, err := decodeFrame(q.env.Data)
					require.NoError(t, err)
					if kind != frameRaft {
						continue
					}
					msg, err := codec.Decode(body)
					require.NoError(t, err)
					if msg.Type == raft.MsgApp {
						most = max(most, len(msg.Entries))
					}
				}
				return qs
			}
			c.isolate(behind, false)
			for range 5 { // heartbeats find the follower behind
				c.tick()
				c.stabilize()
			}
			c.requireConsistent()
			require.True(t, tc.wantMost(most), "the largest append to the lagging follower carried %d entries, want %s", most, tc.wantString)
		})
	}
}
