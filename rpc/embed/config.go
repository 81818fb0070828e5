package embed

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// The values of --metrics.
const (
	MetricsBasic     = "basic"
	MetricsExtensive = "extensive"
)

// The values of --initial-cluster-state.
const (
	ClusterStateNew      = "new"
	ClusterStateExisting = "existing"
)

// etcd's defaults (server/embed/config.go), for the zero fields of a Config.
const (
	DefaultName                = "default"
	DefaultListenPeerURL       = "http://localhost:2380"
	DefaultListenClientURL     = "http://localhost:2379"
	DefaultInitialClusterToken = "etcd-cluster"
	DefaultHeartbeatInterval   = 100 * time.Millisecond
	DefaultElectionTimeout     = 1000 * time.Millisecond
	DefaultSnapshotCount       = 10000
	DefaultMaxRequestBytes     = 1572864 // 1.5 MiB
	DefaultMaxTxnOps           = 128
	// DefaultSnapshotCatchUpEntries is etcd's (etcdserver.DefaultSnapshotCatchUpEntries).
	DefaultSnapshotCatchUpEntries = 5000
	// DefaultMaxLearners is etcd's --max-learners (membership.DefaultMaxLearners).
	DefaultMaxLearners = 1
	// DefaultSelfSignedCertValidity is etcd's --self-signed-cert-validity, in years.
	DefaultSelfSignedCertValidity = 1
	// etcd's gRPC server defaults (--max-concurrent-streams, --grpc-keepalive-*).
	DefaultMaxConcurrentStreams  = math.MaxUint32
	DefaultGRPCKeepAliveMinTime  = 5 * time.Second
	DefaultGRPCKeepAliveInterval = 2 * time.Hour
	DefaultGRPCKeepAliveTimeout  = 20 * time.Second
	// DefaultWatchProgressNotifyInterval is etcd's --watch-progress-notify-interval.
	DefaultWatchProgressNotifyInterval = 10 * time.Minute
	// maxElectionTimeout is etcd's maxElectionMs.
	maxElectionTimeout = 50 * time.Second
)

// Config is one member's configuration: etcd's flags of the same names, parsed
// (cmd/ballast does that, with etcd's rules).
type Config struct {
	Name    string
	DataDir string
	// WALDir is --wal-dir: where Pebble keeps its write-ahead log (empty: inside DataDir).
	WALDir string
	// FS is the file system Pebble runs on (nil: vfs.Default, the disk). cmd/ballast's chaos
	// builds set a kv/powerloss FS with --chaos-power-loss.
	FS vfs.FS
	// WrapPeerListener, when set, wraps each peer listener (cmd/ballast's chaos builds delay
	// what peers send through it: ballast-chaos's latency fault).
	WrapPeerListener func(net.Listener) net.Listener

	ListenClientURLs, AdvertiseClientURLs []url.URL
	ListenPeerURLs, AdvertisePeerURLs     []url.URL

	// InitialCluster is "name=url,name=url" (--initial-cluster).
	InitialCluster      string
	InitialClusterState string // ClusterStateNew or ClusterStateExisting
	InitialClusterToken string
	// Discovery is etcd's v3 discovery (--discovery-*, discovery.go): with Endpoints set (and
	// InitialCluster empty), a new member learns its founding members from an etcd-API
	// discovery service, and Discovery.Token is the cluster token.
	Discovery DiscoveryConfig
	// DiscoverySRV and DiscoverySRVName are --discovery-srv and --discovery-srv-name: with
	// DiscoverySRV set (and InitialCluster empty), a new member's founding members are the
	// targets of the domain's SRV records (srv.go).
	DiscoverySRV, DiscoverySRVName string
	// resolver answers DiscoverySRV's lookups (tests: a DNS server on loopback); nil:
	// net.DefaultResolver.
	resolver *net.Resolver

	// HeartbeatInterval is one raft tick; ElectionTimeout a whole number of them (etcd's
	// ElectionTicks = election / heartbeat).
	HeartbeatInterval, ElectionTimeout time.Duration
	SnapshotCount                      uint64
	// SnapshotCatchUpEntries is --snapshot-catchup-entries: the entries kept in the log below
	// a snapshot, so a follower a little behind catches up by appends (zero: etcd's 5000).
	SnapshotCatchUpEntries     uint64
	MaxRequestBytes, MaxTxnOps int
	// QuotaBackendBytes is --quota-backend-bytes: the store's space quota (zero or less:
	// etcd's default, 2 GiB); over it the NOSPACE alarm is raised (rpc's quota.go).
	QuotaBackendBytes int64
	// WatchProgressNotifyInterval is --watch-progress-notify-interval: how often watchers
	// that asked for progress notifications get one when idle (zero: etcd's 10 minutes).
	WatchProgressNotifyInterval time.Duration

	// ListenClientHTTPURLs is --listen-client-http-urls: when given, the HTTP surface
	// (health, metrics, the gateway) is served there only, and the client URLs serve gRPC
	// only, as etcd's; an https:// (unixs://) one with ClientTLS, client certificates and
	// --client-cert-auth included, as etcd's.
	ListenClientHTTPURLs []url.URL
	// ListenMetricsURLs is --listen-metrics-urls: where /metrics, /health, /livez and
	// /readyz are served besides the client URLs (none by default).
	ListenMetricsURLs []url.URL
	// Metrics is --metrics: MetricsBasic (default) or MetricsExtensive (adds the gRPC
	// handling-time histogram).
	Metrics string
	// MaxConcurrentStreams is --max-concurrent-streams: the HTTP/2 streams (calls) one
	// client connection may have open at once (zero: etcd's unlimited, math.MaxUint32).
	MaxConcurrentStreams uint32
	// GRPCKeepAliveMinTime, GRPCKeepAliveInterval and GRPCKeepAliveTimeout are
	// --grpc-keepalive-min-time (a client pinging more often is sent GOAWAY), -interval (the
	// server pings an idle connection this often; negative: never, as etcd's 0) and
	// -timeout (and closes it when the answer is this late). Zero: etcd's defaults.
	GRPCKeepAliveMinTime, GRPCKeepAliveInterval, GRPCKeepAliveTimeout time.Duration
	// AutoCompactionMode and AutoCompactionRetention are --auto-compaction-mode (periodic,
	// the default, or revision) and --auto-compaction-retention ("0", the default, is off;
	// see compactor.go and ParseCompactionRetention).
	AutoCompactionMode, AutoCompactionRetention string
	// autoCompactionRevisionInterval replaces revision mode's 5 minutes (tests only).
	autoCompactionRevisionInterval time.Duration
	// probeInterval replaces the peer prober's 4 s (tests only; probe.go).
	probeInterval time.Duration
	// WarningUnaryRequestDuration is --warning-unary-request-duration: a unary call slower
	// than this is logged as a warning (zero: etcd's 300ms).
	WarningUnaryRequestDuration time.Duration
	// WarningApplyDuration is --warning-apply-duration: a request whose apply takes longer
	// is logged as etcd's warning "apply request took too long" (zero: etcd's 100ms;
	// applywarn.go).
	WarningApplyDuration time.Duration
	// CompactionBatchLimit is --compaction-batch-limit: the most revisions one step of a
	// store compaction deletes (kv/node's CompactionStepEntries; zero: its default, etcd's
	// 1000).
	CompactionBatchLimit int
	// DistributedTracing is --enable-distributed-tracing and --distributed-tracing-*
	// (tracing.go).
	DistributedTracing DistributedTracing
	// SocketReusePort and SocketReuseAddress are --socket-reuse-port and
	// --socket-reuse-address: SO_REUSEPORT and SO_REUSEADDR on every listener.
	SocketReusePort, SocketReuseAddress bool
	// NoStrictReconfigCheck is --strict-reconfig-check=false: membership changes that would
	// lose quorum are not refused (by default they are, with etcd's errors: kv/node's
	// reconfig.go).
	NoStrictReconfigCheck bool
	// CompactHashCheck is --feature-gates=CompactHashCheck=true (or the v3.6
	// --experimental-compact-hash-check-enabled): every CompactHashCheckTime (zero: etcd's
	// 1m) the leader compares the hash of its store at its compact revision with the voters'
	// and raises the CORRUPT alarm on a mismatch (compacthash.go).
	CompactHashCheck     bool
	CompactHashCheckTime time.Duration
	// compactHashHook, when set, sees (and may change) each peer's answer (tests only).
	compactHashHook func(peer uint64, resp *pb.HashKVResponse)
	// ForceNewCluster is --force-new-cluster: a member with data restarts as a one-member
	// cluster, the others removed from its configuration (kv/node's forcenew.go).
	ForceNewCluster bool
	// NoPreVote is --pre-vote=false: raft campaigns without a pre-vote (kv/node's
	// DisablePreVote); by default it runs Pre-Vote, as etcd.
	NoPreVote bool
	// NoInitialElectionTickAdvance is --initial-election-tick-advance=false: a starting
	// member of several does not fast-forward its election timer once it finds its peers
	// (ticks.go; a one-member cluster always does, as etcd's).
	NoInitialElectionTickAdvance bool
	// MaxLearners is --max-learners: the most learners the cluster may have (zero: etcd's
	// 1; negative: none, as etcd's 0).
	MaxLearners int
	// UnsafeNoFsync is --unsafe-no-fsync: the member's files are never synced (nofsync.go).
	UnsafeNoFsync bool
	// MemoryMlock is --memory-mlock: before the database opens, the process's pages are
	// locked in RAM, now and to come (mlock_linux.go); a refusal (RLIMIT_MEMLOCK) stops
	// start-up with etcd's "mlock error: ...".
	MemoryMlock bool
	// DisableGRPCGateway is --enable-grpc-gateway=false: no JSON gateway under /v3/ on the
	// client URLs (etcd serves it by default).
	DisableGRPCGateway bool
	// EnablePprof is --enable-pprof: Go's profiles under /debug/pprof/ on the client URLs.
	EnablePprof bool
	// CORS is --cors: the origins (scheme://host:port, as etcd's URL rules take them) whose
	// requests to the client HTTP surface get etcd's CORS headers; none, or "*" among them
	// (etcd's default), allows every origin (access.go).
	CORS []string
	// HostWhitelist is --host-whitelist: the host names a request to the client HTTP
	// surface without TLS may name in its Host header (others get etcd's 421); none, or "*"
	// among them (etcd's default), allows every host (access.go).
	HostWhitelist []string

	// ClientTLS is --cert-file, --key-file, --trusted-ca-file, --client-cert-auth,
	// --client-crl-file and --client-cert-allowed-hostname: TLS on the https:// client and
	// metrics URLs (tls.go).
	ClientTLS TLSInfo
	// PeerTLS is --peer-cert-file, --peer-key-file, --peer-trusted-ca-file,
	// --peer-client-cert-auth, --peer-crl-file, --peer-cert-allowed-cn and
	// --peer-cert-allowed-hostname: TLS on the https:// peer URLs, both the listener and the
	// connections this member opens to its peers (tls.go).
	PeerTLS TLSInfo
	// CipherSuites is --cipher-suites (Go's names, as tls.CipherSuites and
	// tls.InsecureCipherSuites list them, and etcd's two names without _SHA256), TLSMinVersion
	// and TLSMaxVersion --tls-min-version and --tls-max-version (TLS1.2 or TLS1.3; "": TLS 1.2
	// and Go's highest): for the client and peer listeners and the peer dials alike, as etcd.
	CipherSuites                 []string
	TLSMinVersion, TLSMaxVersion string
	// ClientAutoTLS and PeerAutoTLS are --auto-tls and --peer-auto-tls: without a
	// certificate, one is generated in the data dir (autotls.go), valid SelfSignedCertValidity
	// years (--self-signed-cert-validity; zero: etcd's 1).
	ClientAutoTLS, PeerAutoTLS bool
	SelfSignedCertValidity     uint
	// InitialCorruptCheck is --feature-gates=InitialCorruptCheck=true: before serving
	// clients the member compares its store's hash with every peer's and refuses to start on
	// a mismatch (corrupt.go).
	InitialCorruptCheck bool

	// CorruptCheckTime is --corrupt-check-time: how often the leader compares its store's hash
	// with every voter's and raises the CORRUPT alarm on a mismatch (corruptcheck.go); zero,
	// etcd's default, never.
	CorruptCheckTime time.Duration
	// AuthToken is --auth-token: "simple" (the default: random tokens assigned through the
	// log, living AuthTokenTTL unused) or "jwt,pub-key=...,priv-key=...,sign-method=...".
	AuthToken string
	// AuthTokenTTL is --auth-token-ttl (zero: etcd's 300 s).
	AuthTokenTTL time.Duration
	// BcryptCost is --bcrypt-cost for hashed passwords (zero: etcd's 10; outside bcrypt's 4
	// to 31 the default is used with a warning, as etcd does).
	BcryptCost int

	// Logger receives the member's log (JSON lines in cmd/ballast). Nil: slog.Default().
	Logger *slog.Logger
	// Version is reported by Maintenance.Status (etcd's server version field).
	Version string
}

// withDefaults fills the zero fields with etcd's defaults and checks what etcd's
// Config.Validate checks, with its messages.
func (c Config) withDefaults() (Config, error) {
	if err := validateTracing(c.DistributedTracing); err != nil {
		return c, err
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.DataDir == "" {
		c.DataDir = c.Name + ".etcd"
	}
	def := func(us []url.URL, s string) []url.URL {
		if len(us) > 0 {
			return us
		}
		u, _ := url.Parse(s)
		return []url.URL{*u}
	}
	c.ListenPeerURLs = def(c.ListenPeerURLs, DefaultListenPeerURL)
	c.AdvertisePeerURLs = def(c.AdvertisePeerURLs, DefaultListenPeerURL)
	c.ListenClientURLs = def(c.ListenClientURLs, DefaultListenClientURL)
	c.AdvertiseClientURLs = def(c.AdvertiseClientURLs, DefaultListenClientURL)
	if err := c.checkDiscovery(); err != nil {
		return c, err
	}
	if c.Discovery.enabled() {
		// etcd's PeerURLsMapAndToken: a temporary cluster of this member alone (its ID is
		// computed from it), and the discovery token as the cluster token.
		c.InitialClusterToken = c.Discovery.Token
		for p, d := range map[*time.Duration]time.Duration{&c.Discovery.DialTimeout: DefaultDiscoveryDialTimeout,
			&c.Discovery.RequestTimeout: DefaultDiscoveryRequestTimeout, &c.Discovery.KeepAliveTime: DefaultDiscoveryKeepAliveTime,
			&c.Discovery.KeepAliveTimeout: DefaultDiscoveryKeepAliveTimeout} {
			if *p == 0 {
				*p = d
			}
		}
	}
	if c.InitialCluster == "" && c.DiscoverySRV == "" {
		for _, u := range c.AdvertisePeerURLs {
			if c.InitialCluster != "" {
				c.InitialCluster += ","
			}
			c.InitialCluster += c.Name + "=" + u.String()
		}
	}
	if c.InitialClusterState == "" {
		c.InitialClusterState = ClusterStateNew
	}
	switch tokenType, _, _ := strings.Cut(c.AuthToken, ","); tokenType {
	case "", "simple":
		c.AuthToken = "simple"
	case "jwt": // its options are read and checked when the services start (rpc's jwt.go)
	default:
		return c, fmt.Errorf("--auth-token %q: auth: invalid auth options (want simple or jwt,...)", c.AuthToken)
	}
	if c.InitialClusterToken == "" {
		c.InitialClusterToken = DefaultInitialClusterToken
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = DefaultElectionTimeout
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = DefaultSnapshotCount
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = DefaultSnapshotCatchUpEntries
	}
	if c.WatchProgressNotifyInterval == 0 {
		c.WatchProgressNotifyInterval = DefaultWatchProgressNotifyInterval
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxTxnOps == 0 {
		c.MaxTxnOps = DefaultMaxTxnOps
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.GRPCKeepAliveMinTime == 0 {
		c.GRPCKeepAliveMinTime = DefaultGRPCKeepAliveMinTime
	}
	if c.GRPCKeepAliveInterval == 0 {
		c.GRPCKeepAliveInterval = DefaultGRPCKeepAliveInterval
	}
	if c.GRPCKeepAliveTimeout == 0 {
		c.GRPCKeepAliveTimeout = DefaultGRPCKeepAliveTimeout
	}
	if c.AutoCompactionMode == "" {
		c.AutoCompactionMode = CompactionModePeriodic
	}
	if c.AutoCompactionRetention == "" {
		c.AutoCompactionRetention = "0"
	}
	if c.autoCompactionRevisionInterval == 0 {
		c.autoCompactionRevisionInterval = revisionCompactionInterval
	}
	if c.WarningUnaryRequestDuration == 0 {
		c.WarningUnaryRequestDuration = DefaultWarningUnaryRequestDuration
	}
	if c.WarningApplyDuration == 0 {
		c.WarningApplyDuration = DefaultWarningApplyDuration
	}
	if c.MaxLearners == 0 {
		c.MaxLearners = DefaultMaxLearners
	}
	if c.Metrics == "" {
		c.Metrics = MetricsBasic // as etcd, any value but "extensive" is basic
	}
	if c.InitialClusterState != ClusterStateNew && c.InitialClusterState != ClusterStateExisting {
		return c, fmt.Errorf("unexpected clusterState %q", c.InitialClusterState)
	}
	tickMs, electionMs := c.HeartbeatInterval.Milliseconds(), c.ElectionTimeout.Milliseconds()
	switch {
	case tickMs <= 0:
		return c, fmt.Errorf("--heartbeat-interval must be >0 (set to %dms)", tickMs)
	case electionMs <= 0:
		return c, fmt.Errorf("--election-timeout must be >0 (set to %dms)", electionMs)
	case 5*tickMs > electionMs:
		return c, fmt.Errorf("--election-timeout[%vms] should be at least as 5 times as --heartbeat-interval[%vms]", electionMs, tickMs)
	case c.ElectionTimeout > maxElectionTimeout:
		return c, fmt.Errorf("--election-timeout[%vms] is too long, and should be set less than %vms", electionMs, maxElectionTimeout.Milliseconds())
	case c.MaxRequestBytes < 0 || c.MaxTxnOps < 0:
		return c, fmt.Errorf("--max-request-bytes (%d) and --max-txn-ops (%d) must not be negative", c.MaxRequestBytes, c.MaxTxnOps)
	case c.CompactionBatchLimit < 0:
		return c, fmt.Errorf("--compaction-batch-limit (%d) must not be negative", c.CompactionBatchLimit)
	case c.WarningApplyDuration < 0:
		return c, fmt.Errorf("--warning-apply-duration (%v) must not be negative", c.WarningApplyDuration)
	}
	switch c.AutoCompactionMode {
	case CompactionModePeriodic, CompactionModeRevision:
	default:
		return c, fmt.Errorf("unknown auto-compaction-mode %q", c.AutoCompactionMode)
	}
	if _, err := ParseCompactionRetention(c.AutoCompactionMode, c.AutoCompactionRetention); err != nil {
		return c, err
	}
	for _, group := range []struct {
		flag string
		urls []url.URL
	}{
		{"--listen-client-urls", c.ListenClientURLs}, {"--advertise-client-urls", c.AdvertiseClientURLs},
		{"--listen-peer-urls", c.ListenPeerURLs}, {"--initial-advertise-peer-urls", c.AdvertisePeerURLs},
		{"--listen-metrics-urls", c.ListenMetricsURLs}, {"--listen-client-http-urls", c.ListenClientHTTPURLs},
	} {
		for _, u := range group.urls {
			switch u.Scheme {
			case "http", "https", "unix", "unixs":
			default:
				return c, fmt.Errorf("%s %s: URL scheme must be http, https, unix, or unixs", group.flag, u.String())
			}
			if !secureURL(u) {
				continue
			}
			switch group.flag {
			case "--listen-client-urls", "--listen-client-http-urls":
				if c.ClientTLS.Empty() && !c.ClientAutoTLS {
					return c, fmt.Errorf("TLS key/cert (--cert-file, --key-file) must be provided for client url %s with HTTPS scheme", u.String())
				}
			case "--listen-metrics-urls":
				if c.ClientTLS.Empty() && !c.ClientAutoTLS {
					return c, errors.New("client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url") // etcd's ErrMissingClientTLSInfoForMetricsURL
				}
			case "--listen-peer-urls", "--initial-advertise-peer-urls":
				if c.PeerTLS.Empty() && !c.PeerAutoTLS {
					return c, fmt.Errorf("TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url %s with HTTPS scheme", u.String())
				}
			}
		}
	}
	if err := c.ClientTLS.check(); err != nil {
		return c, err
	}
	c.PeerTLS.Peer = true // its errors name the --peer- flags
	if err := c.PeerTLS.check(); err != nil {
		return c, fmt.Errorf("peer TLS: %w", err)
	}
	suites, minV, maxV, err := c.tlsVersions()
	if err != nil {
		return c, err
	}
	for _, t := range []*TLSInfo{&c.ClientTLS, &c.PeerTLS} {
		t.cipherSuites, t.minVersion, t.maxVersion = suites, minV, maxV
	}
	if c.SelfSignedCertValidity == 0 {
		c.SelfSignedCertValidity = DefaultSelfSignedCertValidity
	}
	return c, nil
}

// tlsVersions checks --tls-min-version, --tls-max-version and --cipher-suites as etcd's
// Config.Validate and updateCipherSuites do, with their messages.
func (c Config) tlsVersions() (suites []uint16, minV, maxV uint16, err error) {
	if minV, err = tlsVersion(c.TLSMinVersion); err != nil {
		return nil, 0, 0, err
	}
	if maxV, err = tlsVersion(c.TLSMaxVersion); err != nil {
		return nil, 0, 0, err
	}
	if maxV != 0 && minV > maxV {
		return nil, 0, 0, fmt.Errorf("min version (%s) is greater than max version (%s)", c.TLSMinVersion, c.TLSMaxVersion)
	}
	if minV == tls.VersionTLS13 && len(c.CipherSuites) > 0 {
		return nil, 0, 0, errors.New("cipher suites cannot be configured when only TLS1.3 is enabled")
	}
	for _, name := range c.CipherSuites {
		id, ok := cipherSuite(name)
		if !ok {
			return nil, 0, 0, fmt.Errorf("unexpected TLS cipher suite %q", name)
		}
		suites = append(suites, id)
	}
	return suites, minV, maxV, nil
}

// tlsVersion is etcd's tlsutil.GetTLSVersion ("": 0, Go's choice).
func tlsVersion(s string) (uint16, error) {
	switch s {
	case "":
		return 0, nil
	case "TLS1.2":
		return tls.VersionTLS12, nil
	case "TLS1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("unexpected TLS version %q (must be one of: TLS1.2, TLS1.3)", s)
}

// cipherSuite is etcd's tlsutil.GetCipherSuite: Go's names, secure and insecure, and the two
// CHACHA20 names of Go before 1.16.
func cipherSuite(name string) (uint16, bool) {
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if cs.Name == name {
			return cs.ID, true
		}
	}
	switch name {
	case "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305":
		return tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true
	case "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305":
		return tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true
	}
	return 0, false
}

// Validate reports what Start would refuse in c before it touches the disk or the network:
// etcd's checks of the flags, with etcd's messages.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// electionTicks is etcd's Config.ElectionTicks.
func (c Config) electionTicks() int {
	return int(c.ElectionTimeout.Milliseconds() / c.HeartbeatInterval.Milliseconds())
}

func urlStrings(us []url.URL) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	return out
}
