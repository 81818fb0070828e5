package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	dc "github.com/ory/dockertest/v3/docker"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/scenarios"
)

// ClusterConfig is what Start needs.
type ClusterConfig struct {
	// Image is the Ballast image's id or tag (make image writes its id to .bin/image.id).
	Image string
	// Nodes is the number of members (1..7).
	Nodes int
	// HeartbeatMs and ElectionTimeoutMs are every member's --heartbeat-interval and
	// --election-timeout (0: etcd's defaults, 100 and 1000).
	HeartbeatMs, ElectionTimeoutMs int
	// PowerLoss starts every member with --chaos-power-loss (the image must be a chaos build:
	// make chaos-images), so a kill -9 loses what was not synced; Env are environment
	// variables for every member (BALLAST_CANARY=name on the canary image).
	PowerLoss bool
	Env       []string
	// SnapshotCount, when > 0, is every member's --snapshot-count (the scenario's
	// SnapshotEntries: snapshot-catch-up's members compact their logs every 200 entries, so a
	// member that was away catches up from a snapshot).
	SnapshotCount int
	// HealthTimeout bounds the wait for every member to serve (0: 90 s).
	HealthTimeout time.Duration
	// Logf receives progress lines (nil: none).
	Logf func(format string, args ...any)
}

// Member is one container: its name in the cluster (m0, m1, ...), its container name, and
// the host port its client port 2379 is published on (127.0.0.1 only).
type Member struct {
	Name      string
	Container string
	Volume    string
	Endpoint  string // http://127.0.0.1:PORT, fixed for the run (restarts keep the mapping)
	client    *clientv3.Client
	// ip is the member's address on the run's network when last seen running (memberIP).
	ip string
	// state is what the runner last did to the member: running, killed, stopped or paused.
	state string
}

// Cluster is one run's network, volumes and containers.
type Cluster struct {
	RunID   string
	Network string
	Members []*Member
	cfg     ClusterConfig
	client  *dc.Client
}

// newRunID is the pid and 4 random bytes: unique across concurrent runs, and the pid says
// which process owns the resources at a glance.
func newRunID() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b))
}

// freePort asks the kernel for a free loopback port. The port is released before docker
// binds it, so another process could take it in between: the start then fails naming the
// port, and the run fails as a setup failure (not a violation).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}

func (c *Cluster) labels() map[string]string {
	return map[string]string{LabelRun: c.RunID, LabelOwner: strconv.Itoa(os.Getpid())}
}

// Start sweeps stale resources, then makes the network, a volume and a container per member,
// and waits until every member serves a linearizable read. On error it removes what it made;
// otherwise the caller must Close the cluster.
func Start(ctx context.Context, cfg ClusterConfig) (c *Cluster, err error) {
	if cfg.Nodes < 1 || cfg.Nodes > 7 {
		return nil, fmt.Errorf("nodes %d: a chaos cluster has 1 to 7 members", cfg.Nodes)
	}
	if cfg.HeartbeatMs == 0 {
		cfg.HeartbeatMs = 100
	}
	if cfg.ElectionTimeoutMs == 0 {
		cfg.ElectionTimeoutMs = 1000
	}
	if cfg.HealthTimeout == 0 {
		cfg.HealthTimeout = 90 * time.Second
	}
	client, err := engine(ctx)
	if err != nil {
		return nil, err
	}
	if err := CheckImage(ctx, cfg.Image); err != nil {
		return nil, err
	}
	c = &Cluster{RunID: newRunID(), cfg: cfg, client: client}
	if n, err := SweepStale(ctx); err != nil {
		c.logf("sweep of stale chaos resources: %v", err)
	} else if n > 0 {
		c.logf("removed %d stale chaos resources of runs that are gone", n)
	}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	c.Network = "ballast-chaos-" + c.RunID
	if _, err := client.CreateNetwork(dc.CreateNetworkOptions{Name: c.Network, Driver: "bridge", CheckDuplicate: true, Labels: c.labels(), Context: ctx}); err != nil {
		return c, fmt.Errorf("creating network %s: %w", c.Network, err)
	}
	var initial []string
	for i := range cfg.Nodes {
		m, err := c.newMember(i)
		if err != nil {
			return c, err
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.peer())
	}
	for _, m := range c.Members {
		if err := c.createAndStart(ctx, m, initial, "new"); err != nil {
			return c, err
		}
	}
	for _, m := range c.Members {
		if err := c.WaitHealthy(ctx, m, cfg.HealthTimeout); err != nil {
			return c, err
		}
	}
	for _, m := range c.Members {
		if _, err := c.memberIP(ctx, m); err != nil {
			return c, err
		}
	}
	c.logf("%d members healthy on network %s (image %s)", cfg.Nodes, c.Network, shortID(cfg.Image))
	return c, nil
}

// newMember names member i (m0, m1, ...: the simulator's names, so a target m<i> names the
// same member in both worlds) and picks its host port.
func (c *Cluster) newMember(i int) (*Member, error) {
	name := string(scenarios.Member(i))
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &Member{Name: name, Container: c.Network + "-" + name, Volume: c.Network + "-" + name,
		Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)}, nil
}

func (m *Member) peer() string { return m.Name + "=http://" + m.Name + ":2380" }

// createAndStart makes the member's volume and container and starts it. The host port
// freePort picked can be taken by another process before docker binds it (go test runs
// packages in parallel, and they listen on loopback ports too): then the start fails
// with "address already in use" from its userland proxy, and the container is made again on
// another port, up to 5 times.
func (c *Cluster) createAndStart(ctx context.Context, m *Member, initial []string, state string) error {
	if _, err := c.client.CreateVolume(dc.CreateVolumeOptions{Name: m.Volume, Labels: c.labels(), Context: ctx}); err != nil {
		return fmt.Errorf("creating volume %s: %w", m.Volume, err)
	}
	for try := 1; ; try++ {
		if err := c.createMember(ctx, m, initial, state); err != nil {
			return err
		}
		err := c.StartMember(ctx, m)
		if err == nil {
			return nil
		}
		taken := strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "userland proxy")
		if !taken || try == 5 {
			return err
		}
		c.logf("%s: its host port %s was taken before docker bound it; another port (try %d)", m.Name, m.Endpoint, try+1)
		if err := c.client.RemoveContainer(dc.RemoveContainerOptions{ID: m.Container, Force: true, Context: ctx}); err != nil {
			return fmt.Errorf("removing container %s: %w", m.Container, err)
		}
		m.client.Close()
		port, err := freePort()
		if err != nil {
			return err
		}
		m.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
}

// createMember makes the member's container (not started) with etcd's flags, on its volume,
// through the API's create (never RunWithOptions: that publishes every exposed port on all
// interfaces, stops with SIGWINCH and pulls a missing image). Only the client port is
// published, on 127.0.0.1; the stop signal is SIGTERM; a missing image fails the create (the
// API never pulls).
func (c *Cluster) createMember(ctx context.Context, m *Member, initial []string, state string) error {
	cfg := c.cfg
	host, port, err := net.SplitHostPort(strings.TrimPrefix(m.Endpoint, "http://"))
	if err != nil {
		return fmt.Errorf("endpoint of %s: %w", m.Name, err)
	}
	cmd := []string{"etcd", "--name", m.Name, "--data-dir", "/etcd-data/" + m.Name,
		"--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://" + m.Name + ":2379",
		"--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://" + m.Name + ":2380",
		"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", state,
		"--initial-cluster-token", "ballast-chaos-" + c.RunID,
		"--heartbeat-interval", strconv.Itoa(cfg.HeartbeatMs), "--election-timeout", strconv.Itoa(cfg.ElectionTimeoutMs)}
	if cfg.PowerLoss {
		cmd = append(cmd, "--chaos-power-loss")
	}
	if cfg.SnapshotCount > 0 {
		cmd = append(cmd, "--snapshot-count", strconv.Itoa(cfg.SnapshotCount))
	}
	_, err = c.client.CreateContainer(dc.CreateContainerOptions{
		Name: m.Container,
		Config: &dc.Config{
			Image:        cfg.Image,
			Cmd:          cmd,
			Env:          cfg.Env,
			Labels:       c.labels(),
			StopSignal:   "SIGTERM",
			ExposedPorts: map[dc.Port]struct{}{clientPort: {}},
		},
		HostConfig: &dc.HostConfig{
			Binds:           []string{m.Volume + ":/etcd-data"},
			NetworkMode:     c.Network,
			PortBindings:    map[dc.Port][]dc.PortBinding{clientPort: {{HostIP: host, HostPort: port}}},
			PublishAllPorts: false,
		},
		NetworkingConfig: &dc.NetworkingConfig{EndpointsConfig: map[string]*dc.EndpointConfig{
			c.Network: {Aliases: []string{m.Name}},
		}},
		Context: ctx,
	})
	if err != nil {
		return fmt.Errorf("creating container %s from image %s: %w", m.Container, cfg.Image, err)
	}
	m.client, err = clientv3.New(clientv3.Config{Endpoints: []string{m.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("client of %s: %w", m.Name, err)
	}
	return nil
}

// clientPort is the members' client port in the container, the only one published.
const clientPort dc.Port = "2379/tcp"

// Current are the members in the configuration (not removed), in member order.
func (c *Cluster) Current() []*Member {
	var out []*Member
	for _, m := range c.Members {
		if m.state != "removed" {
			out = append(out, m)
		}
	}
	return out
}

// memberID is m's raft member id, from the member list of a running member.
func (c *Cluster) memberID(ctx context.Context, m *Member) (uint64, error) {
	for _, via := range c.Current() {
		if via.state != "running" {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		list, err := via.client.MemberList(lctx)
		cancel()
		if err != nil {
			continue
		}
		for _, pm := range list.Members {
			if pm.Name == m.Name || (len(pm.PeerURLs) > 0 && pm.PeerURLs[0] == "http://"+m.Name+":2380") {
				return pm.ID, nil
			}
		}
		return 0, fmt.Errorf("%s is not in the member list %v", m.Name, list.Members)
	}
	return 0, errors.New("no running member answers the member list")
}

// AddMember adds a new member as etcd's runbook does: MemberAddAsLearner through the cluster,
// a container started with --initial-cluster-state existing, then MemberPromote retried
// until the learner has caught up (etcd's "learner not ready"), up to a minute.
func (c *Cluster) AddMember(ctx context.Context, leader *Member) (*Member, error) {
	m, err := c.newMember(len(c.Members))
	if err != nil {
		return nil, err
	}
	var added *clientv3.MemberAddResponse
	err = retryUnhealthy(ctx, func(ctx context.Context) (err error) {
		added, err = leader.client.MemberAddAsLearner(ctx, []string{"http://" + m.Name + ":2380"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("member add %s: %w", m.Name, err)
	}
	var initial []string
	for _, pm := range added.Members {
		name := pm.Name
		if pm.ID == added.Member.ID {
			name = m.Name
		}
		if len(pm.PeerURLs) > 0 {
			initial = append(initial, name+"="+pm.PeerURLs[0])
		}
	}
	c.Members = append(c.Members, m)
	m.state = "stopped"
	if err := c.createAndStart(ctx, m, initial, "existing"); err != nil {
		return m, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := leader.client.MemberPromote(pctx, added.Member.ID)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return m, fmt.Errorf("promoting %s: %w; its log:\n%s", m.Name, err, c.Logs(m, 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := c.memberIP(ctx, m); err != nil {
		return m, err
	}
	return m, nil
}

// RemoveMember removes m from the configuration through via; the removed member stops
// itself (as etcd's does), and its container stays until Close.
func (c *Cluster) RemoveMember(ctx context.Context, via, m *Member) error {
	id, err := c.memberID(ctx, m)
	if err != nil {
		return err
	}
	err = retryUnhealthy(ctx, func(ctx context.Context) error {
		_, err := via.client.MemberRemove(ctx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("member remove %s: %w", m.Name, err)
	}
	m.state = "removed"
	return nil
}

// retryUnhealthy makes a membership call (10 s each) until it is not refused with etcd's
// "unhealthy cluster": --strict-reconfig-check (etcd's default) refuses a change until the
// leader has been connected to enough members for etcd's HealthInterval (5 s), as it is
// just after a start or a restart. It gives up after 30 s with that error.
func retryUnhealthy(ctx context.Context, call func(ctx context.Context) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := call(cctx)
		cancel()
		if !errors.Is(err, rpctypes.ErrUnhealthy) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TransferLeader moves leadership from leader to to (MoveLeader, asked of the leader).
func (c *Cluster) TransferLeader(ctx context.Context, leader, to *Member) error {
	id, err := c.memberID(ctx, to)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := leader.client.MoveLeader(mctx, id); err != nil {
		return fmt.Errorf("move leader %s -> %s: %w", leader.Name, to.Name, err)
	}
	return nil
}

func shortID(image string) string {
	if s, ok := strings.CutPrefix(image, "sha256:"); ok && len(s) > 12 {
		return s[:12]
	}
	return image
}

// Endpoints are every member's client endpoint on the host.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.Endpoint)
	}
	return out
}

// Close removes every container, volume and network labelled with the run's id, whatever
// state they are in (what a create made although its answer was lost too); it uses a context
// of its own, so an interrupted run still cleans up.
func (c *Cluster) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, m := range c.Members {
		if m.client != nil {
			m.client.Close()
		}
	}
	_, err := removeLabelled(ctx, LabelRun+"="+c.RunID, func(string) bool { return false })
	return err
}

// StartMember starts a created or stopped member's container (on its volume: a restart keeps
// its data).
func (c *Cluster) StartMember(ctx context.Context, m *Member) error {
	err := c.client.StartContainerWithContext(m.Container, nil, ctx)
	var already *dc.ContainerAlreadyRunning
	if err != nil && !errors.As(err, &already) {
		return fmt.Errorf("starting %s: %w", m.Container, err)
	}
	m.state = "running"
	return nil
}

// Kill sends SIGKILL (kill -9) to the member's process and waits for the container to stop.
// Unlike a power loss, what the process wrote but did not sync survives in the page cache.
func (c *Cluster) Kill(ctx context.Context, m *Member) error {
	return c.KillMany(ctx, []*Member{m})
}

// KillMany sends SIGKILL to every member of ms at once, then waits for them: a power loss of
// all of them at once, rather than one kill, a wait, and the next, during which the survivors
// go on syncing. The engine's kill of SIGKILL answers only once the container has stopped,
// so the requests go out together, one goroutine each, released by one close (as docker
// kill a b sends its requests in parallel).
func (c *Cluster) KillMany(ctx context.Context, ms []*Member) error {
	errs := make([]error, len(ms))
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			if err := c.client.KillContainer(dc.KillContainerOptions{ID: m.Container, Signal: dc.SIGKILL, Context: ctx}); err != nil {
				errs[i] = fmt.Errorf("kill -9 of %s: %w", m.Container, err)
			}
		}()
	}
	close(release)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, m := range ms {
		if _, err := c.client.WaitContainerWithContext(m.Container, ctx); err != nil {
			return fmt.Errorf("waiting for %s: %w", m.Container, err)
		}
	}
	for _, m := range ms {
		m.state = "killed"
	}
	return nil
}

// SetSyncDelay makes the member's every sync wait d first (0: no more), through the
// slow-disk control file of the chaos build (cmd/ballast/build_chaos.go), copied into the
// member's data dir (copyControl): the containers have no shell.
func (c *Cluster) SetSyncDelay(ctx context.Context, m *Member, d time.Duration) error {
	return c.copyControl(ctx, m, slowDiskFile, d)
}

// SetNetDelay holds back what peers send the member by d (0: no more), through the chaos
// build's latency control file (cmd/ballast/chaos_netdelay.go).
func (c *Cluster) SetNetDelay(ctx context.Context, m *Member, d time.Duration) error {
	return c.copyControl(ctx, m, netDelayFile, d)
}

// copyControl writes d into the control file name in the member's data dir: a tar of the one
// file, unpacked there by the engine (UploadToContainer, what docker cp does), running or not.
func (c *Cluster) copyControl(ctx context.Context, m *Member, name string, d time.Duration) error {
	archive, err := fileTar(name, []byte(d.String()+"\n"))
	if err != nil {
		return err
	}
	dir := "/etcd-data/" + m.Name
	if err := c.client.UploadToContainer(m.Container, dc.UploadToContainerOptions{InputStream: archive, Path: dir, Context: ctx}); err != nil {
		return fmt.Errorf("copying %s into %s:%s: %w", name, m.Container, dir, err)
	}
	return nil
}

// slowDiskFile and netDelayFile are cmd/ballast's SlowDiskFileName and NetDelayFileName
// (chaos imports no cmd package).
const (
	slowDiskFile = "chaos-slow-disk"
	netDelayFile = "chaos-net-delay"
)

// Stop sends SIGTERM explicitly (not the image's stop signal) and waits for the process to
// exit; a graceful stop must exit with status 0.
func (c *Cluster) Stop(ctx context.Context, m *Member, timeout time.Duration) error {
	if err := c.client.KillContainer(dc.KillContainerOptions{ID: m.Container, Signal: dc.SIGTERM, Context: ctx}); err != nil {
		return fmt.Errorf("SIGTERM to %s: %w", m.Container, err)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, err := c.client.WaitContainerWithContext(m.Container, wctx)
	if err != nil {
		return fmt.Errorf("%s did not exit within %s of SIGTERM: %w", m.Name, timeout, err)
	}
	m.state = "stopped"
	if code != 0 {
		return fmt.Errorf("%s exited with status %d after SIGTERM (a graceful stop exits 0)", m.Name, code)
	}
	return nil
}

// Pause freezes every process of the member (the cgroup freezer); Unpause thaws them.
func (c *Cluster) Pause(ctx context.Context, m *Member) error {
	if err := c.client.PauseContainer(m.Container); err != nil {
		return fmt.Errorf("pausing %s: %w", m.Container, err)
	}
	m.state = "paused"
	return nil
}

func (c *Cluster) Unpause(ctx context.Context, m *Member) error {
	if err := c.client.UnpauseContainer(m.Container); err != nil {
		return fmt.Errorf("unpausing %s: %w", m.Container, err)
	}
	m.state = "running"
	return nil
}

// Heal brings every member back: unpauses the paused ones and starts the stopped ones.
func (c *Cluster) Heal(ctx context.Context) error {
	for _, m := range c.Members {
		var err error
		switch m.state {
		case "paused":
			err = c.Unpause(ctx, m)
		case "killed", "stopped":
			err = c.StartMember(ctx, m)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// WaitHealthy waits until the member answers a linearizable read (so it serves with a quorum
// behind it), failing at once if its container exits.
func (c *Cluster) WaitHealthy(ctx context.Context, m *Member, timeout time.Duration) error {
	err := waitServes(ctx, m, timeout, func() error {
		if ct, err := c.client.InspectContainerWithContext(m.Container, ctx); err == nil && !ct.State.Running {
			return fmt.Errorf("%s exited before it was healthy; its log:\n%s", m.Name, c.Logs(m, 40))
		}
		return nil
	})
	var slow *notServing
	if errors.As(err, &slow) {
		return fmt.Errorf("%s not healthy after %s (last error: %v); its log:\n%s", m.Name, timeout, slow.last, c.Logs(m, 40))
	}
	return err
}

// Logs is the tail of the member's container log (for failure messages).
func (c *Cluster) Logs(m *Member, lines int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The member logs to stderr: both streams are the log, in the order they were written.
	var out bytes.Buffer
	err := c.client.Logs(dc.LogsOptions{Context: ctx, Container: m.Container, Tail: strconv.Itoa(lines),
		Stdout: true, Stderr: true, OutputStream: &out, ErrorStream: &out})
	if err != nil {
		return fmt.Sprintf("logs of %s: %v: %s", m.Container, err, out.String())
	}
	return out.String()
}

// Leader is the running member that reports itself leader, waiting up to timeout.
func (c *Cluster) Leader(ctx context.Context, timeout time.Duration) (*Member, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, m := range c.Members {
			if m.state != "running" {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := m.client.Status(sctx, m.Endpoint)
			cancel()
			if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
				return m, nil
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("no leader among the running members after %s", timeout)
}

// hashKV asks each of members for its HashKV at rev, retrying while a member is behind ("future
// revision"), and returns the hashes in member order.
func hashKV(ctx context.Context, members []*Member, rev int64, timeout time.Duration) ([]uint32, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var hashes []uint32
	for _, m := range members {
		for {
			h, err := m.client.HashKV(ctx, m.Endpoint, rev)
			if err == nil {
				hashes = append(hashes, h.Hash)
				break
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("HashKV at revision %d on %s: %w", rev, m.Name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return hashes, nil
}
