//go:build !linux

package embed

import "errors"

// mlockAll is --memory-mlock, built on Linux only.
func mlockAll() error {
	return errors.New("--memory-mlock is supported on Linux only")
}
