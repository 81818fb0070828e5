//go:build tools

package main

// The suites this module pins (go.mod): nothing builds this file; it keeps go mod tidy from
// dropping go.etcd.io/etcd/tests/v3, whose test packages main compiles with go test -c.
import (
	_ "go.etcd.io/etcd/tests/v3/common"
	_ "go.etcd.io/etcd/tests/v3/e2e"
)
