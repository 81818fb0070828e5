package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// These tests start a member through run, in-process, as main does (flags, environment,
// config file, logger), on loopback ports, and observe what the flags change.

// startRun runs the program with args and environ until the test ends; readyLog returns
// the log so far, and the member is ready once it holds readyMsg.
func startRun(t *testing.T, args, environ []string, stdout *embedtest.LockedBuffer, readyLog func() string, readyMsg string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr embedtest.LockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"etcd"}, args...), environ, stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			require.Equal(t, 0, code, "a signal stops the member cleanly")
		case <-time.After(30 * time.Second):
			t.Error("the member did not stop")
		}
		if t.Failed() {
			t.Logf("stderr:\n%s\nlog:\n%s", stderr.String(), readyLog())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(readyLog(), readyMsg) {
		select {
		case code := <-done:
			t.Fatalf("run returned %d before serving; stderr:\n%s", code, stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "not ready after 30s; stderr:\n%s\nlog:\n%s", stderr.String(), readyLog())
		time.Sleep(20 * time.Millisecond)
	}
}

func newTestClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRunFromConfigFile starts a member from an etcd YAML config file (every other flag and
// variable ignored) and observes its settings: the log goes to the file of log-outputs, in
// zap's console format, with etcd's start-up milestones; max-txn-ops and max-request-bytes
// refuse what is over them with etcd's errors; a watch that asked for progress gets one
// within watch-progress-notify-interval; the start-up line carries snapshot-count and
// snapshot-catchup-entries as the member runs with them.
func TestRunFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	ports := embedtest.FreePorts(t, 2)
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	logPath := filepath.Join(dir, "member.log")
	conf := writeFile(t, dir, "etcd.conf.yml", fmt.Sprintf(`
name: cf1
data-dir: %s
listen-client-urls: %s
advertise-client-urls: %s
listen-peer-urls: %s
initial-advertise-peer-urls: %s
initial-cluster: cf1=%s
initial-cluster-token: config-file-test
heartbeat-interval: 20
election-timeout: 200
snapshot-count: 7
snapshot-catchup-entries: 5
max-txn-ops: 2
max-request-bytes: 2048
watch-progress-notify-interval: 300000000
log-level: info
log-format: console
log-outputs: [%s]
`, filepath.Join(dir, "data"), client, client, peer, peer, peer, logPath))
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	var stdout embedtest.LockedBuffer
	// The command line and the environment are ignored once a config file is given.
	startRun(t, []string{"--config-file", conf, "--name", "ignored"}, []string{"ETCD_MAX_TXN_OPS=100"}, &stdout, readLog, "ready to serve client requests")

	log := readLog()
	console := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\t(debug|info|warn|error)\t[a-z0-9_]+/[a-z0-9_]+\.go:\d+\t[^\t]+(\t\{.*\})?$`)
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for _, l := range lines {
		require.Regexp(t, console, l, "zap's console line")
	}
	for _, want := range []string{"starting an etcd server", "published local member to cluster through raft",
		"ready to serve client requests", "serving client traffic insecurely; this is strongly discouraged!"} {
		require.Contains(t, log, "\t"+want, "etcd's milestone")
	}
	require.Contains(t, log, "loaded server configuration, other configuration command line flags and environment variables will be ignored if provided")
	require.Contains(t, log, `"snapshot-count":7`)
	require.Contains(t, log, `"snapshot-catchup-entries":5`)
	require.NotContains(t, stdout.String(), "ready to serve", "the log went to the file only")

	c := newTestClient(t, client)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Txn(ctx).Then(clientv3.OpPut("a", "1"), clientv3.OpPut("b", "1"), clientv3.OpPut("c", "1")).Commit()
	require.ErrorContains(t, err, "etcdserver: too many operations in txn request", "max-txn-ops 2")
	_, err = c.Txn(ctx).Then(clientv3.OpPut("a", "1"), clientv3.OpPut("b", "1")).Commit()
	require.NoError(t, err)
	_, err = c.Put(ctx, "big", strings.Repeat("x", 4096))
	require.ErrorContains(t, err, "etcdserver: request is too large", "max-request-bytes 2048")

	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	start := time.Now()
	wch := c.Watch(wctx, "idle", clientv3.WithProgressNotify())
	for resp := range wch {
		require.NoError(t, resp.Err())
		if resp.IsProgressNotify() {
			break
		}
	}
	// etcd's default interval is 10 minutes: a notification within the test's deadline is
	// the configured one.
	require.Less(t, time.Since(start), 15*time.Second)
}

// TestRunFromEnvironment configures a member through ETCD_* variables only, as a compose
// file's environment: does, and reads its JSON log on stdout (ETCD_LOG_OUTPUTS=stdout) in
// etcd's shape: level, ts in UTC with microseconds, caller, msg; ETCD_LOG_LEVEL=warn leaves
// only warnings (etcd's insecure-serving milestone and the unknown variable among them).
func TestRunFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	ports := embedtest.FreePorts(t, 2)
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	// systemd's readiness protocol: a unix datagram socket the member writes READY=1 to.
	notify := filepath.Join(dir, "notify.sock")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	require.NoError(t, err)
	defer sock.Close()
	env := []string{
		"ETCD_NAME=env1",
		"ETCD_DATA_DIR=" + filepath.Join(dir, "env1.etcd"),
		"ETCD_LISTEN_CLIENT_URLS=" + client,
		"ETCD_ADVERTISE_CLIENT_URLS=" + client,
		"ETCD_LISTEN_PEER_URLS=" + peer,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=" + peer,
		"ETCD_INITIAL_CLUSTER=env1=" + peer,
		"ETCD_INITIAL_CLUSTER_STATE=new",
		"ETCD_INITIAL_CLUSTER_TOKEN=env-test",
		"ETCD_HEARTBEAT_INTERVAL=20",
		"ETCD_ELECTION_TIMEOUT=200",
		"ETCD_LOG_OUTPUTS=stdout",
		"ETCD_LOG_LEVEL=warn",
		"ETCD_UNKNOWN_SETTING=1",
		"ETCD_ENABLE_PPROF=true",
		"ETCD_WARNING_UNARY_REQUEST_DURATION=1ns",
		"NOTIFY_SOCKET=" + notify,
		"HOME=/nowhere",
	}
	var stdout embedtest.LockedBuffer
	startRun(t, nil, env, &stdout, stdout.String, "serving client traffic insecurely")

	require.NoError(t, sock.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 64)
	n, err := sock.Read(buf)
	require.NoError(t, err, "READY=1 on NOTIFY_SOCKET")
	require.Equal(t, "READY=1", string(buf[:n]))

	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		require.Regexp(t, `^(warn|error)$`, line["level"], "ETCD_LOG_LEVEL=warn")
		require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, line["ts"])
		require.Regexp(t, `^[a-z0-9_]+/[a-z0-9_]+\.go:\d+$`, line["caller"])
		msgs = append(msgs, line["msg"].(string))
	}
	for _, want := range []string{"serving client traffic insecurely; this is strongly discouraged!",
		"unrecognized environment variable: ETCD_UNKNOWN_SETTING=1"} {
		require.Contains(t, msgs, want)
	}
	c := newTestClient(t, client)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, resp.Members, 1)
	require.Equal(t, "env1", resp.Members[0].Name, "ETCD_NAME")
	require.Equal(t, []string{peer}, resp.Members[0].PeerURLs, "ETCD_INITIAL_ADVERTISE_PEER_URLS")
	require.Equal(t, []string{client}, resp.Members[0].ClientURLs, "ETCD_ADVERTISE_CLIENT_URLS")
	_, err = os.Stat(filepath.Join(dir, "env1.etcd", "member"))
	require.NoError(t, err, "ETCD_DATA_DIR")
	require.Eventually(t, func() bool {
		return strings.Contains(stdout.String(), `"response type":"/etcdserverpb.Cluster/MemberList"`)
	},
		5*time.Second, 10*time.Millisecond, "ETCD_WARNING_UNARY_REQUEST_DURATION: the MemberList call was slower than 1ns: %s", stdout.String())
	require.Contains(t, stdout.String(), `"msg":"request stats"`)
	code, body, _ := httpGet(client + "/debug/pprof/")
	require.Equal(t, http.StatusOK, code, "ETCD_ENABLE_PPROF")
	require.Contains(t, body, "goroutine")
}
