package embed

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
)

// DefaultWarningUnaryRequestDuration is etcd's --warning-unary-request-duration.
const DefaultWarningUnaryRequestDuration = 300 * time.Millisecond

// requestStats is etcd's unary request log (v3rpc's logUnaryRequestStats): a call slower
// than warn is logged as a warning "request stats", every call at debug level, with etcd's
// field names. The request's content is not logged (etcd logs it with values redacted; the
// sizes say how big it was).
func requestStats(lg *slog.Logger, warn time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		spent := time.Since(start)
		level := slog.LevelDebug
		if spent > warn {
			level = slog.LevelWarn
		}
		if !lg.Enabled(ctx, level) {
			return resp, err
		}
		remote := "No remote client info."
		if p, ok := peer.FromContext(ctx); ok {
			remote = p.Addr.String()
		}
		reqSize, respSize := -1, -1
		if m, ok := req.(proto.Message); ok {
			reqSize = proto.Size(m)
		}
		if m, ok := resp.(proto.Message); ok && err == nil {
			respSize = proto.Size(m)
		}
		lg.Log(ctx, level, "request stats", "start time", start.UTC().Format(time.RFC3339Nano), "time spent", spent.String(),
			"remote", remote, "response type", info.FullMethod, "request size", reqSize, "response size", respSize)
		return resp, err
	}
}
