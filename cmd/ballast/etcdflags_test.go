package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// etcdHelpFlags is every flag of etcd v3.7.3's `etcd --help`, in its order: the sections'
// flags (server/etcdmain/help.go's flagsline), then the usage lines' --version and
// --config-file. Copied from the output of .bin/etcd-v3.7.3 --help; TestEtcdHelpFlagsAreKnown
// reads that output again and fails if the list and it differ.
var etcdHelpFlags = []string{
	"name", "data-dir", "wal-dir", "snapshot-count", "heartbeat-interval", "election-timeout",
	"initial-election-tick-advance", "listen-peer-urls", "listen-client-urls", "listen-client-http-urls", "max-snapshots", "max-wals",
	"memory-mlock", "quota-backend-bytes", "backend-bbolt-freelist-type", "backend-batch-interval", "backend-batch-limit", "max-txn-ops",
	"max-request-bytes", "max-concurrent-streams", "grpc-keepalive-min-time", "grpc-keepalive-interval", "grpc-keepalive-timeout", "socket-reuse-port",
	"socket-reuse-address", "enable-grpc-gateway", "raft-read-timeout", "raft-write-timeout", "feature-gates", "initial-advertise-peer-urls",
	"initial-cluster", "initial-cluster-state", "initial-cluster-token", "advertise-client-urls", "discovery", "discovery-token",
	"discovery-endpoints", "discovery-dial-timeout", "discovery-request-timeout", "discovery-keepalive-time", "discovery-keepalive-timeout", "discovery-insecure-transport",
	"discovery-insecure-skip-tls-verify", "discovery-cert", "discovery-key", "discovery-cacert", "discovery-user", "discovery-password",
	"discovery-fallback", "discovery-proxy", "discovery-srv", "discovery-srv-name", "strict-reconfig-check", "pre-vote",
	"auto-compaction-retention", "auto-compaction-mode", "v2-deprecation", "cert-file", "key-file", "client-cert-auth",
	"client-cert-file", "client-key-file", "client-crl-file", "client-cert-allowed-hostname", "trusted-ca-file", "auto-tls",
	"peer-cert-file", "peer-key-file", "peer-client-cert-auth", "peer-client-cert-file", "peer-client-key-file", "peer-trusted-ca-file",
	"peer-cert-allowed-cn", "peer-cert-allowed-hostname", "peer-auto-tls", "self-signed-cert-validity", "peer-crl-file", "cipher-suites",
	"cors", "host-whitelist", "tls-min-version", "tls-max-version", "auth-token", "bcrypt-cost",
	"auth-token-ttl", "enable-pprof", "metrics", "listen-metrics-urls", "logger", "log-outputs",
	"log-level", "log-format", "enable-log-rotation", "log-rotation-config-json", "warning-unary-request-duration", "enable-distributed-tracing",
	"distributed-tracing-address", "distributed-tracing-service-name", "distributed-tracing-instance-id", "distributed-tracing-sampling-rate", "corrupt-check-time", "compact-hash-check-time",
	"compaction-batch-limit", "peer-skip-client-san-verification", "watch-progress-notify-interval", "warning-apply-duration", "bootstrap-defrag-threshold-megabytes", "max-learners",
	"compaction-sleep-interval", "downgrade-check-time", "snapshot-catchup-entries", "force-new-cluster", "unsafe-no-fsync",
	"version", "config-file",
}

// honouredFlag is a flag Ballast accepts: the arguments that give it (with what else the
// command line then needs), and the test that observes its effect (in file, which must
// mention token: the flag, its variable or its Config field).
type honouredFlag struct {
	args       []string
	observedBy string
	file       string
	token      string
}

// member is the rest of a command line that gives --listen-client-urls.
var withAdvertise = []string{"--advertise-client-urls", "http://127.0.0.1:2379"}

var honouredFlags = map[string]honouredFlag{
	"cert-file":                          {[]string{"--cert-file", "c.pem", "--key-file", "k.pem"}, "TestClientTLS", "../../rpc/embed/tls_test.go", "CertFile"},
	"key-file":                           {[]string{"--cert-file", "c.pem", "--key-file", "k.pem"}, "TestClientTLS", "../../rpc/embed/tls_test.go", "KeyFile"},
	"trusted-ca-file":                    {[]string{"--trusted-ca-file", "ca.pem"}, "TestClientTLS", "../../rpc/embed/tls_test.go", "TrustedCAFile"},
	"client-cert-auth":                   {[]string{"--client-cert-auth"}, "TestClientTLS", "../../rpc/embed/tls_test.go", "ClientCertAuth"},
	"peer-cert-file":                     {[]string{"--peer-cert-file", "c.pem", "--peer-key-file", "k.pem"}, "TestPeerTLS", "../../rpc/embed/tls_test.go", "PeerTLS"},
	"peer-key-file":                      {[]string{"--peer-cert-file", "c.pem", "--peer-key-file", "k.pem"}, "TestPeerTLS", "../../rpc/embed/tls_test.go", "KeyFile"},
	"peer-trusted-ca-file":               {[]string{"--peer-trusted-ca-file", "ca.pem"}, "TestPeerTLS", "../../rpc/embed/tls_test.go", "TrustedCAFile"},
	"peer-client-cert-auth":              {[]string{"--peer-client-cert-auth"}, "TestPeerTLS", "../../rpc/embed/tls_test.go", "ClientCertAuth"},
	"corrupt-check-time":                 {[]string{"--corrupt-check-time", "1m"}, "TestCorruptCheck", "../../rpc/embed/corruptcheck_test.go", "CorruptCheckTime"},
	"auth-token":                         {[]string{"--auth-token", "simple"}, "TestEtcdctlAuth", "auth_etcdctl_test.go", `"--auth-token", "simple"`},
	"bcrypt-cost":                        {[]string{"--bcrypt-cost", "4"}, "TestEtcdctlAuth", "auth_etcdctl_test.go", `"--bcrypt-cost", "4"`},
	"auth-token-ttl":                     {[]string{"--auth-token-ttl", "60"}, "TestEtcdctlAuth", "auth_etcdctl_test.go", `"--auth-token-ttl", "60"`},
	"client-cert-file":                   {[]string{"--client-cert-file", "c.pem", "--client-key-file", "k.pem"}, "TestClientCertFiles", "../../rpc/embed/tlsconfig_test.go", "ClientCertFile"},
	"client-key-file":                    {[]string{"--client-cert-file", "c.pem", "--client-key-file", "k.pem"}, "TestClientCertFiles", "../../rpc/embed/tlsconfig_test.go", "ClientKeyFile"},
	"peer-client-cert-file":              {[]string{"--peer-client-cert-file", "c.pem", "--peer-client-key-file", "k.pem"}, "TestClientCertFiles", "../../rpc/embed/tlsconfig_test.go", "--peer-client-cert-file"},
	"peer-client-key-file":               {[]string{"--peer-client-cert-file", "c.pem", "--peer-client-key-file", "k.pem"}, "TestClientCertFiles", "../../rpc/embed/tlsconfig_test.go", "--peer-client-key-file"},
	"client-crl-file":                    {[]string{"--client-crl-file", "c.crl"}, "TestClientTLSSettings", "../../rpc/embed/tlsconfig_test.go", "CRLFile"},
	"client-cert-allowed-hostname":       {[]string{"--client-cert-allowed-hostname", "localhost"}, "TestCertAllowedNames", "../../rpc/embed/tlsconfig_test.go", "AllowedHostnames"},
	"peer-cert-allowed-cn":               {[]string{"--peer-cert-allowed-cn", "m1,m2"}, "TestPeerTLSAllowedCN", "../../rpc/embed/tls_test.go", "AllowedCNs"},
	"peer-cert-allowed-hostname":         {[]string{"--peer-cert-allowed-hostname", "localhost"}, "TestCertAllowedNames", "../../rpc/embed/tlsconfig_test.go", "peerDialConfig"},
	"peer-crl-file":                      {[]string{"--peer-crl-file", "p.crl"}, "TestPeerTLSRevoked", "../../rpc/embed/tls_test.go", "CRLFile"},
	"cors":                               {[]string{"--cors", "http://good.example:8080"}, "TestAccessControlAsEtcd", "access_test.go", "--cors"},
	"host-whitelist":                     {[]string{"--host-whitelist", "localhost"}, "TestAccessControlAsEtcd", "access_test.go", "--host-whitelist"},
	"peer-skip-client-san-verification":  {[]string{"--peer-skip-client-san-verification"}, "TestPeerTLSClientSAN", "../../rpc/embed/tls_test.go", "SkipClientSANVerify"},
	"cipher-suites":                      {[]string{"--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, "TestClientTLSSettings", "../../rpc/embed/tlsconfig_test.go", "CipherSuites"},
	"tls-min-version":                    {[]string{"--tls-min-version", "TLS1.3"}, "TestTLSMinVersion13", "../../rpc/embed/tlsconfig_test.go", "TLSMinVersion"},
	"tls-max-version":                    {[]string{"--tls-max-version", "TLS1.2"}, "TestClientTLSSettings", "../../rpc/embed/tlsconfig_test.go", "TLSMaxVersion"},
	"auto-tls":                           {[]string{"--auto-tls"}, "TestEtcdctlAutoTLS", "tls_etcdctl_test.go", "--auto-tls"},
	"peer-auto-tls":                      {[]string{"--peer-auto-tls"}, "TestAutoTLS", "../../rpc/embed/autotls_test.go", "PeerAutoTLS"},
	"self-signed-cert-validity":          {[]string{"--self-signed-cert-validity", "3"}, "TestAutoTLS", "../../rpc/embed/autotls_test.go", "SelfSignedCertValidity"},
	"name":                               {[]string{"--name", "m1"}, "TestRunFromEnvironment", "run_test.go", "ETCD_NAME"},
	"data-dir":                           {[]string{"--data-dir", "d"}, "TestRunFromEnvironment", "run_test.go", "ETCD_DATA_DIR"},
	"wal-dir":                            {[]string{"--wal-dir", "w"}, "TestServerCluster", "../../rpc/embed/server_test.go", "WALDir"},
	"snapshot-count":                     {[]string{"--snapshot-count", "7"}, "TestRunFromConfigFile", "run_test.go", `"snapshot-count":7`},
	"heartbeat-interval":                 {[]string{"--heartbeat-interval", "50"}, "TestProcessKillLeaderThenFollower", "process_test.go", "--heartbeat-interval"},
	"election-timeout":                   {[]string{"--election-timeout", "500"}, "TestProcessKillLeaderThenFollower", "process_test.go", "--election-timeout"},
	"initial-election-tick-advance":      {[]string{"--initial-election-tick-advance=false"}, "TestInitialElectionTickAdvance", "../../rpc/embed/ticks_test.go", "NoInitialElectionTickAdvance"},
	"listen-peer-urls":                   {[]string{"--listen-peer-urls", "http://127.0.0.1:2380"}, "TestRunFromEnvironment", "run_test.go", "ETCD_LISTEN_PEER_URLS"},
	"listen-client-urls":                 {append([]string{"--listen-client-urls", "http://127.0.0.1:2379"}, withAdvertise...), "TestRunFromEnvironment", "run_test.go", "ETCD_LISTEN_CLIENT_URLS"},
	"quota-backend-bytes":                {[]string{"--quota-backend-bytes", "1048576"}, "TestParseAccepted", "flags_test.go", "quota-backend-bytes"},
	"max-txn-ops":                        {[]string{"--max-txn-ops", "9"}, "TestRunFromConfigFile", "run_test.go", "max-txn-ops"},
	"max-request-bytes":                  {[]string{"--max-request-bytes", "9999"}, "TestRunFromConfigFile", "run_test.go", "max-request-bytes"},
	"feature-gates":                      {[]string{"--feature-gates", "LeaseCheckpoint=true"}, "TestFeatureGates", "etcdflags_test.go", "feature-gates"},
	"initial-advertise-peer-urls":        {[]string{"--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--initial-cluster", "default=http://127.0.0.1:2380"}, "TestRunFromEnvironment", "run_test.go", "ETCD_INITIAL_ADVERTISE_PEER_URLS"},
	"initial-cluster":                    {[]string{"--initial-cluster", "default=http://localhost:2380"}, "TestRunFromEnvironment", "run_test.go", "ETCD_INITIAL_CLUSTER"},
	"initial-cluster-state":              {[]string{"--initial-cluster-state", "new"}, "TestRunFromEnvironment", "run_test.go", "ETCD_INITIAL_CLUSTER_STATE"},
	"initial-cluster-token":              {[]string{"--initial-cluster-token", "t"}, "TestProcessKillLeaderThenFollower", "process_test.go", "--initial-cluster-token"},
	"advertise-client-urls":              {withAdvertise, "TestRunFromEnvironment", "run_test.go", "ETCD_ADVERTISE_CLIENT_URLS"},
	"discovery-fallback":                 {[]string{"--discovery-fallback", "exit"}, "TestParseRefused", "flags_test.go", "discovery-fallback"},
	"compact-hash-check-time":            {[]string{"--compact-hash-check-time", "2m"}, "TestCompactHashCheck", "../../rpc/embed/compacthash_test.go", "CompactHashCheckTime"},
	"force-new-cluster":                  {[]string{"--force-new-cluster"}, "TestForceNewCluster", "../../rpc/embed/forcenew_test.go", "ForceNewCluster"},
	"pre-vote":                           {[]string{"--pre-vote=false"}, "TestPreVoteFlag", "../../rpc/embed/ticks_test.go", "NoPreVote"},
	"v2-deprecation":                     {[]string{"--v2-deprecation", "write-only"}, "TestParseAccepted", "flags_test.go", "v2-deprecation"},
	"logger":                             {[]string{"--logger", "zap"}, "TestFixedFlags", "etcdflags_test.go", "logger"},
	"log-outputs":                        {[]string{"--log-outputs", "stdout"}, "TestRunFromConfigFile", "run_test.go", "log-outputs"},
	"log-level":                          {[]string{"--log-level", "debug"}, "TestRunFromEnvironment", "run_test.go", "ETCD_LOG_LEVEL"},
	"log-format":                         {[]string{"--log-format", "console"}, "TestRunFromConfigFile", "run_test.go", "log-format"},
	"watch-progress-notify-interval":     {[]string{"--watch-progress-notify-interval", "5s"}, "TestRunFromConfigFile", "run_test.go", "watch-progress-notify-interval"},
	"snapshot-catchup-entries":           {[]string{"--snapshot-catchup-entries", "5"}, "TestRunFromConfigFile", "run_test.go", `"snapshot-catchup-entries":5`},
	"listen-metrics-urls":                {[]string{"--listen-metrics-urls", "http://127.0.0.1:2381"}, "TestHTTPAsEtcd", "http_test.go", "--listen-metrics-urls"},
	"metrics":                            {[]string{"--metrics", "extensive"}, "TestMetricsMove", "../../rpc/embed/metrics_test.go", "MetricsExtensive"},
	"enable-pprof":                       {[]string{"--enable-pprof"}, "TestRunFromEnvironment", "run_test.go", "ETCD_ENABLE_PPROF"},
	"enable-grpc-gateway":                {[]string{"--enable-grpc-gateway=false"}, "TestGatewayAsEtcd", "gateway_test.go", "--enable-grpc-gateway"},
	"max-concurrent-streams":             {[]string{"--max-concurrent-streams", "1"}, "TestMaxConcurrentStreams", "../../rpc/embed/grpcopts_test.go", "MaxConcurrentStreams"},
	"grpc-keepalive-interval":            {[]string{"--grpc-keepalive-interval", "1s"}, "TestGRPCKeepAliveIntervalAndTimeout", "../../rpc/embed/grpcopts_test.go", "GRPCKeepAliveInterval"},
	"grpc-keepalive-timeout":             {[]string{"--grpc-keepalive-timeout", "1s"}, "TestGRPCKeepAliveIntervalAndTimeout", "../../rpc/embed/grpcopts_test.go", "GRPCKeepAliveTimeout"},
	"grpc-keepalive-min-time":            {[]string{"--grpc-keepalive-min-time", "1s"}, "TestGRPCTuningFlags", "etcdflags_test.go", "GRPCKeepAliveMinTime"},
	"auto-compaction-mode":               {[]string{"--auto-compaction-mode", "revision"}, "TestAutoCompaction", "../../rpc/embed/compactor_test.go", "AutoCompactionMode"},
	"auto-compaction-retention":          {[]string{"--auto-compaction-retention", "5m"}, "TestAutoCompaction", "../../rpc/embed/compactor_test.go", "AutoCompactionRetention"},
	"warning-apply-duration":             {[]string{"--warning-apply-duration", "1ns"}, "TestWarningApplyDurationAndCompactionBatchLimit", "../../rpc/embed/applywarn_test.go", "WarningApplyDuration"},
	"compaction-batch-limit":             {[]string{"--compaction-batch-limit", "1"}, "TestWarningApplyDurationAndCompactionBatchLimit", "../../rpc/embed/applywarn_test.go", "CompactionBatchLimit"},
	"warning-unary-request-duration":     {[]string{"--warning-unary-request-duration", "1s"}, "TestRunFromEnvironment", "run_test.go", "ETCD_WARNING_UNARY_REQUEST_DURATION"},
	"strict-reconfig-check":              {[]string{"--strict-reconfig-check=false"}, "TestStrictReconfigCheck", "../../rpc/embed/reconfig_test.go", "NoStrictReconfigCheck"},
	"listen-client-http-urls":            {[]string{"--listen-client-http-urls", "http://127.0.0.1:2382"}, "TestClientHTTPURLsAsEtcd", "http_test.go", "--listen-client-http-urls"},
	"enable-distributed-tracing":         {[]string{"--enable-distributed-tracing"}, "TestDistributedTracing", "../../rpc/embed/tracing_test.go", "Enabled: tc.enabled"},
	"distributed-tracing-address":        {[]string{"--distributed-tracing-address", "127.0.0.1:4317"}, "TestDistributedTracing", "../../rpc/embed/tracing_test.go", "Address: addr"},
	"distributed-tracing-service-name":   {[]string{"--distributed-tracing-service-name", "svc"}, "TestDistributedTracing", "../../rpc/embed/tracing_test.go", "ServiceName:"},
	"distributed-tracing-instance-id":    {[]string{"--distributed-tracing-instance-id", "i1"}, "TestDistributedTracing", "../../rpc/embed/tracing_test.go", "InstanceID:"},
	"distributed-tracing-sampling-rate":  {[]string{"--distributed-tracing-sampling-rate", "1000000"}, "TestDistributedTracing", "../../rpc/embed/tracing_test.go", "SamplingRatePerMillion:"},
	"socket-reuse-port":                  {[]string{"--socket-reuse-port"}, "TestSocketReusePort", "../../rpc/embed/sockopt_test.go", "SocketReusePort"},
	"socket-reuse-address":               {[]string{"--socket-reuse-address"}, "TestSocketReusePort", "../../rpc/embed/sockopt_test.go", "SocketReuseAddress"},
	"discovery-token":                    {[]string{"--discovery-token", "t", "--discovery-endpoints", "http://127.0.0.1:2379"}, "TestDiscovery", "discovery_test.go", "--discovery-token"},
	"discovery-endpoints":                {[]string{"--discovery-token", "t", "--discovery-endpoints", "http://127.0.0.1:2379"}, "TestDiscovery", "discovery_test.go", "--discovery-endpoints"},
	"discovery-dial-timeout":             {[]string{"--discovery-dial-timeout", "3s"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-dial-timeout"},
	"discovery-request-timeout":          {[]string{"--discovery-request-timeout", "3s"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-request-timeout"},
	"discovery-keepalive-time":           {[]string{"--discovery-keepalive-time", "3s"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-keepalive-time"},
	"discovery-keepalive-timeout":        {[]string{"--discovery-keepalive-timeout", "3s"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-keepalive-timeout"},
	"discovery-insecure-transport":       {[]string{"--discovery-insecure-transport=false"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-insecure-transport=false"},
	"discovery-insecure-skip-tls-verify": {[]string{"--discovery-insecure-skip-tls-verify"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-insecure-skip-tls-verify"},
	"discovery-cert":                     {[]string{"--discovery-cert", "c.pem"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-cert"},
	"discovery-key":                      {[]string{"--discovery-key", "k.pem"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-key"},
	"discovery-cacert":                   {[]string{"--discovery-cacert", "ca.pem"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-cacert"},
	"discovery-user":                     {[]string{"--discovery-user", "u"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-user"},
	"discovery-password":                 {[]string{"--discovery-password", "p"}, "TestDiscoveryClientSettings", "discovery_test.go", "--discovery-password"},
	"enable-log-rotation":                {[]string{"--enable-log-rotation", "--log-outputs", "a.log"}, "TestLogRotation", "logrotation_test.go", "--enable-log-rotation"},
	"log-rotation-config-json":           {[]string{"--log-rotation-config-json", `{"maxsize": 1}`}, "TestLogRotation", "logrotation_test.go", "--log-rotation-config-json"},
	"discovery-srv":                      {[]string{"--discovery-srv", "example.test"}, "TestDiscoverySRV", "../../rpc/embed/srv_test.go", "DiscoverySRV"},
	"discovery-srv-name":                 {[]string{"--discovery-srv-name", "x"}, "TestDiscoverySRV", "../../rpc/embed/srv_test.go", "DiscoverySRVName"},
	"memory-mlock":                       {[]string{"--memory-mlock"}, "TestMemoryMlock", "mlock_test.go", "--memory-mlock"},
	"unsafe-no-fsync":                    {[]string{"--unsafe-no-fsync"}, "TestUnsafeNoFsync", "../../rpc/embed/nofsync_test.go", "UnsafeNoFsync"},
	"max-learners":                       {[]string{"--max-learners", "2"}, "TestMaxLearners", "../../rpc/embed/learners_test.go", "MaxLearners"},
	"version":                            {[]string{"--version"}, "TestHelpAndVersion", "flags_test.go", "--version"},
	"config-file":                        {[]string{"--config-file", "testdata/etcd.conf.yml"}, "TestRunFromConfigFile", "run_test.go", "--config-file"},
}

// TestEtcdHelpFlagsAreKnown reads etcd v3.7.3's own `etcd --help` and checks that the list
// above is exactly its flags, and that Ballast knows each one: accepted (the row names the
// test that observes it, which exists and mentions the flag) or refused at start-up with
// `flag --X is not supported yet: REASON`.
func TestEtcdHelpFlagsAreKnown(t *testing.T) {
	etcd := embedtest.EtcdTool(t, "etcd", "BALLAST_ETCD")
	out, err := exec.Command(etcd, "--help").CombinedOutput()
	require.NoError(t, err, string(out))
	var fromEtcd []string
	for _, m := range regexp.MustCompile(`(?m)^  --([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		fromEtcd = append(fromEtcd, m[1])
	}
	for _, m := range regexp.MustCompile(`(?m)^  etcd --([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		fromEtcd = append(fromEtcd, m[1])
	}
	require.Equal(t, etcdHelpFlags, fromEtcd, "the list is etcd v3.7.3's --help")

	refused, accepted := 0, 0
	for _, name := range etcdHelpFlags {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			if h, ok := honouredFlags[name]; ok {
				accepted++
				dir := t.TempDir()
				args := slices.Clone(h.args)
				if name == "config-file" {
					args[1] = writeFile(t, dir, "etcd.conf.yml", "name: from-file\n")
				}
				_, err := parseCommandLine("etcd", args, nil, &bytes.Buffer{}, &stderr)
				require.NoError(t, err, stderr.String())
				src, err := os.ReadFile(h.file)
				require.NoError(t, err, "the row names %s", h.file)
				require.Contains(t, string(src), "func "+h.observedBy+"(t *testing.T)", "%s: the observing test exists", name)
				require.Contains(t, string(src), h.token, "%s: %s mentions the flag", name, h.file)
				return
			}
			refused++
			args := []string{"--" + name}
			if f, ok := lookupUnsupported(name); !ok || !f.isBool {
				args = append(args, refusedSample(name))
			}
			_, err := parseCommandLine("etcd", args, nil, &bytes.Buffer{}, &stderr)
			require.Error(t, err, "--%s must be accepted (and listed in honouredFlags) or refused", name)
			require.True(t, strings.HasPrefix(err.Error(), "flag --"+name+" is not supported yet: "), "%v", err)
		})
	}
	t.Logf("etcd v3.7.3 --help: %d flags, %d accepted, %d refused", len(etcdHelpFlags), accepted, refused)
}

func lookupUnsupported(name string) (unsupportedFlag, bool) {
	for _, f := range unsupportedFlags {
		if f.name == name {
			return f, true
		}
	}
	return unsupportedFlag{}, false
}

// refusedSample is a value for a refused flag that asks for something Ballast does not do.
func refusedSample(name string) string {
	switch name {
	case "logger":
		return "capnslog"
	}
	return "x"
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// TestFixedFlags: a flag whose behaviour Ballast has only one way is accepted with that value
// and refused with the other, naming it.
func TestFixedFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" accepted
	}{
		{[]string{"--logger", "zap"}, ""},
		{[]string{"--logger", "capnslog"}, "flag --logger is not supported yet: logger=capnslog is not built"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseCommandLine("etcd", tc.args, nil, &bytes.Buffer{}, &stderr)
			if tc.want == "" {
				require.NoError(t, err, stderr.String())
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error()+stderr.String(), tc.want)
		})
	}
}

// TestFeatureGates: etcd's gate names and syntax, its messages for what it refuses, and
// Ballast's refusal of a gate value it does not run with.
func TestFeatureGates(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    string // "" accepted
		warning string
	}{
		{[]string{"--feature-gates", "LeaseCheckpoint=true,LeaseCheckpointPersist=true"}, "", ""},
		{[]string{"--feature-gates", "InitialCorruptCheck=false"}, "", ""},
		{[]string{"--feature-gates", "TxnModeWriteWithSharedBuffer=false"}, "", "feature gate TxnModeWriteWithSharedBuffer=false changes nothing in Ballast"},
		{[]string{"--feature-gates", "NoSuchGate=true"}, "unrecognized feature gate: NoSuchGate", ""},
		{[]string{"--feature-gates", "LeaseCheckpoint"}, "missing bool value for LeaseCheckpoint", ""},
		{[]string{"--feature-gates", "LeaseCheckpoint=yes"}, "invalid value of LeaseCheckpoint=yes", ""},
		{[]string{"--feature-gates", "InitialCorruptCheck=true"}, "", ""},
		{[]string{"--feature-gates", "LeaseCheckpoint=false"}, "flag --feature-gates is not supported yet: LeaseCheckpoint=false", ""},
		{[]string{"--feature-gates", "AllAlpha=true"}, "flag --feature-gates is not supported yet: PriorityRequest=true", ""},
		{[]string{"--feature-gates", "CompactHashCheck=true"}, "", ""},
		// The v3.6 spellings set the gate.
		{[]string{"--experimental-initial-corrupt-check"}, "", "--experimental-initial-corrupt-check is deprecated in v3.6 and will be decommissioned in v3.7. Use '--feature-gates=InitialCorruptCheck=true' instead."},
		{[]string{"--experimental-enable-lease-checkpoint"}, "", "--experimental-enable-lease-checkpoint is deprecated in v3.6 and will be decommissioned in v3.7. Use '--feature-gates=LeaseCheckpoint=true' instead."},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseCommandLine("etcd", tc.args, nil, &bytes.Buffer{}, &stderr)
			if tc.want == "" {
				require.NoError(t, err, stderr.String())
				if tc.warning != "" {
					require.Contains(t, strings.Join(o.warnings, "\n"), tc.warning)
				}
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error()+stderr.String(), tc.want)
		})
	}
}

// TestExperimentalFlags: each v3.6 --experimental-* flag v3.7 removed is taken as v3.6 took
// it: it sets the flag without the prefix (honoured, or refused under the name given) or
// its feature gate, with v3.6's deprecation warning.
func TestExperimentalFlags(t *testing.T) {
	require.Len(t, experimentalFlags, 23, "the v3.6-to-v3.7 upgrade guide lists 23")
	for _, f := range experimentalFlags {
		name := "experimental-" + f.name
		t.Run(name, func(t *testing.T) {
			args := []string{"--" + name}
			if !f.isBool {
				value := "5s"
				if slices.Contains([]string{"snapshot-catchup-entries", "bootstrap-defrag-threshold-megabytes", "compaction-batch-limit", "distributed-tracing-sampling-rate"}, f.name) {
					value = "5"
				}
				args = append(args, value)
			}
			var stderr bytes.Buffer
			o, err := parseCommandLine("etcd", args, nil, &bytes.Buffer{}, &stderr)
			if err != nil {
				require.True(t, strings.HasPrefix(err.Error(), "flag --"+name+" is not supported yet: ") ||
					strings.HasPrefix(err.Error(), "flag --feature-gates is not supported yet: "+f.gate+"=true"), "%v", err)
				return
			}
			require.Contains(t, strings.Join(o.warnings, "\n"), "--"+name+" is deprecated in v3.6")
		})
	}
	for _, args := range [][]string{{"--feature-gates", "InitialCorruptCheck=true"}, {"--experimental-initial-corrupt-check"}} {
		o, err := parseCommandLine("etcd", args, nil, &bytes.Buffer{}, &bytes.Buffer{})
		require.NoError(t, err)
		require.True(t, o.cfg.InitialCorruptCheck, "%v: the check runs (rpc/embed's TestInitialCorruptCheck)", args)
	}
	o, err := parseCommandLine("etcd", []string{"--experimental-watch-progress-notify-interval", "5s"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "5s", o.cfg.WatchProgressNotifyInterval.String(), "sets --watch-progress-notify-interval")
	o, err = parseCommandLine("etcd", []string{"--experimental-snapshot-catchup-entries", "77"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, uint64(77), o.cfg.SnapshotCatchUpEntries)
	o, err = parseCommandLine("etcd", []string{"--experimental-warning-apply-duration", "250ms", "--experimental-compaction-batch-limit", "7"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 250*time.Millisecond, o.cfg.WarningApplyDuration, "sets --warning-apply-duration")
	require.Equal(t, 7, o.cfg.CompactionBatchLimit, "sets --compaction-batch-limit")
	o, err = parseCommandLine("etcd", nil, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 100*time.Millisecond, o.cfg.WarningApplyDuration, "etcd's default")
	require.Zero(t, o.cfg.CompactionBatchLimit, "kv/node's default (etcd's 1000)")
	o, err = parseCommandLine("etcd", []string{"--experimental-corrupt-check-time", "1m"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, time.Minute, o.cfg.CorruptCheckTime, "sets --corrupt-check-time")
	o, err = parseCommandLine("etcd", []string{"--experimental-compact-hash-check-time", "2m", "--experimental-compact-hash-check-enabled"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 2*time.Minute, o.cfg.CompactHashCheckTime, "sets --compact-hash-check-time")
	require.True(t, o.cfg.CompactHashCheck, "sets the CompactHashCheck gate (rpc/embed's TestCompactHashCheck)")
	o, err = parseCommandLine("etcd", nil, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.False(t, o.cfg.CompactHashCheck, "the gate is off by default, as etcd's")
	require.Equal(t, time.Minute, o.cfg.CompactHashCheckTime, "etcd's default")
}

// TestConfigFileParse: etcd's YAML keys, with etcd's value types (durations in nanoseconds,
// URL lists comma-separated, log-outputs a list), and the flags and variables ignored.
func TestConfigFileParse(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "etcd.conf.yml", `
name: infra1
data-dir: /var/lib/etcd
snapshot-count: 500
heartbeat-interval: 50
election-timeout: 500
listen-peer-urls: http://127.0.0.1:12380
listen-client-urls: http://127.0.0.1:12379,http://127.0.0.1:12379
initial-advertise-peer-urls: http://127.0.0.1:12380
advertise-client-urls: http://127.0.0.1:12379
initial-cluster: infra1=http://127.0.0.1:12380
initial-cluster-state: new
initial-cluster-token: tok
watch-progress-notify-interval: 600000000000
log-outputs: [stdout]
log-level: debug
# etcd's sample file lists every key with its default: those ask for nothing.
quota-backend-bytes: 0
enable-v2: false
strict-reconfig-check: true
max-snapshots: 5
enable-pprof: false
auto-compaction-retention: "0"
client-transport-security:
  cert-file:
  client-cert-auth: false
pre-vote: true
`)
	var stderr bytes.Buffer
	o, err := parseCommandLine("etcd", []string{"--config-file", path, "--name", "ignored"}, []string{"ETCD_SNAPSHOT_COUNT=1"}, &bytes.Buffer{}, &stderr)
	require.NoError(t, err, stderr.String())
	c := o.cfg
	require.Equal(t, "infra1", c.Name)
	require.Equal(t, "/var/lib/etcd", c.DataDir)
	require.Equal(t, uint64(500), c.SnapshotCount)
	require.Equal(t, "50ms", c.HeartbeatInterval.String())
	require.Equal(t, urls(t, "http://127.0.0.1:12379"), c.ListenClientURLs)
	require.Equal(t, "10m0s", c.WatchProgressNotifyInterval.String())
	require.Equal(t, []string{"stdout"}, o.log.outputs)
	require.Contains(t, o.warnings, `config file `+path+`: unknown key "enable-v2" ignored (etcd ignores it too)`)
	require.False(t, c.NoStrictReconfigCheck, "strict-reconfig-check: true")
	require.Contains(t, strings.Join(o.warnings, "\n"), `config file `+path+`: max-snapshots: 5 is etcd's default, taken as not given; Ballast's behaviour differs: flag --max-snapshots is not supported yet`)
	require.Equal(t, "loaded server configuration, other configuration command line flags and environment variables will be ignored if provided", o.infos[0].msg)

	// ETCD_CONFIG_FILE names it too.
	o, err = parseCommandLine("etcd", nil, []string{"ETCD_CONFIG_FILE=" + path}, &bytes.Buffer{}, &stderr)
	require.NoError(t, err)
	require.Equal(t, "infra1", o.cfg.Name)

	for _, tc := range []struct{ yaml, want string }{
		{"quota-backend-bytes: lots\n", "quota-backend-bytes"},
		{"client-transport-security:\n  cert-file: c.pem\n  key-file: k.pem\n  client-cert-file: cc.pem\n", "ClientKeyFile and ClientCertFile must both be present or both absent: key: , cert: cc.pem]"},
		{"tls-min-version: TLS1.0\n", `unexpected TLS version "TLS1.0" (must be one of: TLS1.2, TLS1.3)`},
		{"election-timeout: soon\n", `invalid value "soon" for election-timeout`},
		{"initial-cluster-state: old\n", `invalid value "old" for initial-cluster-state`},
		{"heartbeat-interval: 100\nelection-timeout: 200\n", "--election-timeout[200ms] should be at least as 5 times as --heartbeat-interval[100ms]"},
		{"name: [\n", "config file"},
	} {
		p := writeFile(t, t.TempDir(), "bad.yml", tc.yaml)
		_, err := parseCommandLine("etcd", []string{"--config-file", p}, nil, &bytes.Buffer{}, &bytes.Buffer{})
		require.Error(t, err, tc.yaml)
		require.Contains(t, err.Error(), tc.want, tc.yaml)
	}
	_, err = parseCommandLine("etcd", []string{"--config-file", filepath.Join(dir, "missing.yml")}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "no such file or directory")

	// peer-transport-security's skip-client-san-verification is
	// --peer-skip-client-san-verification (rpc/embed's TestPeerTLSClientSAN observes it).
	p := writeFile(t, t.TempDir(), "san.yml", "peer-transport-security:\n  skip-client-san-verification: true\n")
	o, err = parseCommandLine("etcd", []string{"--config-file", p}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.True(t, o.cfg.PeerTLS.SkipClientSANVerify)
	require.False(t, o.cfg.ClientTLS.SkipClientSANVerify)
	o, err = parseCommandLine("etcd", []string{"--experimental-peer-skip-client-san-verification"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.True(t, o.cfg.PeerTLS.SkipClientSANVerify, "v3.6's spelling")
}

// TestGRPCTuningFlags: the gRPC tuning flags reach the member's Config with etcd's meaning
// (0 disables the server's pings); their effects are observed in rpc/embed's
// TestMaxConcurrentStreams and TestGRPCKeepAliveIntervalAndTimeout. --grpc-keepalive-min-time's
// effect (a GOAWAY for a client pinging faster, on a connection with a call open) is passed
// to gRPC's enforcement policy and not observed by a test yet.
func TestGRPCTuningFlags(t *testing.T) {
	o, err := parseCommandLine("etcd", []string{"--max-concurrent-streams", "7", "--grpc-keepalive-min-time", "3s",
		"--grpc-keepalive-interval", "0", "--grpc-keepalive-timeout", "4s"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, uint32(7), o.cfg.MaxConcurrentStreams)
	require.Equal(t, "3s", o.cfg.GRPCKeepAliveMinTime.String())
	require.Negative(t, o.cfg.GRPCKeepAliveInterval, "0 is off")
	require.Equal(t, "4s", o.cfg.GRPCKeepAliveTimeout.String())
	_, err = parseCommandLine("etcd", []string{"--max-concurrent-streams", "4294967296"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.Error(t, err, "more than uint32, as etcd's Uint32Value")
}

// TestStrictReconfigCheckFlag: --strict-reconfig-check is on by default, as etcd's, and
// =false turns it off (its effect: rpc/embed's TestStrictReconfigCheck).
func TestStrictReconfigCheckFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		off  bool
	}{{nil, false}, {[]string{"--strict-reconfig-check"}, false}, {[]string{"--strict-reconfig-check=false"}, true}} {
		o, err := parseCommandLine("etcd", tc.args, nil, &bytes.Buffer{}, &bytes.Buffer{})
		require.NoError(t, err)
		require.Equal(t, tc.off, o.cfg.NoStrictReconfigCheck, "%v", tc.args)
	}
}

// TestRaftFlags: --pre-vote and --initial-election-tick-advance are on by default, as
// etcd's, and =false turns each off (their effects: rpc/embed's TestPreVoteFlag and
// TestInitialElectionTickAdvance, raft's TestAdvanceTicksCampaignsSooner).
func TestRaftFlags(t *testing.T) {
	for _, tc := range []struct {
		args               []string
		noPreVote, noTicks bool
		err                string
	}{
		{nil, false, false, ""},
		{[]string{"--pre-vote", "--initial-election-tick-advance"}, false, false, ""},
		{[]string{"--pre-vote=false"}, true, false, ""},
		{[]string{"--initial-election-tick-advance=false"}, false, true, ""},
		{[]string{"--pre-vote=maybe"}, false, false, "invalid boolean value"},
	} {
		var stderr bytes.Buffer
		o, err := parseCommandLine("etcd", tc.args, nil, &bytes.Buffer{}, &stderr)
		if tc.err != "" {
			require.Error(t, err)
			require.Contains(t, err.Error()+stderr.String(), tc.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.noPreVote, o.cfg.NoPreVote, "%v", tc.args)
		require.Equal(t, tc.noTicks, o.cfg.NoInitialElectionTickAdvance, "%v", tc.args)
		require.False(t, o.cfg.ForceNewCluster, "%v", tc.args)
	}
	o, err := parseCommandLine("etcd", []string{"--force-new-cluster"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.True(t, o.cfg.ForceNewCluster, "--force-new-cluster (its effect: rpc/embed's TestForceNewCluster)")
	// The config file's keys.
	path := writeFile(t, t.TempDir(), "etcd.conf.yml", "pre-vote: false\ninitial-election-tick-advance: false\n")
	o, err = parseCommandLine("etcd", []string{"--config-file", path}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.True(t, o.cfg.NoPreVote)
	require.True(t, o.cfg.NoInitialElectionTickAdvance)
}
