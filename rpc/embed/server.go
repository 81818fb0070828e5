package embed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/rpc"
	"github.com/ballastdb/ballast/rpc/peer"
)

// methodMembers is the peer call a joining member makes (through peer.Fetch, before it has
// an ID) for the cluster ID and the member list: the answer is a pb.MemberListResponse
// whose header carries the cluster ID.
const methodMembers = "embed.Members"

// Server is one running member.
type Server struct {
	cfg Config
	lg  *slog.Logger
	id  uint64
	cid uint64

	member    *node.Member
	driver    *node.Driver
	transport *peer.Transport
	services  *rpc.Services
	grpc      *grpc.Server
	https     []*http.Server
	splits    []*splitListener
	peerLns   []net.Listener
	clientLns []net.Listener
	clientTLS []bool // clientLns[i] is https or unixs
	metricLns []net.Listener
	metricTLS []bool // metricLns[i] is https or unixs
	httpLns   []net.Listener
	httpTLS   []bool // httpLns[i] is https or unixs
	// fsyncsSkipped counts the syncs --unsafe-no-fsync did not do.
	fsyncsSkipped atomic.Uint64
	metrics       *metrics
	gateway       *gateway
	self          *clientv3.Client // the lock and election services' client (concurrency.go)

	// mu guards https, splits and closing: the publisher adds client servers while Stop may
	// be closing them.
	mu            sync.Mutex
	closing       bool
	driverRunning bool

	ready    chan struct{}
	errc     chan error
	failOnce sync.Once
	runStop  context.CancelFunc
	// stopTracing flushes and closes the tracing exporter (nil: tracing is off).
	stopTracing func(context.Context)
	wg          sync.WaitGroup
	stopOnce    sync.Once
	stopped     chan struct{}
}

// Start bootstraps the member (see bootstrap), opens its database, starts the driver and the
// peer transport on the peer listeners, and returns once every listener is bound. The client
// listeners serve once the member has published its client URLs through raft (ReadyNotify),
// as etcd's do. ctx bounds the start only (the join's fetch from a peer); Stop ends the
// server.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if cfg.ClientAutoTLS {
		hosts := append(slices.Clone(cfg.ListenClientURLs), cfg.ListenClientHTTPURLs...)
		if cfg.ClientTLS, err = selfCert(lg, cfg.ClientTLS, filepath.Join(cfg.DataDir, "fixtures", "client"), hosts, cfg.SelfSignedCertValidity); err != nil {
			return nil, err
		}
	}
	if cfg.PeerAutoTLS {
		if cfg.PeerTLS, err = selfCert(lg, cfg.PeerTLS, filepath.Join(cfg.DataDir, "fixtures", "peer"), cfg.ListenPeerURLs, cfg.SelfSignedCertValidity); err != nil {
			return nil, err
		}
	}
	if !cfg.ClientTLS.Empty() {
		if _, err := cfg.ClientTLS.serverConfig(nil); err != nil { // unreadable files stop start-up
			return nil, err
		}
	}
	var peerServerTLS, peerClientTLS *tls.Config
	if !cfg.PeerTLS.Empty() {
		if _, err := cfg.PeerTLS.serverConfig(nil); err != nil { // unreadable files stop start-up
			return nil, err
		}
		peerClientTLS = cfg.PeerTLS.peerDialConfig()
		if slices.ContainsFunc(cfg.ListenPeerURLs, secureURL) {
			peerServerTLS = cfg.PeerTLS.listenerConfig()
		}
	}
	s := &Server{cfg: cfg, lg: lg, ready: make(chan struct{}), errc: make(chan error, 1), stopped: make(chan struct{})}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	lg.Info("configuring peer listeners", "listen-peer-urls", urlStrings(cfg.ListenPeerURLs))
	for _, u := range cfg.ListenPeerURLs {
		ln, err := s.listen(u)
		if err != nil {
			return nil, fmt.Errorf("listen on peer URL %s: %w", u.String(), err)
		}
		if cfg.WrapPeerListener != nil {
			ln = cfg.WrapPeerListener(ln)
		}
		s.peerLns = append(s.peerLns, ln)
	}
	lg.Info("configuring client listeners", "listen-client-urls", urlStrings(cfg.ListenClientURLs))
	boundAt := map[string]int{} // a TCP client URL's host:port, to the index of its listener
	for _, u := range cfg.ListenClientURLs {
		if i, ok := boundAt[u.Host]; ok && !unixURL(u) && secureURL(u) != s.clientTLS[i] {
			// http:// and https:// on one port: one listener, split by each connection's
			// first byte (sniff.go), as etcd's cmux serves them
			plain, secure := splitByTLS(s.clientLns[i])
			s.clientLns[i] = plain
			if s.clientTLS[i] {
				s.clientLns[i] = secure
			}
			other := secure
			if s.clientTLS[i] {
				other = plain
			}
			s.clientLns = append(s.clientLns, other)
			s.clientTLS = append(s.clientTLS, secureURL(u))
			continue
		}
		ln, err := s.listen(u)
		if err != nil {
			return nil, fmt.Errorf("listen on client URL %s: %w", u.String(), err)
		}
		if !unixURL(u) {
			boundAt[u.Host] = len(s.clientLns)
		}
		s.clientLns = append(s.clientLns, ln)
		s.clientTLS = append(s.clientTLS, secureURL(u))
	}
	for _, u := range cfg.ListenClientHTTPURLs {
		ln, err := s.listen(u)
		if err != nil {
			return nil, fmt.Errorf("listen on client HTTP URL %s: %w", u.String(), err)
		}
		s.httpLns = append(s.httpLns, ln)
		s.httpTLS = append(s.httpTLS, secureURL(u))
	}
	for _, u := range cfg.ListenMetricsURLs {
		ln, err := s.listen(u)
		if err != nil {
			return nil, fmt.Errorf("listen on metrics URL %s: %w", u.String(), err)
		}
		s.metricLns = append(s.metricLns, ln)
		s.metricTLS = append(s.metricTLS, secureURL(u))
	}
	lg.Info("starting an etcd server", "name", cfg.Name, "data-dir", cfg.DataDir, "wal-dir", cfg.WALDir,
		"heartbeat-interval", cfg.HeartbeatInterval.String(), "election-timeout", cfg.ElectionTimeout.String(),
		"snapshot-count", cfg.SnapshotCount, "snapshot-catchup-entries", cfg.SnapshotCatchUpEntries,
		"watch-progress-notify-interval", cfg.WatchProgressNotifyInterval.String(), "max-request-bytes", cfg.MaxRequestBytes, "max-txn-ops", cfg.MaxTxnOps,
		"initial-advertise-peer-urls", urlStrings(cfg.AdvertisePeerURLs), "listen-peer-urls", urlStrings(cfg.ListenPeerURLs),
		"advertise-client-urls", urlStrings(cfg.AdvertiseClientURLs), "listen-client-urls", urlStrings(cfg.ListenClientURLs),
		"initial-cluster", cfg.InitialCluster, "initial-cluster-state", cfg.InitialClusterState,
		"initial-cluster-token", cfg.InitialClusterToken)

	if cfg.MemoryMlock {
		// etcd locks when bbolt opens its file and panics with this line on a refusal; Ballast
		// locks before the bootstrap writes anything, so a refusal leaves the data dir as it was.
		if err := mlockAll(); err != nil {
			err = fmt.Errorf("mlock error: %w", err)
			lg.Error("failed to open database", "path", filepath.Join(cfg.DataDir, "member", dbDirName), "error", err.Error())
			return nil, err
		}
		lg.Info("locked the member's memory in RAM (--memory-mlock)")
	}
	ident, err := bootstrap(ctx, cfg, lg, func(ctx context.Context, peerURL string) (uint64, []Founder, error) {
		return fetchFromPeer(ctx, peerURL, peerClientTLS)
	})
	if err != nil {
		return nil, err
	}
	s.id, s.cid = ident.id, ident.clusterID
	fs := cfg.FS
	if fs == nil {
		fs = vfs.Default
	}
	if cfg.UnsafeNoFsync {
		fs = noSyncFS{FS: fs, skipped: &s.fsyncsSkipped}
		lg.Warn("--unsafe-no-fsync: the member's files are never synced; a power loss loses acknowledged writes")
	}
	ncfg := node.Config{
		ID:                     ident.id,
		ClusterID:              ident.clusterID,
		FS:                     fs,
		Dir:                    filepath.Join(cfg.DataDir, "member", dbDirName),
		WALDir:                 cfg.WALDir,
		Clock:                  node.NewRealClock(),
		Rand:                   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		Logger:                 logfAdapter{lg},
		ElectionTimeoutTicks:   cfg.electionTicks(),
		HeartbeatIntervalTicks: 1,
		TickInterval:           cfg.HeartbeatInterval,
		MaxRequestBytes:        cfg.MaxRequestBytes,
		MaxTxnOps:              cfg.MaxTxnOps,
		MaxLearners:            cfg.MaxLearners,
		StrictReconfigCheck:    !cfg.NoStrictReconfigCheck,
		DisablePreVote:         cfg.NoPreVote,
		ForceNewCluster:        cfg.ForceNewCluster,
		SnapshotEntries:        int(cfg.SnapshotCount),
		SnapshotCatchUpEntries: int(min(cfg.SnapshotCatchUpEntries, cfg.SnapshotCount)),
		WatchProgressInterval:  cfg.WatchProgressNotifyInterval,
		TimeCommit: func(entries int) func() {
			if s.metrics == nil { // made right after Open; nothing applies before the driver runs
				return func() {}
			}
			return s.metrics.timeCommit(entries)
		},
		TimeApply:             warnOfExpensiveRequest(lg, cfg.WarningApplyDuration),
		CompactionStepEntries: cfg.CompactionBatchLimit,
		AuthTokenTTL:          cfg.AuthTokenTTL,
	}
	for _, f := range ident.founders {
		ncfg.InitialMembers = append(ncfg.InitialMembers, f.ID)
		ncfg.InitialMemberAttrs = append(ncfg.InitialMemberAttrs, node.MemberAttrs{ID: f.ID, Name: f.Name, PeerURLs: f.PeerURLs})
	}
	s.member, err = node.Open(ncfg)
	if err != nil {
		return nil, err
	}
	s.cid = s.member.ClusterID()
	lg.Info("opened member database", "local-member-id", hexID(s.id), "cluster-id", hexID(s.cid),
		"restart", ident.restart, "joined", ident.joined)

	s.transport = peer.New(peer.Config{
		LocalID:   func() uint64 { return s.id },
		ClusterID: func() uint64 { return s.cid },
		Resolve: func(id uint64) []string {
			if a, ok := s.driver.Member(id); ok {
				return a.PeerURLs
			}
			for _, r := range ident.remotes {
				if r.ID == id {
					return r.PeerURLs
				}
			}
			return nil
		},
		Deliver:   func(data []byte) bool { return s.driver.Deliver(data) },
		IsBulk:    node.IsBulkFrame,
		IsRemoved: func(id uint64) bool { return s.driver.IsRemoved(id) },
		OnRemoved: func() { s.fail(node.ErrRemoved) },
		Handle:    s.handlePeerCall,
		Logger:    lg,
		ServerTLS: peerServerTLS,
		ClientTLS: peerClientTLS,
	})
	var services atomic.Pointer[rpc.Services]
	s.metrics = newMetrics(cfg.Metrics == MetricsExtensive, cfg.Version, func() (int64, int64) { return s.driver.DBSize() }, s.transport.Stats,
		cfg.QuotaBackendBytes, func() int64 {
			if svc := services.Load(); svc != nil { // nil: a scrape before the services exist
				return svc.SpaceAlarmsCleared()
			}
			return 0
		}, func() node.DriverStats {
			if s.driver == nil { // a scrape before the driver exists
				return node.DriverStats{}
			}
			return s.driver.Stats()
		})
	if cfg.UnsafeNoFsync {
		s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "ballast", Subsystem: "disk",
			Name: "fsyncs_skipped_total", Help: "The syncs of the member's files --unsafe-no-fsync did not do."},
			func() float64 { return float64(s.fsyncsSkipped.Load()) }))
	}
	s.driver, err = node.NewDriver(s.member, s.transport, node.RunOptions{
		OnSynced: func(d time.Duration) { s.metrics.walFsync.Observe(d.Seconds()) },
	})
	if err != nil {
		return nil, err
	}
	s.registerDebugVars()
	// The driver runs before the services exist: rpc.New reads the member's status through it.
	runCtx, cancel := context.WithCancel(context.Background())
	s.runStop = cancel
	s.driverRunning = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.driver.Run(runCtx); err != nil {
			s.fail(err)
		}
	}()
	s.services, err = rpc.New(rpc.Config{
		Driver:            s.driver,
		Forward:           s.transport,
		Version:           cfg.Version,
		ElectionTimeout:   cfg.ElectionTimeout,
		SnapshotDir:       filepath.Join(cfg.DataDir, "member"),
		Proposals:         s.metrics,
		QuotaBackendBytes: cfg.QuotaBackendBytes,
		Logger:            lg,
		ClientCertAuth:    cfg.ClientTLS.ClientCertAuth,
		AuthToken:         cfg.AuthToken,
		BcryptCost:        bcryptCost(lg, cfg.BcryptCost),
	})
	if err != nil {
		return nil, err
	}
	services.Store(s.services)
	opts := append(rpc.ServerOptions(cfg.MaxRequestBytes), s.services.ServerOptions()...)
	opts = append(opts, s.metrics.serverOptions()...)
	opts = append(opts, grpc.ChainUnaryInterceptor(requestStats(lg, cfg.WarningUnaryRequestDuration)))
	if cfg.DistributedTracing.Enabled {
		// etcd's v3rpc.Server: the otelgrpc stats handler on the client gRPC server.
		opt, stop, terr := newTracing(context.Background(), cfg.DistributedTracing)
		if terr != nil {
			return nil, terr
		}
		s.stopTracing = stop
		opts = append(opts, opt)
		lg.Info("distributed tracing setup enabled", "address", cfg.DistributedTracing.Address,
			"service-name", cfg.DistributedTracing.ServiceName, "service-instance-id", cfg.DistributedTracing.InstanceID,
			"sampling-rate", cfg.DistributedTracing.SamplingRatePerMillion)
	}
	s.grpc = grpc.NewServer(append(opts, grpcTuning(cfg)...)...)
	s.services.Register(s.grpc)
	if len(s.clientLns) > 0 {
		if s.self, err = s.selfClient(); err != nil {
			return nil, err
		}
		registerConcurrency(s.grpc, s.self)
	}
	s.metrics.grpc.InitializeMetrics(s.grpc)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.metrics.poll(runCtx, s.driver, cfg.HeartbeatInterval)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.probePeers(runCtx)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.adjustTicks(runCtx)
	}()
	if cfg.CompactHashCheck {
		interval := cfg.CompactHashCheckTime
		if interval <= 0 {
			interval = time.Minute
		}
		lg.Info("enabled compaction hash check", "local-member-id", hexID(s.id), "interval", interval.String())
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.compactHashLoop(runCtx, interval) }()
	}
	if cfg.CorruptCheckTime > 0 {
		lg.Info("enabled corruption checking", "local-member-id", hexID(s.id), "interval", cfg.CorruptCheckTime.String())
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.corruptCheckLoop(runCtx, cfg.CorruptCheckTime) }()
	}
	if retention, _ := ParseCompactionRetention(cfg.AutoCompactionMode, cfg.AutoCompactionRetention); retention > 0 {
		c := &compactor{s: s, mode: cfg.AutoCompactionMode, revisionInterval: cfg.autoCompactionRevisionInterval}
		if c.mode == CompactionModeRevision {
			c.keepRevs = int64(retention)
		} else {
			c.period = retention
		}
		lg.Info("enabled auto compaction", "mode", c.mode, "retention", cfg.AutoCompactionRetention)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); c.run(runCtx) }()
	}
	// The metrics URLs serve at once, as etcd's: /livez and /readyz answer there before the
	// member is ready (kubeadm's probes).
	// An https metrics URL serves with the client URLs' TLS configuration, as etcd's.
	for i, ln := range s.metricLns {
		hs := &http.Server{Handler: s.metricsMux(), ReadHeaderTimeout: 10 * time.Second}
		if s.metricTLS[i] {
			hs.TLSConfig = cfg.ClientTLS.listenerConfig()
			hs.ErrorLog = slog.NewLogLogger(lg.Handler(), slog.LevelDebug)
		}
		s.mu.Lock()
		s.https = append(s.https, hs)
		s.mu.Unlock()
		lg.Info("serving metrics", "address", s.MetricsURLs()[i])
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if hs.TLSConfig != nil {
				_ = hs.ServeTLS(ln, "", "")
				return
			}
			_ = hs.Serve(ln)
		}()
	}

	for _, ln := range s.peerLns {
		lg.Info("serving peer traffic", "address", ln.Addr().String())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.transport.Serve(ln)
		}()
	}
	// etcd checks before it serves clients, and does not start on a mismatch.
	if cfg.InitialCorruptCheck {
		if err := s.initialCorruptCheck(ctx, ident); err != nil {
			return nil, err
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.publishAndServe(runCtx)
	}()
	return s, nil
}

// listen binds u's listener: TCP on its host:port with the configured socket options, or,
// for unix:// and unixs:// URLs, a unix socket at the path the URL's host and path spell
// (etcd's resolveURL: unix://localhost:2379 is the file localhost:2379 in the working
// directory, unix:///run/etcd.sock the absolute path). As etcd's unix listener does, a file
// already at that path (a socket a killed member left) is removed first, and Close removes
// the socket file.
func (s *Server) listen(u url.URL) (net.Listener, error) {
	if unixURL(u) {
		path := u.Host + u.Path
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return net.Listen("unix", path)
	}
	lc := net.ListenConfig{}
	if s.cfg.SocketReusePort || s.cfg.SocketReuseAddress {
		lc.Control = socketControl(s.cfg.SocketReusePort, s.cfg.SocketReuseAddress)
	}
	return lc.Listen(context.Background(), "tcp", u.Host)
}

// unixURL reports whether u is a unix socket's (unix:// or unixs://).
func unixURL(u url.URL) bool { return u.Scheme == "unix" || u.Scheme == "unixs" }

// secureURL reports whether u's listener speaks TLS (https:// or unixs://).
func secureURL(u url.URL) bool { return u.Scheme == "https" || u.Scheme == "unixs" }

// listenerURL is the URL of a bound listener: http(s)://host:port, or unix(s)://path for a
// unix socket.
func listenerURL(ln net.Listener, secure bool) string {
	scheme := "http"
	if ln.Addr().Network() == "unix" {
		scheme = "unix"
	}
	if secure {
		scheme += "s"
	}
	return scheme + "://" + ln.Addr().String()
}

// fetchFromPeer asks peerURL's member for the member list (a joining member's bootstrap),
// over TLS with the member's peer client configuration when peerURL is https (nil before:
// a member could not join a cluster whose peer URLs are https, found by etcd's own
// TestCtlV3MemberPromoteWithAuth* in make etcd-e2e).
func fetchFromPeer(ctx context.Context, peerURL string, tlsCfg *tls.Config) (uint64, []Founder, error) {
	body, err := peer.Fetch(ctx, peerURL, tlsCfg, methodMembers, nil)
	if err != nil {
		return 0, nil, err
	}
	var resp pb.MemberListResponse
	if err := proto.Unmarshal(body, &resp); err != nil {
		return 0, nil, fmt.Errorf("the member list from %s does not decode: %w", peerURL, err)
	}
	var out []Founder
	for _, m := range resp.Members {
		out = append(out, Founder{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs})
	}
	return resp.GetHeader().GetClusterId(), out, nil
}

// handlePeerCall serves the peer transport's calls: the member list for a joining member,
// everything else (forwarded membership calls) by the services.
func (s *Server) handlePeerCall(ctx context.Context, from uint64, method string, body []byte) ([]byte, error) {
	if method == methodHashKV {
		return s.answerHashKV(ctx, body)
	}
	if method != methodMembers {
		return s.services.HandleForward(ctx, from, method, body)
	}
	resp := &pb.MemberListResponse{Header: &pb.ResponseHeader{ClusterId: s.cid, MemberId: s.id}}
	for _, a := range s.driver.Members() {
		resp.Members = append(resp.Members, &pb.Member{ID: a.ID, Name: a.Name, PeerURLs: a.PeerURLs, ClientURLs: a.ClientURLs, IsLearner: a.IsLearner})
	}
	return proto.Marshal(resp)
}

// publishAndServe publishes the member's name and client URLs through raft (etcd's
// publishV3, retried until it applies), then serves the client listeners.
func (s *Server) publishAndServe(ctx context.Context) {
	clientURLs := urlStrings(s.cfg.AdvertiseClientURLs)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*s.cfg.ElectionTimeout)
		err := s.driver.PublishAttrs(pctx, s.cfg.Name, clientURLs)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, node.ErrStopped) {
			return
		}
		s.lg.Warn("failed to publish local member to cluster through raft", "local-member-id", hexID(s.id),
			"local-member-attributes", fmt.Sprintf("{Name:%s ClientURLs:%v}", s.cfg.Name, clientURLs), "error", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.HeartbeatInterval):
		}
	}
	s.lg.Info("published local member to cluster through raft", "local-member-id", hexID(s.id),
		"local-member-attributes", fmt.Sprintf("{Name:%s ClientURLs:%v}", s.cfg.Name, clientURLs),
		"cluster-id", hexID(s.cid))
	mux := s.clientMux()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	var handler http.Handler = mux
	if !s.cfg.DisableGRPCGateway && len(s.clientLns) > 0 {
		var gwTLS *tls.Config
		if s.clientTLS[0] {
			gwTLS = s.cfg.ClientTLS.gatewayConfig()
		}
		g, err := newGateway(ctx, grpcTarget(s.clientLns[0]), gwTLS, func(msg string) { s.lg.Warn(msg) })
		if err != nil {
			s.fail(err)
			return
		}
		s.gateway = g
		mux.Handle("/v3/", g.handler)
		handler = v3beta(mux)
	}
	handler = s.accessControl(handler)
	if len(s.httpLns) > 0 {
		// --listen-client-http-urls: the client URLs serve gRPC only, these HTTP only.
		for i, ln := range s.clientLns {
			if s.clientTLS[i] {
				s.serveTLS(ln, grpcOrHTTP(s.grpc, nil), "grpc")
				continue
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); _ = s.grpc.Serve(ln) }()
			s.lg.Warn("serving client traffic insecurely; this is strongly discouraged!", "traffic", "grpc", "address", ln.Addr().String())
		}
		for i, ln := range s.httpLns {
			if s.httpTLS[i] { // etcd serves an https (unixs) HTTP-only URL with the client TLS configuration
				s.serveTLS(ln, handler, "http")
				continue
			}
			hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
			s.https = append(s.https, hs)
			s.wg.Add(1)
			go func() { defer s.wg.Done(); _ = hs.Serve(ln) }()
			s.lg.Warn("serving client traffic insecurely; this is strongly discouraged!", "traffic", "http", "address", ln.Addr().String())
		}
		close(s.ready)
		s.lg.Info("ready to serve client requests")
		return
	}
	for i, ln := range s.clientLns {
		if s.clientTLS[i] {
			s.serveTLS(ln, grpcOrHTTP(s.grpc, handler), "grpc+http")
			continue
		}
		sl := newProtocolSplit(ln)
		hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		s.splits = append(s.splits, sl)
		s.https = append(s.https, hs)
		s.wg.Add(3)
		go func() { defer s.wg.Done(); sl.run() }()
		go func() { defer s.wg.Done(); _ = s.grpc.Serve(sl.halves[halfGRPC]) }()
		go func() { defer s.wg.Done(); _ = hs.Serve(sl.halves[halfHTTP]) }()
		s.lg.Warn("serving client traffic insecurely; this is strongly discouraged!", "traffic", "grpc+http",
			"address", ln.Addr().String())
	}
	close(s.ready)
	s.lg.Info("ready to serve client requests")
}

// serveTLS serves h on the https client listener ln (s.mu held).
func (s *Server) serveTLS(ln net.Listener, h http.Handler, traffic string) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: s.cfg.ClientTLS.listenerConfig(),
		ErrorLog: slog.NewLogLogger(s.lg.Handler(), slog.LevelDebug)}
	s.https = append(s.https, hs)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = hs.ServeTLS(ln, "", "") }()
	s.lg.Info("serving client traffic securely", "traffic", traffic, "address", ln.Addr().String())
}

// fail reports a fatal error once (Err) and logs it.
func (s *Server) fail(err error) {
	s.failOnce.Do(func() {
		if errors.Is(err, node.ErrRemoved) {
			s.lg.Warn("the member has been permanently removed from the cluster", "local-member-id", hexID(s.id))
		}
		s.errc <- err
	})
}

// ReadyNotify is closed once the member serves client requests.
func (s *Server) ReadyNotify() <-chan struct{} { return s.ready }

// Err delivers the fatal error that stopped the member (removed from the cluster, a storage
// failure); the caller then calls Stop.
func (s *Server) Err() <-chan error { return s.errc }

// ID is the member's ID, ClusterID its cluster's.
func (s *Server) ID() uint64        { return s.id }
func (s *Server) ClusterID() uint64 { return s.cid }

// ClientURLs are the URLs the client listeners are bound to (with the actual ports when
// they were given as :0).
func (s *Server) ClientURLs() []string {
	out := make([]string, len(s.clientLns))
	for i, ln := range s.clientLns {
		out[i] = listenerURL(ln, s.clientTLS[i])
	}
	return out
}

// ClientHTTPURLs are the URLs the HTTP-only client listeners are bound to.
func (s *Server) ClientHTTPURLs() []string {
	out := make([]string, len(s.httpLns))
	for i, ln := range s.httpLns {
		out[i] = listenerURL(ln, s.httpTLS[i])
	}
	return out
}

// MetricsURLs are the URLs the metrics listeners are bound to.
func (s *Server) MetricsURLs() []string {
	out := make([]string, len(s.metricLns))
	for i, ln := range s.metricLns {
		out[i] = listenerURL(ln, s.metricTLS[i])
	}
	return out
}

// PeerURLs are the URLs the peer listeners are bound to.
func (s *Server) PeerURLs() []string {
	out := make([]string, len(s.peerLns))
	for i, ln := range s.peerLns {
		out[i] = listenerURL(ln, secureURL(s.cfg.ListenPeerURLs[i]))
	}
	return out
}

// Stop stops the member gracefully, as etcd's does: leadership is handed to another voter
// first (so the cluster does not wait an election timeout), then the client servers, the
// driver, the transport and the database are closed. It waits for every goroutine Start
// started. Safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.lg.Info("closing etcd server", "name", s.cfg.Name, "data-dir", s.cfg.DataDir,
			"advertise-peer-urls", urlStrings(s.cfg.AdvertisePeerURLs), "advertise-client-urls", urlStrings(s.cfg.AdvertiseClientURLs))
		if s.driver != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*s.cfg.ElectionTimeout)
			if err := s.driver.HandOffLeadership(ctx); err != nil {
				s.lg.Warn("leadership transfer failed", "local-member-id", hexID(s.id), "error", err.Error())
			}
			cancel()
		}
		s.closeAll()
		s.lg.Info("closed etcd server", "name", s.cfg.Name, "data-dir", s.cfg.DataDir)
		close(s.stopped)
	})
}

// closeAll closes whatever Start opened, in the reverse order, and waits for the goroutines.
func (s *Server) closeAll() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	if s.grpc != nil {
		// GracefulStop would wait for every watch stream to end; the clients reconnect.
		s.grpc.Stop()
	}
	for _, hs := range s.https {
		_ = hs.Close()
	}
	for _, sl := range s.splits {
		_ = sl.close()
	}
	for _, ln := range s.clientLns {
		_ = ln.Close()
	}
	for _, ln := range s.metricLns {
		_ = ln.Close()
	}
	for _, ln := range s.httpLns {
		_ = ln.Close()
	}
	if s.gateway != nil {
		_ = s.gateway.conn.Close()
	}
	if s.self != nil {
		_ = s.self.Close()
	}
	if s.services != nil {
		s.services.Close()
	}
	if s.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.stopTracing(ctx)
		cancel()
	}
	if s.runStop != nil {
		s.runStop()
	}
	if s.driverRunning {
		<-s.driver.Stopped()
	}
	if s.transport != nil {
		_ = s.transport.Close()
	}
	for _, ln := range s.peerLns {
		_ = ln.Close()
	}
	s.wg.Wait()
	if s.member != nil {
		if err := s.member.Close(); err != nil {
			s.lg.Warn("failed to close the member database", "error", err.Error())
		}
	}
}

// logfAdapter lets kv/node's Logger write into the server's slog logger.
type logfAdapter struct{ lg *slog.Logger }

// Two of kv/node's lines are etcd milestones operators grep for: they are logged under
// etcd's message and field names (matched by their format, which kv/node keeps stable).
func (a logfAdapter) Logf(format string, args ...any) {
	switch {
	case format == "member %d: installed a snapshot at index %d (term %d)" && len(args) == 3:
		a.lg.Info("applied snapshot", "local-member-id", fmt.Sprintf("%x", args[0]),
			"incoming-leader-snapshot-index", args[1], "incoming-leader-snapshot-term", args[2])
	case format == "member %d: sending a snapshot at index %d (term %d) to member %d" && len(args) == 4:
		a.lg.Info("sending database snapshot", "local-member-id", fmt.Sprintf("%x", args[0]),
			"snapshot-index", args[1], "snapshot-term", args[2], "remote-peer-id", fmt.Sprintf("%x", args[3]))
	default:
		a.lg.Info(fmt.Sprintf(format, args...))
	}
}

// bcryptCost is --bcrypt-cost as etcd takes it: outside bcrypt's range the default, with a
// warning.
func bcryptCost(lg *slog.Logger, cost int) int {
	if cost == 0 {
		return auth.DefaultBcryptCost
	}
	if err := auth.CheckBcryptCost(cost); err != nil {
		lg.Warn("use default bcrypt cost instead of the invalid given cost", "given-cost", cost, "default-cost", auth.DefaultBcryptCost)
		return auth.DefaultBcryptCost
	}
	return cost
}
