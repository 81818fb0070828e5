package chaos

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/linearizability/history"
)

// EndpointsConfig is a run against a cluster that is already running (etcd, Ballast, any
// etcd-API store): the same traffic and checks as a Docker run, without the runner's own
// faults, touching only keys under Prefix and deleting them at the end.
//
// The revision-guided checker needs to know the writer of every revision of the run: the
// cluster must have no other writer while the run goes (the history records revisions less
// the cluster's revision when the run began; another client's write leaves a revision no
// recorded request wrote, and the verdict is then unknown, which fails the run).
type EndpointsConfig struct {
	// Endpoints are the members' client URLs; every one is also asked for HashKV.
	Endpoints []string
	// Prefix holds every key the run writes; it must be empty when the run begins ("":
	// /ballast-chaos/<run id>/).
	Prefix   string
	Duration time.Duration
	Clients  int
	Seed     int64
	MaxOps   int
	// KillCmd and RestartCmd, when set, are shell commands (sh -c) that inject a fault in the
	// user's own environment: KillCmd runs at 30% of Duration and RestartCmd at 55%, each
	// recorded as a fault (user-kill, user-restart) on the report's timeline.
	KillCmd, RestartCmd string
	// HealTimeout bounds the wait for every endpoint to serve after the traffic (0: 90 s).
	HealTimeout time.Duration
	Out         string
	Logf        func(format string, args ...any)
}

// RunEndpoints runs the traffic against cfg.Endpoints, then checks as Run does and deletes
// the run's keys. It returns a SetupError when the run could not be made (no endpoint
// answers, the prefix is not empty, a user command fails).
func RunEndpoints(ctx context.Context, cfg EndpointsConfig) (*Report, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if len(cfg.Endpoints) == 0 {
		return nil, &SetupError{errors.New("no endpoints")}
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 30 * time.Second
	}
	if cfg.Clients == 0 {
		cfg.Clients = 8
	}
	if cfg.MaxOps == 0 {
		cfg.MaxOps = 20000
	}
	if cfg.HealTimeout == 0 {
		cfg.HealTimeout = 90 * time.Second
	}
	runID := newRunID()
	if cfg.Prefix == "" {
		cfg.Prefix = "/ballast-chaos/" + runID + "/"
	}
	var members []*Member
	defer func() {
		for _, m := range members {
			m.client.Close()
		}
	}()
	for i, ep := range cfg.Endpoints {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return nil, &SetupError{fmt.Errorf("endpoint %s: %w", ep, err)}
		}
		members = append(members, &Member{Name: fmt.Sprintf("e%d", i), Endpoint: ep, client: c, state: "running"})
	}
	// The prefix must be empty, and the cluster's revision now is the history's base.
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := members[0].client.Get(rctx, cfg.Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return nil, &SetupError{fmt.Errorf("reading %s from %s: %w", cfg.Prefix, cfg.Endpoints[0], err)}
	}
	if resp.Count > 0 {
		return nil, &SetupError{fmt.Errorf("prefix %s holds %d keys: a run needs an empty prefix (pick another with -prefix)", cfg.Prefix, resp.Count)}
	}
	base := resp.Header.Revision - 1
	logf("endpoints %s: revision %d, prefix %s", strings.Join(cfg.Endpoints, ","), resp.Header.Revision, cfg.Prefix)

	var names []string
	for _, m := range members {
		names = append(names, m.Name)
	}
	rep := &Report{RunID: runID, Scenario: "endpoints", Seed: cfg.Seed, Nodes: len(members), Clients: cfg.Clients, Duration: cfg.Duration}
	w := &traffic{
		rec: history.NewRecorder(history.Header{ClusterSize: len(members), Members: names,
			Scenario: "endpoints: " + strings.Join(cfg.Endpoints, ","), Seed: cfg.Seed, Clock: history.ClockWall}),
		start: time.Now(), prefix: cfg.Prefix, maxOps: int64(cfg.MaxOps), base: base,
		interval: cfg.Duration / time.Duration(cfg.MaxOps),
	}
	// The run's keys go, whatever happens next.
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := members[0].client.Delete(dctx, cfg.Prefix, clientv3.WithPrefix()); err != nil {
			logf("deleting %s: %v", cfg.Prefix, err)
		}
	}()
	trafficCtx, stopTraffic := context.WithTimeout(ctx, cfg.Duration)
	defer stopTraffic()
	wait, err := w.run(trafficCtx, cfg.Clients, cfg.Endpoints, uint64(cfg.Seed))
	if err != nil {
		return nil, &SetupError{err}
	}
	hookErr := runHooks(trafficCtx, w, rep, cfg, logf)
	wait()
	stopTraffic()
	if hookErr != nil {
		return nil, &SetupError{hookErr}
	}
	if ctx.Err() != nil {
		return nil, &SetupError{fmt.Errorf("interrupted: %w", ctx.Err())}
	}
	logf("traffic done: %d operations", w.ops.Load())
	var healthy []*Member
	for _, m := range members {
		if err := waitServes(ctx, m, cfg.HealTimeout, nil); err != nil {
			rep.problem("%v", err)
			continue
		}
		healthy = append(healthy, m)
	}
	if len(healthy) == 0 {
		rep.problem("no endpoint serves after the run: no further checks")
		return rep, nil
	}
	// Leader kills are the runner's own faults: a user's kill command names no leader.
	if err := verify(ctx, healthy, w, nil, rep, cfg.Out, logf); err != nil {
		return nil, &SetupError{err}
	}
	return rep, nil
}

// runHooks runs the user's kill and restart commands on their schedule.
func runHooks(ctx context.Context, w *traffic, rep *Report, cfg EndpointsConfig, logf func(string, ...any)) error {
	type hook struct {
		at   time.Duration
		kind string
		cmd  string
	}
	var hooks []hook
	if cfg.KillCmd != "" {
		hooks = append(hooks, hook{cfg.Duration * 30 / 100, "user-kill", cfg.KillCmd})
	}
	if cfg.RestartCmd != "" {
		hooks = append(hooks, hook{cfg.Duration * 55 / 100, "user-restart", cfg.RestartCmd})
	}
	for _, h := range hooks {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(w.start.Add(h.at))):
		}
		startNs := w.now()
		out, err := exec.CommandContext(context.Background(), "sh", "-c", h.cmd).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s command %q: %w: %s", h.kind, h.cmd, err, strings.TrimSpace(string(out)))
		}
		w.rec.StartFault(h.kind, nil, h.cmd, startNs).End(w.now())
		rep.Faults = append(rep.Faults, FaultRecord{Kind: h.kind, AtNs: startNs, Detail: h.cmd})
		logf("%6.1fs: %s: %s", time.Since(w.start).Seconds(), h.kind, h.cmd)
	}
	return nil
}

// notServing is waitServes's timeout: the member never answered.
type notServing struct {
	endpoint string
	timeout  time.Duration
	last     error
}

func (e *notServing) Error() string {
	return fmt.Sprintf("%s does not serve after %s (last error: %v)", e.endpoint, e.timeout, e.last)
}

// waitServes waits until the member answers a linearizable read; abort (nil: none) is asked
// after each failed try and ends the wait with its error.
func waitServes(ctx context.Context, m *Member, timeout time.Duration, abort func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := m.client.Get(rctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if abort != nil {
			if err := abort(); err != nil {
				return err
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return &notServing{m.Endpoint, timeout, last}
}
