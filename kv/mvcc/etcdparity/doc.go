// Package etcdparity runs Ballast's kv/mvcc and etcd v3.7.3's own MVCC store
// (go.etcd.io/etcd/server/v3: storage/mvcc on bbolt, etcdserver/txn, lease) side by side on
// the same random operations and requires the same answers.
//
// It is a separate Go module so that etcd's server and its dependencies never enter
// Ballast's own module graph; run it with
//
//	cd kv/mvcc/etcdparity && go test ./...
//
// (SEED=N re-runs one seed; PARITY_RUNS and PARITY_OPS make runs longer).
//
// Imports: Ballast's kv/mvcc and kv/kvtest, and etcd's server packages; nothing imports it.
//
// Differences it tolerates, each a documented choice of kv/mvcc: the order of keys that tie
// on a sort target (etcd's sort is unstable; the compared sequence of sort-target values
// must still be identical), HashKV when no key is live at the hashed revision, and HashKV
// at a revision where etcd compacted (etcd answers from hashes it cached while compacting,
// computed with the previous compact revision, even below the current compact revision;
// Ballast always computes with the current one, and refuses revisions below it).
package etcdparity
