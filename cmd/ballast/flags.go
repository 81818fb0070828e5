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

// issue names, for the flags that later issues bring.
const (
	issueOperations = "the operations issue"
	issueSecurity   = "the security issue"
	issueSnapshots  = "the snapshots issue"
)

// unsupportedFlag is one flag of etcd v3.7's `etcd --help` that Ballast does not implement
// yet. Giving it (on the command line or as ETCD_*) stops start-up with
// `flag --NAME is not supported yet: REASON`; it is never silently ignored.
type unsupportedFlag struct {
	name   string
	isBool bool // takes no value (--auto-tls), as etcd's boolean flags
	reason string
}

// unsupportedFlags lists them all, in the order of etcd's help, with the issue that brings
// each. (etcd's help also lists --discovery and --discovery-proxy, which etcd v3.7 itself no
// longer defines: they are unknown flags here as there.)
var unsupportedFlags = []unsupportedFlag{
	// Member
	{"initial-election-tick-advance", true, "raft's initial election tick advance comes with " + issueOperations},
	{"listen-client-http-urls", false, "a separate HTTP-only client listener comes with " + issueOperations},
	{"max-snapshots", false, "snapshot file retention comes with " + issueSnapshots},
	{"max-wals", false, "WAL file retention is Pebble's own; its tuning comes with " + issueOperations},
	{"memory-mlock", true, "comes with " + issueOperations},
	{"quota-backend-bytes", false, "the backend quota and its NOSPACE alarm come with " + issueSnapshots},
	{"backend-bbolt-freelist-type", false, "Ballast stores in Pebble, not bbolt; backend tuning comes with " + issueOperations},
	{"backend-batch-interval", false, "backend tuning comes with " + issueOperations},
	{"backend-batch-limit", false, "backend tuning comes with " + issueOperations},
	{"max-concurrent-streams", false, "gRPC server tuning comes with " + issueOperations},
	{"grpc-keepalive-min-time", false, "gRPC keepalive tuning comes with " + issueOperations},
	{"grpc-keepalive-interval", false, "gRPC keepalive tuning comes with " + issueOperations},
	{"grpc-keepalive-timeout", false, "gRPC keepalive tuning comes with " + issueOperations},
	{"socket-reuse-port", true, "socket options come with " + issueOperations},
	{"socket-reuse-address", true, "socket options come with " + issueOperations},
	{"enable-grpc-gateway", true, "the gRPC gateway (JSON over HTTP) comes with " + issueOperations},
	{"raft-read-timeout", false, "Ballast's peer transport is not rafthttp; its timeouts come with " + issueOperations},
	{"raft-write-timeout", false, "Ballast's peer transport is not rafthttp; its timeouts come with " + issueOperations},
	{"feature-gates", false, "feature gates come with " + issueOperations},
	// Clustering
	{"discovery-token", false, "discovery comes with " + issueOperations},
	{"discovery-endpoints", false, "discovery comes with " + issueOperations},
	{"discovery-dial-timeout", false, "discovery comes with " + issueOperations},
	{"discovery-request-timeout", false, "discovery comes with " + issueOperations},
	{"discovery-keepalive-time", false, "discovery comes with " + issueOperations},
	{"discovery-keepalive-timeout", false, "discovery comes with " + issueOperations},
	{"discovery-insecure-transport", true, "discovery comes with " + issueOperations},
	{"discovery-insecure-skip-tls-verify", true, "discovery comes with " + issueOperations},
	{"discovery-cert", false, "discovery comes with " + issueOperations},
	{"discovery-key", false, "discovery comes with " + issueOperations},
	{"discovery-cacert", false, "discovery comes with " + issueOperations},
	{"discovery-user", false, "discovery comes with " + issueOperations},
	{"discovery-password", false, "discovery comes with " + issueOperations},
	{"discovery-fallback", false, "discovery comes with " + issueOperations},
	{"discovery-srv", false, "DNS discovery comes with " + issueOperations},
	{"discovery-srv-name", false, "DNS discovery comes with " + issueOperations},
	{"strict-reconfig-check", true, "comes with " + issueOperations},
	{"pre-vote", true, "Ballast's raft always runs Pre-Vote; the switch comes with " + issueOperations},
	{"auto-compaction-retention", false, "auto compaction comes with " + issueOperations},
	{"auto-compaction-mode", false, "auto compaction comes with " + issueOperations},
	{"v2-deprecation", false, "Ballast has no v2 store; the flag comes with " + issueOperations},
	// Security
	{"cert-file", false, "TLS comes with " + issueSecurity},
	{"key-file", false, "TLS comes with " + issueSecurity},
	{"client-cert-auth", true, "TLS comes with " + issueSecurity},
	{"client-cert-file", false, "TLS comes with " + issueSecurity},
	{"client-key-file", false, "TLS comes with " + issueSecurity},
	{"client-crl-file", false, "TLS comes with " + issueSecurity},
	{"client-cert-allowed-hostname", false, "TLS comes with " + issueSecurity},
	{"trusted-ca-file", false, "TLS comes with " + issueSecurity},
	{"auto-tls", true, "TLS comes with " + issueSecurity},
	{"peer-cert-file", false, "TLS comes with " + issueSecurity},
	{"peer-key-file", false, "TLS comes with " + issueSecurity},
	{"peer-client-cert-auth", true, "TLS comes with " + issueSecurity},
	{"peer-client-cert-file", false, "TLS comes with " + issueSecurity},
	{"peer-client-key-file", false, "TLS comes with " + issueSecurity},
	{"peer-trusted-ca-file", false, "TLS comes with " + issueSecurity},
	{"peer-cert-allowed-cn", false, "TLS comes with " + issueSecurity},
	{"peer-cert-allowed-hostname", false, "TLS comes with " + issueSecurity},
	{"peer-auto-tls", true, "TLS comes with " + issueSecurity},
	{"self-signed-cert-validity", false, "TLS comes with " + issueSecurity},
	{"peer-crl-file", false, "TLS comes with " + issueSecurity},
	{"cipher-suites", false, "TLS comes with " + issueSecurity},
	{"cors", false, "CORS for the HTTP surface comes with " + issueSecurity},
	{"host-whitelist", false, "host checks for the HTTP surface come with " + issueSecurity},
	{"tls-min-version", false, "TLS comes with " + issueSecurity},
	{"tls-max-version", false, "TLS comes with " + issueSecurity},
	// Auth
	{"auth-token", false, "auth comes with " + issueSecurity},
	{"bcrypt-cost", false, "auth comes with " + issueSecurity},
	{"auth-token-ttl", false, "auth comes with " + issueSecurity},
	// Profiling and monitoring
	{"enable-pprof", true, "profiling endpoints come with " + issueOperations},
	{"metrics", false, "metrics come with " + issueOperations},
	{"listen-metrics-urls", false, "metrics come with " + issueOperations},
	// Logging (Ballast logs JSON lines to stderr)
	{"logger", false, "Ballast logs JSON lines with log/slog; logger choice comes with " + issueOperations},
	{"log-outputs", false, "Ballast logs to stderr; other outputs come with " + issueOperations},
	{"log-format", false, "Ballast logs JSON; other formats come with " + issueOperations},
	{"enable-log-rotation", true, "log rotation comes with " + issueOperations},
	{"log-rotation-config-json", false, "log rotation comes with " + issueOperations},
	{"warning-unary-request-duration", false, "slow request warnings come with " + issueOperations},
	// Distributed tracing
	{"enable-distributed-tracing", true, "tracing comes with " + issueOperations},
	{"distributed-tracing-address", false, "tracing comes with " + issueOperations},
	{"distributed-tracing-service-name", false, "tracing comes with " + issueOperations},
	{"distributed-tracing-instance-id", false, "tracing comes with " + issueOperations},
	{"distributed-tracing-sampling-rate", false, "tracing comes with " + issueOperations},
	// Features
	{"corrupt-check-time", false, "corruption checks between members come with " + issueOperations},
	{"compact-hash-check-time", false, "corruption checks between members come with " + issueOperations},
	{"compaction-batch-limit", false, "compaction tuning comes with " + issueOperations},
	{"peer-skip-client-san-verification", true, "TLS comes with " + issueSecurity},
	{"watch-progress-notify-interval", false, "comes with " + issueOperations},
	{"warning-apply-duration", false, "slow apply warnings come with " + issueOperations},
	{"bootstrap-defrag-threshold-megabytes", false, "comes with " + issueOperations},
	{"max-learners", false, "comes with " + issueOperations},
	{"compaction-sleep-interval", false, "compaction tuning comes with " + issueOperations},
	{"downgrade-check-time", false, "downgrades come with " + issueOperations},
	{"snapshot-catchup-entries", false, "comes with " + issueOperations},
	// Unsafe
	{"force-new-cluster", true, "disaster recovery comes with " + issueSnapshots},
	{"unsafe-no-fsync", true, "comes with " + issueOperations},
	// etcd --config-file (its usage line)
	{"config-file", false, "configuration files come with " + issueOperations},
}

// ignoredFlags are the flags etcd accepts and ignores with a warning (etcdmain's ignored list).
var ignoredFlags = []string{"cluster-active-size", "cluster-remove-delay", "cluster-sync-interval", "config",
	"force", "max-result-buffer", "max-retry-attempts", "peer-heartbeat-interval", "peer-election-timeout",
	"retry-interval", "snapshot", "v", "vv"}

// options is what the command line asks for.
type options struct {
	cfg          embed.Config
	logLevel     slog.Level
	printVersion bool
	warnings     []string // logged once the logger exists, as etcd logs them
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

// refusedValue records that an unsupported flag was given.
type refusedValue struct {
	flag  unsupportedFlag
	given *[]unsupportedFlag
}

func (v *refusedValue) String() string   { return "" }
func (v *refusedValue) IsBoolFlag() bool { return v.flag.isBool }
func (v *refusedValue) Set(string) error {
	*v.given = append(*v.given, v.flag)
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

// parseCommandLine parses args (without the program name) and the environment (KEY=VALUE
// entries) for role ("etcd" or "ballast"). Help goes to stdout, the flag package's own
// messages to stderr. The error is a *cmdError carrying etcd's exit code, or errHelp.
func parseCommandLine(role string, args, environ []string, stdout, stderr io.Writer) (options, error) {
	var opts options
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText(role)) }

	name := fs.String("name", embed.DefaultName, "Human-readable name for this member.")
	dataDir := fs.String("data-dir", "", "Path to the data directory.")
	walDir := fs.String("wal-dir", "", "Path to the dedicated wal directory.")
	listenPeer := &urlsValue{[]string{embed.DefaultListenPeerURL}}
	listenClient := &urlsValue{[]string{embed.DefaultListenClientURL}}
	advertisePeer := &urlsValue{[]string{embed.DefaultListenPeerURL}}
	advertiseClient := &urlsValue{[]string{embed.DefaultListenClientURL}}
	fs.Var(listenPeer, "listen-peer-urls", "List of URLs to listen on for peer traffic.")
	fs.Var(listenClient, "listen-client-urls", "List of URLs to listen on for client grpc traffic and http.")
	fs.Var(advertisePeer, "initial-advertise-peer-urls", "List of this member's peer URLs to advertise to the rest of the cluster.")
	fs.Var(advertiseClient, "advertise-client-urls", "List of this member's client URLs to advertise to the public.")
	defaultInitialCluster := embed.DefaultName + "=" + embed.DefaultListenPeerURL
	initialCluster := fs.String("initial-cluster", defaultInitialCluster, "Initial cluster configuration for bootstrapping.")
	clusterState := &selectiveValue{embed.ClusterStateNew, []string{embed.ClusterStateNew, embed.ClusterStateExisting}}
	fs.Var(clusterState, "initial-cluster-state", "Initial cluster state ('new' or 'existing').")
	token := fs.String("initial-cluster-token", embed.DefaultInitialClusterToken, "Initial cluster token for the etcd cluster during bootstrap.")
	tickMs := fs.Uint("heartbeat-interval", uint(embed.DefaultHeartbeatInterval/time.Millisecond), "Time (in milliseconds) of a heartbeat interval.")
	electionMs := fs.Uint("election-timeout", uint(embed.DefaultElectionTimeout/time.Millisecond), "Time (in milliseconds) for an election to timeout.")
	snapshotCount := fs.Uint64("snapshot-count", embed.DefaultSnapshotCount, "Number of committed transactions to trigger a snapshot.")
	maxRequestBytes := fs.Uint("max-request-bytes", embed.DefaultMaxRequestBytes, "Maximum client request size in bytes the server will accept.")
	maxTxnOps := fs.Uint("max-txn-ops", embed.DefaultMaxTxnOps, "Maximum number of operations permitted in a transaction.")
	logLevel := fs.String("log-level", "info", "Configures log level. Only supports debug, info, warn, error, panic, or fatal.")
	fs.BoolVar(&opts.printVersion, "version", false, "Print the version and exit.")

	var refused []unsupportedFlag
	for _, f := range unsupportedFlags {
		fs.Var(&refusedValue{flag: f, given: &refused}, f.name, "not supported yet: "+f.reason)
	}
	for _, n := range ignoredFlags {
		fs.Var(&ignoredValue{name: n, warnings: &opts.warnings}, n, "")
	}

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
	if err := setFlagsFromEnv(fs, environ, &opts.warnings); err != nil {
		return bad(err)
	}
	if len(refused) > 0 {
		f := refused[0]
		return bad(fmt.Errorf("flag --%s is not supported yet: %s", f.name, f.reason))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	level, err := parseLogLevel(*logLevel)
	if err != nil {
		return bad(err)
	}
	opts.logLevel = level
	toURLs := func(ss []string) []url.URL {
		out := make([]url.URL, 0, len(ss))
		for _, s := range ss {
			u, _ := url.Parse(s) // checked by urlsValue.Set
			out = append(out, *u)
		}
		return out
	}
	cfg := embed.Config{
		Name:                *name,
		DataDir:             *dataDir,
		WALDir:              *walDir,
		ListenPeerURLs:      toURLs(listenPeer.urls),
		ListenClientURLs:    toURLs(listenClient.urls),
		AdvertisePeerURLs:   toURLs(advertisePeer.urls),
		AdvertiseClientURLs: toURLs(advertiseClient.urls),
		InitialCluster:      *initialCluster,
		InitialClusterState: clusterState.value,
		InitialClusterToken: *token,
		HeartbeatInterval:   time.Duration(*tickMs) * time.Millisecond,
		ElectionTimeout:     time.Duration(*electionMs) * time.Millisecond,
		SnapshotCount:       *snapshotCount,
		MaxRequestBytes:     int(*maxRequestBytes),
		MaxTxnOps:           int(*maxTxnOps),
		Version:             etcdVersion,
	}
	// etcd's checks, in its order (embed.Config.Validate, then etcdmain's defaults).
	if err := checkBindURLs(cfg.ListenPeerURLs); err != nil {
		return bad(err)
	}
	if err := checkBindURLs(cfg.ListenClientURLs); err != nil {
		return bad(err)
	}
	if err := checkHostURLs(cfg.AdvertisePeerURLs); err != nil {
		return bad(fmt.Errorf(`--initial-advertise-peer-urls %q must be "host:port" (%w)`, advertisePeer.String(), err))
	}
	if err := checkHostURLs(cfg.AdvertiseClientURLs); err != nil {
		return bad(fmt.Errorf(`--advertise-client-urls %q must be in the format "host:port", "unix:/path/to/socket" or "unixs:/path/to/socket" (%w)`, advertiseClient.String(), err))
	}
	if tickMs, electionMs := *tickMs, *electionMs; tickMs == 0 {
		return bad(fmt.Errorf("--heartbeat-interval must be >0 (set to %dms)", tickMs))
	} else if electionMs == 0 {
		return bad(fmt.Errorf("--election-timeout must be >0 (set to %dms)", electionMs))
	}
	// etcd drops the default advertise URL when only the listen URL is given, then refuses.
	if set["listen-client-urls"] && !set["advertise-client-urls"] {
		return bad(errors.New("--advertise-client-urls is required when --listen-client-urls is set explicitly"))
	}
	// etcd's UpdateDefaultClusterFromName: `--name abc` alone names the one-member cluster.
	if cfg.Name != embed.DefaultName && cfg.InitialCluster == defaultInitialCluster {
		var pairs []string
		for _, u := range advertisePeer.urls {
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
	opts.cfg = cfg
	return opts, nil
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
Member:
  --name 'default'
    Human-readable name for this member.
  --data-dir '${name}.etcd'
    Path to the data directory.
  --wal-dir ''
    Path to the dedicated wal directory (Pebble's write-ahead log).
  --snapshot-count '10000'
    Number of committed transactions to trigger a snapshot.
  --heartbeat-interval '100'
    Time (in milliseconds) of a heartbeat interval.
  --election-timeout '1000'
    Time (in milliseconds) for an election to timeout.
  --listen-peer-urls 'http://localhost:2380'
    List of URLs to listen on for peer traffic.
  --listen-client-urls 'http://localhost:2379'
    List of URLs to listen on for client grpc traffic and http.
  --max-txn-ops '128'
    Maximum number of operations permitted in a transaction.
  --max-request-bytes '1572864'
    Maximum client request size in bytes the server will accept.

Clustering:
  --initial-advertise-peer-urls 'http://localhost:2380'
    List of this member's peer URLs to advertise to the rest of the cluster.
  --initial-cluster 'default=http://localhost:2380'
    Initial cluster configuration for bootstrapping.
  --initial-cluster-state 'new'
    Initial cluster state ('new' when bootstrapping a new cluster or 'existing' when adding new members to an existing cluster).
    After successful initialization (bootstrapping or adding), flag is ignored on restarts
  --initial-cluster-token 'etcd-cluster'
    Initial cluster token for the etcd cluster during bootstrap.
  --advertise-client-urls 'http://localhost:2379'
    List of this member's client URLs to advertise to the public.

Logging:
  --log-level 'info'
    Configures log level. Only supports debug, info, warn, error, panic, or fatal.

Every flag may also be given as an environment variable: ETCD_NAME, ETCD_DATA_DIR, ...

Not supported yet (giving one stops start-up):
`)
	for _, f := range unsupportedFlags {
		fmt.Fprintf(&b, "  --%s: %s\n", f.name, f.reason)
	}
	return b.String()
}

// etcdVersion is the etcd release whose API and behaviour Ballast follows; it is the server
// version clients read from Maintenance.Status.
const etcdVersion = "3.7.3"
