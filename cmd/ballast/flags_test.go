package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed"
)

func urls(t *testing.T, ss ...string) []url.URL {
	t.Helper()
	var out []url.URL
	for _, s := range ss {
		u, err := url.Parse(s)
		require.NoError(t, err)
		out = append(out, *u)
	}
	return out
}

// TestParseDefaults: no flags is etcd's one-member cluster "default" in default.etcd.
func TestParseDefaults(t *testing.T) {
	opts, err := parseCommandLine("ballast", nil, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, embed.Config{
		Name:                "default",
		DataDir:             "default.etcd",
		ListenPeerURLs:      urls(t, "http://localhost:2380"),
		ListenClientURLs:    urls(t, "http://localhost:2379"),
		AdvertisePeerURLs:   urls(t, "http://localhost:2380"),
		AdvertiseClientURLs: urls(t, "http://localhost:2379"),
		InitialCluster:      "default=http://localhost:2380",
		InitialClusterState: "new",
		InitialClusterToken: "etcd-cluster",
		HeartbeatInterval:   100 * time.Millisecond,
		ElectionTimeout:     time.Second,
		SnapshotCount:       10000,
		MaxRequestBytes:     1572864,
		MaxTxnOps:           128,
		Version:             etcdVersion,
		// etcd's defaults, which Ballast runs with
		SnapshotCatchUpEntries:      5000,
		WatchProgressNotifyInterval: 10 * time.Minute,
		ListenMetricsURLs:           []url.URL{},
		ListenClientHTTPURLs:        []url.URL{},
		Metrics:                     "basic",
		MaxConcurrentStreams:        math.MaxUint32,
		GRPCKeepAliveMinTime:        5 * time.Second,
		GRPCKeepAliveInterval:       2 * time.Hour,
		GRPCKeepAliveTimeout:        20 * time.Second,
		AutoCompactionMode:          "periodic",
		AutoCompactionRetention:     "0",
		CompactHashCheckTime:        time.Minute,
		Discovery: embed.DiscoveryConfig{DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second,
			KeepAliveTime: 2 * time.Second, KeepAliveTimeout: 6 * time.Second, InsecureTransport: true},
		WarningUnaryRequestDuration: 300 * time.Millisecond,
		WarningApplyDuration:        100 * time.Millisecond,
		DistributedTracing:          embed.DistributedTracing{Address: "localhost:4317", ServiceName: "etcd"},
		MaxLearners:                 1,
		AuthToken:                   "simple",
		AuthTokenTTL:                300 * time.Second,
		BcryptCost:                  10,
		TLSMinVersion:               "TLS1.2",
		SelfSignedCertValidity:      1,
		CORS:                        []string{"*"},
		HostWhitelist:               []string{"*"},
	}, opts.cfg)
	require.Equal(t, logOptions{outputs: []string{"default"}, format: "json"}, opts.log)
	require.Equal(t, slog.LevelInfo, opts.logLevel)
	require.Contains(t, opts.warnings, "'data-dir' was empty; using default: default.etcd")
}

// TestParseAccepted: Go's flag syntax as etcd takes it, and etcd's derived defaults.
func TestParseAccepted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   []string
		check func(t *testing.T, o options)
	}{
		{"two dashes and =", []string{"--name=m1"}, nil, func(t *testing.T, o options) {
			require.Equal(t, "m1", o.cfg.Name)
			require.Equal(t, "m1.etcd", o.cfg.DataDir)
			require.Equal(t, "m1=http://localhost:2380", o.cfg.InitialCluster, "etcd names the one-member cluster after --name")
		}},
		{"one dash and a space", []string{"-name", "m1", "-data-dir", "/d"}, nil, func(t *testing.T, o options) {
			require.Equal(t, "m1", o.cfg.Name)
			require.Equal(t, "/d", o.cfg.DataDir)
		}},
		{"a whole member", []string{"--name", "m2", "--listen-client-urls", "http://127.0.0.1:22379",
			"--advertise-client-urls", "http://127.0.0.1:22379,http://127.0.0.1:22379", "--listen-peer-urls", "http://127.0.0.1:22380",
			"--initial-advertise-peer-urls", "http://127.0.0.1:22380", "--initial-cluster",
			"m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380", "--initial-cluster-state", "existing",
			"--initial-cluster-token", "tok", "--heartbeat-interval", "50", "--election-timeout=500", "--snapshot-count", "7",
			"--max-request-bytes", "1000", "--max-txn-ops", "9", "--log-level", "debug", "--wal-dir", "/w", "--quota-backend-bytes", "1048576"}, nil,
			func(t *testing.T, o options) {
				c := o.cfg
				require.Equal(t, urls(t, "http://127.0.0.1:22379"), c.AdvertiseClientURLs, "duplicates dropped")
				require.Equal(t, urls(t, "http://127.0.0.1:22380"), c.ListenPeerURLs)
				require.Equal(t, "m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380", c.InitialCluster)
				require.Equal(t, "existing", c.InitialClusterState)
				require.Equal(t, "tok", c.InitialClusterToken)
				require.Equal(t, 50*time.Millisecond, c.HeartbeatInterval)
				require.Equal(t, 500*time.Millisecond, c.ElectionTimeout)
				require.Equal(t, uint64(7), c.SnapshotCount)
				require.Equal(t, 1000, c.MaxRequestBytes)
				require.Equal(t, 9, c.MaxTxnOps)
				require.Equal(t, "/w", c.WALDir)
				require.Equal(t, int64(1048576), c.QuotaBackendBytes)
				require.Equal(t, slog.LevelDebug, o.logLevel)
			}},
		{"environment", nil, []string{"ETCD_NAME=m3", "ETCD_INITIAL_CLUSTER_TOKEN=t3", "PATH=/bin", "ETCD_UNKNOWN_THING=1"}, func(t *testing.T, o options) {
			require.Equal(t, "m3", o.cfg.Name)
			require.Equal(t, "t3", o.cfg.InitialClusterToken)
			require.Contains(t, o.warnings, "unrecognized environment variable: ETCD_UNKNOWN_THING=1")
		}},
		{"ignored as etcd ignores it", []string{"--v"}, nil, func(t *testing.T, o options) {
			require.Contains(t, o.warnings, "flag is no longer supported - ignoring: --v")
		}},
		{"version", []string{"--version"}, nil, func(t *testing.T, o options) { require.True(t, o.printVersion) }},
		{"v2-deprecation is etcd's: its default enforced, with a warning", []string{"--v2-deprecation", "not-yet"}, nil, func(t *testing.T, o options) {
			require.Contains(t, o.warnings, "--v2-deprecation is deprecated and scheduled for removal in v3.8. The default value is enforced, ignoring user input.")
		}},
		{"TLS settings", []string{"--client-crl-file", "c.crl", "--client-cert-allowed-hostname", "a.example,b.example",
			"--peer-crl-file", "p.crl", "--peer-cert-allowed-cn", "m1,m2", "--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
			"--tls-min-version", "TLS1.2", "--tls-max-version", "TLS1.3", "--auto-tls", "--peer-auto-tls", "--self-signed-cert-validity", "5"}, nil,
			func(t *testing.T, o options) {
				c := o.cfg
				require.Equal(t, "c.crl", c.ClientTLS.CRLFile)
				require.Equal(t, []string{"a.example", "b.example"}, c.ClientTLS.AllowedHostnames)
				require.Equal(t, "p.crl", c.PeerTLS.CRLFile)
				require.Equal(t, []string{"m1", "m2"}, c.PeerTLS.AllowedCNs)
				require.Equal(t, []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, c.CipherSuites, "in the order given")
				require.Equal(t, "TLS1.2", c.TLSMinVersion)
				require.Equal(t, "TLS1.3", c.TLSMaxVersion)
				require.True(t, c.ClientAutoTLS)
				require.True(t, c.PeerAutoTLS)
				require.Equal(t, uint(5), c.SelfSignedCertValidity)
			}},
		{"discovery-fallback exit (what Ballast does without discovery)", []string{"--discovery-fallback", "exit"}, nil, func(t *testing.T, o options) {}},
		{"log outputs and format", []string{"--log-outputs", "stdout,/tmp/x.log,stdout", "--log-format", "console"}, nil, func(t *testing.T, o options) {
			require.Equal(t, logOptions{outputs: []string{"/tmp/x.log", "stdout"}, format: "console"}, o.log)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseCommandLine("etcd", tc.args, tc.env, &bytes.Buffer{}, &stderr)
			require.NoError(t, err, stderr.String())
			tc.check(t, o)
		})
	}
}

// TestParseRefused: every refusal names the problem with etcd's words, and exits as etcd
// does (2 for what the flag package refuses, 1 for what the configuration checks refuse).
func TestParseRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		code int
		want string // in the error (code 1) or on stderr (code 2)
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil, exitUsage, "flag provided but not defined: -no-such-flag"},
		{"bad cluster state", []string{"--initial-cluster-state", "old"}, nil, exitUsage,
			`invalid value "old" for flag -initial-cluster-state: invalid value`},
		{"not a number", []string{"--heartbeat-interval", "fast"}, nil, exitUsage, `invalid value "fast" for flag -heartbeat-interval`},
		{"bad URL", []string{"--listen-client-urls", "ftp://127.0.0.1:1"}, nil, exitUsage,
			"URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:1"},
		{"URL with a path", []string{"--initial-advertise-peer-urls", "http://127.0.0.1:1/x"}, nil, exitUsage,
			"URL must not contain a path: http://127.0.0.1:1/x"},
		{"positional argument", []string{"--name", "a", "b"}, nil, exitConfig, `"b" is not a valid flag`},
		{"quota not a number", []string{"--quota-backend-bytes", "8GB"}, nil, exitUsage, `invalid value "8GB" for flag -quota-backend-bytes`},
		{"tracing sampling rate", []string{"--enable-distributed-tracing", "--distributed-tracing-sampling-rate", "-1"}, nil, exitConfig,
			"distributed tracing configurition is not valid: (tracing sampling rate must be positive)"},
		{"unsupported through the environment", nil, []string{"ETCD_MAX_SNAPSHOTS=5"}, exitConfig,
			"flag --max-snapshots is not supported yet: snapshot file retention: Ballast keeps no .snap files to retain (a raft snapshot is read from Pebble when one is sent)"},
		{"auto compaction mode", []string{"--auto-compaction-mode", "hourly"}, nil, exitConfig, `unknown auto-compaction-mode "hourly"`},
		{"auto compaction mode empty", []string{"--auto-compaction-mode="}, nil, exitConfig, "undefined auto-compaction-mode"},
		{"auto compaction retention", []string{"--auto-compaction-retention", "soon"}, nil, exitConfig, "error parsing CompactionRetention"},
		{"experimental spelling refused under its own name", []string{"--experimental-compaction-sleep-interval", "10ms"}, nil, exitConfig,
			"flag --experimental-compaction-sleep-interval is not supported yet: Ballast compacts the history in steps"},
		{"negative compaction batch limit", []string{"--compaction-batch-limit", "-1"}, nil, exitConfig,
			"--compaction-batch-limit (-1) must not be negative"},
		{"negative apply warning", []string{"--warning-apply-duration", "-1s"}, nil, exitConfig,
			"--warning-apply-duration (-1s) must not be negative"},
		{"environment shadowed by a flag", []string{"--name", "a"}, []string{"ETCD_NAME=b"}, exitConfig,
			"conflicting environment variable is shadowed by corresponding command-line flag (either unset environment variable or disable flag): ETCD_NAME"},
		{"bad environment value", nil, []string{"ETCD_ELECTION_TIMEOUT=soon"}, exitConfig, `invalid value "soon" for ETCD_ELECTION_TIMEOUT`},
		{"zero heartbeat", []string{"--heartbeat-interval", "0"}, nil, exitConfig, "--heartbeat-interval must be >0 (set to 0ms)"},
		{"election too short", []string{"--election-timeout", "300"}, nil, exitConfig,
			"--election-timeout[300ms] should be at least as 5 times as --heartbeat-interval[100ms]"},
		{"election too long", []string{"--election-timeout", "60000"}, nil, exitConfig,
			"--election-timeout[60000ms] is too long, and should be set less than 50000ms"},
		{"listen without advertise", []string{"--listen-client-urls", "http://127.0.0.1:1"}, nil, exitConfig,
			"--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{"bind to a name", []string{"--listen-peer-urls", "http://example.com:1"}, nil, exitConfig,
			"expected IP in URL for binding (http://example.com:1)"},
		{"advertise without host", []string{"--initial-advertise-peer-urls", "http://:1"}, nil, exitConfig,
			`--initial-advertise-peer-urls "http://:1" must be "host:port" (unexpected empty host (http://:1))`},
		{"log level", []string{"--log-level", "loud"}, nil, exitConfig,
			`--log-level "loud": only supports debug, info, warn, error, panic, or fatal`},
		{"discovery-fallback proxy", []string{"--discovery-fallback", "proxy"}, nil, exitConfig,
			`v2 proxy is deprecated, and --discovery-fallback can't be configured as "proxy"`},
		{"bad v2-deprecation", []string{"--v2-deprecation", "soon"}, nil, exitUsage, `invalid value "soon" for flag -v2-deprecation`},
		{"log format", []string{"--log-format", "xml"}, nil, exitConfig, "unknown log format: xml, supported values json, console"},
		{"default among several outputs", []string{"--log-outputs", "default,stdout"}, nil, exitConfig, `multi logoutput for "default" is not supported yet`},
		{"journald", []string{"--log-outputs", "systemd/journal"}, nil, exitConfig, "flag --log-outputs is not supported yet: systemd/journal"},
		{"https without a key pair", []string{"--listen-client-urls", "https://127.0.0.1:1", "--advertise-client-urls", "https://127.0.0.1:1"}, nil, exitConfig,
			"TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:1 with HTTPS scheme"},
		{"TLS version", []string{"--tls-min-version", "TLS1.1"}, nil, exitConfig, `unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)`},
		{"TLS versions inverted", []string{"--tls-min-version", "TLS1.3", "--tls-max-version", "TLS1.2"}, nil, exitConfig,
			"min version (TLS1.3) is greater than max version (TLS1.2)"},
		{"cipher suites with TLS 1.3 only", []string{"--tls-min-version", "TLS1.3", "--cipher-suites", "TLS_AES_128_GCM_SHA256"}, nil, exitConfig,
			"cipher suites cannot be configured when only TLS1.3 is enabled"},
		{"unknown cipher suite", []string{"--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_NOPE"}, nil, exitConfig,
			`unexpected TLS cipher suite "TLS_NOPE"`},
		{"allowed CNs and hostnames", []string{"--peer-cert-file", "c.pem", "--peer-key-file", "k.pem", "--peer-cert-allowed-cn", "m1",
			"--peer-cert-allowed-hostname", "localhost"}, nil, exitConfig,
			`AllowedCNs and AllowedHostnames are mutually exclusive (cns=["m1"], hostnames=["localhost"])`},
		{"self-signed validity 0", []string{"--auto-tls", "--self-signed-cert-validity", "0"}, nil, exitConfig,
			"failed to get client self-signed certs: selfSignedCertValidity is invalid,it should be greater than 0"},
		{"https metrics URL without a key pair", []string{"--listen-metrics-urls", "https://127.0.0.1:2381"}, nil, exitConfig,
			"client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url"},
		{"https peer URL without a peer key pair", []string{"--listen-peer-urls", "https://127.0.0.1:1"}, nil, exitConfig,
			"TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url https://127.0.0.1:1 with HTTPS scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseCommandLine("etcd", tc.args, tc.env, &bytes.Buffer{}, &stderr)
			var cerr *cmdError
			require.True(t, errors.As(err, &cerr), "want a cmdError, got %v", err)
			require.Equal(t, tc.code, cerr.code, err.Error())
			if tc.code == exitUsage {
				require.Contains(t, stderr.String(), tc.want)
				require.Contains(t, stderr.String(), "Usage:", "the flag package prints the usage as etcd's does")
			} else {
				require.Contains(t, err.Error(), tc.want)
			}
		})
	}
}

// TestEveryUnsupportedFlagIsRefused: each flag of the table, given as etcd takes it (bare for
// booleans, with a value otherwise), stops start-up with the one wording.
func TestEveryUnsupportedFlagIsRefused(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range unsupportedFlags {
		require.False(t, seen[f.name], "listed twice: %s", f.name)
		seen[f.name] = true
		require.NotEmpty(t, f.reason, f.name)
		args := []string{"--" + f.name}
		if !f.isBool {
			args = append(args, "x")
		}
		args = append(args, "--name", "after") // a bare boolean must not swallow the next flag
		_, err := parseCommandLine("ballast", args, nil, &bytes.Buffer{}, &bytes.Buffer{})
		require.EqualError(t, err, "flag --"+f.name+" is not supported yet: "+f.reason)
	}
	require.True(t, seen["max-snapshots"])
}

func TestHelpAndVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"/usr/local/bin/etcd", "--help"}, nil, &stdout, &stderr))
	require.Contains(t, stdout.String(), "etcd [flags]")
	require.Contains(t, stdout.String(), "--initial-cluster-token 'etcd-cluster'")
	require.Contains(t, stdout.String(), "--max-snapshots: snapshot file retention")
	stdout.Reset()
	require.Equal(t, 0, run(context.Background(), []string{"ballast", "--version"}, nil, &stdout, &stderr))
	// etcd's lines, which tools parse (the first one above all), then Ballast's own.
	require.Regexp(t, `^etcd Version: 3\.7\.3\nGit SHA: .+\nGo Version: go.+\nGo OS/Arch: \w+/\w+\nBallast Version: .+\n$`, stdout.String())
}

// TestRunExitCodes: run logs the refusal as a JSON line (etcd's "failed to verify flags")
// and returns etcd's exit code.
func TestRunExitCodes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitUsage, run(context.Background(), []string{"ballast", "--bogus"}, nil, &stdout, &stderr))
	require.Contains(t, stderr.String(), "flag provided but not defined: -bogus")
	stderr.Reset()
	require.Equal(t, exitConfig, run(context.Background(), []string{"ballast", "--tls-min-version", "TLS1.1"}, nil, &stdout, &stderr))
	require.Contains(t, stderr.String(), `"msg":"failed to verify flags","error":"unexpected TLS version \"TLS1.1\" (must be one of: TLS1.2, TLS1.3)"`)
	require.Contains(t, stderr.String(), `"level":"warn"`)
}

func TestRole(t *testing.T) {
	for in, want := range map[string]string{"etcd": "etcd", "/usr/bin/etcd": "etcd", "ballast": "ballast", "./bin/ballast": "ballast", "x": "ballast"} {
		require.Equal(t, want, role(in), in)
	}
}
