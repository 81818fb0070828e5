package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed"
	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// The etcdctl tests run the real etcdctl v3.7.3 (built by make etcd-tools into .bin/; make
// test builds it) against a three-member Ballast cluster started in this process, and check
// what a person reads: each step's whole stdout against the shape etcd v3.7.3 prints for the
// same command. The shapes were written from a real etcd v3.7.3 cluster on loopback, never
// from Ballast, and the same steps run against etcd's own server (.bin/etcd-v3.7.3, three
// processes) every time, so a shape that is not etcd's fails there. They are patterns
// because revisions, IDs, sizes and durations differ from run to run.

// ctlMember is one member: in-process Ballast (srv) or an etcd process (proc).
type ctlMember struct {
	name      string
	cfg       embed.Config
	clientURL string
	peerURL   string
	log       string
	logFile   *os.File // a Ballast member's, closed after it stopped

	srv    *embed.Server
	proc   *exec.Cmd
	exited chan struct{} // closed when proc has exited
}

// ctlCluster is the cluster etcdctl talks to, and the vars its steps capture.
type ctlCluster struct {
	t     *testing.T // the running step's test
	root  *testing.T // the cluster's test: owns the clean-up
	bin   string     // etcdctl
	etcd  string     // etcd's server binary when the cluster is etcd's own, else ""
	dir   string
	token string

	members []*ctlMember
	vars    map[string]string
}

func ctlURL(t *testing.T, s string) []url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return []url.URL{*u}
}

// newMember makes a member on the given loopback ports (not started).
func (c *ctlCluster) newMember(name string, clientPort, peerPort int, initialCluster, state string) *ctlMember {
	t := c.t
	m := &ctlMember{name: name, clientURL: fmt.Sprintf("http://127.0.0.1:%d", clientPort), peerURL: fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		log: filepath.Join(c.dir, name+".log")}
	// etcd's default timings: the race detector on a shared 2-core machine slows the
	// members, and shorter timeouts would make elections flap between the steps.
	m.cfg = embed.Config{Name: name, DataDir: filepath.Join(c.dir, name+".etcd"),
		ListenClientURLs: ctlURL(t, m.clientURL), AdvertiseClientURLs: ctlURL(t, m.clientURL),
		ListenPeerURLs: ctlURL(t, m.peerURL), AdvertisePeerURLs: ctlURL(t, m.peerURL),
		InitialCluster: initialCluster, InitialClusterState: state, InitialClusterToken: c.token,
		HeartbeatInterval: 100 * time.Millisecond, ElectionTimeout: time.Second}
	c.members = append(c.members, m)
	return m
}

// ctlReadyLine is the milestone etcd (and Ballast) log once serving clients.
const ctlReadyLine = `"msg":"ready to serve client requests"`

// start starts m and waits (at most 60 s) until it serves clients.
func (c *ctlCluster) start(m *ctlMember) error {
	f, err := os.Create(m.log)
	if err != nil {
		return err
	}
	if c.etcd == "" {
		m.logFile = f
		m.cfg.Logger = slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
		srv, err := embed.Start(context.Background(), m.cfg)
		if err != nil {
			return fmt.Errorf("start %s: %w", m.name, err)
		}
		m.srv = srv
		select {
		case <-srv.ReadyNotify():
			return nil
		case err := <-srv.Err():
			return fmt.Errorf("%s failed before it was ready: %w", m.name, err)
		case <-time.After(60 * time.Second):
			return fmt.Errorf("%s not ready after 60 s", m.name)
		}
	}
	// etcd's flags for the same configuration.
	m.proc = exec.Command(c.etcd, "--name", m.name, "--data-dir", m.cfg.DataDir,
		"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", m.cfg.InitialCluster, "--initial-cluster-state", m.cfg.InitialClusterState,
		"--initial-cluster-token", c.token, "--heartbeat-interval", "100", "--election-timeout", "1000")
	m.proc.Env = ctlEnv("ETCD_")
	m.proc.Stdout, m.proc.Stderr = f, f
	if err := m.proc.Start(); err != nil {
		f.Close()
		return err
	}
	m.exited = make(chan struct{})
	go func() {
		_ = m.proc.Wait()
		f.Close()
		close(m.exited)
	}()
	deadline := time.After(60 * time.Second)
	for {
		data, _ := os.ReadFile(m.log)
		if bytes.Contains(data, []byte(ctlReadyLine)) {
			return nil
		}
		select {
		case <-m.exited:
			return fmt.Errorf("etcd %s exited before it was ready", m.name)
		case <-deadline:
			return fmt.Errorf("etcd %s not ready after 60 s", m.name)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// awaitRemoved waits (at most 30 s) until m, just removed from the cluster, stops by itself
// as etcd's member does, then releases it.
func (c *ctlCluster) awaitRemoved(m *ctlMember) {
	t := c.t
	t.Helper()
	if m.srv != nil {
		select {
		case err := <-m.srv.Err():
			require.ErrorContains(t, err, "the member has been permanently removed from the cluster")
		case <-time.After(30 * time.Second):
			t.Fatalf("%s still serving 30 s after its removal", m.name)
		}
		m.srv.Stop()
		m.srv = nil
		return
	}
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("etcd %s still running 30 s after its removal", m.name)
	}
}

// stop stops m gracefully (a running etcd with SIGTERM, killed after 10 s).
func (m *ctlMember) stop() {
	if m.srv != nil {
		m.srv.Stop()
		m.srv = nil
	}
	if m.proc != nil {
		_ = m.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(10 * time.Second):
			_ = m.proc.Process.Kill()
			<-m.exited
		}
	}
}

// newCtlCluster starts three members named m1..m3 (Ballast in this process, or etcd's own
// server when etcdBin is set), and reserves ports for a fourth (m4, for member add) and a
// fifth peer URL (m5, added and removed without ever starting).
func newCtlCluster(t *testing.T, etcdctlBin, etcdBin string) *ctlCluster {
	c := &ctlCluster{t: t, root: t, bin: etcdctlBin, etcd: etcdBin, dir: t.TempDir(), token: "etcdctl-test", vars: map[string]string{}}
	ports := embedtest.FreePorts(t, 9)
	var initial []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i+1, ports[2*i+1]))
	}
	for i := range 3 {
		c.newMember(fmt.Sprintf("m%d", i+1), ports[2*i], ports[2*i+1], strings.Join(initial, ","), embed.ClusterStateNew)
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			m.stop()
			if m.logFile != nil {
				m.logFile.Close()
			}
		}
		if t.Failed() {
			for _, m := range c.members {
				data, _ := os.ReadFile(m.log)
				if len(data) > 20000 {
					data = data[len(data)-20000:]
				}
				t.Logf("--- %s log (tail) ---\n%s", m.name, data)
			}
		}
	})
	// The founders start together: each waits for a quorum before it is ready.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.start(m)
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	c.vars["m4client"], c.vars["m4peer"] = fmt.Sprint(ports[6]), fmt.Sprint(ports[7])
	c.vars["m5peer"] = fmt.Sprint(ports[8])
	return c
}

func (c *ctlCluster) endpoints() string {
	var eps []string
	for _, m := range c.members[:3] {
		eps = append(eps, m.clientURL)
	}
	return strings.Join(eps, ",")
}

// ctlEnv is the test's environment without the variables of prefix: etcdctl (ETCDCTL_) and
// etcd (ETCD_) take flags from them, and refuse a flag that a variable also sets.
func ctlEnv(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// command makes an etcdctl command with the cluster's endpoints and bounded timeouts.
func (c *ctlCluster) command(ctx context.Context, stdin string, args []string) (*exec.Cmd, *embedtest.LockedBuffer, *embedtest.LockedBuffer) {
	full := append([]string{"--endpoints=" + c.endpoints(), "--dial-timeout=5s", "--command-timeout=15s"}, args...)
	cmd := exec.CommandContext(ctx, c.bin, full...)
	cmd.Env = ctlEnv("ETCDCTL_")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr embedtest.LockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	return cmd, &stdout, &stderr
}

// run runs etcdctl to its end: stdout, stderr and the exit code.
func (c *ctlCluster) run(stdin string, args []string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, stdout, stderr := c.command(ctx, stdin, args)
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case ctx.Err() != nil:
		c.t.Fatalf("etcdctl %s still running after 60 s; stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout, stderr)
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	default:
		c.t.Fatalf("etcdctl %s: %v", strings.Join(args, " "), err)
	}
	return "", "", -1
}

// ctlMacros are the placeholders of a shape for what varies between runs.
var ctlMacros = map[string]string{
	"n":     `[0-9]+`,
	"hex":   `[0-9a-f]{1,16}`, // an ID as %x (types.ID's String)
	"hex16": `[0-9a-f]{16}`,   // a lease ID as %016x
	"phex":  `[ 0-9a-f]{16}`,  // a member or cluster ID as %16x (space-padded)
	"url":   `http://127\.0\.0\.1:[0-9]+`,
	"dur":   `[0-9.]+(?:ns|µs|ms|s)`,
	"size":  `[0-9.]+ [kMG]?B`, // humanize.Bytes
	"hdr":   `"header":\{"cluster_id":[0-9]+,"member_id":[0-9]+,"revision":[0-9]+,"raft_term":[0-9]+\}`,
}

var ctlPlaceholder = regexp.MustCompile(`\{([a-z][a-z0-9]*)\}`) // not a quantifier such as {3}

// expand replaces {name} in s by a macro's pattern or (quote applied) a captured var.
func (c *ctlCluster) expand(s string, pattern bool) string {
	c.t.Helper()
	return ctlPlaceholder.ReplaceAllStringFunc(s, func(p string) string {
		name := p[1 : len(p)-1]
		if m, ok := ctlMacros[name]; ok && pattern {
			return m
		}
		v, ok := c.vars[name]
		if !ok {
			c.t.Fatalf("placeholder %s: no such macro or captured var (vars: %v)", p, c.vars)
		}
		if pattern {
			return regexp.QuoteMeta(v)
		}
		return v
	})
}

// ctlTableRow is the pattern of one row of etcdctl's -w table output: each cell padded by
// at least one space on either side.
func ctlTableRow(cells ...string) string {
	return `│ +` + strings.Join(cells, ` +│ +`) + ` +│\n`
}

// ctlTable is the pattern of a whole table: borders, the header, rows matching row.
func ctlTable(header []string, row string, rows int) string {
	return `┌[─┬]+┐\n` + ctlTableRow(header...) + `├[─┼]+┤\n` + fmt.Sprintf(`(?:%s){%d}`, row, rows) + `└[─┴]+┘\n`
}

// ctlStep is one etcdctl command and the shape of what it prints.
type ctlStep struct {
	name  string
	args  []string // after the global flags; {var} is a captured var
	stdin string
	// out is a pattern for the whole stdout, with {macro} and {var} placeholders; its named
	// groups are captured as vars for the later steps.
	out string
	// exit is the expected exit code; when nonzero, errOut is a pattern stderr must contain
	// (the Error: line etcdctl prints).
	exit   int
	errOut string
	// until: the command runs until interrupted (watch, lock without a command, elect); it
	// is interrupted once its stdout matches out. during runs meanwhile, each command
	// required to succeed.
	until  bool
	during [][]string
	// retryWhile: the command is repeated (up to 30 s) while it fails with stderr matching
	// it (what a person does on etcd too: a learner is promoted once it has caught up).
	retryWhile string
	// after runs once the shape matched: checks beyond the shape, or the next action.
	after func(c *ctlCluster, stdout string)
	// ballastDiffers is a known difference kept honest: what Ballast prints instead of out
	// (a pattern, whose groups are captured the same way), and why. Against Ballast the step
	// then requires stdout to match it and not out, so it fails once Ballast is fixed and the
	// entry must go; against etcd, out is required as always.
	ballastDiffers, because string
}

func (c *ctlCluster) runStep(st ctlStep) {
	t := c.t
	t.Helper()
	args := make([]string, len(st.args))
	for i, a := range st.args {
		args[i] = c.expand(a, false)
	}
	re := regexp.MustCompile(`^` + c.expand(st.out, true) + `$`)
	var stdout, stderr string
	if st.until {
		stdout, stderr = c.runUntil(st, args, re)
	} else {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var exit int
			stdout, stderr, exit = c.run(st.stdin, args)
			if exit != 0 && st.retryWhile != "" && regexp.MustCompile(st.retryWhile).MatchString(stderr) && time.Now().Before(deadline) {
				time.Sleep(500 * time.Millisecond)
				continue
			}
			require.Equal(t, st.exit, exit, "etcdctl %s: exit code\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout, stderr)
			break
		}
		if st.exit != 0 {
			require.Regexp(t, regexp.MustCompile(c.expand(st.errOut, true)), stderr, "etcdctl %s: stderr", strings.Join(args, " "))
		}
	}
	if st.ballastDiffers != "" && c.etcd == "" {
		require.NotRegexp(t, re, stdout, "Ballast now prints etcd's shape for etcdctl %s: remove the step's ballastDiffers", strings.Join(args, " "))
		re = regexp.MustCompile(`^` + c.expand(st.ballastDiffers, true) + `$`)
		t.Logf("known difference from etcd v3.7.3 (%s): etcdctl %s printed\n%s", st.because, strings.Join(args, " "), stdout)
	}
	m := re.FindStringSubmatch(stdout)
	require.NotNil(t, m, "etcdctl %s: stdout does not have etcd's shape\nwant (pattern):\n%s\ngot:\n%s\nstderr:\n%s", strings.Join(args, " "), re, stdout, stderr)
	for i, name := range re.SubexpNames() {
		if name != "" {
			c.vars[name] = m[i]
		}
	}
	if st.after != nil {
		st.after(c, stdout)
	}
}

// runUntil starts a command that does not end by itself, runs the step's during commands,
// waits (at most 30 s) until stdout matches re, then interrupts it as a person's Ctrl-C does.
func (c *ctlCluster) runUntil(st ctlStep, args []string, re *regexp.Regexp) (string, string) {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd, stdout, stderr := c.command(ctx, st.stdin, args)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	for _, d := range st.during {
		out, errOut, exit := c.run("", d)
		require.Equal(t, 0, exit, "etcdctl %s (during %s): stdout:\n%s\nstderr:\n%s", strings.Join(d, " "), st.name, out, errOut)
	}
	deadline := time.After(30 * time.Second)
	for !re.MatchString(stdout.String()) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("etcdctl %s ended (%v) before printing etcd's shape\nwant (pattern):\n%s\ngot:\n%s\nstderr:\n%s", strings.Join(args, " "), err, re, stdout, stderr)
		case <-deadline:
			t.Fatalf("etcdctl %s: no output of etcd's shape after 30 s\nwant (pattern):\n%s\ngot:\n%s\nstderr:\n%s", strings.Join(args, " "), re, stdout, stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return stdout.String(), stderr.String()
}

// ctlStatus is etcdctl endpoint status -w json's output (the fields the steps read).
type ctlStatus []struct {
	Endpoint string
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		}
		Leader uint64 `json:"leader"`
	}
}

// leaderAndFollower reads endpoint status --cluster -w json into the vars leader and
// follower (IDs as etcdctl's types.ID prints them).
func leaderAndFollower(c *ctlCluster, stdout string) {
	var st ctlStatus
	require.NoError(c.t, json.Unmarshal([]byte(stdout), &st))
	require.Len(c.t, st, 3)
	leader := st[0].Status.Leader
	var follower uint64
	for _, s := range st {
		require.Equal(c.t, leader, s.Status.Leader, "members disagree on the leader: %s", stdout)
		if s.Status.Header.MemberID != leader {
			follower = s.Status.Header.MemberID
		}
	}
	require.NotZero(c.t, leader, "no leader: %s", stdout)
	require.NotZero(c.t, follower)
	c.vars["leader"], c.vars["follower"] = fmt.Sprintf("%x", leader), fmt.Sprintf("%x", follower)
}

// ctlMembersJSON is the member array of member list -w json for the three founders.
const ctlMembersJSON = `\{"ID":{n},"name":"m[1-3]","peerURLs":\["{url}"\],"clientURLs":\["{url}"\]\}` +
	`(?:,\{"ID":{n},"name":"m[1-3]","peerURLs":\["{url}"\],"clientURLs":\["{url}"\]\}){2}\]\}\n`

// The shapes of etcd v3.7.3's tables (etcdctl's headers; cells right-aligned).
var (
	ctlMemberHeader = []string{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"}
	ctlStatusHeader = []string{"ENDPOINT", "ID", "VERSION", "STORAGE VERSION", "DB SIZE", "IN USE", "PERCENTAGE NOT IN USE", "QUOTA",
		"IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS", "DOWNGRADE TARGET VERSION", "DOWNGRADE ENABLED"}
	ctlHealthHeader = []string{"ENDPOINT", "HEALTH", "TOOK", "ERROR"}
	// A started voter of the founders, and as the simple (comma) list prints it.
	ctlStartedRow  = ctlTableRow(`{hex}`, `started`, `m[1-4]`, `{url}`, `{url}`, `false`)
	ctlStartedLine = `{hex}, started, m[1-4], {url}, {url}, false\n`
	// The ERRORS and DOWNGRADE TARGET VERSION cells are empty on a healthy member.
	ctlStatusRow = ctlTableRow(`{url}`, `{hex}`, `3\.7\.[0-9]+`, `3\.7\.0`, `{size}`, `{size}`, `[0-9]{1,3}%`, `{size}`,
		`(?:true|false)`, `false`, `{n}`, `{n}`, `{n}`, ``, ``, `false`)
)

// TestEtcdctl runs etcdctl's everyday commands in order against a Ballast cluster, and the
// same steps against etcd v3.7.3's own server: the second run proves that each expected
// shape is what etcd prints, so the first proves Ballast prints the same.
func TestEtcdctl(t *testing.T) {
	etcdctl := embedtest.EtcdTool(t, "etcdctl", "BALLAST_ETCDCTL")
	t.Run("ballast", func(t *testing.T) { runCtlSteps(newCtlCluster(t, etcdctl, "")) })
	t.Run("etcd-v3.7.3", func(t *testing.T) {
		runCtlSteps(newCtlCluster(t, etcdctl, embedtest.EtcdTool(t, "etcd", "BALLAST_ETCD")))
	})
}

// runCtlSteps runs the steps in order; later ones read what earlier ones wrote or captured
// (revisions, the lease, member IDs), so the first failure ends the run.
func runCtlSteps(c *ctlCluster) {
	t := c.root
	steps := []ctlStep{
		{name: "member list -w json", args: []string{"member", "list", "-w", "json"},
			out: `\{"header":\{"cluster_id":(?P<clusterdec>[0-9]+),"member_id":{n},"raft_term":{n}\},"members":\[` + ctlMembersJSON,
			after: func(c *ctlCluster, _ string) {
				var id uint64
				_, err := fmt.Sscan(c.vars["clusterdec"], &id)
				require.NoError(c.t, err)
				c.vars["cluster"] = fmt.Sprintf("%16x", id) // as member add and remove print it
			}},

		// KV.
		{name: "put", args: []string{"put", "foo", "bar"}, out: `OK\n`},
		{name: "put second key", args: []string{"put", "foo/a", "1"}, out: `OK\n`},
		{name: "put -w json", args: []string{"put", "foo/b", "2", "-w", "json"},
			out: `\{"header":\{"cluster_id":{n},"member_id":{n},"revision":(?P<rev2>[0-9]+),"raft_term":{n}\}\}\n`},
		{name: "put --prev-kv", args: []string{"put", "--prev-kv", "foo/b", "3"}, out: `OK\nfoo/b\n2\n`},
		{name: "get", args: []string{"get", "foo"}, out: `foo\nbar\n`},
		{name: "get --prefix", args: []string{"get", "--prefix", "foo"}, out: `foo\nbar\nfoo/a\n1\nfoo/b\n3\n`},
		{name: "get --prefix --keys-only", args: []string{"get", "--prefix", "--keys-only", "foo"}, out: `foo\n\nfoo/a\n\nfoo/b\n\n`},
		{name: "get --rev", args: []string{"get", "foo/b", "--rev", "{rev2}"}, out: `foo/b\n2\n`},
		{name: "get -w json", args: []string{"get", "foo", "-w", "json"},
			out: `\{{hdr},"kvs":\[\{"key":"Zm9v","create_revision":{n},"mod_revision":{n},"version":1,"value":"YmFy"\}\],"count":1\}\n`},
		{name: "get --print-value-only", args: []string{"get", "foo", "--print-value-only"}, out: `bar\n`},
		{name: "get of a missing key", args: []string{"get", "nothere"}, out: ``},
		{name: "del --prefix", args: []string{"del", "--prefix", "foo/"}, out: `2\n`},
		{name: "del --prefix of nothing", args: []string{"del", "--prefix", "zzz"}, out: `0\n`},
		{name: "get --prefix after del", args: []string{"get", "--prefix", "foo"}, out: `foo\nbar\n`},

		// Watch: from the revision of the first put (so no event can be missed, whether the
		// later ones land before or after the watch is set up), interrupted once all arrived.
		{name: "put before watch", args: []string{"put", "w/0", "zero", "-w", "json"},
			out: `\{"header":\{"cluster_id":{n},"member_id":{n},"revision":(?P<wrev>[0-9]+),"raft_term":{n}\}\}\n`},
		{name: "watch --prefix", args: []string{"watch", "--prefix", "w/", "--rev", "{wrev}"}, until: true,
			during: [][]string{{"put", "w/1", "a"}, {"put", "x/outside", "c"}, {"put", "w/2", "b"}, {"del", "w/1"}},
			out:    `PUT\nw/0\nzero\nPUT\nw/1\na\nPUT\nw/2\nb\nDELETE\nw/1\n\n`},

		// Leases.
		{name: "lease grant", args: []string{"lease", "grant", "60"}, out: `lease (?P<lease>{hex16}) granted with TTL\(60s\)\n`},
		{name: "put --lease", args: []string{"put", "--lease={lease}", "lk", "v"}, out: `OK\n`},
		{name: "put --lease second key", args: []string{"put", "--lease={lease}", "lk2", "v"}, out: `OK\n`},
		{name: "lease timetolive", args: []string{"lease", "timetolive", "{lease}"},
			out: `lease {lease} granted with TTL\(60s\), remaining\([0-9]+s\)\n`},
		{name: "lease timetolive --keys", args: []string{"lease", "timetolive", "--keys", "{lease}"},
			// etcd lists the keys in no fixed order (a set in its lessor).
			out: `lease {lease} granted with TTL\(60s\), remaining\([0-9]+s\), attached keys\(\[(?:lk lk2|lk2 lk)\]\)\n`},
		{name: "lease keep-alive --once", args: []string{"lease", "keep-alive", "--once", "{lease}"},
			out: `lease {lease} keepalived with TTL\(60\)\n`},
		{name: "lease list", args: []string{"lease", "list"}, out: `found 1 leases\n{lease}\n`},
		{name: "lease revoke", args: []string{"lease", "revoke", "{lease}"}, out: `lease {lease} revoked\n`},
		{name: "keys of the revoked lease are gone", args: []string{"get", "--prefix", "lk"}, out: ``},
		{name: "lease timetolive after revoke", args: []string{"lease", "timetolive", "{lease}"}, out: `lease {lease} already expired\n`},
		{name: "lease list after revoke", args: []string{"lease", "list"}, out: `found 0 leases\n`},
		{name: "lease revoke of an unknown lease", args: []string{"lease", "revoke", "{lease}"}, exit: 1,
			errOut: `Error: failed to revoke lease \(etcdserver: requested lease not found\)`},

		// Lock and election (concurrency's Mutex and Election, on session leases).
		{name: "lock with a command", args: []string{"lock", "mylock", "echo", "held"}, out: `held\n`},
		{name: "lock held until interrupted", args: []string{"lock", "mylock"}, until: true, out: `mylock/{hex}\n\n`},
		{name: "lock after the holder's interrupt", args: []string{"lock", "mylock", "echo", "again"}, out: `again\n`},
		{name: "elect", args: []string{"elect", "myelection", "p1"}, until: true, out: `myelection/{hex}\np1\n`},

		// Txn from stdin: compares, success requests, failure requests, each ended by an
		// empty line; -i prints the prompts.
		{name: "put for txn", args: []string{"put", "t", "1"}, out: `OK\n`},
		{name: "txn -i success", args: []string{"txn", "-i"}, stdin: "value(\"t\") = \"1\"\n\nput t 2\nget t\n\nput t 3\n\n",
			out: `compares:\nsuccess requests \(get, put, del\):\nfailure requests \(get, put, del\):\nSUCCESS\n\nOK\n\nt\n2\n`},
		{name: "txn failure", args: []string{"txn"}, stdin: "value(\"t\") = \"1\"\n\nput t 9\n\nget t\n\n", out: `FAILURE\n\nt\n2\n`},
		{name: "txn -w json", args: []string{"txn", "-w", "json"}, stdin: "mod(\"t\") > \"0\"\n\nput t 4\n\n\n",
			out: `\{{hdr},"succeeded":true,"responses":\[\{"Response":\{"response_put":\{"header":\{"revision":{n}\}\}\}\}\]\}\n`},

		// Compaction.
		{name: "put c1", args: []string{"put", "c", "1", "-w", "json"},
			out: `\{"header":\{"cluster_id":{n},"member_id":{n},"revision":(?P<c1>[0-9]+),"raft_term":{n}\}\}\n`},
		{name: "put c2", args: []string{"put", "c", "2", "-w", "json"},
			out: `\{"header":\{"cluster_id":{n},"member_id":{n},"revision":(?P<c2>[0-9]+),"raft_term":{n}\}\}\n`},
		{name: "compaction", args: []string{"compaction", "{c2}"}, out: `compacted revision {c2}\n`},
		{name: "get below the compaction", args: []string{"get", "c", "--rev", "{c1}"}, exit: 1,
			errOut: `Error: etcdserver: mvcc: required revision has been compacted`},
		{name: "get at the compaction", args: []string{"get", "c", "--rev", "{c2}"}, out: `c\n2\n`},
		{name: "put c3", args: []string{"put", "c", "3", "-w", "json"},
			out: `\{"header":\{"cluster_id":{n},"member_id":{n},"revision":(?P<c3>[0-9]+),"raft_term":{n}\}\}\n`},
		{name: "compaction --physical", args: []string{"compaction", "--physical", "{c3}"}, out: `compacted revision {c3}\n`},
		{name: "compaction of a compacted revision", args: []string{"compaction", "{c1}"}, exit: 1,
			errOut: `Error: etcdserver: mvcc: required revision has been compacted`},
		{name: "compaction of a future revision", args: []string{"compaction", "1000000000"}, exit: 1,
			errOut: `Error: etcdserver: mvcc: required revision is a future revision`},

		// Members.
		{name: "member list -w table", args: []string{"member", "list", "-w", "table"}, out: ctlTable(ctlMemberHeader, ctlStartedRow, 3)},
		{name: "member list", args: []string{"member", "list"}, out: `(?:` + ctlStartedLine + `){3}`},
		{name: "member add --learner", args: []string{"member", "add", "m4", "--learner", "--peer-urls=http://127.0.0.1:{m4peer}"},
			// etcd refuses membership changes until every member has been connected for 5 s.
			retryWhile: `etcdserver: unhealthy cluster`,
			out: `Member (?P<m4padded>{phex}) added as learner to cluster {cluster}\n\n` +
				`ETCD_NAME="m4"\nETCD_INITIAL_CLUSTER="(?P<m4cluster>[^"]+)"\n` +
				`ETCD_INITIAL_ADVERTISE_PEER_URLS="http://127\.0\.0\.1:{m4peer}"\nETCD_INITIAL_CLUSTER_STATE="existing"\n`,
			after: func(c *ctlCluster, _ string) {
				// Start the learner with the lines etcdctl printed, as a person would.
				c.vars["m4"] = strings.TrimSpace(c.vars["m4padded"])
				require.Len(c.t, strings.Split(c.vars["m4cluster"], ","), 4, "ETCD_INITIAL_CLUSTER names the three founders and m4")
				var client, peer int
				_, err := fmt.Sscan(c.vars["m4client"], &client)
				require.NoError(c.t, err)
				_, err = fmt.Sscan(c.vars["m4peer"], &peer)
				require.NoError(c.t, err)
				m := c.newMember("m4", client, peer, c.vars["m4cluster"], embed.ClusterStateExisting)
				require.NoError(c.t, c.start(m))
			}},
		{name: "member list with the learner", args: []string{"member", "list", "-w", "table"},
			out: ctlTable(ctlMemberHeader, `(?:`+ctlStartedRow+`|`+ctlTableRow(`{m4}`, `started`, `m4`, `{url}`, `{url}`, `true`)+`)`, 4),
			after: func(c *ctlCluster, out string) {
				require.Contains(c.t, out, " true │", "the learner is listed as one")
			}},
		{name: "member promote", args: []string{"member", "promote", "{m4}"}, out: `Member {m4padded} promoted in cluster {cluster}\n`,
			retryWhile: `can only promote a learner member which is in sync with leader`},
		{name: "member promote of a voter", args: []string{"member", "promote", "{m4}"}, exit: 1,
			errOut: `Error: etcdserver: can only promote a learner member`},
		{name: "member list after promote", args: []string{"member", "list"}, out: `(?:` + ctlStartedLine + `){4}`},
		{name: "member remove", args: []string{"member", "remove", "{m4}"}, out: `Member {m4padded} removed from cluster {cluster}\n`,
			after: func(c *ctlCluster, _ string) { c.awaitRemoved(c.members[3]) }},
		{name: "member list after remove", args: []string{"member", "list"}, out: `(?:` + ctlStartedLine + `){3}`},
		{name: "member add of a voter", args: []string{"member", "add", "m5", "--peer-urls=http://127.0.0.1:{m5peer}"},
			retryWhile: `etcdserver: unhealthy cluster`,
			out: `Member (?P<m5padded>{phex}) added to cluster {cluster}\n\n` +
				`ETCD_NAME="m5"\nETCD_INITIAL_CLUSTER="[^"]*m5=http://127\.0\.0\.1:{m5peer}[^"]*"\n` +
				`ETCD_INITIAL_ADVERTISE_PEER_URLS="http://127\.0\.0\.1:{m5peer}"\nETCD_INITIAL_CLUSTER_STATE="existing"\n`,
			after: func(c *ctlCluster, _ string) { c.vars["m5"] = strings.TrimSpace(c.vars["m5padded"]) }},
		{name: "member list with an unstarted member", args: []string{"member", "list"},
			out: `(?:` + ctlStartedLine + `|{m5}, unstarted, , http://127\.0\.0\.1:{m5peer}, , false\n){4}`},
		{name: "member remove of the unstarted member", args: []string{"member", "remove", "{m5}"}, out: `Member {m5padded} removed from cluster {cluster}\n`},
		{name: "member remove of a removed member", args: []string{"member", "remove", "{m5}"}, exit: 1,
			errOut: `Error: etcdserver: member not found`},

		// Endpoints, leadership, alarms.
		{name: "endpoint health", args: []string{"endpoint", "health"},
			out: `(?:{url} is healthy: successfully committed proposal: took = {dur}\n){3}`},
		{name: "endpoint health --cluster", args: []string{"endpoint", "health", "--cluster"},
			out: `(?:{url} is healthy: successfully committed proposal: took = {dur}\n){3}`},
		{name: "endpoint health -w table", args: []string{"endpoint", "health", "-w", "table"},
			out: ctlTable(ctlHealthHeader, ctlTableRow(`{url}`, `true`, `{dur}`, ``), 3)},
		{name: "endpoint status --cluster -w table", args: []string{"endpoint", "status", "--cluster", "-w", "table"},
			out: ctlTable(ctlStatusHeader, ctlStatusRow, 3),
			after: func(c *ctlCluster, out string) {
				// IS LEADER is the cell before IS LEARNER and RAFT TERM.
				leaders := regexp.MustCompile(`│ +true │ +false │ +[0-9]+ │`).FindAllString(out, -1)
				require.Len(c.t, leaders, 1, "exactly one member is leader:\n%s", out)
			}},
		{name: "endpoint status --cluster -w json", args: []string{"endpoint", "status", "--cluster", "-w", "json"},
			out: `\[.*\]\n`, after: leaderAndFollower},
		{name: "move-leader", args: []string{"move-leader", "{follower}"}, out: `Leadership transferred from {leader} to {follower}\n`},
		{name: "the new leader", args: []string{"endpoint", "status", "--cluster", "-w", "json"}, out: `\[.*\]\n`,
			after: func(c *ctlCluster, out string) {
				want := c.vars["follower"]
				leaderAndFollower(c, out)
				require.Equal(c.t, want, c.vars["leader"], "move-leader's target leads")
			}},
		{name: "alarm list", args: []string{"alarm", "list"}, out: ``},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			outer := c.t
			c.t = t
			defer func() { c.t = outer }()
			c.runStep(st)
		})
		if t.Failed() {
			return // later steps read what this one left
		}
	}
}
