// Package v3lockpb is etcd v3.7.3's generated v3lockpb (server/etcdserver/api/v3lock/v3lockpb:
// the messages and the gRPC service of v3lock.proto), copied unchanged; see rpc/v3lock for
// why it is a copy.
//
// Imports: nothing of Ballast's; etcd's API types, protobuf and gRPC.
package v3lockpb
