// Package roundtrip tests snapshots between Ballast and etcd v3.7.3 as processes, both
// ways: `etcdctl snapshot save` against a Ballast cluster, `etcdutl snapshot status` and
// `etcdutl snapshot restore` on the file, etcd v3.7.3 started on the restored data dir and
// compared with the Ballast cluster key by key (revisions, versions, leases, HashKV); and a
// snapshot saved from a real etcd restored by `ballast snapshot restore` and served by
// Ballast. The lease bucket of Ballast's file is decoded with etcd's own leasepb here,
// because this wrapper module is the one that has etcd's server module in its graph.
//
// Ballast is built from the repository root (`go build ./cmd/ballast`) and run as a
// process, so nothing of Ballast enters this module's graph (which must stay etcd's, for the
// binaries it builds). It needs .bin/etcd-v3.7.3, etcdctl-v3.7.3 and etcdutl-v3.7.3 (make
// etcd-tools); with CI=true a missing one fails the test naming it.
//
// Imports: etcd's client, server (leasepb) and bbolt, in tests only; nothing imports it.
package roundtrip
