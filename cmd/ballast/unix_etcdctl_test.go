package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// TestEtcdctlUnixSocket runs etcd's own etcdctl against a member serving its clients on unix
// sockets, Ballast and etcd v3.7.3 side by side with the same flags: --listen-client-urls
// unix://localhost:2379 (etcd's legacy form: the socket file localhost:2379 in the working
// directory) and unixs:///DIR/s.sock (TLS with --cert-file over the socket at that absolute
// path). etcdctl puts through the first (--endpoints unix://localhost:2379, run in that
// directory), gets through the second (--endpoints unixs:///DIR/s.sock --cacert) and checks
// health, with the same answers from both. The member is then killed, which leaves its
// socket files behind, and started again: it removes them and serves, as etcd does.
func TestEtcdctlUnixSocket(t *testing.T) {
	etcdctl := embedtest.EtcdTool(t, "etcdctl", "BALLAST_ETCDCTL")
	servers := []struct{ name, bin string }{{"ballast", processBinary(t)}, {"etcd-v3.7.3", embedtest.EtcdTool(t, "etcd", "BALLAST_ETCD")}}
	answers := map[string][]string{}
	for _, srv := range servers {
		sock, err := os.MkdirTemp("", "bsock") // short: a socket path is at most 108 bytes
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(sock) })
		ca := embedtest.NewCA(t, "ca")
		caFile := ca.WritePEM(t, sock, "ca.pem")
		// etcdctl (clientv3) verifies a unixs endpoint's certificate for its file name
		cert, key := ca.IssueSANs(t, sock, "server", 2, []net.IP{net.ParseIP("127.0.0.1")}, []string{"s.sock"})
		secure := "unixs://" + filepath.Join(sock, "s.sock")
		peer := fmt.Sprintf("http://127.0.0.1:%d", embedtest.FreePorts(t, 1)[0])
		args := []string{"--name", "s", "--data-dir", filepath.Join(sock, "data"),
			"--listen-client-urls", "unix://localhost:2379," + secure, "--advertise-client-urls", "unix://localhost:2379",
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "s=" + peer,
			"--cert-file", cert, "--key-file", key}
		logs := &embedtest.LockedBuffer{}
		var cmd *exec.Cmd
		start := func() {
			cmd = exec.Command(srv.bin, args...)
			cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = sock, processEnv(), logs, logs
			require.NoError(t, cmd.Start())
		}
		start()
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		ctl := func(args ...string) (string, error) {
			c := exec.Command(etcdctl, append([]string{"--command-timeout", "3s", "--dial-timeout", "2s"}, args...)...)
			c.Dir, c.Env = sock, processEnv()
			out, err := c.CombinedOutput()
			return string(out), err
		}
		plain := []string{"--endpoints", "unix://localhost:2379"}
		ready := func() {
			deadline := time.Now().Add(30 * time.Second)
			for {
				if _, err := ctl(append(plain, "endpoint", "health")...); err == nil {
					return
				}
				require.True(t, time.Now().Before(deadline), "%s did not serve on its unix socket within 30 s; its log:\n%s", srv.name, logs.String())
				time.Sleep(200 * time.Millisecond)
			}
		}
		ready()
		require.FileExists(t, filepath.Join(sock, "localhost:2379"), "the relative socket file, in the working directory")
		for _, step := range [][]string{
			append(plain, "put", "k", "v"),
			{"--endpoints", secure, "--cacert", caFile, "get", "k"},
			append(plain, "endpoint", "health"),
		} {
			out, err := ctl(step...)
			require.NoError(t, err, "%s: etcdctl %s: %s", srv.name, strings.Join(step, " "), out)
			answers[srv.name] = append(answers[srv.name], etcdctlNormalize.ReplaceAllString(strings.ReplaceAll(out, sock, "DIR"), "X"))
		}
		out, err := ctl("--endpoints", secure, "get", "k")
		require.Error(t, err, "%s: etcdctl without the CA trusted a unixs socket: %s", srv.name, out)

		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		require.FileExists(t, filepath.Join(sock, "s.sock"), "%s: a killed member leaves its socket file", srv.name)
		start()
		ready()
		out, err = ctl(append(plain, "get", "k", "--print-value-only")...)
		require.NoError(t, err, "%s after the restart over stale socket files: %s\n%s", srv.name, out, logs)
		require.Equal(t, "v\n", out)
	}
	t.Logf("answers: %q", answers["ballast"])
	require.Equal(t, answers["etcd-v3.7.3"], answers["ballast"])
}
