// Package lease is etcd's lease model: grant, revoke, keep-alive, TTL and attached keys,
// with expiry decided by one party from an injected clock and checkpointed through the log.
//
// Imports: kv/mvcc; nothing of Ballast's outside kv.
package lease
