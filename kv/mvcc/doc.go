// Package mvcc is etcd's multi-version key-value data model on Pebble: revisions
// (main, sub), Range, Put, DeleteRange, Txn, Compact and HashKV.
//
// Imports: Pebble and etcd's API types; nothing of Ballast's outside kv.
package mvcc
