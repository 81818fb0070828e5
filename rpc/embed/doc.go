// Package embed assembles one Ballast member from its parts, as etcd's server/embed does for
// etcd: the bootstrap of the member (a new cluster from --initial-cluster, a join of an
// existing one through a peer, or a restart from the data dir), its kv/node member and
// production Driver, the peer transport (rpc/peer) on the peer URLs, and on the client URLs
// the etcd v3 gRPC services (package rpc; and etcd's v3lock and v3election services,
// rpc/v3lock and rpc/v3election, over a client of the member itself: concurrency.go) with
// etcd's HTTP surface beside them (http.go:
// /health, /livez, /readyz, /version, /metrics, /debug/pprof; and --listen-metrics-urls),
// the member's Prometheus metrics under etcd's names (metrics.go), and etcd's OpenTelemetry
// tracing of the client gRPC calls, exported over OTLP gRPC (tracing.go). cmd/ballast parses
// etcd's flags into a Config and calls Start; tests start members in-process the same way.
//
// Imports: rpc, rpc/peer, rpc/v3lock, rpc/v3election, kv/node (and kv packages they need),
// raft, and OpenTelemetry's SDK, OTLP exporter and otelgrpc (tracing.go only); never sim or
// chaos.
//
// # API
//
//	srv, err := embed.Start(ctx, embed.Config{Name: "m1", DataDir: "m1.etcd", ...}) // listening
//	<-srv.ReadyNotify()      // published through raft, serving clients
//	err := <-srv.Err()       // fatal: removed from the cluster (node.ErrRemoved), storage
//	srv.Stop()               // graceful: leadership handed off, everything closed
//	srv.ID(), srv.ClusterID(), srv.ClientURLs(), srv.PeerURLs()
//
// Config.Validate runs etcd's checks of the flags without starting anything (cmd/ballast
// calls it to refuse a command line before touching the disk).
//
// # Bootstrap (cluster.go, bootstrap.go, meta.go, discovery.go, srv.go)
//
// A new cluster's founders come from --initial-cluster, from etcd's v3 discovery service
// (Config.Discovery: the members register under /_etcd/registry/<token>/ of an etcd-API
// cluster and wait for its _config/size; discovery.go) or from DNS SRV records
// (Config.DiscoverySRV; srv.go), as etcd's.
//
// IDs are etcd's: a founding member's ID is the SHA-1 of its sorted peer URLs and the cluster
// token (MemberID), the cluster ID the SHA-1 of the sorted founding IDs (ClusterID), so every
// member computes the same configuration from the same flags, and the values equal the ones
// etcd prints for the same flags. The checks and their messages are etcd's VerifyBootstrap
// and VerifyJoinExisting. A data dir that holds a member is a restart: the --initial-* flags
// are ignored (as etcd does) and the member resumes with the ID and cluster ID on disk.
//
// The decision is written before the database is first created, to data-dir/member/
// ballast.json (member ID, cluster ID, founders, or for a joined member the members it
// fetched): etcd keeps its IDs in its WAL's metadata; kv/node's database does not record its
// own ID, so this file is what makes a restart ignore the flags. A crash between the file and
// the database bootstraps again from the same decision. A database without the file is
// refused (never guessed). kv/node refuses a database whose stored cluster ID differs from the
// file's, naming both: a data dir of another cluster. Layout:
//
//	data-dir/member/ballast.json   the identity (JSON, written atomically)
//	data-dir/member/db/            the member's Pebble DB (raft log, store, member table)
//	--wal-dir (when given)         Pebble's write-ahead log, recorded in ballast.json: a
//	                               restart naming another WAL dir is refused
//
// A joining member (state existing) asks the other members listed in --initial-cluster, one
// after another, for the member list (peer.Fetch of "embed.Members", answered from the
// driver's member table), until one has applied the member add that named it (bounded by 10
// election timeouts), and takes the ID member add chose for its peer URLs (etcd's
// ValidateClusterAndAssignIDs). Until the leader's log teaches it the member table, its
// transport reaches the others by the fetched URLs (etcd's "remotes").
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
// Start's goroutines are the Driver's Run (started before rpc.New, which reads the member's
// status through it), the peer transport's Serve per peer listener, the peer prober (and a
// goroutine per probe of a round, probe.go), the metrics poller and
// an HTTP server per metrics listener, the publisher of the member's attributes, and, once
// it published, per client listener the splitter, the gRPC
// server and the HTTP server.
// Stop ends them all (hand off leadership, stop the driver, close listeners and transport,
// close the member) and waits for them.
package embed
