// Package v3election is etcd's v3election gRPC service (v3electionpb.Election: Campaign,
// Proclaim, Leader, Observe, Resign) for Ballast: etcd v3.7.3's own server
// (server/etcdserver/api/v3election, election.go copied unchanged but for the import of
// the generated package), which runs clientv3's concurrency.Election through a client of
// the member itself, as etcd does through its in-process client. rpc/embed makes that
// client and registers the service and its gateway routes (/v3/election/campaign,
// /v3/election/proclaim, /v3/election/leader, /v3/election/observe, /v3/election/resign).
//
// The generated packages (v3electionpb, v3electionpb/gw) are copies of etcd v3.7.3's, for
// the reason rpc/v3lock gives.
//
// Imports: rpc/v3election/v3electionpb, and etcd's client (clientv3 and its concurrency
// package).
package v3election
