package embed

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// TestCompareHashes: etcd's InitialCheck verdicts. A peer with another hash at the same
// compact revision is a data inconsistency (the member does not start); another compact
// revision, a peer behind, ahead or unreachable are warnings only.
func TestCompareHashes(t *testing.T) {
	local := &pb.HashKVResponse{Hash: 7, HashRevision: 10, CompactRevision: 3}
	answer := func(hash uint32, compact int64) peerHash {
		return peerHash{id: 0xb, resp: &pb.HashKVResponse{Header: &pb.ResponseHeader{Revision: 10}, Hash: hash, CompactRevision: compact}}
	}
	failed := func(msg string) peerHash { return peerHash{id: 0xb, err: errors.New(msg)} }
	for _, tc := range []struct {
		name  string
		peers []peerHash
		want  string // the error, "" none
		log   string
	}{
		{"no peers", nil, "", "initial corruption checking passed; no corruption"},
		{"same hash", []peerHash{answer(7, 3)}, "", "initial corruption checking passed; no corruption"},
		{"another hash", []peerHash{answer(7, 3), answer(8, 3)}, "a found data inconsistency with peers", "found different hash values from remote peer"},
		{"another compact revision", []peerHash{answer(8, 4)}, "", "found different compact revision values from remote peer"},
		{"peer behind", []peerHash{failed("peer: remote: mvcc: required revision is a future revision")}, "", "cannot fetch hash from slow remote peer"},
		{"peer compacted", []peerHash{failed("peer: remote: mvcc: required revision has been compacted")}, "", "cannot fetch hash from remote peer; local member is behind"},
		{"peer down", []peerHash{failed("peer: call embed.HashKV to member b: connection refused")}, "", "cannot fetch hash from remote peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs embedtest.LockedBuffer
			err := compareHashes(slog.New(slog.NewJSONHandler(&logs, nil)), 0xa, local, tc.peers)
			if tc.want == "" {
				require.NoError(t, err)
			} else {
				require.EqualError(t, err, tc.want)
			}
			require.Contains(t, logs.String(), `"msg":"`+tc.log+`"`)
		})
	}
}

// TestInitialCorruptCheck: three members with --feature-gates=InitialCorruptCheck=true start
// (each asks the others for their hash over the peer transport) and take writes; m2 and m3
// stopped and m3 restarted, m3 compares its hash with m1's at its revision (m1 answers, the
// same), warns that m2 cannot answer, and passes before it serves again.
func TestInitialCorruptCheck(t *testing.T) {
	ms := testCluster(t, 3)
	logs := make([]*embedtest.LockedBuffer, len(ms))
	for i, m := range ms {
		m.cfg.InitialCorruptCheck = true
		logs[i] = &embedtest.LockedBuffer{}
		m.cfg.Logger = slog.New(slog.NewJSONHandler(logs[i], nil))
	}
	// each Start waits for its check, which asks members not started yet: start them together
	errs := make(chan error, len(ms))
	for _, m := range ms {
		go func() {
			srv, err := Start(context.Background(), m.cfg)
			m.srv = srv
			errs <- err
		}()
	}
	for range ms {
		require.NoError(t, <-errs)
	}
	waitReady(t, ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := testClient(t, ms[0].srv.ClientURLs()...)
	for _, k := range []string{"a", "b", "c"} {
		_, err := c.Put(ctx, k, "v")
		require.NoError(t, err)
	}
	_, err := testClient(t, ms[2].srv.ClientURLs()...).Get(ctx, "c") // linearizable: m3 has applied the writes
	require.NoError(t, err)

	// m2 and m3 stopped, m3 restarted: m1 answers with the same hash, m2 cannot answer
	m2 := hexID(ms[1].srv.ID())
	ms[1].srv.Stop()
	ms[2].srv.Stop()
	before := len(logs[2].String())
	ms[2].start(t)
	waitReady(t, ms[2])
	restart := logs[2].String()[before:]
	require.Contains(t, restart, `"msg":"starting initial corruption check"`)
	require.Contains(t, restart, `"msg":"initial corruption checking passed; no corruption"`)
	var unanswered []string
	for _, line := range strings.Split(restart, "\n") {
		if strings.Contains(line, "cannot fetch hash") {
			unanswered = append(unanswered, line)
		}
	}
	require.Len(t, unanswered, 1, "m1 answered, m2 did not")
	require.Contains(t, unanswered[0], `"remote-peer-id":"`+m2+`"`)
	require.Less(t, strings.Index(restart, "initial corruption checking passed"), strings.Index(restart, "serving client traffic"),
		"the check comes before serving")
}
