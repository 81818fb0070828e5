// Command etcd is etcd v3.7.3's server, for comparing Ballast with the real thing on
// loopback (what etcdctl prints against each, in cmd/ballast's etcdctl tests).
//
// etcd publishes no installable main for its server: the etcd binary's main package lives in
// etcd's repository root module, whose go.mod carries replace directives, so
// `go install go.etcd.io/etcd/v3@v3.7.3` is refused. The server module exports the whole
// program as etcdmain.Main, which this calls with the command line unchanged.
//
// Imports: etcd's server only; nothing imports it. Build it with `make etcd-tools` from the
// repository root (into .bin/etcd-v3.7.3).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
