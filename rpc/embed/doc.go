// Package embed assembles one Ballast member from its parts, as etcd's server/embed does for
// etcd: the bootstrap of the member (a new cluster from --initial-cluster, a join of an
// existing one through a peer, or a restart from the data dir), its kv/node member and
// production Driver, the peer transport (rpc/peer) on the peer URLs, and on the client URLs
// the etcd v3 gRPC services (package rpc) with HTTP /health beside them. cmd/ballast parses
// etcd's flags into a Config and calls Start; tests start members in-process the same way.
//
// Imports: rpc, rpc/peer, kv/node (and kv packages they need), raft; never sim or chaos.
//
// # Bootstrap (cluster.go, bootstrap.go)
//
// IDs are etcd's: a founding member's ID is the SHA-1 of its sorted peer URLs and the cluster
// token (MemberID), the cluster ID the SHA-1 of the sorted founding IDs (ClusterID), so every
// member computes the same configuration from the same flags, and the values equal the ones
// etcd prints for the same flags. The checks and their messages are etcd's VerifyBootstrap
// and VerifyJoinExisting. A data dir that holds a member is a restart: the --initial-* flags
// are ignored (as etcd does) and the member resumes with the ID and cluster ID on disk.
//
// # One port for gRPC and HTTP (mux.go)
//
// Each client listener is split by the first bytes of every connection, as etcd's insecure
// client port is (cmux there): a connection that opens with HTTP/2's client preface goes to
// the grpc.Server's own transport, any other to the net/http server (/health, HTTP/1.1).
// Chosen over one net/http server with h2c routing on content-type because gRPC then runs on
// its own HTTP/2 transport (grpc-go's ServeHTTP is experimental, slower, and lacks some of
// its flow control), which the benchmarks against etcd will measure, and because it routes
// exactly as etcd does. The cost: an HTTP/2 client that is not gRPC reaches the gRPC server,
// as with etcd. TLS (the security issue) will route by ALPN instead.
//
// # Goroutines
//
// Start's goroutines are the Driver's Run, the peer transport's Serve per peer listener, the
// HTTP server's Serve per client listener, and the publisher of the member's attributes.
// Stop ends them all (hand off leadership, stop the driver, close listeners and transport,
// close the member) and waits for them.
package embed
