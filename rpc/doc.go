// Package rpc is the network: etcd's v3 gRPC services (KV, Watch, Lease, Cluster,
// Maintenance) over kv/node, and the peer transport that carries raft messages.
//
// Imports: kv and raft; never sim or chaos.
package rpc
