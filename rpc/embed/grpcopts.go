package embed

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// grpcTuning is etcd's --max-concurrent-streams and --grpc-keepalive-* as gRPC server
// options (etcd's v3rpc.Server does the same). They come after rpc.ServerOptions, whose
// values (etcd's defaults) they replace: gRPC keeps the last of each.
func grpcTuning(c Config) []grpc.ServerOption {
	params := keepalive.ServerParameters{Time: c.GRPCKeepAliveInterval, Timeout: c.GRPCKeepAliveTimeout}
	if params.Time < 0 || params.Timeout < 0 {
		// etcd's 0 for either: etcd then passes no keepalive parameters, so gRPC's own
		// defaults apply (a ping after 2h idle, 20s to answer).
		params = keepalive.ServerParameters{Time: 2 * time.Hour, Timeout: 20 * time.Second}
	}
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(c.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: c.GRPCKeepAliveMinTime, PermitWithoutStream: false}),
		grpc.KeepaliveParams(params),
	}
}
