// Package rpc is the client side of the network: etcd's v3 gRPC services (KV, Watch, Lease,
// Cluster, Maintenance, Auth) over one member's kv/node Driver, with etcd's limits, interceptors,
// response headers and exact error codes and messages, so etcdctl, the Go clientv3 and other
// etcd clients work unchanged. The peer transport that carries raft messages between members
// is rpc/peer; rpc/embed assembles one member (storage, transport, these services, listeners).
//
// Imports: kv and raft (and rpc's own subpackages); never sim or chaos.
//
// # Shape
//
//	srv := grpc.NewServer(rpc.ServerOptions(rpc.Limits{MaxRequestBytes: n})...)
//	svc := rpc.Register(srv, rpc.Config{Driver: d, Forward: transport, ...})
//	defer svc.Close()
//
// Every call goes to the member through the Driver's bounded channels (node.Driver is safe
// for concurrent use); nothing here touches the member's state directly. Response headers get
// cluster ID, member ID and raft term from a status view the services refresh every
// StatusInterval (etcd reads its atomics; a view a few milliseconds old changes no client's
// decision: the header's term and member are informational, the revision comes from the
// store with the answer).
//
// # Errors
//
// Errors leave as etcd's gRPC status errors (api/v3/v3rpc/rpctypes), found by errors.Is in
// the chain the member returned, because clientv3 decides retries and failover from the exact
// code and message: a wrapped error whose message differs from etcd's would not be recognised.
// A write that timed out after the leader changed answers etcd's "request timed out,
// possibly due to previous leader failure" (the member cannot know whether it applied).
//
// # Membership calls on a follower
//
// kv/node makes membership changes and leadership transfers on the leader only. MemberAdd,
// MemberRemove, MemberUpdate and MemberPromote on a follower are forwarded to the leader over
// the peer transport (Config.Forward, method name and protobuf request), where
// HandleForward runs the same handler; the leader's answer (or etcd error) comes back
// unchanged. A forwarded call is never forwarded again (a stale leader answers "not leader"
// and the client retries), so calls cannot loop between members with different views.
//
// # Leader requirement (clientv3.WithRequireLeader)
//
// Requests whose metadata carry hasleader=true fail with "etcdserver: no leader" when the
// member knows no leader; such streams (Kubernetes' watches) are cancelled with that error
// once the member has had no leader for three election timeouts, as etcd's monitorLeader
// does.
//
// # Not here yet
//
// Downgrade (answered Unimplemented with what is missing) and JWT tokens (--auth-token jwt is
// refused at start). etcd's Auth service, the caller's identity and the API-layer permission
// checks are auth.go. Maintenance.Snapshot streams an
// etcd-format bbolt file (kv/snapshot); the backend quota and its self-clearing NOSPACE
// alarm are quota.go.
package rpc
