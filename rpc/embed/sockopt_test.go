//go:build unix

package embed

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSocketReusePort: with --socket-reuse-port the member's client port can be bound again
// by another SO_REUSEPORT socket (what the flag is for: a second process taking over the
// port); without it the second bind fails. (--socket-reuse-address sets SO_REUSEADDR, which
// Go already sets on every listening socket on Unix: the member binds with it either way.)
func TestSocketReusePort(t *testing.T) {
	for _, reuse := range []bool{true, false} {
		ms := testCluster(t, 1)
		ms[0].cfg.SocketReusePort, ms[0].cfg.SocketReuseAddress = reuse, reuse
		ms[0].start(t)
		waitReady(t, ms[0])
		addr := strings.TrimPrefix(ms[0].srv.ClientURLs()[0], "http://")
		lc := net.ListenConfig{Control: socketControl(true, false)}
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if reuse {
			require.NoError(t, err, "SO_REUSEPORT on both sockets: the port binds twice")
			require.NoError(t, ln.Close())
		} else {
			require.Error(t, err, "without --socket-reuse-port the port is the member's alone")
		}
		ms[0].srv.Stop()
	}
}
