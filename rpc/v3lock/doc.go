// Package v3lock is etcd's v3lock gRPC service (v3lockpb.Lock: Lock, Unlock) for Ballast:
// etcd v3.7.3's own server (server/etcdserver/api/v3lock, lock.go copied unchanged but for
// the import path), which takes a lock with clientv3's concurrency.Mutex through a client of
// the member itself, as etcd does through its in-process client. rpc/embed makes that
// client (to the member's own client listener) and registers the service and its gateway
// routes (/v3/lock/lock, /v3/lock/unlock).
//
// The generated packages are copied too (v3lockpb, v3lockpb/gw: etcd v3.7.3's, unchanged
// but for the import path), rather than imported from go.etcd.io/etcd/server/v3: etcd's
// server module and its dependencies stay out of Ballast's module graph (as
// kv/mvcc/etcdparity explains). The wire names are etcd's (service v3lockpb.Lock, proto
// file v3lock.proto), so etcd's clients and jetcd's Lock client call it unchanged.
//
// Imports: rpc/v3lock/v3lockpb, and etcd's client (clientv3 and its concurrency package).
package v3lock
