package embed

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"

	gw "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/tmc/grpc-websocket-proxy/wsproxy"
	etcdservergw "go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	v3electiongw "github.com/ballastdb/ballast/rpc/v3election/v3electionpb/gw"
	v3lockgw "github.com/ballastdb/ballast/rpc/v3lock/v3lockpb/gw"
)

// This file is etcd's gRPC gateway on the client URLs (--enable-grpc-gateway, on by
// default): JSON over HTTP under /v3/ (POST /v3/kv/put, /v3/kv/range, /v3/watch streamed,
// /v3/lease/grant, ...), built as etcd builds it: etcd's own generated registrations
// (go.etcd.io/etcd/api/v3/etcdserverpb/gw) on a grpc-gateway mux with etcd's JSON options
// (proto field names, unpopulated fields omitted, unknown fields discarded), calling the
// member's own gRPC server over a loopback connection, behind the websocket proxy etcd puts
// in front of it (streams answer websockets too, POST by default), with /v3beta/ mapped to
// /v3/ as etcd's access controller does. etcd's v3lock and v3election routes
// (/v3/lock/lock, /v3/election/campaign, ...) are registered as etcd registers them, from
// the copies of etcd's generated gateways (rpc/v3lock, rpc/v3election).

// gateway is the /v3/ handler and the connection it calls the gRPC server through.
type gateway struct {
	handler http.Handler
	conn    *grpc.ClientConn
}

// grpcTarget is gRPC's dial target for the client listener ln: its TCP address, or
// unix:path for a unix socket.
func grpcTarget(ln net.Listener) string {
	if ln.Addr().Network() == "unix" {
		return "unix:" + ln.Addr().String()
	}
	return "passthrough:///" + ln.Addr().String()
}

// newGateway registers the gateway over a connection to the client listener at gRPC's
// target addr (grpcTarget).
// tlsCfg nil: the listener is plain http.
func newGateway(ctx context.Context, addr string, tlsCfg *tls.Config, logf func(string)) (*gateway, error) {
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(noCertIdentityUnary), // concurrency.go
		grpc.WithChainStreamInterceptor(noCertIdentityStream),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		return nil, fmt.Errorf("gateway: dial the client listener %s: %w", addr, err)
	}
	mux := gw.NewServeMux(gw.WithMarshalerOption(gw.MIMEWildcard, &gw.HTTPBodyMarshaler{
		Marshaler: &gw.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		},
	}))
	for _, register := range []func(context.Context, *gw.ServeMux, *grpc.ClientConn) error{
		etcdservergw.RegisterKVHandler,
		etcdservergw.RegisterWatchHandler,
		etcdservergw.RegisterLeaseHandler,
		etcdservergw.RegisterClusterHandler,
		etcdservergw.RegisterMaintenanceHandler,
		etcdservergw.RegisterAuthHandler,
		v3lockgw.RegisterLockHandler,
		v3electiongw.RegisterElectionHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	h := wsproxy.WebsocketProxy(mux,
		wsproxy.WithRequestMutator(func(_ *http.Request, outgoing *http.Request) *http.Request {
			outgoing.Method = "POST" // etcd's default for streams
			return outgoing
		}),
		wsproxy.WithMaxRespBodyBufferSize(0x7fffffff),
		wsproxy.WithLogger(wsLogger{logf}),
	)
	return &gateway{handler: h, conn: conn}, nil
}

// v3beta maps etcd's old /v3beta/ paths to /v3/, as etcd's access controller does.
func v3beta(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v3beta/") {
			r.URL.Path = strings.Replace(r.URL.Path, "/v3beta/", "/v3/", 1)
		}
		next.ServeHTTP(w, r)
	})
}

// wsLogger is the websocket proxy's logger.
type wsLogger struct{ logf func(string) }

func (w wsLogger) Warnln(i ...any)  { w.logf(fmt.Sprint(i...)) }
func (w wsLogger) Debugln(i ...any) {}
