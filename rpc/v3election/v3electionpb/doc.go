// Package v3electionpb is etcd v3.7.3's generated v3electionpb
// (server/etcdserver/api/v3election/v3electionpb: the messages and the gRPC service of
// v3election.proto), copied unchanged; see rpc/v3lock for why it is a copy.
//
// Imports: nothing of Ballast's; etcd's API types, protobuf and gRPC.
package v3electionpb
