package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// TestEtcdctlOverTLS runs etcd's own etcdctl against a single member serving its client URL
// over TLS with --client-cert-auth, Ballast and etcd v3.7.3 side by side with the same flags
// and the same certificates (made in the test): put, get, endpoint health and member list
// with a client certificate answer the same (ports and ids aside); without a client
// certificate both refuse; with a CA that did not sign the server both refuse.
func TestEtcdctlOverTLS(t *testing.T) {
	etcdctl := embedtest.EtcdTool(t, "etcdctl", "BALLAST_ETCDCTL")
	servers := []struct{ name, bin string }{{"ballast", processBinary(t)}, {"etcd-v3.7.3", embedtest.EtcdTool(t, "etcd", "BALLAST_ETCD")}}
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ballast-test-ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	cert, key := ca.Issue(t, dir, "member", 2)
	other := embedtest.NewCA(t, "another-ca").WritePEM(t, dir, "other-ca.pem")
	answers := map[string][]string{}
	for _, srv := range servers {
		tlsArgs := []string{"--cacert", caFile, "--cert", cert, "--key", key}
		ctl, _, _ := startTLSMember(t, srv.name, srv.bin, "http", etcdctl, tlsArgs, "--cert-file", cert, "--key-file", key, "--trusted-ca-file", caFile, "--client-cert-auth")
		for _, step := range [][]string{{"put", "k", "v"}, {"get", "k"}, {"endpoint", "health"}, {"member", "list"}} {
			out, err := ctl(append(tlsArgs, step...)...)
			require.NoError(t, err, "%s: etcdctl %s: %s", srv.name, strings.Join(step, " "), out)
			answers[srv.name] = append(answers[srv.name], etcdctlNormalize.ReplaceAllString(out, "X"))
		}
		out, err := ctl("--cacert", caFile, "get", "k")
		require.Error(t, err, "%s answered a client without a certificate: %s", srv.name, out)
		out, err = ctl("--cacert", other, "--cert", cert, "--key", key, "get", "k")
		require.Error(t, err, "%s was trusted through a CA that did not sign it: %s", srv.name, out)
	}
	t.Logf("answers: %q", answers["ballast"])
	require.Equal(t, answers["etcd-v3.7.3"], answers["ballast"])
}

// etcdctlNormalize masks what differs between two runs: ports, durations, member IDs (which
// print without leading zeros).
var etcdctlNormalize = regexp.MustCompile(`127\.0\.0\.1:\d+|took = [0-9.]+[µm]?s|\b[0-9a-f]{8,16}\b`)

// startTLSMember starts bin as a one-member cluster with an https client URL (its peer URL
// of peerScheme) and the flags given, and waits until etcdctl with the flags ready reaches
// it (endpoint health). It returns etcdctl against the member, the data dir and the log.
func startTLSMember(t *testing.T, name, bin, peerScheme, etcdctl string, ready []string, flags ...string) (ctl func(args ...string) (string, error), dataDir string, logs *embedtest.LockedBuffer) {
	t.Helper()
	ports := embedtest.FreePorts(t, 2)
	client, peer := fmt.Sprintf("https://127.0.0.1:%d", ports[0]), fmt.Sprintf("%s://127.0.0.1:%d", peerScheme, ports[1])
	dataDir = t.TempDir()
	cmd := exec.Command(bin, append([]string{"--name", "s", "--data-dir", dataDir, "--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "s=" + peer}, flags...)...)
	logs = &embedtest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ctl = func(args ...string) (string, error) {
		out, err := exec.Command(etcdctl, append([]string{"--endpoints", client, "--command-timeout", "3s", "--dial-timeout", "2s"}, args...)...).CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := ctl(append(ready, "endpoint", "health")...); err == nil {
			return ctl, dataDir, logs
		}
		require.True(t, time.Now().Before(deadline), "%s did not serve over TLS within 30 s; its log:\n%s", name, logs.String())
		time.Sleep(200 * time.Millisecond)
	}
}

// TestEtcdctlAutoTLS: Ballast and etcd v3.7.3 side by side with --auto-tls and
// --peer-auto-tls and https client and peer URLs, no certificate given: both generate their
// pairs in data-dir/fixtures/client and fixtures/peer, etcdctl --insecure-skip-tls-verify
// puts, gets and checks health with the same answers, and etcdctl that verifies the
// server's certificate is refused by both (it is self-signed).
func TestEtcdctlAutoTLS(t *testing.T) {
	etcdctl := embedtest.EtcdTool(t, "etcdctl", "BALLAST_ETCDCTL")
	servers := []struct{ name, bin string }{{"ballast", processBinary(t)}, {"etcd-v3.7.3", embedtest.EtcdTool(t, "etcd", "BALLAST_ETCD")}}
	answers := map[string][]string{}
	skip := []string{"--insecure-skip-tls-verify"}
	for _, srv := range servers {
		ctl, dataDir, logs := startTLSMember(t, srv.name, srv.bin, "https", etcdctl, skip, "--auto-tls", "--peer-auto-tls")
		for _, side := range []string{"client", "peer"} {
			for _, f := range []string{"cert.pem", "key.pem"} {
				require.FileExists(t, filepath.Join(dataDir, "fixtures", side, f), "%s; log:\n%s", srv.name, logs)
			}
		}
		for _, step := range [][]string{{"put", "k", "v"}, {"get", "k"}, {"endpoint", "health"}} {
			out, err := ctl(append(skip, step...)...)
			require.NoError(t, err, "%s: etcdctl %s: %s", srv.name, strings.Join(step, " "), out)
			answers[srv.name] = append(answers[srv.name], etcdctlNormalize.ReplaceAllString(out, "X"))
		}
		out, err := ctl("get", "k")
		require.Error(t, err, "%s: etcdctl verifying the self-signed certificate: %s", srv.name, out)
	}
	t.Logf("answers: %q", answers["ballast"])
	require.Equal(t, answers["etcd-v3.7.3"], answers["ballast"])
}
