package embed

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ballastdb/ballast/rpc"
	"github.com/ballastdb/ballast/rpc/v3election"
	"github.com/ballastdb/ballast/rpc/v3election/v3electionpb"
	"github.com/ballastdb/ballast/rpc/v3lock"
	"github.com/ballastdb/ballast/rpc/v3lock/v3lockpb"
)

// This file serves etcd's v3lock and v3election gRPC services (and, in gateway.go, their
// JSON routes) as etcd does: etcd's own servers (rpc/v3lock, rpc/v3election) over a
// clientv3 client of the member itself. etcd's client is in-process (v3client); Ballast's
// dials the member's first client listener over loopback, as its gateway does (with the
// gateway's TLS config on an https listener), and connects on first use: the listener
// serves once the member has published itself. A caller's auth token (gRPC metadata
// "token", or the gateway's "authorization") is passed on to the calls the services make,
// as etcd's in-process client passes on the caller's context.

// selfClient makes the client the lock and election services call the member through.
func (s *Server) selfClient() (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints: []string{listenerURL(s.clientLns[0], s.clientTLS[0])},
		Logger:    zap.NewNop(), // the client's own log lines would not be in the member's shape
		DialOptions: []grpc.DialOption{
			grpc.WithChainUnaryInterceptor(forwardTokenUnary, noCertIdentityUnary),
			grpc.WithChainStreamInterceptor(forwardTokenStream, noCertIdentityStream),
		},
	}
	if s.clientTLS[0] {
		cfg.TLS = s.cfg.ClientTLS.gatewayConfig()
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("lock and election services: client of the member: %w", err)
	}
	return c, nil
}

// registerConcurrency registers the v3lock and v3election services on gs, calling c.
func registerConcurrency(gs *grpc.Server, c *clientv3.Client) {
	v3lockpb.RegisterLockServer(gs, v3lock.NewLockServer(c))
	v3electionpb.RegisterElectionServer(gs, v3election.NewElectionServer(c))
}

// forwardToken copies the caller's auth token from ctx's incoming metadata to its outgoing
// metadata.
func forwardToken(ctx context.Context) context.Context {
	in, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx
	}
	for _, key := range []string{rpctypes.TokenFieldNameGRPC, rpctypes.TokenFieldNameSwagger} {
		if v := in.Get(key); len(v) > 0 {
			if out, _ := metadata.FromOutgoingContext(ctx); len(out.Get(key)) == 0 {
				ctx = metadata.AppendToOutgoingContext(ctx, key, v[0])
			}
		}
	}
	return ctx
}

func forwardTokenUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(forwardToken(ctx), method, req, reply, cc, opts...)
}

func forwardTokenStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(forwardToken(ctx), desc, cc, method, opts...)
}

// noCertIdentity marks a call of one of the member's clients of itself (the gateway, the
// lock and election services): they present the member's own certificate, whose common
// name the member must not take for the caller's (rpc.NoCertIdentity).
func noCertIdentity(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, rpc.NoCertIdentity, "1")
}

func noCertIdentityUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(noCertIdentity(ctx), method, req, reply, cc, opts...)
}

func noCertIdentityStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(noCertIdentity(ctx), desc, cc, method, opts...)
}
