package roundtrip

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// repoRoot is the Ballast repository (this package is tools/etcd/roundtrip).
func repoRoot(t testing.TB) string {
	abs, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// etcdTool is .bin/NAME-v3.7.3 at the repository root. Missing, the test fails under CI=true
// naming it and is skipped elsewhere.
func etcdTool(t testing.TB, name string) string {
	path := filepath.Join(repoRoot(t), ".bin", name+"-v3.7.3")
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("%s v3.7.3 is not built: %s is missing (%v): run `make etcd-tools` at the repository root", name, path, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

var (
	ballastOnce sync.Once
	ballastPath string
	ballastErr  error
)

// ballastBinary builds cmd/ballast from the repository root once per test binary.
func ballastBinary(t testing.TB) string {
	ballastOnce.Do(func() {
		dir, err := os.MkdirTemp("", "roundtrip-ballast-")
		if err != nil {
			ballastErr = err
			return
		}
		ballastPath = filepath.Join(dir, "ballast")
		cmd := exec.Command("go", "build", "-o", ballastPath, "./cmd/ballast")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			ballastErr = fmt.Errorf("go build ./cmd/ballast: %v\n%s", err, out)
		}
	})
	if ballastErr != nil {
		t.Fatal(ballastErr)
	}
	return ballastPath
}

// freePorts returns n distinct free loopback ports.
func freePorts(t testing.TB, n int) []int {
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

type member struct {
	name, clientURL, peerURL, dataDir string
}

// layout names n members m1..mn on free loopback ports under dir, and their --initial-cluster.
func layout(t testing.TB, dir, prefix string, n int) ([]member, string) {
	ports := freePorts(t, 2*n)
	var ms []member
	var initial []string
	for i := range n {
		m := member{name: fmt.Sprintf("%s%d", prefix, i+1), clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			peerURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])}
		m.dataDir = filepath.Join(dir, m.name+".etcd")
		ms = append(ms, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	return ms, strings.Join(initial, ",")
}

// cluster is processes of one server program, one per member, stopped when the test ends.
type cluster struct {
	members []member
	logs    []string
	client  *clientv3.Client // every member's endpoint
}

// start runs bin (etcd or ballast: the same flags) for each member with --initial-cluster
// initial and token, waits until each answers a linearizable read, and returns the cluster.
func start(t testing.TB, bin string, ms []member, initial, token string) *cluster {
	c := &cluster{members: ms}
	type proc struct {
		cmd    *exec.Cmd
		exited chan struct{}
	}
	var procs []*proc
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			for _, l := range c.logs {
				data, _ := os.ReadFile(l)
				if len(data) > 4000 {
					data = data[len(data)-4000:]
				}
				t.Logf("--- %s (tail) ---\n%s", l, data)
			}
		}
	})
	var endpoints []string
	for _, m := range ms {
		logPath := m.dataDir + ".log"
		c.logs = append(c.logs, logPath)
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--name", m.name, "--data-dir", m.dataDir,
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", token)
		cmd.Env = withoutPrefix(os.Environ(), "ETCD_")
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			f.Close()
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, exited: make(chan struct{})}
		go func() {
			_ = cmd.Wait()
			f.Close()
			close(p.exited)
		}()
		procs = append(procs, p)
		endpoints = append(endpoints, m.clientURL)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	c.client = cli
	deadline := time.Now().Add(60 * time.Second)
	for i, m := range ms {
		one, err := clientv3.New(clientv3.Config{Endpoints: []string{m.clientURL}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := one.Get(ctx, "ready-probe")
			cancel()
			if err == nil {
				break
			}
			select {
			case <-procs[i].exited:
				one.Close()
				t.Fatalf("%s %s exited before it was ready", filepath.Base(bin), m.name)
			default:
			}
			if time.Now().After(deadline) {
				one.Close()
				t.Fatalf("%s %s not ready after 60 s: %v", filepath.Base(bin), m.name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		one.Close()
	}
	return c
}

// withoutPrefix drops the variables of prefix: etcd takes flags from ETCD_* and refuses a
// flag a variable also sets.
func withoutPrefix(env []string, prefix string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// run runs a program and returns its standard output; a failure fails the test with both
// outputs.
func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, errOut, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func runErr(name string, args ...string) (stdout, stderr []byte, err error) {
	var o, e bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Env = withoutPrefix(os.Environ(), "ETCD")
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}
