package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// authSteps is an etcdctl session of etcd's users, roles and permissions: set-up, auth
// enable, reads and writes allowed and denied, bad credentials, root-only calls, a revoked
// permission, bad input, auth disable. "-" runs without credentials.
var authSteps = []struct {
	user string
	args []string
}{
	{"-", []string{"user", "add", "root", "--new-user-password", "rootpw"}},
	{"-", []string{"user", "add", "alice", "--new-user-password", "alicepw"}},
	{"-", []string{"user", "add", "alice", "--new-user-password", "again"}}, // exists
	{"-", []string{"role", "add", "reader"}},
	{"-", []string{"role", "add", "reader"}}, // exists
	{"-", []string{"role", "grant-permission", "reader", "read", "--prefix", "pub/"}},
	{"-", []string{"role", "grant-permission", "reader", "readwrite", "own"}},
	{"-", []string{"role", "grant-permission", "reader", "read", "z", "a"}}, // inverted range
	{"-", []string{"role", "grant-permission", "nosuchrole", "read", "k"}},
	{"-", []string{"user", "grant-role", "alice", "reader"}},
	{"-", []string{"user", "grant-role", "alice", "nosuchrole"}},
	{"-", []string{"user", "grant-role", "nosuchuser", "reader"}},
	{"-", []string{"put", "pub/a", "1"}},
	{"-", []string{"put", "secret", "s"}},
	{"-", []string{"auth", "status"}},
	{"-", []string{"auth", "enable"}}, // etcdctl adds the role root and grants it to root first
	{"-", []string{"auth", "enable"}},
	{"-", []string{"get", "pub/a"}},
	{"-", []string{"put", "pub/a", "2"}},
	{"alice:alicepw", []string{"get", "pub/a"}},
	{"alice:alicepw", []string{"get", "--prefix", "pub/"}},
	{"alice:alicepw", []string{"get", "secret"}},
	{"alice:alicepw", []string{"put", "pub/b", "x"}},
	{"alice:alicepw", []string{"put", "own", "mine"}},
	{"alice:alicepw", []string{"get", "own"}},
	{"alice:alicepw", []string{"del", "secret"}},
	{"alice:alicepw", []string{"txn"}}, // stdin below
	{"alice:wrong", []string{"get", "pub/a"}},
	{"bob:x", []string{"get", "pub/a"}},
	{"alice:alicepw", []string{"user", "list"}},
	{"alice:alicepw", []string{"user", "get", "alice"}},
	{"alice:alicepw", []string{"role", "get", "reader"}},
	{"alice:alicepw", []string{"compaction", "1"}},
	{"alice:alicepw", []string{"member", "list", "-w", "json"}},
	{"root:rootpw", []string{"user", "list"}},
	{"root:rootpw", []string{"role", "list"}},
	{"root:rootpw", []string{"user", "get", "alice"}},
	{"root:rootpw", []string{"role", "get", "reader"}},
	{"root:rootpw", []string{"role", "get", "root"}},
	{"root:rootpw", []string{"get", "secret"}},
	{"root:rootpw", []string{"auth", "status"}},
	{"root:rootpw", []string{"user", "delete", "root"}},
	{"root:rootpw", []string{"role", "delete", "root"}},
	{"root:rootpw", []string{"user", "revoke-role", "root", "root"}},
	{"root:rootpw", []string{"user", "revoke-role", "alice", "writer"}},
	{"root:rootpw", []string{"role", "revoke-permission", "reader", "--prefix", "pub/"}},
	{"root:rootpw", []string{"role", "revoke-permission", "reader", "--prefix", "pub/"}},
	{"alice:alicepw", []string{"get", "pub/a"}},
	{"root:rootpw", []string{"user", "passwd", "alice", "--new-user-password", "newpw"}},
	{"alice:alicepw", []string{"get", "own"}},
	{"alice:newpw", []string{"get", "own"}},
	{"root:rootpw", []string{"role", "delete", "reader"}},
	{"alice:newpw", []string{"get", "own"}},
	{"root:rootpw", []string{"user", "get", "alice"}},
	{"root:rootpw", []string{"auth", "status"}},
	{"root:rootpw", []string{"auth", "disable"}},
	{"-", []string{"get", "secret"}},
	{"-", []string{"auth", "status"}},
	{"-", []string{"user", "delete", "alice"}},
	{"-", []string{"user", "list"}},
}

// authStep is one etcdctl call of a session: who makes it ("-": no credentials) and its
// arguments.
type authStep struct {
	user string
	args []string
}

// TestEtcdctlAuth runs the real etcdctl v3.7.3 through authSteps against one Ballast member
// and one etcd v3.7.3 member started with the same flags (--auth-token simple
// --bcrypt-cost 4 --auth-token-ttl 60): every step prints the same and exits alike, errors
// included ("etcdserver: permission denied", "user name is empty", "authentication
// failed", "invalid auth management", ...), and the auth revisions `auth status` prints
// agree, so every change bumps the revision as etcd's does. Neither logs a password.
func TestEtcdctlAuth(t *testing.T) {
	steps := make([]authStep, len(authSteps))
	for i, st := range authSteps {
		steps[i] = authStep(st)
	}
	logs := compareAuthSessions(t, "http", []string{"--auth-token", "simple", "--bcrypt-cost", "4", "--auth-token-ttl", "60"}, steps,
		func(user string) []string { return []string{"--user", user} })
	for name, l := range logs {
		require.NotContains(t, l, "rootpw", "%s logged a password", name)
		require.NotContains(t, l, "alicepw", "%s logged a password", name)
	}
}

// TestEtcdctlCertAuth: with --client-cert-auth and auth enabled, a client certificate's
// common name is the user, as in etcd: users added --no-password, the certificate of root
// administers, alice's reads what her role grants and nothing else, a password given for a
// certificate user fails, and Ballast answers every step as etcd v3.7.3 does.
func TestEtcdctlCertAuth(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ballast-test-ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	cert, key := ca.Issue(t, dir, "server", 2)
	certs := map[string][2]string{}
	for i, user := range []string{"root", "alice", "mallory"} {
		c, k := ca.Issue(t, dir, user, int64(10+i))
		certs[user] = [2]string{c, k}
	}
	steps := []authStep{
		{"root", []string{"user", "add", "root", "--no-password"}},
		{"root", []string{"user", "add", "alice", "--no-password"}},
		{"root", []string{"role", "add", "reader"}},
		{"root", []string{"role", "grant-permission", "reader", "read", "--prefix", "pub/"}},
		{"root", []string{"user", "grant-role", "alice", "reader"}},
		{"root", []string{"put", "pub/a", "1"}},
		{"root", []string{"put", "secret", "s"}},
		{"root", []string{"auth", "enable"}},
		{"alice", []string{"get", "pub/a"}},
		{"alice", []string{"get", "secret"}},
		{"alice", []string{"put", "pub/a", "2"}},
		{"alice", []string{"user", "list"}},
		{"mallory", []string{"get", "pub/a"}},
		{"root", []string{"user", "list"}},
		{"root", []string{"get", "secret"}},
		{"alice+password", []string{"get", "pub/a"}},
		{"root", []string{"auth", "disable"}},
		{"mallory", []string{"get", "secret"}},
	}
	compareAuthSessions(t, "https", []string{"--cert-file", cert, "--key-file", key, "--trusted-ca-file", caFile, "--client-cert-auth"}, steps,
		func(user string) []string {
			args := []string{"--cacert", caFile}
			if name, ok := strings.CutSuffix(user, "+password"); ok {
				return append(args, "--cert", certs[name][0], "--key", certs[name][1], "--user", name+":pw")
			}
			return append(args, "--cert", certs[user][0], "--key", certs[user][1])
		})
}

// TestEtcdctlJWT: --auth-token jwt (RS256 keys made in the test): the same session answers
// as etcd v3.7.3's, each etcdctl call logging in and acting with a signed token.
func TestEtcdctlJWT(t *testing.T) {
	pub, priv := embedtest.WriteRSAKeys(t, t.TempDir())
	steps := []authStep{
		{"-", []string{"user", "add", "root", "--new-user-password", "rootpw"}},
		{"-", []string{"user", "add", "alice", "--new-user-password", "alicepw"}},
		{"-", []string{"role", "add", "reader"}},
		{"-", []string{"role", "grant-permission", "reader", "read", "--prefix", "pub/"}},
		{"-", []string{"user", "grant-role", "alice", "reader"}},
		{"-", []string{"put", "pub/a", "1"}},
		{"-", []string{"auth", "enable"}},
		{"alice:alicepw", []string{"get", "pub/a"}},
		{"alice:alicepw", []string{"put", "pub/a", "2"}},
		{"alice:nope", []string{"get", "pub/a"}},
		{"root:rootpw", []string{"put", "pub/a", "3"}},
		{"root:rootpw", []string{"role", "revoke-permission", "reader", "--prefix", "pub/"}},
		{"alice:alicepw", []string{"get", "pub/a"}},
		{"root:rootpw", []string{"auth", "status"}},
		{"root:rootpw", []string{"auth", "disable"}},
	}
	compareAuthSessions(t, "http", []string{"--auth-token", fmt.Sprintf("jwt,pub-key=%s,priv-key=%s,sign-method=RS256,ttl=10m", pub, priv), "--bcrypt-cost", "4"}, steps,
		func(user string) []string { return []string{"--user", user} })
}

// compareAuthSessions starts one Ballast member and one etcd v3.7.3 member with flags, runs
// steps through etcdctl against each (credentials from userArgs) and requires the same
// output and exit code at every step. It returns each server's log.
func compareAuthSessions(t *testing.T, scheme string, flags []string, steps []authStep, userArgs func(string) []string) map[string]string {
	etcdctl := embedtest.EtcdTool(t, "etcdctl", "BALLAST_ETCDCTL")
	servers := []struct{ name, bin string }{{"ballast", processBinary(t)}, {"etcd-v3.7.3", embedtest.EtcdTool(t, "etcd", "BALLAST_ETCD")}}
	answers := map[string][]string{}
	logsOf := map[string]string{}
	for _, srv := range servers {
		ports := embedtest.FreePorts(t, 2)
		client, peer := fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		cmd := exec.Command(srv.bin, append([]string{"--name", "s", "--data-dir", t.TempDir(), "--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "s=" + peer}, flags...)...)
		var logs embedtest.LockedBuffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		ctl := func(stdin string, args ...string) (string, int) {
			c := exec.Command(etcdctl, append([]string{"--endpoints", client, "--command-timeout", "5s", "--dial-timeout", "2s"}, args...)...)
			c.Stdin = strings.NewReader(stdin)
			out, err := c.CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return string(out), exit.ExitCode()
			}
			require.NoError(t, err)
			return string(out), 0
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, code := ctl("", append(userArgs(steps[0].user), "endpoint", "health")...); code == 0 {
				break
			}
			require.True(t, time.Now().Before(deadline), "%s did not serve within 30 s; its log:\n%s", srv.name, logs.String())
			time.Sleep(200 * time.Millisecond)
		}
		normalize := regexp.MustCompile(`127\.0\.0\.1:\d+|"(cluster_id|member_id|ID|raft_term|revision)":\d+|\b[0-9a-f]{8,16}\b`)
		for _, st := range steps {
			args := st.args
			if st.user != "-" {
				args = append(userArgs(st.user), args...)
			}
			stdin := ""
			if st.args[0] == "txn" {
				stdin = "version(\"pub/a\") > \"0\"\n\nput own t\n\nput secret t\n\n"
			}
			out, code := ctl(stdin, args...)
			var kept []string
			for _, line := range strings.Split(out, "\n") {
				if !strings.HasPrefix(line, `{"level":`) { // clientv3's own retry warnings
					kept = append(kept, line)
				}
			}
			out = strings.Join(kept, "\n")
			answers[srv.name] = append(answers[srv.name], fmt.Sprintf("%s %v -> %d: %s", st.user, st.args, code, normalize.ReplaceAllString(out, "X")))
		}
		logsOf[srv.name] = logs.String()
	}
	var diff bytes.Buffer
	for i := range answers["ballast"] {
		if answers["ballast"][i] != answers["etcd-v3.7.3"][i] {
			fmt.Fprintf(&diff, "step %d:\n  ballast: %q\n  etcd:    %q\n", i, answers["ballast"][i], answers["etcd-v3.7.3"][i])
		}
	}
	t.Logf("ballast's answers:\n%s", strings.Join(answers["ballast"], "\n"))
	require.Empty(t, diff.String(), "Ballast and etcd answered etcdctl differently")
	return logsOf
}
