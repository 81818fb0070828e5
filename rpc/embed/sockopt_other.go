//go:build !unix

package embed

import (
	"errors"
	"syscall"
)

// socketControl: the socket options are Unix ones.
func socketControl(reusePort, reuseAddress bool) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error {
		return errors.New("--socket-reuse-port and --socket-reuse-address need a Unix system")
	}
}
