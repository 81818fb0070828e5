// Package embedtest is test support shared by the packages whose tests start members on
// loopback (rpc, rpc/embed, cmd/ballast): one way to reserve ports, so the three suites do
// not each carry a copy.
//
// Imports: the standard library and testify only; only tests import it.
package embedtest

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// FreePorts reserves n loopback ports: it listens on 127.0.0.1:0 n times, notes the ports
// and closes the listeners, so members started next can bind them. Another process could
// take one in between; on the test machine nothing else binds loopback ports.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		require.NoError(t, ln.Close())
	}
	return ports
}
