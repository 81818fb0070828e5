package main

import (
	"bytes"
	"fmt"
	"os/exec"
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
		ports := embedtest.FreePorts(t, 2)
		client, peer := fmt.Sprintf("https://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		cmd := exec.Command(srv.bin, "--name", "s", "--data-dir", t.TempDir(), "--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "s="+peer,
			"--cert-file", cert, "--key-file", key, "--trusted-ca-file", caFile, "--client-cert-auth")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		ctl := func(args ...string) (string, error) {
			out, err := exec.Command(etcdctl, append([]string{"--endpoints", client, "--command-timeout", "3s", "--dial-timeout", "2s"}, args...)...).CombinedOutput()
			return string(out), err
		}
		tlsArgs := []string{"--cacert", caFile, "--cert", cert, "--key", key}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := ctl(append(tlsArgs, "endpoint", "health")...); err == nil {
				break
			}
			require.True(t, time.Now().Before(deadline), "%s did not serve over TLS within 30 s; its log:\n%s", srv.name, logs.String())
			time.Sleep(200 * time.Millisecond)
		}
		normalize := regexp.MustCompile(`127\.0\.0\.1:\d+|took = [0-9.]+[µm]?s|\b[0-9a-f]{8,16}\b`) // member IDs print without leading zeros
		for _, step := range [][]string{{"put", "k", "v"}, {"get", "k"}, {"endpoint", "health"}, {"member", "list"}} {
			out, err := ctl(append(tlsArgs, step...)...)
			require.NoError(t, err, "%s: etcdctl %s: %s", srv.name, strings.Join(step, " "), out)
			answers[srv.name] = append(answers[srv.name], normalize.ReplaceAllString(out, "X"))
		}
		out, err := ctl("--cacert", caFile, "get", "k")
		require.Error(t, err, "%s answered a client without a certificate: %s", srv.name, out)
		out, err = ctl("--cacert", other, "--cert", cert, "--key", key, "get", "k")
		require.Error(t, err, "%s was trusted through a CA that did not sign it: %s", srv.name, out)
	}
	t.Logf("answers: %q", answers["ballast"])
	require.Equal(t, answers["etcd-v3.7.3"], answers["ballast"])
}
