//go:build unix

package embed

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// socketControl sets etcd's --socket-reuse-port (SO_REUSEPORT) and --socket-reuse-address
// (SO_REUSEADDR) on a listener's socket before it binds, as etcd's transport does.
func socketControl(reusePort, reuseAddress bool) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if reusePort {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
			if serr == nil && reuseAddress {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
