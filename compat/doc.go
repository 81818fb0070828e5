// Package compat is differential testing of Ballast against etcd v3.7.3 itself, over the
// wire: a three-member etcd (the .bin/etcd-v3.7.3 processes, on loopback ports chosen free)
// and a three-member Ballast (in this process, through rpc/embed, with the same flags) get
// the same seeded random sequence of calls, one at a time, through clientv3's connections
// and etcd's generated gRPC stubs, and every response is compared field by field as a
// whole protobuf (see ignored.go for the one list of fields that may differ, each with its
// reason, and the intended differences with the issue that chose them).
//
// It is a separate Go module (replace github.com/ballastdb/ballast => ../) so that nothing it
// needs enters Ballast's own module graph and `go test ./...` at the root does not reach it;
// the Makefile runs it: `make compat` long, `make test` a CI-sized share.
//
//	cd compat && go test -run TestCompat -seed 7 -calls 2000   # one sequence
//	SEED=7 COMPAT_CALLS=2000 go test -run TestCompat           # the same through the environment
//	COMPAT_SEEDS=5 go test -run TestCompat                     # several seeds, each on fresh clusters
//
// Each seed runs on two pairs of clusters (cluster.go's clusterConfig): one with simple
// tokens over http, one with --auth-token jwt (RS256, keys made in the test) and https with
// --client-cert-auth (a CA and certificates made in the test). The calls are made by no
// one, by password users (clientv3 logging in), by certificate users (cert:NAME, the CN is
// the user; only in the second pair) and by token users (token:NAME: the token the user's
// last Authenticate of the sequence got, sent as is even once stale, so that "revision of
// auth store is old" and "invalid auth token" are compared; token:bogus one no server
// made). Tokens differ by design: ignored.go's shapedFields compares what they say.
//
// Leases in the sequences have TTLs of an hour or more and end only by Revoke (expiry happens
// at different instants on two clusters); after the sequences, a 3 s lease left alone must
// expire on both, not before its TTL and within 2 s of each other (expiry_test.go).
//
// Then etcdctl v3.7.3 (.bin/etcdctl-v3.7.3) runs the same command lines against both
// (etcdctl_test.go: version; put and its options; get with its options, consistencies and
// output formats, -w protobuf decoded; del; txn and txn -i; watch, bounded; lease grant,
// timetolive, keep-alive (bounded and --once), list and revoke; lock and elect; endpoint
// health, status and hashkv (-w table, json, fields); alarm list and disarm; defrag;
// users, roles and auth (enable, as users with and without permissions, disable);
// snapshot save with etcdutl snapshot status on the file; make-mirror, bounded;
// compaction; and, last, as they change the cluster, move-leader and member list, add,
// update, promote and remove; refused ones of each) and their outputs are compared after
// normalising only IDs, URLs and timings (and the endpoint status fields ignored.go
// ignores in StatusResponse, the snapshot file's size and bbolt hash). What is not run, and
// why, is listed at etcdctlCommands.
//
// A difference fails the test with the seed, the index of the first call that differs, the
// call, both responses and the differing field's path, and the command that re-runs it.
//
// Imports: Ballast's rpc/embed (and embedtest), etcd's api and client/v3; never etcd's
// server (etcd runs as a process).
package compat
