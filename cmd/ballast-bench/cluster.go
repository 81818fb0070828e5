package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procCluster is three members of one store (Ballast's or etcd's server binary, which take
// the same flags) started as processes on loopback, for compare.
type procCluster struct {
	store     string
	endpoints string
	members   []*procMember
}

type procMember struct {
	name    string
	data    string // its data dir, removed once it has stopped
	client  string // its client address (host:port)
	bin     string
	args    []string
	env     []string
	cmd     *exec.Cmd
	log     string
	logFrom int64         // the log's size at the last start
	exited  chan struct{} // closed when the process has exited
}

// readyLine is the milestone etcd and Ballast both log once serving clients.
const readyLine = `"msg":"ready to serve client requests"`

// freePorts reserves n loopback ports (listen on :0, note, close).
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startProcCluster starts store's three members from bin with data and logs under dir,
// with the flags both servers take (etcd's names: the same heartbeat, election timeout and
// snapshot count for both), and waits (at most readyWait) until all three serve clients.
// On an error every member started is stopped.
func startProcCluster(ctx context.Context, store, bin, dir string, readyWait time.Duration, extra ...string) (*procCluster, error) {
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var initial, eps []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i+1, ports[3+i]))
		eps = append(eps, fmt.Sprintf("127.0.0.1:%d", ports[i]))
	}
	c := &procCluster{store: store, endpoints: strings.Join(eps, ",")}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") { // etcd reads its flags from ETCD_* too
			env = append(env, kv)
		}
	}
	for i := range 3 {
		name := fmt.Sprintf("m%d", i+1)
		client, peer := "http://"+eps[i], fmt.Sprintf("http://127.0.0.1:%d", ports[3+i])
		m := &procMember{name: name, data: filepath.Join(dir, name+".data"), log: filepath.Join(dir, name+".log"), client: eps[i]}
		m.bin, m.env = bin, env
		m.args = append([]string{"--name", name, "--data-dir", m.data,
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "bench-" + store,
			"--heartbeat-interval", "100", "--election-timeout", "1000", "--snapshot-count", "10000"}, extra...)
		if err := m.start(); err != nil {
			c.stop()
			return nil, fmt.Errorf("start %s %s: %w", store, name, err)
		}
		c.members = append(c.members, m)
	}
	deadline := time.Now().Add(readyWait)
	for _, m := range c.members {
		if err := m.waitReady(ctx, deadline); err != nil {
			c.stop()
			return nil, fmt.Errorf("%s %w", store, err)
		}
	}
	return c, nil
}

// start starts the member's process (again, after a stop: its log is appended to).
func (m *procMember) start() error {
	f, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil {
		m.logFrom = st.Size()
	}
	m.exited = make(chan struct{})
	m.cmd = exec.Command(m.bin, m.args...)
	m.cmd.Env = m.env
	m.cmd.Stdout, m.cmd.Stderr = f, f
	if err := m.cmd.Start(); err != nil {
		f.Close()
		return err
	}
	exited := m.exited
	go func() {
		_ = m.cmd.Wait()
		f.Close()
		close(exited)
	}()
	return nil
}

// waitReady waits until the member, since its last start, logged readyLine.
func (m *procMember) waitReady(ctx context.Context, deadline time.Time) error {
	for {
		data, _ := os.ReadFile(m.log)
		if int64(len(data)) > m.logFrom && bytes.Contains(data[m.logFrom:], []byte(readyLine)) {
			return nil
		}
		var why string
		select {
		case <-m.exited:
			why = "exited before it was ready"
		case <-ctx.Done():
			why = "not ready: " + ctx.Err().Error()
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				why = fmt.Sprintf("not ready by %v", deadline.Format(time.TimeOnly))
			}
		}
		if why != "" {
			return fmt.Errorf("%s %s; the end of %s:\n%s", m.name, why, m.log, logTail(m.log, 10))
		}
	}
}

// halt stops the member's process (SIGTERM, a kill after 5 s), keeping its data.
func (m *procMember) halt() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// stop stops the members one after another: SIGTERM, then a kill when one has not exited
// within 5 s, and removes their data dirs (gigabytes after the scaling runs; the logs
// stay). One at a time, since members stopped all at once spend seconds handing
// leadership to one another.
func (c *procCluster) stop() {
	for _, m := range c.members {
		m.halt()
		_ = os.RemoveAll(m.data)
	}
}

// rssMiB is each member's resident set (VmRSS of /proc/PID/status), in MiB.
func (c *procCluster) rssMiB() ([]float64, error) {
	var out []float64
	for _, m := range c.members {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
		if err != nil {
			return nil, err
		}
		kb, err := vmRSS(string(data))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", c.store, m.name, err)
		}
		out = append(out, float64(kb)/1024)
	}
	return out, nil
}

// vmRSS is the VmRSS line of a /proc/PID/status, in kB.
func vmRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS line %q is not \"N kB\"", line)
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, errors.New("no VmRSS line in /proc/PID/status")
}

func logTail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
