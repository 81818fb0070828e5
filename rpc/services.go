package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/node"
)

// Forwarder carries a membership call to another member (the leader) and brings its answer
// back: rpc/peer's Transport.Call. An error the remote handler returned comes back as a
// *peer.RemoteError (code and message), which the services re-raise unchanged.
type Forwarder interface {
	Call(ctx context.Context, to uint64, method string, body []byte) ([]byte, error)
}

// ProposalObserver hears of the proposals of the member's clients (Config.Proposals).
type ProposalObserver interface {
	Begin()
	End(failed bool)
}

// Config configures the services of one member.
type Config struct {
	// Driver runs the member; every call goes through it. Required.
	Driver *node.Driver
	// Forward carries membership calls from a follower to the leader. Nil: they answer
	// "not leader" on a follower.
	Forward Forwarder
	// Version is what Status reports as the server version (etcd's version of the API
	// Ballast serves, so version checks in clients and tools pass); StorageVersion likewise.
	Version, StorageVersion string
	// ElectionTimeout is the member's election timeout in real time: streams that require a
	// leader are cancelled after three of them without one. Default 1 s (etcd's).
	ElectionTimeout time.Duration
	// StatusInterval is how often the header view (term, leader, revision) is refreshed.
	// Default 10 ms.
	StatusInterval time.Duration
	// QuotaBackendBytes is the backend quota (--quota-backend-bytes; 0: etcd's default, 2
	// GiB): see quota.go.
	QuotaBackendBytes int64
	// SpaceCheckInterval is the space monitor's period (quota.go). Default 1 s.
	SpaceCheckInterval time.Duration
	// SnapshotDir is where Maintenance.Snapshot builds its temporary file (the member's data
	// dir; empty: the system's temporary directory).
	SnapshotDir string
	// Logger hears of stream failures; nil discards.
	Logger *slog.Logger
	// Proposals, when set, hears of every write this member's clients submit (the requests
	// that become raft proposals: all but ranges): Begin when it is submitted, End when it
	// is answered, with failed true when it failed without an answer of the store (a
	// timeout, no leader, the member stopping, too many requests), as etcd counts
	// etcd_server_proposals_pending and _failed_total. Report-only.
	Proposals ProposalObserver
	// Auth is called with every call's context and full method name before it runs; a
	// non-nil error is the call's answer (nil: no extra check). Users, roles and
	// permissions are etcd's Auth service (auth.go), not this hook.
	Auth func(ctx context.Context, fullMethod string) error
	// ClientCertAuth is etcd's --client-cert-auth: with auth enabled, a call without a
	// token acts as the user its verified client certificate's common name names.
	ClientCertAuth bool
	// AuthToken is etcd's --auth-token: "simple" (the default) or
	// "jwt,pub-key=F,priv-key=F,sign-method=M[,ttl=D]" (jwt.go). Bad options fail New.
	AuthToken string
	// BcryptCost is etcd's --bcrypt-cost for the passwords UserAdd and UserChangePassword
	// hash (0: auth.DefaultBcryptCost).
	BcryptCost int
}

// Defaults of Config.
const (
	DefaultVersion           = "3.7.3"
	DefaultStorageVersion    = "3.7.0"
	DefaultQuotaBackendBytes = 2 << 30
	// grpcOverheadBytes is what etcd adds to --max-request-bytes for gRPC's receive limit, so
	// a request somewhat over the limit reaches the server's own check and is answered
	// "etcdserver: request is too large" rather than with a transport error.
	grpcOverheadBytes = 512 * 1024
)

// ServerOptions are the gRPC server options etcd uses, for a member whose
// --max-request-bytes is maxRequestBytes: the receive limit with etcd's overhead, an
// unbounded send limit and stream count, and etcd's keep-alive policy. Pass them, with the
// services' interceptors (Services.ServerOptions), to grpc.NewServer.
func ServerOptions(maxRequestBytes int) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRequestBytes + grpcOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(math.MaxUint32),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: false}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Hour, Timeout: 20 * time.Second}),
	}
}

// Services are etcd's v3 services over one member.
type Services struct {
	pb.UnimplementedKVServer
	pb.UnimplementedWatchServer
	pb.UnimplementedLeaseServer
	pb.UnimplementedClusterServer
	pb.UnimplementedMaintenanceServer
	pb.UnimplementedAuthServer

	cfg    Config
	d      *node.Driver
	view   atomic.Pointer[statusView]
	health *health.Server
	space  spaceState
	jwt    *jwtTokens // nil: simple tokens

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New makes the services and starts refreshing their status view; Close stops it.
func New(cfg Config) (*Services, error) {
	if cfg.Driver == nil {
		return nil, errors.New("rpc: Config.Driver is required")
	}
	jwtTokens, err := parseTokenOptions(cfg.AuthToken)
	if err != nil {
		return nil, err
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = auth.DefaultBcryptCost
	}
	if err := auth.CheckBcryptCost(cfg.BcryptCost); err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.StorageVersion == "" {
		cfg.StorageVersion = DefaultStorageVersion
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = time.Second
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 10 * time.Millisecond
	}
	if cfg.QuotaBackendBytes <= 0 {
		cfg.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if cfg.SpaceCheckInterval <= 0 {
		cfg.SpaceCheckInterval = defaultSpaceCheckInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Services{cfg: cfg, d: cfg.Driver, health: health.NewServer(), jwt: jwtTokens}
	s.view.Store(&statusView{})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.refresh(s.ctx)
	s.wg.Add(2)
	go s.watchStatus()
	go s.watchSpace()
	return s, nil
}

// Register registers every service on srv.
func (s *Services) Register(srv *grpc.Server) {
	pb.RegisterKVServer(srv, s)
	pb.RegisterWatchServer(srv, s)
	pb.RegisterLeaseServer(srv, s)
	pb.RegisterClusterServer(srv, s)
	pb.RegisterMaintenanceServer(srv, s)
	pb.RegisterAuthServer(srv, s)
	healthpb.RegisterHealthServer(srv, s.health)
}

// ServerOptions are the interceptors every call passes through (auth hook, leader
// requirement); add them to ServerOptions' when making the grpc.Server.
func (s *Services) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	}
}

// Close stops the status refresh and marks the gRPC health service not serving.
func (s *Services) Close() {
	s.health.Shutdown()
	s.cancel()
	s.wg.Wait()
}
