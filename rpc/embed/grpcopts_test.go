package embed

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMaxConcurrentStreams: with --max-concurrent-streams 1, a connection whose one stream is
// an open watch cannot start a call until the watch ends (HTTP/2's stream limit, as etcd's).
func TestMaxConcurrentStreams(t *testing.T) {
	ms := testCluster(t, 1)
	ms[0].cfg.MaxConcurrentStreams = 1
	ms[0].start(t)
	waitReady(t, ms[0])
	c := testClient(t, ms[0].srv.ClientURLs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Put(ctx, "before", "1")
	require.NoError(t, err, "one call at a time passes")

	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := c.Watch(wctx, "w", clientv3.WithCreatedNotify())
	require.True(t, (<-wch).Created, "the watch stream is open")
	pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = c.Put(pctx, "during", "1")
	pcancel()
	require.True(t, errors.Is(err, context.DeadlineExceeded), "a second stream waits for the first: %v", err)

	wcancel()
	for range wch { // the watch closes
	}
	require.Eventually(t, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		_, err := c.Put(pctx, "after", "1")
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "once the watch ended, calls pass again")
}

// TestGRPCKeepAliveIntervalAndTimeout: with --grpc-keepalive-interval and -timeout short, the
// server pings an idle connection and closes it when no answer comes in time: a raw HTTP/2
// connection that opens and then never answers a PING is closed within a second. With etcd's
// defaults (2h, 20s) the same connection stays open.
func TestGRPCKeepAliveIntervalAndTimeout(t *testing.T) {
	for _, tc := range []struct {
		name             string
		interval, expire time.Duration
		closed           bool
	}{
		{"short", 100 * time.Millisecond, 100 * time.Millisecond, true},
		{"etcd's defaults", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := testCluster(t, 1)
			ms[0].cfg.GRPCKeepAliveInterval, ms[0].cfg.GRPCKeepAliveTimeout = tc.interval, tc.expire
			ms[0].start(t)
			waitReady(t, ms[0])
			conn, err := net.Dial("tcp", strings.TrimPrefix(ms[0].srv.ClientURLs()[0], "http://"))
			require.NoError(t, err)
			defer conn.Close()
			// HTTP/2's client preface and an empty SETTINGS frame; then silence.
			_, err = conn.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0))
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(1500*time.Millisecond)))
			buf := make([]byte, 4096)
			for {
				_, err = conn.Read(buf)
				if err != nil {
					break
				}
			}
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			require.Equal(t, tc.closed, !timedOut, "closed by the server: %v", err)
		})
	}
}
