//go:build docker

package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// What these tests leave behind: nothing. Every container, volume, network and image they
// make carries the owning test process's id (ownerLabel on what docker run and docker build
// make, the compose project name ballastdt<pid>... on what docker-compose makes, which
// compose puts in its com.docker.compose.project label), so that
//   - TestMain first sweeps what earlier runs left (an owner that is no longer running: a
//     test binary killed before its cleanups ran), never what a concurrent run owns;
//   - every test removes its own with t.Cleanup, also on failure.

const (
	ownerLabel    = "org.ballastdb.test.deploy-owner"
	projectPrefix = "ballastdt"
	// electionTimeout is the members' --election-timeout (etcd's default, 1 s, in both
	// compose files); the liveness bound after a stop is 30 of them.
	electionTimeout = time.Second
	// readyBound is how long a member or cluster may take to serve, on a loaded machine.
	readyBound = 90 * time.Second
)

var owner = strconv.Itoa(os.Getpid())

func TestMain(m *testing.M) {
	if err := checkTools(); err != nil {
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(1)
	}
	sweepStale()
	code := m.Run()
	etcdImageCleanup()
	os.Exit(code)
}

// checkTools: the engine, docker-compose and the image under test must be there.
func checkTools() error {
	if _, err := exec.LookPath("docker"); err != nil {
		return errors.New("the docker command is not installed: these tests need the Docker engine and CLI")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Errorf("no Docker engine answers (docker info: %v: %s)", err, bytes.TrimSpace(out))
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		return errors.New("docker-compose (v1) is not installed")
	}
	if out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", ballastImage()).CombinedOutput(); err != nil {
		return fmt.Errorf("image %s does not exist (run make image at the repository root): %s", ballastImage(), bytes.TrimSpace(out))
	}
	return nil
}

func ballastImage() string {
	if s := os.Getenv("BALLAST_IMAGE"); s != "" {
		return s
	}
	return "ballast:latest"
}

// run runs a command and returns its stdout; the error carries stderr.
func run(name string, args ...string) (string, error) {
	return runEnv(nil, name, args...)
}

func runEnv(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v: %s%s", name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()), strings.TrimSpace(stdout.String()))
	}
	return stdout.String(), nil
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := run(name, args...)
	require.NoError(t, err)
	return out
}

// ownerAlive: a test process with that pid is still running (so its resources are not stale).
func ownerAlive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return false
	}
	err = syscall.Kill(n, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// projectOwner is the pid in a compose project name ballastdt<pid>x..., or "".
func projectOwner(project string) string {
	if m := regexp.MustCompile(`^` + projectPrefix + `(\d+)`).FindStringSubmatch(project); m != nil {
		return m[1]
	}
	return ""
}

// sweepStale removes the containers, volumes, networks and images of runs whose process is
// gone. Errors are reported, not fatal: a sweep that cannot remove something leaves it to
// the next.
func sweepStale() {
	stale := func(labels string) bool {
		var pid string
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case ownerLabel:
				pid = v
			case "com.docker.compose.project":
				if p := projectOwner(v); p != "" {
					pid = p
				}
			}
		}
		return pid != "" && !ownerAlive(pid)
	}
	for _, kind := range []struct{ list, rm []string }{
		{[]string{"ps", "-a", "--format", "{{.ID}}\t{{.Labels}}"}, []string{"rm", "-f", "-v"}},
		{[]string{"network", "ls", "--format", "{{.ID}}\t{{.Labels}}"}, []string{"network", "rm"}},
		{[]string{"volume", "ls", "--format", "{{.Name}}\t{{.Labels}}"}, []string{"volume", "rm", "-f"}},
		{[]string{"image", "ls", "--filter", "label=" + ownerLabel, "--format", "{{.ID}}\t{{.Labels}}"}, []string{"image", "rm", "-f"}},
	} {
		out, err := run("docker", kind.list...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "deploy: sweep:", err)
			continue
		}
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			id, labels, _ := strings.Cut(line, "\t")
			if id != "" && stale(labels) {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			fmt.Fprintf(os.Stderr, "deploy: removing %d stale %s left by earlier runs\n", len(ids), kind.list[0])
			if _, err := run("docker", append(kind.rm, ids...)...); err != nil {
				fmt.Fprintln(os.Stderr, "deploy: sweep:", err)
			}
		}
	}
}

// eventually calls f until it returns nil, at most bound; it returns how long that took.
func eventually(t *testing.T, bound time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for {
		if err = f(); err == nil {
			return time.Since(start)
		}
		if time.Since(start) > bound {
			t.Fatalf("%s: not within %v: last error: %v", what, bound, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePorts returns n TCP ports free on the host at the time of asking.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", ":0")
		require.NoError(t, err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		require.NoError(t, l.Close())
	}
	return ports
}

// hostEtcdctl is .bin/etcdctl-v3.7.3 (make test builds it), for calls through the ports the
// members publish on the host.
func hostEtcdctl(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../.bin/etcdctl-v3.7.3")
	require.NoError(t, err)
	_, err = os.Stat(p)
	require.NoError(t, err, "etcdctl v3.7.3 is not built: run make etcd-tools at the repository root (make test builds it)")
	return p
}

// ctl runs etcdctl inside a container (docker exec, as the tutorials do).
func ctl(container string, args ...string) (string, error) {
	return run("docker", append([]string{"exec", container, "etcdctl", "--command-timeout=3s"}, args...)...)
}

func mustCtl(t *testing.T, container string, args ...string) string {
	t.Helper()
	out, err := ctl(container, args...)
	require.NoError(t, err)
	return out
}

// etcdImage is etcd v3.7.3's own server and etcdctl (.bin/, built static by make
// etcd-tools) in a scratch image of the same shape as Ballast's, built once per test run: the
// reference the tutorial's outputs and the etcd compose file are checked against.
var (
	etcdImageOnce sync.Once
	etcdImageTag  string
	etcdImageErr  error
)

func etcdImage(t *testing.T) string {
	t.Helper()
	etcdImageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ballast-deploy-etcd-image")
		if err != nil {
			etcdImageErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "usr", "local", "bin")
		if etcdImageErr = os.MkdirAll(bin, 0o755); etcdImageErr != nil {
			return
		}
		for _, name := range []string{"etcd", "etcdctl"} {
			src, err := filepath.Abs("../.bin/" + name + "-v3.7.3")
			if err != nil {
				etcdImageErr = err
				return
			}
			if _, err := os.Stat(src); err != nil {
				etcdImageErr = fmt.Errorf("%s v3.7.3 is not built: run make etcd-tools at the repository root (make test builds it): %w", name, err)
				return
			}
			// A hard link is enough: the build context is sent as a tar of the files' contents.
			if err := os.Link(src, filepath.Join(bin, name)); err != nil {
				etcdImageErr = err
				return
			}
		}
		dockerfile := "FROM scratch\nCOPY usr/ /usr/\nENV PATH=/usr/local/bin\nEXPOSE 2379 2380\nCMD [\"/usr/local/bin/etcd\"]\n"
		if etcdImageErr = os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); etcdImageErr != nil {
			return
		}
		tag := "ballast-deploy-test-etcd:" + owner
		_, etcdImageErr = runEnv([]string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q", "--label", ownerLabel+"="+owner, "-t", tag, dir)
		if etcdImageErr == nil {
			etcdImageTag = tag
		}
	})
	require.NoError(t, etcdImageErr)
	return etcdImageTag
}

func etcdImageCleanup() {
	if etcdImageTag != "" {
		if _, err := run("docker", "image", "rm", "-f", etcdImageTag); err != nil {
			fmt.Fprintln(os.Stderr, "deploy:", err)
		}
	}
}

// TestImage: the image's shape (no ENTRYPOINT, CMD etcd, PATH, the two ports, no
// HEALTHCHECK) and its programs, etcd answering as etcd from the same binary as ballast.
func TestImage(t *testing.T) {
	var cfg struct {
		Entrypoint   []string
		Cmd          []string
		Env          []string
		ExposedPorts map[string]struct{}
		Healthcheck  *struct{ Test []string }
	}
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "docker", "image", "inspect", "-f", "{{json .Config}}", ballastImage())), &cfg))
	require.Empty(t, cfg.Entrypoint)
	require.Equal(t, []string{"/usr/local/bin/etcd"}, cfg.Cmd)
	require.Contains(t, cfg.Env, "PATH=/usr/local/bin")
	require.Equal(t, map[string]struct{}{"2379/tcp": {}, "2380/tcp": {}}, cfg.ExposedPorts)
	require.Nil(t, cfg.Healthcheck)

	version := func(args ...string) string {
		return mustRun(t, "docker", append([]string{"run", "--rm", "--label", ownerLabel + "=" + owner, ballastImage()}, args...)...)
	}
	require.Regexp(t, `^etcd Version: 3\.7\.3\n`, version("etcd", "--version"))
	// The ballast name prints etcd's lines too (tools parse the first), then its own version.
	require.Regexp(t, `^etcd Version: 3\.7\.3\n(.*\n)*Ballast Version: \S+\n`, version("ballast", "--version"))
	require.Regexp(t, `^etcdctl version: 3\.7\.3\n`, version("etcdctl", "version"))
	require.Regexp(t, `^etcdutl version: 3\.7\.3\n`, version("etcdutl", "version"))
	out, err := run("docker", "run", "--rm", "--label", ownerLabel+"="+owner, ballastImage(), "ballast-sim")
	require.Error(t, err, "ballast-sim without a command exits 2 with its usage")
	require.Contains(t, err.Error(), "ballast-sim run [-scenario NAME|all]", out)
}

// tutorialOutputs runs one member as a tutorial does (docker run -d ... IMAGE etcd FLAGS),
// then etcdctl through docker exec, and etcdctl on the host through the published port.
func tutorialOutputs(t *testing.T, name, image string, flags ...string) []string {
	t.Helper()
	name = projectPrefix + owner + "-" + name
	volume := name + "-data"
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := run("docker", "logs", "--tail", "20", name)
			t.Logf("%s's last log lines:\n%s", name, logs)
		}
		_, _ = run("docker", "rm", "-f", "-v", name)
		_, _ = run("docker", "volume", "rm", "-f", volume)
	})
	mustRun(t, "docker", "volume", "create", "--label", ownerLabel+"="+owner, volume)
	mustRun(t, "docker", append([]string{"run", "-d", "--name", name, "--label", ownerLabel + "=" + owner,
		"-p", "127.0.0.1::2379", "-v", volume + ":/etcd-data", image}, flags...)...)
	eventually(t, readyBound, name+" serving", func() error {
		_, err := ctl(name, "endpoint", "health")
		return err
	})
	var outs []string
	for _, args := range [][]string{
		{"put", "greeting", "Hello from etcd"},
		{"get", "greeting"},
		{"get", "", "--prefix", "--keys-only"},
	} {
		outs = append(outs, mustRun(t, "docker", append([]string{"exec", name, "etcdctl"}, args...)...))
	}
	port := strings.TrimSpace(mustRun(t, "docker", "port", name, "2379/tcp"))
	outs = append(outs, mustRun(t, hostEtcdctl(t), "--endpoints="+port, "get", "greeting", "--print-value-only"))
	return outs
}

// tutorialWant is what etcd v3.7.3 prints for the tutorial's steps (and the host's get).
var tutorialWant = []string{"OK\n", "greeting\nHello from etcd\n", "greeting\n\n", "Hello from etcd\n"}

// TestTutorialSingleNode is the tutorial's single member, command for command, on Ballast's
// image: etcd's outputs, which TestContainerGuideSingleNode checks against etcd itself.
//
// etcd v3.7.3 itself refuses this command line in a container: an advertised peer URL equal
// to its default (http://localhost:2380) with a listen URL on 0.0.0.0 is replaced by the
// container's address (etcd's UpdateDefaultClusterFromName, "detected default host for
// advertise"), which then is missing from --initial-cluster. Ballast does not make that
// substitution, so the tutorial runs.
func TestTutorialSingleNode(t *testing.T) {
	out := tutorialOutputs(t, "tutorial", ballastImage(), "etcd", "--name", "node1", "--data-dir", "/etcd-data",
		"--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://localhost:2379",
		"--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://localhost:2380",
		"--initial-cluster", "node1=http://localhost:2380")
	require.Equal(t, tutorialWant, out)
}

// TestContainerGuideSingleNode is etcd's own container guide's single member (every URL on
// 0.0.0.0, /usr/local/bin/etcd, its logging flags), on Ballast's image and on etcd's server in
// the same kind of image: the same outputs, etcd's.
func TestContainerGuideSingleNode(t *testing.T) {
	flags := []string{"/usr/local/bin/etcd", "--name", "s1", "--data-dir", "/etcd-data",
		"--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://0.0.0.0:2379",
		"--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://0.0.0.0:2380",
		"--initial-cluster", "s1=http://0.0.0.0:2380", "--initial-cluster-token", "tkn",
		"--initial-cluster-state", "new", "--log-level", "info"}
	require.Equal(t, tutorialWant, tutorialOutputs(t, "guide-etcd", etcdImage(t), flags...), "etcd's own outputs (the reference)")
	require.Equal(t, tutorialWant, tutorialOutputs(t, "guide-ballast", ballastImage(), flags...), "Ballast's outputs")
}

// compose is one docker-compose project on a compose file.
type compose struct {
	project, file string
	env           []string
}

func newCompose(t *testing.T, suffix, file string, env ...string) *compose {
	c := &compose{project: projectPrefix + owner + suffix, file: file, env: env}
	t.Cleanup(func() {
		if t.Failed() {
			ps, _ := run("docker", "ps", "-a", "--filter", "label=com.docker.compose.project="+c.project, "--format", "{{.Names}}: {{.Status}}")
			t.Logf("containers:\n%s", ps)
			for _, name := range strings.Fields(ps) {
				name = strings.TrimSuffix(name, ":")
				if strings.HasPrefix(name, c.project) {
					logs, _ := run("docker", "logs", "--tail", "15", name)
					t.Logf("%s's last log lines:\n%s", name, logs)
				}
			}
		}
		if _, err := c.run("down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return c
}

func (c *compose) run(args ...string) (string, error) {
	return runEnv(c.env, "docker-compose", append([]string{"-p", c.project, "-f", c.file}, args...)...)
}

func (c *compose) mustRun(t *testing.T, args ...string) {
	t.Helper()
	_, err := c.run(args...)
	require.NoError(t, err)
}

// container is the id of a service's container (running or not).
func (c *compose) container(t *testing.T, service string) string {
	t.Helper()
	out := strings.Fields(mustRun(t, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+c.project,
		"--filter", "label=com.docker.compose.service="+service))
	require.Len(t, out, 1, "containers of service %s", service)
	return out[0]
}

// healthy waits until the health checks of the compose file report every container healthy.
func (c *compose) healthy(t *testing.T, ids ...string) {
	t.Helper()
	eventually(t, readyBound, "health checks healthy", func() error {
		out, err := run("docker", append([]string{"inspect", "-f", "{{.State.Health.Status}}"}, ids...)...)
		if err != nil {
			return err
		}
		if st := strings.Fields(out); slices.ContainsFunc(st, func(s string) bool { return s != "healthy" }) {
			return fmt.Errorf("health: %v", st)
		}
		return nil
	})
}

// endpointStatus is the part of `etcdctl endpoint status -w json` the tests read.
type endpointStatus struct {
	Endpoint string
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		}
		Leader uint64
	}
}

// leaderService is the compose service (host of the advertised client URL) of the leader, as
// the members report it through one of them.
func leaderService(container string) (string, error) {
	// A stopped member's endpoint fails (exit 1) while the others' statuses are printed.
	out, err := ctl(container, "endpoint", "status", "--cluster", "-w", "json")
	var sts []endpointStatus
	if jerr := json.Unmarshal([]byte(out), &sts); jerr != nil {
		return "", fmt.Errorf("endpoint status: %v (%v): %s", jerr, err, out)
	}
	for _, s := range sts {
		if s.Status.Leader != 0 && s.Status.Leader == s.Status.Header.MemberID {
			host := strings.TrimPrefix(s.Endpoint, "http://")
			host, _, _ = strings.Cut(host, ":")
			return host, nil
		}
	}
	return "", fmt.Errorf("no member reports itself leader: %s", out)
}

// lineReader collects a background command's stdout lines.
type lineReader struct {
	mu    sync.Mutex
	lines []string
	cmd   *exec.Cmd
}

func startBackground(t *testing.T, args ...string) *lineReader {
	t.Helper()
	r := &lineReader{cmd: exec.Command("docker", args...)}
	stdout, err := r.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, r.cmd.Start())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill() // the docker CLI; what it started in the container ends with the container
		<-done
		_ = r.cmd.Wait()
	})
	return r
}

func (r *lineReader) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

// TestComposeCluster runs docker-compose.yml and walks the tutorial's cluster steps.
func TestComposeCluster(t *testing.T) {
	ports := freePorts(t, 3)
	c := newCompose(t, "cluster", "../docker-compose.yml", "BALLAST_IMAGE="+ballastImage(),
		fmt.Sprintf("BALLAST_PORT1=%d", ports[0]), fmt.Sprintf("BALLAST_PORT2=%d", ports[1]), fmt.Sprintf("BALLAST_PORT3=%d", ports[2]))
	c.mustRun(t, "up", "-d")
	services := []string{"ballast1", "ballast2", "ballast3"}
	ids := map[string]string{}
	for _, s := range services {
		ids[s] = c.container(t, s)
	}
	c.healthy(t, ids["ballast1"], ids["ballast2"], ids["ballast3"])

	// Put through each member, read every key through each member and through each port the
	// members publish on the host.
	for i, s := range services {
		require.Equal(t, "OK\n", mustCtl(t, ids[s], "put", "key"+strconv.Itoa(i+1), "from "+s))
	}
	wantAll := "key1\nfrom ballast1\nkey2\nfrom ballast2\nkey3\nfrom ballast3\n"
	for i, s := range services {
		require.Equal(t, wantAll, mustCtl(t, ids[s], "get", "key", "--prefix"), s)
		require.Equal(t, wantAll, mustRun(t, hostEtcdctl(t), fmt.Sprintf("--endpoints=127.0.0.1:%d", ports[i]), "get", "key", "--prefix"), s+" through the host port")
	}

	t.Run("watch", func(t *testing.T) {
		w := startBackground(t, "exec", ids["ballast1"], "etcdctl", "watch", "watched")
		// The watch is established at some instant after the exec starts: put until one is seen.
		n := 0
		eventually(t, 30*time.Second, "the watch on ballast1 sees a put through ballast3", func() error {
			n++
			if _, err := ctl(ids["ballast3"], "put", "watched", "v"+strconv.Itoa(n)); err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond)
			lines := w.snapshot()
			for i := 0; i+2 < len(lines); i++ {
				if lines[i] == "PUT" && lines[i+1] == "watched" && strings.HasPrefix(lines[i+2], "v") {
					return nil
				}
			}
			return fmt.Errorf("watch output so far: %q", lines)
		})
	})

	t.Run("lease", func(t *testing.T) {
		out := mustCtl(t, ids["ballast2"], "lease", "grant", "3")
		m := regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\(3s\)\n$`).FindStringSubmatch(out)
		require.NotNil(t, m, out)
		require.Equal(t, "OK\n", mustCtl(t, ids["ballast2"], "put", "--lease="+m[1], "leased", "v"))
		require.Equal(t, "leased\nv\n", mustCtl(t, ids["ballast1"], "get", "leased"))
		took := eventually(t, 30*time.Second, "the leased key expires", func() error {
			if out, err := ctl(ids["ballast3"], "get", "leased"); err != nil || out != "" {
				return fmt.Errorf("get leased: %q %v", out, err)
			}
			return nil
		})
		t.Logf("the 3 s lease's key was gone %v after the put's answer", took.Round(100*time.Millisecond))
	})

	t.Run("lock", func(t *testing.T) {
		first := startBackground(t, "exec", ids["ballast1"], "etcdctl", "lock", "mutex")
		var firstKey string
		eventually(t, 30*time.Second, "the first etcdctl lock holds the lock", func() error {
			if lines := first.snapshot(); len(lines) > 0 {
				firstKey = lines[0]
				return nil
			}
			return errors.New("no output yet")
		})
		require.Regexp(t, `^mutex/[0-9a-f]+$`, firstKey)
		second := startBackground(t, "exec", ids["ballast2"], "etcdctl", "lock", "mutex")
		// The second is queued (its own key under the lock's prefix) and does not hold it.
		eventually(t, 30*time.Second, "the second etcdctl lock waits in the queue", func() error {
			out, err := ctl(ids["ballast3"], "get", "mutex/", "--prefix", "--keys-only")
			if err != nil {
				return err
			}
			if keys := strings.Fields(out); len(keys) != 2 {
				return fmt.Errorf("lock keys %q", keys)
			}
			return nil
		})
		require.Empty(t, second.snapshot(), "the second holder got the lock while the first held it")
		// The first holder's session ends (its lease revoked): the second gets the lock.
		// etcdctl names the lock's key PREFIX/LEASE in unpadded hex; lease revoke prints 16 digits.
		leaseOf := func(key string) string {
			_, hex, _ := strings.Cut(key, "/")
			id, err := strconv.ParseUint(hex, 16, 64)
			require.NoError(t, err, key)
			return fmt.Sprintf("%016x", id)
		}
		leaseID := leaseOf(firstKey)
		require.Equal(t, "lease "+leaseID+" revoked\n", mustCtl(t, ids["ballast3"], "lease", "revoke", leaseID))
		var secondKey string
		eventually(t, 30*time.Second, "the second etcdctl lock holds the lock", func() error {
			if lines := second.snapshot(); len(lines) > 0 {
				secondKey = lines[0]
				return nil
			}
			return errors.New("no output yet")
		})
		require.Regexp(t, `^mutex/[0-9a-f]+$`, secondKey)
		require.NotEqual(t, firstKey, secondKey)
		// Release it the same way, so that no key with a lease outlives this step.
		mustCtl(t, ids["ballast3"], "lease", "revoke", leaseOf(secondKey))
	})

	t.Run("leader-stop", func(t *testing.T) {
		leader, err := leaderService(ids["ballast1"])
		require.NoError(t, err)
		var others []string
		for _, s := range services {
			if s != leader {
				others = append(others, s)
			}
		}
		start := time.Now()
		mustRun(t, "docker", "stop", ids[leader])
		stopped := time.Since(start)
		n := 0
		bound := 30 * electionTimeout
		took := eventually(t, bound, "a write through "+others[0]+" after the leader's stop", func() error {
			n++
			_, err := ctl(ids[others[0]], "--command-timeout=1s", "put", "after-stop", strconv.Itoa(n))
			return err
		})
		failover := stopped + took
		require.Equal(t, "OK\n", mustCtl(t, ids[others[1]], "put", "after-stop-2", "v"))
		newLeader, err := leaderService(ids[others[0]])
		require.NoError(t, err)
		require.NotEqual(t, leader, newLeader)
		fmt.Printf("failover: docker stop of the leader %s took %v; the first write through %s succeeded %v after the stop began (bound %v); new leader %s\n",
			leader, stopped.Round(time.Millisecond), others[0], failover.Round(time.Millisecond), bound, newLeader)

		// docker start: the member comes back and catches up (equal HashKV on all three).
		mustRun(t, "docker", "start", ids[leader])
		c.healthy(t, ids[leader])
		eventually(t, readyBound, "endpoint hashkv --cluster equal on all three", func() error {
			out, err := ctl(ids[leader], "endpoint", "hashkv", "--cluster", "-w", "json")
			if err != nil {
				return err
			}
			var hs []struct {
				HashKV struct {
					Hash         uint32
					HashRevision int64 `json:"hash_revision"`
				}
			}
			if err := json.Unmarshal([]byte(out), &hs); err != nil {
				return err
			}
			if len(hs) != 3 || hs[0].HashKV != hs[1].HashKV || hs[0].HashKV != hs[2].HashKV {
				return fmt.Errorf("hashkv: %s", out)
			}
			return nil
		})
	})

	t.Run("down-up", func(t *testing.T) {
		before := mustCtl(t, ids["ballast1"], "get", "", "--prefix")
		require.Contains(t, before, "key1\nfrom ballast1\n")
		c.mustRun(t, "down", "-t", "10") // without -v: the named volumes stay
		c.mustRun(t, "up", "-d")
		for _, s := range services {
			ids[s] = c.container(t, s)
		}
		c.healthy(t, ids["ballast1"], ids["ballast2"], ids["ballast3"])
		for _, s := range services {
			require.Equal(t, before, mustCtl(t, ids[s], "get", "", "--prefix"), "every key through %s after down and up", s)
		}
	})
}

// TestEtcdComposeFile runs etcd compose files with only their image lines changed, against
// Ballast's image and, as the proof that each file is etcd's, against etcd's own server:
// one configured by flags, one by ETCD_* variables in environment: only.
func TestEtcdComposeFile(t *testing.T) {
	for _, name := range []string{"etcd-compose.yml", "etcd-env-compose.yml"} {
		t.Run(name, func(t *testing.T) { runEtcdComposeFile(t, name) })
	}
}

func runEtcdComposeFile(t *testing.T, name string) {
	src, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	imageLine := regexp.MustCompile(`(?m)^(\s+image:) quay\.io/coreos/etcd:v3\.[56]\.\d+$`)
	require.Len(t, imageLine.FindAll(src, -1), 3)
	for _, which := range []string{"ballast", "etcd"} {
		t.Run(which, func(t *testing.T) {
			image := ballastImage()
			if which == "etcd" {
				image = etcdImage(t)
			}
			file := filepath.Join(t.TempDir(), "docker-compose.yml")
			changed := imageLine.ReplaceAll(src, []byte("${1} "+image))
			require.NoError(t, os.WriteFile(file, changed, 0o644))
			c := newCompose(t, "etcdfile"+which+strings.TrimSuffix(strings.TrimPrefix(name, "etcd"), "-compose.yml"), file)
			c.mustRun(t, "up", "-d")
			id1, id3 := c.container(t, "etcd1"), c.container(t, "etcd3")
			eventually(t, readyBound, "the three members healthy", func() error {
				_, err := ctl(id1, "endpoint", "health", "--cluster")
				return err
			})
			require.Equal(t, "OK\n", mustCtl(t, id1, "put", "greeting", "Hello from etcd"))
			require.Equal(t, "Hello from etcd\n", mustCtl(t, id3, "get", "greeting", "--print-value-only"))
			require.Regexp(t, `^(?:[0-9a-f]+, started, etcd[123], http://etcd[123]:2380, http://etcd[123]:2379, false\n){3}$`,
				mustCtl(t, c.container(t, "etcd2"), "member", "list"))
		})
	}
}
