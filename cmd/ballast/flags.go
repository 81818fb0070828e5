package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ballastdb/ballast/rpc/embed"
)

// This file parses the command line as etcd's etcdmain does (config.go): Go's flag package
// (one or two dashes, --flag=value and --flag value, bare booleans), the same flag names,
// defaults, value rules and messages, ETCD_* environment variables for flags not given, and
// the same exit codes: 2 for what the flag package refuses (an unknown flag, a value it
// cannot parse), 1 for a configuration etcd's validation refuses, 0 for --help and --version.

// exitUsage and exitConfig are etcd's exit codes for a bad command line.
const (
	exitUsage  = 2 // the flag package refused it (etcdmain: os.Exit(2))
	exitConfig = 1 // "failed to verify flags"
)

// ignoredFlags are the flags etcd accepts and ignores with a warning (etcdmain's ignored list).
var ignoredFlags = []string{"cluster-active-size", "cluster-remove-delay", "cluster-sync-interval", "config",
	"force", "max-result-buffer", "max-retry-attempts", "peer-heartbeat-interval", "peer-election-timeout",
	"retry-interval", "snapshot", "v", "vv"}

// options is what the command line asks for.
type options struct {
	cfg          embed.Config
	logLevel     slog.Level
	log          logOptions
	printVersion bool
	warnings     []string  // logged once the logger exists, as etcd logs them
	infos        []logLine // likewise, at level info
}

// logLine is a message and its fields, logged once the logger exists.
type logLine struct {
	msg  string
	args []any
}

// cmdError is a command line refused: the message, and the exit code etcd uses for it.
type cmdError struct {
	code int
	err  error
}

func (e *cmdError) Error() string { return e.err.Error() }
func (e *cmdError) Unwrap() error { return e.err }

// errHelp: --help was asked for and printed.
var errHelp = errors.New("help printed")

// urlsValue is etcd's flags.UniqueURLs: a comma-separated list of URLs (types.NewURLs' rules),
// duplicates dropped, sorted.
type urlsValue struct{ urls []string }

func (v *urlsValue) String() string { return strings.Join(v.urls, ",") }
func (v *urlsValue) Set(s string) error {
	if s == "" { // etcd's exception: an empty value leaves the default
		return nil
	}
	urls, err := embed.ParseURLs(strings.Split(s, ","))
	if err != nil {
		return err
	}
	v.urls = slices.Compact(urls)
	return nil
}

// selectiveValue is etcd's flags.SelectiveStringValue.
type selectiveValue struct {
	value  string
	valids []string
}

func (v *selectiveValue) String() string { return v.value }
func (v *selectiveValue) Set(s string) error {
	if !slices.Contains(v.valids, s) {
		return errors.New("invalid value")
	}
	v.value = s
	return nil
}

// ignoredValue is etcd's flags.IgnoredFlag.
type ignoredValue struct {
	name     string
	warnings *[]string
}

func (v *ignoredValue) String() string   { return "" }
func (v *ignoredValue) IsBoolFlag() bool { return true }
func (v *ignoredValue) Set(string) error {
	*v.warnings = append(*v.warnings, "flag is no longer supported - ignoring: --"+v.name)
	return nil
}

// flagVars are the flag set's destinations, for the flags Ballast parses into its Config.
type flagVars struct {
	name, dataDir, walDir                                 *string
	listenPeer, listenClient                              *urlsValue
	advertisePeer, advertiseClient                        *urlsValue
	initialCluster, token                                 *string
	clusterState, discoveryFallback, v2Deprecation        *selectiveValue
	tickMs, electionMs, maxRequestBytes, maxTxnOps        *uint
	snapshotCount, snapshotCatchUpEntries                 *uint64
	quotaBackendBytes                                     *int64
	watchProgressNotifyInterval                           *time.Duration
	logLevel, logFormat                                   *string
	logOutputs                                            *stringsValue
	enableLogRotation                                     *bool
	logRotationJSON                                       *string
	configFile                                            *string
	listenMetrics                                         *urlsValue
	listenClientHTTP                                      *urlsValue
	metrics                                               *string
	enablePprof                                           *bool
	enableGateway                                         *bool
	maxLearners                                           *int
	strictReconfig, preVote, tickAdvance, forceNewCluster *bool
	unsafeNoFsync                                         *bool
	memoryMlock                                           *bool
	discovery                                             embed.DiscoveryConfig
	discoveryEndpoints                                    *stringsValue
	discoverySRV, discoverySRVName                        *string
	reusePort, reuseAddress                               *bool
	warnUnary                                             *time.Duration
	warnApply                                             *time.Duration
	compactionBatchLimit                                  *int
	compactionMode, compactionRetention                   *string
	maxStreams                                            *uint32Value
	keepAliveMinTime, keepAliveInterval, keepAliveTimeout *time.Duration
	gates                                                 *featureGatesValue
	tracing                                               *bool
	tracingAddress, tracingService, tracingInstance       *string
	tracingRate                                           *int
	certFile, keyFile, trustedCAFile                      *string
	clientCertAuth                                        *bool
	authToken                                             *string
	corruptCheckTime                                      *time.Duration
	compactHashCheckTime                                  *time.Duration
	bcryptCost, authTokenTTL                              *uint
	peerCertFile, peerKeyFile, peerTrustedCAFile          *string
	peerClientCertAuth                                    *bool
	clientCRLFile, peerCRLFile                            *string
	clientCertFile, clientKeyFile                         *string
	peerClientCertFile, peerClientKeyFile                 *string
	clientAllowedHostnames                                *listValue
	peerAllowedCNs, peerAllowedHostnames                  *listValue
	cipherSuites                                          *listValue
	tlsMinVersion, tlsMaxVersion                          *string
	autoTLS, peerAutoTLS                                  *bool
	peerSkipSAN                                           *bool
	cors                                                  *corsValue
	hostWhitelist                                         *hostsValue
	selfSignedCertValidity                                *uint
	refused                                               []string // refusal messages, in the order given
	defaultInitialCluster                                 string
	// applyBuildFlags applies the flags only some builds have (build_chaos.go), nil in others.
	applyBuildFlags func(*embed.Config) error
}

// newFlagSet defines every flag of etcd v3.7's `etcd --help` (and etcd's ignored ones, and
// the v3.6 --experimental-* spellings) on a new flag set.
func newFlagSet(role string, opts *options, stderr io.Writer) (*flag.FlagSet, *flagVars) {
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText(role)) }
	v := &flagVars{}
	v.name = fs.String("name", embed.DefaultName, "Human-readable name for this member.")
	v.dataDir = fs.String("data-dir", "", "Path to the data directory.")
	v.walDir = fs.String("wal-dir", "", "Path to the dedicated wal directory.")
	v.listenPeer = &urlsValue{[]string{embed.DefaultListenPeerURL}}
	v.listenClient = &urlsValue{[]string{embed.DefaultListenClientURL}}
	v.advertisePeer = &urlsValue{[]string{embed.DefaultListenPeerURL}}
	v.advertiseClient = &urlsValue{[]string{embed.DefaultListenClientURL}}
	fs.Var(v.listenPeer, "listen-peer-urls", "List of URLs to listen on for peer traffic.")
	fs.Var(v.listenClient, "listen-client-urls", "List of URLs to listen on for client grpc traffic and http.")
	fs.Var(v.advertisePeer, "initial-advertise-peer-urls", "List of this member's peer URLs to advertise to the rest of the cluster.")
	fs.Var(v.advertiseClient, "advertise-client-urls", "List of this member's client URLs to advertise to the public.")
	v.defaultInitialCluster = embed.DefaultName + "=" + embed.DefaultListenPeerURL
	v.initialCluster = fs.String("initial-cluster", v.defaultInitialCluster, "Initial cluster configuration for bootstrapping.")
	v.clusterState = &selectiveValue{embed.ClusterStateNew, []string{embed.ClusterStateNew, embed.ClusterStateExisting}}
	fs.Var(v.clusterState, "initial-cluster-state", "Initial cluster state ('new' or 'existing').")
	v.token = fs.String("initial-cluster-token", embed.DefaultInitialClusterToken, "Initial cluster token for the etcd cluster during bootstrap.")
	v.tickMs = fs.Uint("heartbeat-interval", uint(embed.DefaultHeartbeatInterval/time.Millisecond), "Time (in milliseconds) of a heartbeat interval.")
	v.electionMs = fs.Uint("election-timeout", uint(embed.DefaultElectionTimeout/time.Millisecond), "Time (in milliseconds) for an election to timeout.")
	v.snapshotCount = fs.Uint64("snapshot-count", embed.DefaultSnapshotCount, "Number of committed transactions to trigger a snapshot.")
	v.snapshotCatchUpEntries = fs.Uint64("snapshot-catchup-entries", embed.DefaultSnapshotCatchUpEntries, "Number of entries for a slow follower to catch up after compacting the raft storage entries.")
	v.maxRequestBytes = fs.Uint("max-request-bytes", embed.DefaultMaxRequestBytes, "Maximum client request size in bytes the server will accept.")
	v.maxTxnOps = fs.Uint("max-txn-ops", embed.DefaultMaxTxnOps, "Maximum number of operations permitted in a transaction.")
	v.quotaBackendBytes = fs.Int64("quota-backend-bytes", 0, "Raise alarms when backend size exceeds the given quota. 0 means use the default quota.")
	v.watchProgressNotifyInterval = fs.Duration("watch-progress-notify-interval", embed.DefaultWatchProgressNotifyInterval, "Duration of periodic watch progress notifications.")
	v.logLevel = fs.String("log-level", "info", "Configures log level. Only supports debug, info, warn, error, panic, or fatal.")
	v.logFormat = fs.String("log-format", logFormatJSON, "Configures log format. Only supports json, console.")
	v.logOutputs = &stringsValue{[]string{logOutputDefault}}
	fs.Var(v.logOutputs, "log-outputs", "Specify 'stdout' or 'stderr', or list of comma separated output targets.")
	v.enableLogRotation = fs.Bool("enable-log-rotation", false, "Enable log rotation of a single log-outputs file target.")
	v.logRotationJSON = fs.String("log-rotation-config-json", defaultLogRotationConfig, "Configures log rotation if enabled with a JSON logger config. Default: MaxSize=100(MB), MaxAge=0(days,no limit), MaxBackups=0(no limit), LocalTime=false(UTC), Compress=false(gzip)")
	v.configFile = fs.String("config-file", "", "Path to the server configuration file.")
	v.listenClientHTTP = &urlsValue{}
	fs.Var(v.listenClientHTTP, "listen-client-http-urls", "List of URLs to listen on for http only client traffic. Enabling this flag removes http services from --listen-client-urls.")
	v.listenMetrics = &urlsValue{}
	fs.Var(v.listenMetrics, "listen-metrics-urls", "List of URLs to listen on for the /metrics and /health endpoints.")
	v.metrics = fs.String("metrics", embed.MetricsBasic, "Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics.")
	v.maxStreams = &uint32Value{embed.DefaultMaxConcurrentStreams}
	fs.Var(v.maxStreams, "max-concurrent-streams", "Maximum concurrent streams that each client can open at a time.")
	v.keepAliveMinTime = fs.Duration("grpc-keepalive-min-time", embed.DefaultGRPCKeepAliveMinTime, "Minimum interval duration that a client should wait before pinging server.")
	v.keepAliveInterval = fs.Duration("grpc-keepalive-interval", embed.DefaultGRPCKeepAliveInterval, "Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).")
	v.keepAliveTimeout = fs.Duration("grpc-keepalive-timeout", embed.DefaultGRPCKeepAliveTimeout, "Additional duration of wait before closing a non-responsive connection (0 to disable).")
	v.compactionRetention = fs.String("auto-compaction-retention", "0", "Auto compaction retention for mvcc key value store. 0 means disable auto compaction.")
	v.compactionMode = fs.String("auto-compaction-mode", embed.CompactionModePeriodic, "interpret 'auto-compaction-retention' one of: periodic|revision.")
	v.warnUnary = fs.Duration("warning-unary-request-duration", embed.DefaultWarningUnaryRequestDuration, "Time duration after which a warning is generated if a unary request takes more time.")
	v.warnApply = fs.Duration("warning-apply-duration", embed.DefaultWarningApplyDuration, "Time duration after which a warning is generated if applying request takes more time.")
	v.compactionBatchLimit = fs.Int("compaction-batch-limit", 0, "Sets the maximum revisions deleted in each compaction batch (0: 1000).")
	v.reusePort = fs.Bool("socket-reuse-port", false, "Enable to set socket option SO_REUSEPORT on listeners allowing rebinding of a port already in use.")
	v.reuseAddress = fs.Bool("socket-reuse-address", false, "Enable to set socket option SO_REUSEADDR on listeners allowing binding to an address in TIME_WAIT state.")
	v.unsafeNoFsync = fs.Bool("unsafe-no-fsync", false, "Disables fsync, unsafe, will cause data loss.")
	v.memoryMlock = fs.Bool("memory-mlock", false, "Enable to enforce etcd pages (in particular bbolt) to stay in RAM.")
	v.forceNewCluster = fs.Bool("force-new-cluster", false, "Force to create a new one member cluster.")
	v.preVote = fs.Bool("pre-vote", true, "Enable the raft Pre-Vote algorithm to prevent disruption when a node that has been partitioned away rejoins the cluster.")
	v.tickAdvance = fs.Bool("initial-election-tick-advance", true, "Whether to fast-forward initial election ticks on boot for faster election.")
	v.strictReconfig = fs.Bool("strict-reconfig-check", true, "Reject reconfiguration requests that would cause quorum loss.")
	v.maxLearners = fs.Int("max-learners", embed.DefaultMaxLearners, "Sets the maximum number of learners that can be available in the cluster membership.")
	v.enableGateway = fs.Bool("enable-grpc-gateway", true, "Enable GRPC gateway.")
	v.enablePprof = fs.Bool("enable-pprof", false, "Enable runtime profiling data via HTTP server. Address is at client URL + \"/debug/pprof/\"")
	v.discoveryEndpoints = &stringsValue{}
	fs.Var(v.discoveryEndpoints, "discovery-endpoints", "V3 discovery: List of gRPC endpoints of the discovery service.")
	fs.StringVar(&v.discovery.Token, "discovery-token", "", "V3 discovery: discovery token for the etcd cluster to be bootstrapped.")
	fs.DurationVar(&v.discovery.DialTimeout, "discovery-dial-timeout", embed.DefaultDiscoveryDialTimeout, "V3 discovery: dial timeout for client connections.")
	fs.DurationVar(&v.discovery.RequestTimeout, "discovery-request-timeout", embed.DefaultDiscoveryRequestTimeout, "V3 discovery: timeout for discovery requests (excluding dial timeout).")
	fs.DurationVar(&v.discovery.KeepAliveTime, "discovery-keepalive-time", embed.DefaultDiscoveryKeepAliveTime, "V3 discovery: keepalive time for client connections.")
	fs.DurationVar(&v.discovery.KeepAliveTimeout, "discovery-keepalive-timeout", embed.DefaultDiscoveryKeepAliveTimeout, "V3 discovery: keepalive timeout for client connections.")
	fs.BoolVar(&v.discovery.InsecureTransport, "discovery-insecure-transport", true, "V3 discovery: disable transport security for client connections.")
	fs.BoolVar(&v.discovery.InsecureSkipVerify, "discovery-insecure-skip-tls-verify", false, "V3 discovery: skip server certificate verification (CAUTION: this option should be enabled only for testing purposes).")
	fs.StringVar(&v.discovery.Cert, "discovery-cert", "", "V3 discovery: identify secure client using this TLS certificate file.")
	fs.StringVar(&v.discovery.Key, "discovery-key", "", "V3 discovery: identify secure client using this TLS key file.")
	fs.StringVar(&v.discovery.CACert, "discovery-cacert", "", "V3 discovery: verify certificates of TLS-enabled secure servers using this CA bundle.")
	fs.StringVar(&v.discovery.User, "discovery-user", "", "V3 discovery: username[:password] for authentication (prompt if password is not supplied).")
	fs.StringVar(&v.discovery.Password, "discovery-password", "", "V3 discovery: password for authentication (if this option is used, --user option shouldn't include password).")
	v.discoverySRV = fs.String("discovery-srv", "", "DNS domain used to bootstrap initial cluster.")
	v.discoverySRVName = fs.String("discovery-srv-name", "", "Service name to query when using DNS discovery.")
	v.discoveryFallback = &selectiveValue{"exit", []string{"exit", "proxy"}}
	fs.Var(v.discoveryFallback, "discovery-fallback", `Valid values include ["exit" "proxy"]`)
	v.v2Deprecation = &selectiveValue{"write-only", []string{"not-yet", "write-only", "write-only-skip-check", "write-only-drop-data", "gone"}}
	fs.Var(v.v2Deprecation, "v2-deprecation", "v2store deprecation stage (etcd enforces its default, ignoring user input).")
	v.gates = &featureGatesValue{}
	fs.Var(v.gates, "feature-gates", "A set of key=value pairs that describe server level feature gates.")
	v.certFile = fs.String("cert-file", "", "Path to the client server TLS cert file.")
	v.keyFile = fs.String("key-file", "", "Path to the client server TLS key file.")
	v.trustedCAFile = fs.String("trusted-ca-file", "", "Path to the client server TLS trusted CA cert file.")
	v.clientCertAuth = fs.Bool("client-cert-auth", false, "Enable client cert authentication.")
	v.authToken = fs.String("auth-token", "simple", "Specify auth token specific options.")
	v.compactHashCheckTime = fs.Duration("compact-hash-check-time", time.Minute, "Duration of time between leader checks followers compaction hashes.")
	v.corruptCheckTime = fs.Duration("corrupt-check-time", 0, "Duration of time between cluster corruption check passes.")
	v.bcryptCost = fs.Uint("bcrypt-cost", 10, "Specify bcrypt algorithm cost factor for auth password hashing.")
	v.authTokenTTL = fs.Uint("auth-token-ttl", 300, "The lifetime in seconds of the auth token.")
	v.peerCertFile = fs.String("peer-cert-file", "", "Path to the peer server TLS cert file.")
	v.peerKeyFile = fs.String("peer-key-file", "", "Path to the peer server TLS key file.")
	v.peerTrustedCAFile = fs.String("peer-trusted-ca-file", "", "Path to the peer server TLS trusted CA file.")
	v.peerClientCertAuth = fs.Bool("peer-client-cert-auth", false, "Enable peer client cert authentication.")
	v.clientCertFile = fs.String("client-cert-file", "", "Path to an explicit peer client TLS cert file otherwise cert file will be used when client auth is required.")
	v.clientKeyFile = fs.String("client-key-file", "", "Path to an explicit peer client TLS key file otherwise key file will be used when client auth is required.")
	v.peerClientCertFile = fs.String("peer-client-cert-file", "", "Path to an explicit peer client TLS cert file otherwise peer cert file will be used when client auth is required.")
	v.peerClientKeyFile = fs.String("peer-client-key-file", "", "Path to an explicit peer client TLS key file otherwise peer key file will be used when client auth is required.")
	v.clientCRLFile = fs.String("client-crl-file", "", "Path to the client certificate revocation list file.")
	v.clientAllowedHostnames = &listValue{}
	fs.Var(v.clientAllowedHostnames, "client-cert-allowed-hostname", "Comma-separated list of allowed SAN hostnames for client cert authentication.")
	v.autoTLS = fs.Bool("auto-tls", false, "Client TLS using generated certificates")
	v.peerAllowedCNs = &listValue{}
	fs.Var(v.peerAllowedCNs, "peer-cert-allowed-cn", "Comma-separated list of allowed CNs for inter-peer TLS authentication.")
	v.peerAllowedHostnames = &listValue{}
	fs.Var(v.peerAllowedHostnames, "peer-cert-allowed-hostname", "Comma-separated list of allowed SAN hostnames for inter-peer TLS authentication.")
	v.peerAutoTLS = fs.Bool("peer-auto-tls", false, "Peer TLS using generated certificates")
	v.selfSignedCertValidity = fs.Uint("self-signed-cert-validity", embed.DefaultSelfSignedCertValidity, "The validity period of the client and peer certificates, unit is year")
	v.peerCRLFile = fs.String("peer-crl-file", "", "Path to the peer certificate revocation list file.")
	v.peerSkipSAN = fs.Bool("peer-skip-client-san-verification", false, "Skip verification of SAN field in client certificate for peer connections.")
	v.cors = &corsValue{values: []string{"*"}}
	fs.Var(v.cors, "cors", "Comma-separated white list of origins for CORS, or cross-origin resource sharing, (empty or * means allow all)")
	v.hostWhitelist = &hostsValue{values: []string{"*"}}
	fs.Var(v.hostWhitelist, "host-whitelist", "Comma-separated acceptable hostnames from HTTP client requests, if server is not secure (empty means allow all).")
	v.cipherSuites = &listValue{}
	fs.Var(v.cipherSuites, "cipher-suites", "Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go).")
	v.tlsMinVersion = fs.String("tls-min-version", "TLS1.2", "Minimum TLS version supported by etcd. Possible values: TLS1.2, TLS1.3.")
	v.tlsMaxVersion = fs.String("tls-max-version", "", "Maximum TLS version supported by etcd. Possible values: TLS1.2, TLS1.3 (empty defers to Go).")
	v.tracing = fs.Bool("enable-distributed-tracing", false, "Enable distributed tracing using OpenTelemetry Tracing.")
	v.tracingAddress = fs.String("distributed-tracing-address", embed.DefaultDistributedTracingAddress, "Address for distributed tracing used for OpenTelemetry Tracing (if enabled with enable-distributed-tracing flag).")
	v.tracingService = fs.String("distributed-tracing-service-name", embed.DefaultDistributedTracingServiceName, "Configures service name for distributed tracing to be used to define service name for OpenTelemetry Tracing (if enabled with enable-distributed-tracing flag). 'etcd' is the default service name. Use the same service name for all instances of etcd.")
	v.tracingInstance = fs.String("distributed-tracing-instance-id", "", "Configures service instance ID for distributed tracing to be used to define service instance ID key for OpenTelemetry Tracing (if enabled with enable-distributed-tracing flag). There is no default value set. This ID must be unique per etcd instance.")
	v.tracingRate = fs.Int("distributed-tracing-sampling-rate", 0, "Number of samples to collect per million spans for OpenTelemetry Tracing (if enabled with enable-distributed-tracing flag).")
	fs.BoolVar(&opts.printVersion, "version", false, "Print the version and exit.")

	v.applyBuildFlags = defineBuildFlags(fs)
	for _, f := range unsupportedFlags {
		fs.Var(&refusedValue{flag: f, refused: &v.refused}, f.name, "not supported yet: "+f.reason)
	}
	for _, f := range fixedFlags {
		fs.Var(&fixedValue{flag: f, value: f.values[len(f.values)-1], refused: &v.refused}, f.name, "Accepted as "+f.values[len(f.values)-1]+" only (see below).")
	}
	for _, f := range experimentalFlags {
		fs.Var(&experimentalValue{flag: f, fs: fs, gates: v.gates, warnings: &opts.warnings, refused: &v.refused}, "experimental-"+f.name, "")
	}
	for _, n := range ignoredFlags {
		fs.Var(&ignoredValue{name: n, warnings: &opts.warnings}, n, "")
	}
	return fs, v
}

// parseCommandLine parses args (without the program name) and the environment (KEY=VALUE
// entries) for role ("etcd" or "ballast"), or the file --config-file (or ETCD_CONFIG_FILE)
// names, in which case the other flags and variables are ignored, as etcd does. Help goes
// to stdout, the flag package's own messages to stderr. The error is a *cmdError carrying
// etcd's exit code, or errHelp.
func parseCommandLine(role string, args, environ []string, stdout, stderr io.Writer) (options, error) {
	var opts options
	fs, vars := newFlagSet(role, &opts, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, helpText(role))
			return opts, errHelp
		}
		// The flag package has printed the error and the usage, as etcd's does.
		return opts, &cmdError{exitUsage, err}
	}
	bad := func(err error) (options, error) { return opts, &cmdError{exitConfig, err} }
	if fs.NArg() != 0 {
		return bad(fmt.Errorf("%q is not a valid flag", fs.Arg(0)))
	}
	if opts.printVersion {
		return opts, nil
	}
	configFile := *vars.configFile
	if configFile == "" {
		configFile = lookupEnv(environ, "ETCD_CONFIG_FILE")
	}
	if configFile != "" {
		// etcd starts again from its defaults: every flag and variable is ignored.
		opts = options{}
		fs, vars = newFlagSet(role, &opts, stderr)
		warn := func(w string) { opts.warnings = append(opts.warnings, w) }
		if err := applyConfigFile(fs, configFile, warn); err != nil {
			return bad(err)
		}
		opts.infos = append(opts.infos, logLine{"loaded server configuration, other configuration command line flags and environment variables will be ignored if provided",
			[]any{"path", configFile}})
	} else if err := setFlagsFromEnv(fs, environ, &opts.warnings); err != nil {
		return bad(err)
	}
	if len(vars.refused) > 0 {
		return bad(errors.New(vars.refused[0]))
	}
	if err := vars.gates.check(&opts.warnings); err != nil {
		return bad(err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return buildConfig(opts, vars, set, configFile != "")
}

// buildConfig turns the parsed flags into the member's Config with etcd's checks, in its
// order (embed.Config.Validate, then etcdmain's defaults).
func buildConfig(opts options, v *flagVars, set map[string]bool, fromFile bool) (options, error) {
	bad := func(err error) (options, error) { return opts, &cmdError{exitConfig, err} }
	level, err := parseLogLevel(*v.logLevel)
	if err != nil {
		return bad(err)
	}
	opts.logLevel = level
	opts.log, err = parseLogOptions(v.logOutputs.values, *v.logFormat, *v.enableLogRotation, *v.logRotationJSON)
	if err != nil {
		return bad(err)
	}
	if *v.compactionMode == "" {
		return bad(errors.New("undefined auto-compaction-mode"))
	}
	if v.discoveryFallback.value == "proxy" {
		return bad(errors.New(`v2 proxy is deprecated, and --discovery-fallback can't be configured as "proxy"`))
	}
	for _, name := range []string{"max-snapshots", "v2-deprecation"} {
		if set[name] {
			opts.warnings = append(opts.warnings, deprecatedFlags[name])
		}
	}
	toURLs := func(ss []string) []url.URL {
		out := make([]url.URL, 0, len(ss))
		for _, s := range ss {
			u, _ := url.Parse(s) // checked by urlsValue.Set
			out = append(out, *u)
		}
		return out
	}
	cfg := embed.Config{
		Name:                         *v.name,
		DataDir:                      *v.dataDir,
		WALDir:                       *v.walDir,
		ListenPeerURLs:               toURLs(v.listenPeer.urls),
		ListenClientURLs:             toURLs(v.listenClient.urls),
		AdvertisePeerURLs:            toURLs(v.advertisePeer.urls),
		AdvertiseClientURLs:          toURLs(v.advertiseClient.urls),
		InitialCluster:               *v.initialCluster,
		InitialClusterState:          v.clusterState.value,
		InitialClusterToken:          *v.token,
		HeartbeatInterval:            time.Duration(*v.tickMs) * time.Millisecond,
		ElectionTimeout:              time.Duration(*v.electionMs) * time.Millisecond,
		SnapshotCount:                *v.snapshotCount,
		SnapshotCatchUpEntries:       *v.snapshotCatchUpEntries,
		MaxRequestBytes:              int(*v.maxRequestBytes),
		MaxTxnOps:                    int(*v.maxTxnOps),
		QuotaBackendBytes:            *v.quotaBackendBytes,
		WatchProgressNotifyInterval:  *v.watchProgressNotifyInterval,
		ListenMetricsURLs:            toURLs(v.listenMetrics.urls),
		ListenClientHTTPURLs:         toURLs(v.listenClientHTTP.urls),
		Metrics:                      *v.metrics,
		EnablePprof:                  *v.enablePprof,
		DisableGRPCGateway:           !*v.enableGateway,
		AutoCompactionMode:           *v.compactionMode,
		WarningUnaryRequestDuration:  *v.warnUnary,
		WarningApplyDuration:         *v.warnApply,
		CompactionBatchLimit:         *v.compactionBatchLimit,
		SocketReusePort:              *v.reusePort,
		UnsafeNoFsync:                *v.unsafeNoFsync,
		MemoryMlock:                  *v.memoryMlock,
		Discovery:                    v.discovery,
		MaxLearners:                  learnersBound(*v.maxLearners),
		NoStrictReconfigCheck:        !*v.strictReconfig,
		NoPreVote:                    !*v.preVote,
		ForceNewCluster:              *v.forceNewCluster,
		NoInitialElectionTickAdvance: !*v.tickAdvance,
		SocketReuseAddress:           *v.reuseAddress,
		AutoCompactionRetention:      *v.compactionRetention,
		MaxConcurrentStreams:         v.maxStreams.v,
		GRPCKeepAliveMinTime:         *v.keepAliveMinTime,
		GRPCKeepAliveInterval:        zeroIsOff(*v.keepAliveInterval),
		GRPCKeepAliveTimeout:         zeroIsOff(*v.keepAliveTimeout),
		Version:                      etcdVersion,
		AuthToken:                    *v.authToken,
		CorruptCheckTime:             *v.corruptCheckTime,
		AuthTokenTTL:                 time.Duration(*v.authTokenTTL) * time.Second,
		BcryptCost:                   int(*v.bcryptCost),
		ClientTLS: embed.TLSInfo{CertFile: *v.certFile, KeyFile: *v.keyFile, TrustedCAFile: *v.trustedCAFile,
			ClientCertAuth: *v.clientCertAuth, CRLFile: *v.clientCRLFile, ClientCertFile: *v.clientCertFile, ClientKeyFile: *v.clientKeyFile, AllowedHostnames: v.clientAllowedHostnames.values},
		PeerTLS: embed.TLSInfo{CertFile: *v.peerCertFile, KeyFile: *v.peerKeyFile, TrustedCAFile: *v.peerTrustedCAFile,
			ClientCertAuth: *v.peerClientCertAuth, CRLFile: *v.peerCRLFile, ClientCertFile: *v.peerClientCertFile, ClientKeyFile: *v.peerClientKeyFile,
			AllowedCNs: v.peerAllowedCNs.values, AllowedHostnames: v.peerAllowedHostnames.values, SkipClientSANVerify: *v.peerSkipSAN},
		CORS:                   v.cors.values,
		HostWhitelist:          v.hostWhitelist.values,
		CipherSuites:           v.cipherSuites.values,
		TLSMinVersion:          *v.tlsMinVersion,
		TLSMaxVersion:          *v.tlsMaxVersion,
		ClientAutoTLS:          *v.autoTLS,
		PeerAutoTLS:            *v.peerAutoTLS,
		SelfSignedCertValidity: *v.selfSignedCertValidity,
		InitialCorruptCheck:    v.gates.set["InitialCorruptCheck"],
		CompactHashCheck:       v.gates.set["CompactHashCheck"],
		CompactHashCheckTime:   *v.compactHashCheckTime,
	}
	cfg.DistributedTracing = embed.DistributedTracing{Enabled: *v.tracing, Address: *v.tracingAddress,
		ServiceName: *v.tracingService, InstanceID: *v.tracingInstance, SamplingRatePerMillion: *v.tracingRate}
	// etcd's SelfCert refuses a validity of 0 given on the command line (its config file
	// takes 0 as 1); the peer certificates are made first.
	if cfg.SelfSignedCertValidity == 0 && !fromFile {
		switch {
		case cfg.PeerAutoTLS && cfg.PeerTLS.Empty():
			return bad(errors.New("failed to get peer self-signed certs: selfSignedCertValidity is invalid,it should be greater than 0"))
		case cfg.ClientAutoTLS && cfg.ClientTLS.Empty():
			return bad(errors.New("failed to get client self-signed certs: selfSignedCertValidity is invalid,it should be greater than 0"))
		}
	}
	if err := checkBindURLs(cfg.ListenPeerURLs); err != nil {
		return bad(err)
	}
	if err := checkBindURLs(cfg.ListenClientURLs); err != nil {
		return bad(err)
	}
	if err := checkBindURLs(cfg.ListenClientHTTPURLs); err != nil {
		return bad(err)
	}
	if err := checkBindURLs(cfg.ListenMetricsURLs); err != nil {
		return bad(err)
	}
	if err := checkHostURLs(cfg.AdvertisePeerURLs); err != nil {
		return bad(fmt.Errorf(`--initial-advertise-peer-urls %q must be "host:port" (%w)`, v.advertisePeer.String(), err))
	}
	if err := checkHostURLs(cfg.AdvertiseClientURLs); err != nil {
		return bad(fmt.Errorf(`--advertise-client-urls %q must be in the format "host:port", "unix:/path/to/socket" or "unixs:/path/to/socket" (%w)`, v.advertiseClient.String(), err))
	}
	if tickMs, electionMs := *v.tickMs, *v.electionMs; tickMs == 0 {
		return bad(fmt.Errorf("--heartbeat-interval must be >0 (set to %dms)", tickMs))
	} else if electionMs == 0 {
		return bad(fmt.Errorf("--election-timeout must be >0 (set to %dms)", electionMs))
	}
	// etcd drops the default advertise URL when only the listen URL is given, then refuses
	// (on the command line only: its config file keeps the default).
	if !fromFile && set["listen-client-urls"] && !set["advertise-client-urls"] {
		return bad(errors.New("--advertise-client-urls is required when --listen-client-urls is set explicitly"))
	}
	// etcd clears the default --initial-cluster when discovery is asked for.
	cfg.Discovery.Endpoints = v.discoveryEndpoints.values
	cfg.DiscoverySRV, cfg.DiscoverySRVName = *v.discoverySRV, *v.discoverySRVName
	if (len(cfg.Discovery.Endpoints) > 0 || cfg.DiscoverySRV != "" || cfg.DiscoverySRVName != "") && !set["initial-cluster"] {
		cfg.InitialCluster = ""
	}
	// etcd's UpdateDefaultClusterFromName: `--name abc` alone names the one-member cluster.
	if cfg.Name != embed.DefaultName && cfg.InitialCluster == v.defaultInitialCluster {
		var pairs []string
		for _, u := range v.advertisePeer.urls {
			pairs = append(pairs, cfg.Name+"="+u)
		}
		cfg.InitialCluster = strings.Join(pairs, ",")
	}
	if cfg.DataDir == "" {
		cfg.DataDir = cfg.Name + ".etcd"
		opts.warnings = append(opts.warnings, "'data-dir' was empty; using default: "+cfg.DataDir)
	}
	if err := cfg.Validate(); err != nil {
		return bad(err)
	}
	if cfg.Name == embed.DefaultName {
		opts.warnings = append(opts.warnings, "it isn't recommended to use default name, please set a value for --name. "+
			"Note that etcd might run into issue when multiple members have the same default name")
	}
	if v.applyBuildFlags != nil {
		if err := v.applyBuildFlags(&cfg); err != nil {
			return bad(err)
		}
	}
	opts.cfg = cfg
	return opts, nil
}

// uint32Value is etcd's flags.Uint32Value.
type uint32Value struct{ v uint32 }

func (u *uint32Value) String() string { return strconv.FormatUint(uint64(u.v), 10) }
func (u *uint32Value) Set(s string) error {
	v, err := strconv.ParseUint(s, 0, 32)
	u.v = uint32(v)
	return err
}

// learnersBound maps etcd's --max-learners (0 or less: no learner) to embed's (negative).
func learnersBound(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// zeroIsOff maps etcd's 0 (disabled) to embed's negative (its 0 is the default).
func zeroIsOff(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// deprecatedFlags are etcdmain's warnings for the deprecated flags it still takes.
var deprecatedFlags = map[string]string{
	"max-snapshots":  "--max-snapshots is deprecated in 3.6 and will be decommissioned in 3.8.",
	"v2-deprecation": "--v2-deprecation is deprecated and scheduled for removal in v3.8. The default value is enforced, ignoring user input.",
}

func lookupEnv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// listValue is etcd's flags.StringsValue: comma-separated, in the order given (cipher suites
// are prioritized in it); an empty value is the empty list.
type listValue struct{ values []string }

func (v *listValue) String() string { return strings.Join(v.values, ",") }
func (v *listValue) Set(s string) error {
	v.values = nil
	if s != "" {
		v.values = strings.Split(s, ",")
	}
	return nil
}

// corsValue is --cors as etcd's flags.UniqueURLs with the exception "*" takes it: "*" is
// added to the origins (it is the default, so it stays all), anything else is a
// comma-separated list of URLs held to etcd's URL rules (scheme://host:port, no path), which
// replaces them.
type corsValue struct{ values []string }

func (v *corsValue) String() string { return strings.Join(v.values, ",") }
func (v *corsValue) Set(s string) error {
	if slices.Contains(v.values, s) {
		return nil
	}
	if s == "*" {
		v.values = append(v.values, s)
		return nil
	}
	urls, err := embed.ParseURLs(strings.Split(s, ","))
	if err != nil {
		return err
	}
	v.values = slices.Compact(urls)
	return nil
}

// hostsValue is --host-whitelist as etcd's flags.UniqueStringsValue takes it: the
// comma-separated names as given, each once (an empty value is the one name "").
type hostsValue struct{ values []string }

func (v *hostsValue) String() string { return strings.Join(v.values, ",") }
func (v *hostsValue) Set(s string) error {
	vs := strings.Split(s, ",")
	slices.Sort(vs)
	v.values = slices.Compact(vs)
	return nil
}

// stringsValue is etcd's flags.UniqueStringsValue: comma-separated, duplicates dropped,
// sorted.
type stringsValue struct{ values []string }

func (v *stringsValue) String() string { return strings.Join(v.values, ",") }
func (v *stringsValue) Set(s string) error {
	vs := strings.Split(s, ",")
	slices.Sort(vs)
	v.values = slices.Compact(vs)
	return nil
}

// setFlagsFromEnv is etcd's flags.SetFlagsFromEnv with prefix ETCD: every flag not given on
// the command line takes ETCD_<NAME> (upper case, dashes as underscores) when it is set and
// not empty; a variable for a flag that was given is refused as etcd refuses it; an ETCD_*
// variable that names no flag is a warning.
func setFlagsFromEnv(fs *flag.FlagSet, environ []string, warnings *[]string) error {
	env := map[string]string{}
	var keys []string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "ETCD_") {
			continue
		}
		env[k] = v
		keys = append(keys, k)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[flagToEnv(f.Name)] = true })
	used := map[string]bool{}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		key := flagToEnv(f.Name)
		if set[key] || err != nil {
			return
		}
		if v := env[key]; v != "" {
			used[key] = true
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("invalid value %q for %s: %w", v, key, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	sort := slices.Clone(keys)
	slices.Sort(sort)
	for _, k := range sort {
		switch {
		case used[k]:
		case k == "ETCD_VERSION":
			*warnings = append(*warnings, "cannot set special environment variable: ETCD_VERSION")
		case set[k]:
			return fmt.Errorf("conflicting environment variable is shadowed by corresponding command-line flag (either unset environment variable or disable flag): %s", k)
		default:
			*warnings = append(*warnings, "unrecognized environment variable: "+k+"="+env[k])
		}
	}
	return nil
}

func flagToEnv(name string) string {
	return "ETCD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// checkBindURLs is etcd's: a listen URL's host is an IP address or localhost.
func checkBindURLs(urls []url.URL) error {
	for _, u := range urls {
		if u.Scheme == "unix" || u.Scheme == "unixs" {
			continue
		}
		host, _, err := net.SplitHostPort(u.Host)
		if err != nil {
			return err
		}
		if host == "localhost" {
			continue
		}
		if net.ParseIP(host) == nil {
			return fmt.Errorf("expected IP in URL for binding (%s)", u.String())
		}
	}
	return nil
}

// checkHostURLs is etcd's: an advertised URL has a host.
func checkHostURLs(urls []url.URL) error {
	for _, u := range urls {
		if u.Scheme == "unix" || u.Scheme == "unixs" {
			continue
		}
		host, _, err := net.SplitHostPort(u.Host)
		if err != nil {
			return err
		}
		if host == "" {
			return fmt.Errorf("unexpected empty host (%s)", u.String())
		}
	}
	return nil
}

// levelFatal is slog's level for zap's panic and fatal (above error).
const levelFatal = slog.LevelError + 4

// parseLogLevel accepts zap's level names, as etcd's --log-level.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "dpanic", "panic", "fatal":
		return levelFatal, nil
	}
	return 0, fmt.Errorf("--log-level %q: only supports debug, info, warn, error, panic, or fatal", s)
}

func usageText(role string) string {
	return fmt.Sprintf(`Usage:

  %[1]s [flags]
    Start a Ballast member (etcd's v3 API, etcd's flags).

  %[1]s --version
    Show the version.

  %[1]s -h | --help
    Show the help information.
`, role)
}

func helpText(role string) string {
	var b strings.Builder
	b.WriteString(usageText(role))
	b.WriteString(`
  --config-file
    Path to the server configuration file (etcd's YAML keys). Note that if a configuration file is provided, other command line flags and environment variables will be ignored.
    Duration-typed fields must be specified as integer nanoseconds in the file.

Flags (etcd's, with etcd's meaning and defaults):
`)
	var opts options
	fs, _ := newFlagSet(role, &opts, io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Value.(type) {
		case *refusedValue, *experimentalValue, *ignoredValue:
			return
		}
		if f.Name == "config-file" || f.Name == "version" {
			return
		}
		fmt.Fprintf(&b, "  --%s '%s'\n    %s\n", f.Name, f.DefValue, f.Usage)
	})
	b.WriteString(`
Every flag may also be given as an environment variable: ETCD_NAME, ETCD_DATA_DIR, ...
etcd v3.6's --experimental-* spellings are taken as v3.6 took them (with its warning).

Not supported yet (giving one stops start-up):
`)
	for _, f := range unsupportedFlags {
		fmt.Fprintf(&b, "  --%s: %s\n", f.name, f.reason)
	}
	for _, f := range fixedFlags {
		fmt.Fprintf(&b, "  --%s other than %q: %s\n", f.name, f.values[len(f.values)-1], f.reason)
	}
	return b.String()
}

// etcdVersion is the etcd release whose API and behaviour Ballast follows; it is the server
// version clients read from Maintenance.Status.
const etcdVersion = "3.7.3"
