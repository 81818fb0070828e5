// Package watch serves etcd's watch guarantees over kv/mvcc: catch-up from history, live
// fan-out in revision order, cancel and progress notifications. Delivery is driven by the
// caller, never by a goroutine of its own.
//
// Imports: kv/mvcc; nothing of Ballast's outside kv.
package watch
