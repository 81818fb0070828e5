package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/scenarios"
)

// RunConfig is one Docker run: a scenario, its size and length, and where the report goes.
type RunConfig struct {
	Image    string
	Scenario string
	// Nodes, Duration and Clients: 0 takes the scenario's own (Clients: 8).
	Nodes    int
	Duration time.Duration
	Clients  int
	Seed     int64
	// MaxOps bounds the client operations (0: 20,000, the bound for the checker to
	// finish); the run's traffic stops at Duration or MaxOps, whichever comes first.
	MaxOps int
	// PowerLoss runs the members with --chaos-power-loss (Image must be a chaos build): every
	// kill -9 is a power loss (recorded as power-loss), and slow-disk faults apply. Canary,
	// when set, is the canary the members run (BALLAST_CANARY; Image must be the canary
	// build); it implies PowerLoss.
	PowerLoss bool
	Canary    string
	// HealTimeout bounds the wait for each member to serve after healing (0: 90 s); canary
	// runs, whose broken members may never serve again, take less.
	HealTimeout time.Duration
	// Out is the directory for history.jsonl and the checker's report (summary.json,
	// report.html); "" writes none.
	Out  string
	Logf func(format string, args ...any)
}

// FaultRecord is one fault as applied.
type FaultRecord struct {
	Kind    string   `json:"kind"`
	Members []string `json:"members"`
	AtNs    int64    `json:"at_ns"`
	Detail  string   `json:"detail,omitempty"`
}

// Report is a run's outcome. Problems lists every failed check (a violation); empty means
// the run passed.
type Report struct {
	// RunID is in the names and the LabelRun label of everything the run made.
	RunID       string        `json:"run_id"`
	Scenario    string        `json:"scenario"`
	Seed        int64         `json:"seed"`
	Nodes       int           `json:"nodes"`
	Clients     int           `json:"clients"`
	Duration    time.Duration `json:"duration_ns"`
	Operations  int           `json:"operations"`
	AckedWrites int           `json:"acknowledged_writes"`
	Unknown     int           `json:"unknown_outcomes"`
	Faults      []FaultRecord `json:"faults"`
	// WriteResumeAfterLeaderKill: per kill -9 of the leader, the time from the kill to the
	// first acknowledged write called after it.
	WriteResumeAfterLeaderKill []time.Duration `json:"write_resume_after_leader_kill_ns"`
	Verdict                    string          `json:"verdict"`
	FirstViolation             string          `json:"first_violation,omitempty"`
	CheckerTime                time.Duration   `json:"checker_time_ns"`
	HashRevision               int64           `json:"hash_revision"`
	Hashes                     []uint32        `json:"hashes"`
	Problems                   []string        `json:"problems,omitempty"`
}

// Passed: every check passed.
func (r *Report) Passed() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// SetupError is a failure of the run's machinery (Docker, the image, a port), not a finding
// about Ballast.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return "setup: " + e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// Run starts a cluster, drives traffic and the scenario's faults, heals, and checks. It
// returns a SetupError when the run could not be made; otherwise the report, whose Problems
// are the violations found. Every container, network and volume is removed before it
// returns, also when ctx is cancelled (an interrupt).
func Run(ctx context.Context, cfg RunConfig) (*Report, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s, err := scenarioByName(cfg.Scenario)
	if err != nil {
		return nil, &SetupError{err}
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = s.Members
	}
	if cfg.Duration == 0 {
		cfg.Duration = s.Duration
	}
	if cfg.Clients == 0 {
		cfg.Clients = 8
	}
	if cfg.MaxOps == 0 {
		cfg.MaxOps = 20000
	}
	faults, err := plan(s, cfg.Nodes, cfg.Duration, cfg.Seed)
	if err != nil {
		return nil, &SetupError{err}
	}
	if cfg.Canary != "" {
		cfg.PowerLoss = true
	}
	for i, f := range faults {
		if f.Kind == scenarios.Latency && !cfg.PowerLoss {
			faults[i].Skip = "not applied: latency needs the chaos image's peer delay (-power-loss); this kernel has no netem"
		}
		if f.Kind == scenarios.SlowDisk && !cfg.PowerLoss {
			return nil, &SetupError{fmt.Errorf("scenario %s: its slow-disk fault needs power-loss mode (-power-loss, on the chaos image of make chaos-images)", s.Name)}
		}
	}
	for _, f := range faults {
		if networkKinds[f.Kind] && f.Skip == "" {
			if err := CheckNetworkFaults(); err != nil {
				return nil, &SetupError{fmt.Errorf("scenario %s: %w", s.Name, err)}
			}
			break
		}
	}
	ccfg := ClusterConfig{Image: cfg.Image, Nodes: cfg.Nodes, SnapshotCount: s.SnapshotEntries, PowerLoss: cfg.PowerLoss, Logf: logf}
	if cfg.Canary != "" {
		ccfg.Env = []string{"BALLAST_CANARY=" + cfg.Canary}
	}
	c, err := Start(ctx, ccfg)
	if err != nil {
		return nil, &SetupError{err}
	}
	defer func() {
		if err := c.Close(); err != nil {
			logf("cleanup: %v", err)
		}
	}()
	// Every member the run may have: the founding ones, and one per add or replace.
	var names []string
	for _, m := range c.Members {
		names = append(names, m.Name)
	}
	for _, f := range faults {
		if f.Kind == scenarios.AddMember || f.Kind == scenarios.ReplaceMember {
			names = append(names, string(scenarios.Member(len(names))))
		}
	}
	rep := &Report{RunID: c.RunID, Scenario: s.Name, Seed: cfg.Seed, Nodes: cfg.Nodes, Clients: cfg.Clients, Duration: cfg.Duration}
	w := &traffic{
		rec: history.NewRecorder(history.Header{ClusterSize: len(names), Members: names,
			Scenario: "docker: " + s.Name, Seed: cfg.Seed, Clock: history.ClockWall}),
		start: time.Now(), prefix: "/ballast-chaos/" + c.RunID + "/", maxOps: int64(cfg.MaxOps),
		interval: cfg.Duration / time.Duration(cfg.MaxOps),
	}
	trafficCtx, stopTraffic := context.WithTimeout(ctx, cfg.Duration)
	defer stopTraffic()
	wait, err := w.run(trafficCtx, cfg.Clients, c.Endpoints(), uint64(cfg.Seed))
	if err != nil {
		return nil, &SetupError{err}
	}
	inj := &injector{c: c, w: w, rep: rep, logf: logf, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0xfa17)), powerLoss: cfg.PowerLoss}
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-trafficCtx.Done():
				return
			case <-tick.C:
				logf("%6.1fs: %d operations, %d faults so far", time.Since(w.start).Seconds(), w.ops.Load(), inj.faultCount.Load())
			}
		}
	}()
	injErr := inj.run(trafficCtx, faults, cfg.Duration)
	wait()
	stopTraffic()
	<-progressDone
	if injErr != nil {
		return nil, &SetupError{injErr}
	}
	if ctx.Err() != nil {
		return nil, &SetupError{fmt.Errorf("interrupted: %w", ctx.Err())}
	}
	logf("traffic done: %d operations; healing", w.ops.Load())
	if cfg.HealTimeout == 0 {
		cfg.HealTimeout = 90 * time.Second
	}
	if err := check(ctx, c, w, inj, rep, cfg.Out, cfg.HealTimeout, logf); err != nil {
		return nil, &SetupError{err}
	}
	return rep, nil
}

// injector applies the planned faults on schedule and undoes them.
type injector struct {
	c    *Cluster
	w    *traffic
	rep  *Report
	logf func(string, ...any)
	rng  *rand.Rand
	// leaderKills are (start, done) of each kill -9 of the leader, ns since the run's start.
	leaderKills [][2]int64
	open        []*history.FaultHandle
	// rules are every network fault's rules (empty once removed), for heal.
	rules      []*[]netRule
	powerLoss  bool
	slowDisks  bool         // a slow-disk fault was applied: heal clears every member's delay
	netDelays  bool         // a latency fault was applied: heal clears every member's delay
	faultCount atomic.Int64 // read by the progress line
}

// gracefulRestart stops m with SIGTERM (exit status 0 required: else a problem) and starts
// it again on its volume.
func (inj *injector) gracefulRestart(ctx context.Context, m *Member) error {
	if err := inj.c.Stop(ctx, m, 30*time.Second); err != nil {
		if m.state != "stopped" {
			return err
		}
		inj.rep.problem("graceful restart: %v; log:\n%s", err, inj.c.Logs(m, 30))
	}
	return inj.c.StartMember(ctx, m)
}

// addMember adds a member through the leader.
func (inj *injector) addMember(ctx context.Context) (*Member, error) {
	lead, err := inj.c.Leader(ctx, 20*time.Second)
	if err != nil {
		return nil, err
	}
	return inj.c.AddMember(ctx, lead)
}

// healNetwork removes the rules of every network fault still on.
func (inj *injector) healNetwork(ctx context.Context) error {
	for _, r := range inj.rules {
		if err := inj.c.removeRules(ctx, *r); err != nil {
			return err
		}
		*r = nil
	}
	return nil
}

type event struct {
	at      time.Duration
	undo    bool
	fault   plannedFault
	members *[]*Member
	handle  **history.FaultHandle
	// rules are a network fault's iptables rules, removed by its undo or by heal.
	rules *[]netRule
	// pre are a crash's members resolved before any crash of its instant was applied, and
	// together says they were killed in one call with the others of that instant (run).
	pre      []*Member
	together bool
}

func (inj *injector) run(ctx context.Context, faults []plannedFault, duration time.Duration) error {
	var events []*event
	for _, f := range faults {
		members := new([]*Member)
		handle := new(*history.FaultHandle)
		rules := new([]netRule)
		inj.rules = append(inj.rules, rules)
		events = append(events, &event{at: f.At, fault: f, members: members, handle: handle, rules: rules})
		if f.Undo > 0 && f.Skip == "" {
			events = append(events, &event{at: f.Undo, undo: true, fault: f, members: members, handle: handle, rules: rules})
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at < events[j].at })
	for i, e := range events {
		if e.at >= duration {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(inj.w.start.Add(e.at))):
		}
		if i == 0 || events[i-1].at != e.at {
			if err := inj.killTogether(ctx, events[i:]); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		if err := inj.apply(ctx, e); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// killTogether resolves every crash (and kill-all) starting at the instant of events[0]
// before any is applied, and when they take more than one member, kills them all in one call
// (Cluster.KillMany): the canary scenario's "leader and follower lose power at once" must
// leave the follower no time to sync what it acknowledged.
func (inj *injector) killTogether(ctx context.Context, events []*event) error {
	var all []*Member
	var group []*event
	for _, e := range events {
		if e.at != events[0].at {
			break
		}
		if e.undo || e.fault.Skip != "" || (e.fault.Kind != scenarios.Crash && e.fault.Kind != scenarios.KillAll) {
			continue
		}
		ms, err := inj.resolve(ctx, e.fault.Targets)
		if err != nil {
			return fmt.Errorf("fault %s at %s: %w", e.fault.Kind, e.fault.At, err)
		}
		if e.fault.Kind == scenarios.KillAll {
			ms = inj.c.Current()
		}
		e.pre = ms
		group = append(group, e)
		for _, m := range ms {
			if m.state == "running" {
				all = append(all, m)
			}
		}
	}
	if len(all) < 2 {
		return nil
	}
	if err := inj.c.KillMany(ctx, all); err != nil {
		return err
	}
	for _, e := range group {
		e.together = true
	}
	return nil
}

// resolve turns targets into members, each at most once: follower is a running member that
// is neither the leader nor already chosen, minority (n-1)/2 members not already chosen, both
// drawn from the run's seed.
func (inj *injector) resolve(ctx context.Context, targets []scenarios.Target) ([]*Member, error) {
	var out []*Member
	chosen := func(m *Member) bool {
		for _, o := range out {
			if o == m {
				return true
			}
		}
		return false
	}
	add := func(m *Member) {
		if !chosen(m) {
			out = append(out, m)
		}
	}
	for _, t := range targets {
		switch t {
		case scenarios.Leader:
			m, err := inj.c.Leader(ctx, 20*time.Second)
			if err != nil {
				return nil, err
			}
			add(m)
		case scenarios.Follower:
			lead, err := inj.c.Leader(ctx, 20*time.Second)
			if err != nil {
				return nil, err
			}
			var followers []*Member
			for _, m := range inj.c.Members {
				if m != lead && m.state == "running" && !chosen(m) {
					followers = append(followers, m)
				}
			}
			if len(followers) == 0 {
				return nil, errors.New("no running follower")
			}
			add(followers[inj.rng.IntN(len(followers))])
		case scenarios.Minority:
			var rest []*Member
			for _, m := range inj.c.Members {
				if !chosen(m) {
					rest = append(rest, m)
				}
			}
			for k := (len(inj.c.Members) - 1) / 2; k > 0 && len(rest) > 0; k-- {
				i := inj.rng.IntN(len(rest))
				add(rest[i])
				rest = append(rest[:i], rest[i+1:]...)
			}
		default:
			idx, _ := t.MemberIndex()
			add(inj.c.Members[idx])
		}
	}
	return out, nil
}

// membershipKinds change the configuration: instantaneous, nothing to undo.
var membershipKinds = map[scenarios.FaultKind]bool{
	scenarios.AddMember: true, scenarios.RemoveMember: true, scenarios.ReplaceMember: true, scenarios.TransferLeader: true,
}

// others are the current members not in ms, in member order.
func (inj *injector) others(ms []*Member) []*Member {
	var out []*Member
	for _, m := range inj.c.Current() {
		in := false
		for _, x := range ms {
			in = in || x == m
		}
		if !in {
			out = append(out, m)
		}
	}
	return out
}

// networkRules are the rules of a network fault on the resolved members.
func (inj *injector) networkRules(ctx context.Context, f plannedFault, members []*Member) (map[*Member][][]string, error) {
	switch f.Kind {
	case scenarios.Partition, scenarios.Isolate:
		return inj.c.cutRules(ctx, members, inj.others(members))
	case scenarios.Bridge:
		rest := inj.others(members)
		return inj.c.cutRules(ctx, rest[:len(rest)/2], rest[len(rest)/2:])
	case scenarios.OneWay:
		if len(members) < 2 {
			return nil, fmt.Errorf("one-way: the targets resolved to one member (%s)", members[0].Name)
		}
		return inj.c.oneWayRules(ctx, members[0], members[1:])
	case scenarios.Loss:
		return inj.c.lossRules(ctx, f.Rate)
	}
	panic(fmt.Sprintf("chaos: %s is not a network kind", f.Kind))
}

func (inj *injector) apply(ctx context.Context, e *event) error {
	f := e.fault
	if f.Skip != "" {
		inj.rep.Faults = append(inj.rep.Faults, FaultRecord{Kind: string(f.Kind), AtNs: inj.w.now(), Detail: f.Skip})
		inj.logf("%6.1fs: %s %s", time.Since(inj.w.start).Seconds(), f.Kind, f.Skip)
		return nil
	}
	if e.undo {
		if networkKinds[f.Kind] {
			if err := inj.c.removeRules(ctx, *e.rules); err != nil {
				return err
			}
			*e.rules = nil
		}
		for _, m := range *e.members {
			var err error
			switch {
			case f.Kind == scenarios.Pause && m.state == "paused":
				err = inj.c.Unpause(ctx, m)
			case (f.Kind == scenarios.Crash || f.Kind == scenarios.KillAll) && m.state == "killed":
				err = inj.c.StartMember(ctx, m)
			case f.Kind == scenarios.SlowDisk:
				err = inj.c.SetSyncDelay(ctx, m, 0)
			case f.Kind == scenarios.Latency:
				err = inj.c.SetNetDelay(ctx, m, 0)
			}
			if err != nil {
				return err
			}
		}
		if *e.handle != nil {
			inj.end(*e.handle, inj.w.now())
		}
		inj.logf("%6.1fs: undo %s of %s", time.Since(inj.w.start).Seconds(), f.Kind, memberNames(*e.members))
		return nil
	}
	members := e.pre
	if members == nil {
		var err error
		if members, err = inj.resolve(ctx, f.Targets); err != nil {
			return fmt.Errorf("fault %s at %s: %w", f.Kind, f.At, err)
		}
	}
	*e.members = members
	names := memberNames(members)
	detail := fmt.Sprintf("%s of %s (%s)", f.Kind, strings.Join(names, ","), strings.Join(targetNames(f.Targets), ","))
	startNs := inj.w.now()
	if networkKinds[f.Kind] {
		want, err := inj.networkRules(ctx, f, members)
		if err != nil {
			return err
		}
		rules, note, err := inj.c.addRules(ctx, want)
		*e.rules = rules
		if err != nil {
			return err
		}
		if note != "" {
			detail += "; " + note
		}
		if f.Kind == scenarios.Loss {
			detail = fmt.Sprintf("loss at rate %g on every link", f.Rate)
		}
	}
	switch f.Kind {
	case scenarios.AddMember:
		added, err := inj.addMember(ctx)
		if err != nil {
			return err
		}
		names, detail = []string{added.Name}, "add-member "+added.Name
	case scenarios.TransferLeader:
		lead, err := inj.c.Leader(ctx, 20*time.Second)
		if err != nil {
			return err
		}
		var to *Member
		for _, m := range members {
			if m != lead {
				to = m
			}
		}
		if to == nil {
			for _, m := range inj.c.Current() {
				if m != lead && m.state == "running" {
					to = m
					break
				}
			}
		}
		if to == nil {
			return errors.New("transfer-leader: no running member but the leader")
		}
		if err := inj.c.TransferLeader(ctx, lead, to); err != nil {
			return err
		}
		names, detail = []string{lead.Name, to.Name}, fmt.Sprintf("transfer-leader %s -> %s", lead.Name, to.Name)
	}
	if f.Kind == scenarios.Latency {
		members = inj.c.Current()
		*e.members = members // its undo clears them
		names = memberNames(members)
		detail = fmt.Sprintf("latency +%s on every member's incoming peer traffic", f.Delay)
		inj.netDelays = true
	}
	for _, m := range members {
		switch f.Kind {
		case scenarios.Latency:
			if err := inj.c.SetNetDelay(ctx, m, f.Delay); err != nil {
				return err
			}
		case scenarios.Crash, scenarios.KillAll:
			if e.together {
				// killed by killTogether
			} else if m.state != "running" {
				inj.logf("%s is %s: crash skipped", m.Name, m.state)
				continue
			} else if err := inj.c.Kill(ctx, m); err != nil {
				return err
			}
			if len(f.Targets) == 1 && f.Targets[0] == scenarios.Leader {
				inj.leaderKills = append(inj.leaderKills, [2]int64{startNs, inj.w.now()})
			}
		case scenarios.Restart:
			if m.state == "killed" || m.state == "stopped" {
				if err := inj.c.StartMember(ctx, m); err != nil {
					return err
				}
			}
		case scenarios.Pause:
			if err := inj.c.Pause(ctx, m); err != nil {
				return err
			}
		case scenarios.RemoveMember, scenarios.ReplaceMember:
			if m.state == "removed" {
				inj.logf("%s is removed already: %s skipped", m.Name, f.Kind)
				continue
			}
			if f.Kind == scenarios.ReplaceMember {
				added, err := inj.addMember(ctx)
				if err != nil {
					return err
				}
				detail += "; added " + added.Name
			}
			via := inj.c.Current()[0]
			for _, o := range inj.c.Current() {
				if o != m && o.state == "running" {
					via = o
					break
				}
			}
			if err := inj.c.RemoveMember(ctx, via, m); errors.Is(err, rpctypes.ErrUnhealthy) {
				// etcd's --strict-reconfig-check refuses a removal that would break the
				// active quorum (another member is down): the operator's answer too.
				inj.logf("%s: %s refused by --strict-reconfig-check: %v", m.Name, f.Kind, err)
				continue
			} else if err != nil {
				return err
			}
		case scenarios.SlowDisk:
			if err := inj.c.SetSyncDelay(ctx, m, f.Delay); err != nil {
				return err
			}
			inj.slowDisks = true
			detail += fmt.Sprintf(" (+%s per sync)", f.Delay)
		case scenarios.GracefulRestart:
			if err := inj.gracefulRestart(ctx, m); err != nil {
				return err
			}
		}
	}
	if f.Kind == scenarios.RollingRestart {
		// Followers first, the leader last (as operators roll a cluster), each serving again
		// before the next goes down.
		lead, err := inj.c.Leader(ctx, 20*time.Second)
		if err != nil {
			return err
		}
		var order []*Member
		for _, m := range inj.c.Current() {
			if m != lead {
				order = append(order, m)
			}
		}
		order = append(order, lead)
		for _, m := range order {
			if m.state != "running" {
				continue
			}
			if err := inj.gracefulRestart(ctx, m); err != nil {
				return err
			}
			if err := inj.c.WaitHealthy(ctx, m, 60*time.Second); err != nil {
				inj.rep.problem("rolling restart: %v", err)
			}
		}
		names = memberNames(order)
		detail = "rolling-restart of " + strings.Join(names, ",") + " (SIGTERM, start, serving again, the leader last)"
	}
	kind := string(f.Kind)
	switch {
	case (f.Kind == scenarios.Crash || f.Kind == scenarios.KillAll) && inj.powerLoss:
		kind = "power-loss"
	case f.Kind == scenarios.Crash:
		kind = "kill"
	}
	h := inj.w.rec.StartFault(kind, names, detail, startNs)
	if f.Undo == 0 && (f.Kind == scenarios.GracefulRestart || f.Kind == scenarios.RollingRestart || f.Kind == scenarios.Restart || membershipKinds[f.Kind]) {
		h.End(inj.w.now())
	} else {
		*e.handle = h
		inj.open = append(inj.open, h)
	}
	inj.faultCount.Add(1)
	inj.rep.Faults = append(inj.rep.Faults, FaultRecord{Kind: kind, Members: names, AtNs: startNs, Detail: detail})
	inj.logf("%6.1fs: %s", time.Since(inj.w.start).Seconds(), detail)
	return nil
}

// end ends a fault still open (the recorder refuses a second End).
func (inj *injector) end(h *history.FaultHandle, ns int64) {
	for i, o := range inj.open {
		if o == h {
			inj.open = append(inj.open[:i], inj.open[i+1:]...)
			h.End(ns)
			return
		}
	}
}

func memberNames(ms []*Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func targetNames(ts []scenarios.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t))
	}
	return out
}

// check heals the cluster, waits for convergence and runs every check into rep.
func check(ctx context.Context, c *Cluster, w *traffic, inj *injector, rep *Report, out string, healTimeout time.Duration, logf func(string, ...any)) error {
	if err := inj.healNetwork(ctx); err != nil {
		return err
	}
	for _, m := range c.Current() {
		if inj.slowDisks {
			if err := c.SetSyncDelay(ctx, m, 0); err != nil {
				return err
			}
		}
		if inj.netDelays {
			if err := c.SetNetDelay(ctx, m, 0); err != nil {
				return err
			}
		}
	}
	if err := c.Heal(ctx); err != nil {
		return err
	}
	healNs := w.now()
	for len(inj.open) > 0 {
		inj.end(inj.open[0], healNs)
	}
	// A member that never serves again is a finding, and the other checks still run on the
	// ones that do (with a majority of them), so the report says what else went wrong.
	var healthy []*Member
	for _, m := range c.Current() {
		if err := c.WaitHealthy(ctx, m, healTimeout); err != nil {
			rep.problem("after healing: %v", err)
			continue
		}
		healthy = append(healthy, m)
	}
	if len(healthy) <= len(c.Current())/2 {
		rep.problem("after healing only %d of %d members serve: no further checks", len(healthy), len(c.Current()))
		return nil
	}
	return verify(ctx, healthy, w, inj.leaderKills, rep, out, logf)
}

// verify runs the checks on a healed cluster through the members that serve: the final read
// (settling unknown outcomes), every acknowledged write in the store's history, the writes'
// resumption after each kill of the leader, equal HashKV, and the checker's verdict; the
// history and the report go to out.
func verify(ctx context.Context, healthy []*Member, w *traffic, leaderKills [][2]int64, rep *Report, out string, logf func(string, ...any)) error {
	var endpoints []string
	for _, m := range healthy {
		endpoints = append(endpoints, m.Endpoint)
	}
	final, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer final.Close()
	// The final read of the whole prefix settles every unknown outcome (see traffic).
	cs := &clientState{name: "final", c: final}
	var last *clientv3.GetResponse
	for try := 0; try < 10 && last == nil; try++ {
		last = w.get(cs, w.prefix)
	}
	if last == nil {
		rep.problem("the final read of %s failed 10 times after healing", w.prefix)
		return nil
	}
	rev := last.Header.Revision

	// Every acknowledged write is in the store's history: a watch from revision 1 replays
	// every event of the prefix (no compaction in these runs).
	events, err := replay(ctx, healthy[0], w.prefix, w.base+1, rev)
	if err != nil {
		rep.problem("replaying the events up to revision %d: %v", rev, err)
	}
	w.mu.Lock()
	acked := append([]ackedWrite(nil), w.acked...)
	w.mu.Unlock()
	for _, a := range acked {
		if !a.Marker {
			rep.AckedWrites++
		}
	}
	if err == nil {
		if missing := missingWrites(acked, events); len(missing) > 0 {
			rep.problem("%d acknowledged writes are not in the store's history; first: %s", len(missing), missing[0])
		}
	}
	for _, k := range leaderKills {
		first := int64(-1)
		for _, a := range acked {
			if a.CallNs >= k[1] && (first < 0 || a.ReturnNs < first) {
				first = a.ReturnNs
			}
		}
		if first < 0 {
			rep.problem("no write was acknowledged after the kill -9 of the leader at %s", time.Duration(k[0]))
			continue
		}
		rep.WriteResumeAfterLeaderKill = append(rep.WriteResumeAfterLeaderKill, time.Duration(first-k[0]))
	}

	hashes, err := hashKV(ctx, healthy, rev, 60*time.Second)
	rep.HashRevision = rev
	if err != nil {
		rep.problem("%v", err)
	} else {
		rep.Hashes = hashes
		for i, h := range hashes {
			if h != hashes[0] {
				rep.problem("HashKV at revision %d differs: %s has %d, %s has %d", rev, healthy[0].Name, hashes[0], healthy[i].Name, h)
			}
		}
	}

	h := w.rec.History()
	rep.Operations = len(h.Operations)
	for _, op := range h.Operations {
		if op.Response == nil && op.Error == nil {
			rep.Unknown++
		} else if op.Error != nil && op.Error.Class != history.ErrorDefinite {
			rep.Unknown++
		}
	}
	// The history goes to disk before the checker runs, so a checker that fails (or runs out
	// of memory) leaves it behind for cmd/ballast-check.
	if out != "" {
		if err := writeHistory(out, h); err != nil {
			return err
		}
	}
	logf("checking %d operations (%d acknowledged writes, %d unknown outcomes)", rep.Operations, rep.AckedWrites, rep.Unknown)
	// The whole-history Porcupine search runs only up to 4,000 operations (as in the
	// simulator and cmd/ballast's process test): beyond, it spends its budget without
	// changing the verdict, which the revision-guided checker decides.
	res := linearizability.Check(h, linearizability.Options{PorcupineMaxOps: 4000})
	rep.Verdict, rep.FirstViolation, rep.CheckerTime = string(res.Verdict), res.FirstViolation, res.CheckerTime
	if res.Verdict != linearizability.VerdictOK {
		rep.problem("the history's verdict is %s (unknown counts as failed): %s", res.Verdict, res.FirstViolation)
	}
	if out != "" {
		if err := linearizability.WriteReport(out, res); err != nil {
			return err
		}
	}
	return nil
}

func writeHistory(dir string, h *history.History) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return err
	}
	if _, err := h.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// storeEvent is one event of the store's history under the run's prefix.
type storeEvent struct {
	Key, Value string
	Revision   int64
	Delete     bool
}

// replay watches prefix from revision from through member m until it has seen revision rev.
func replay(ctx context.Context, m *Member, prefix string, from, rev int64) ([]storeEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var out []storeEvent
	for resp := range m.client.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if err := resp.Err(); err != nil {
			return nil, err
		}
		// A revision's events (a txn's delete and marker put) come in one response: the
		// whole response is taken before stopping, or the run's last revision would lose
		// its later events (a partition-minority run reported its last marker missing).
		for _, ev := range resp.Events {
			out = append(out, storeEvent{Key: string(ev.Kv.Key), Value: string(ev.Kv.Value), Revision: ev.Kv.ModRevision,
				Delete: ev.Type == clientv3.EventTypeDelete})
		}
		if n := len(out); n > 0 && out[n-1].Revision >= rev {
			return out, nil
		}
	}
	return nil, fmt.Errorf("the watch ended before revision %d (%d events): %v", rev, len(out), ctx.Err())
}

// missingWrites lists the acknowledged writes with no matching event at their revision.
func missingWrites(acked []ackedWrite, events []storeEvent) []string {
	type at struct {
		key string
		rev int64
	}
	seen := make(map[at]storeEvent, len(events))
	for _, e := range events {
		seen[at{e.Key, e.Revision}] = e
	}
	var missing []string
	for _, a := range acked {
		e, ok := seen[at{a.Key, a.Revision}]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%s at revision %d: no event", a.Key, a.Revision))
		case e.Delete != a.Delete:
			missing = append(missing, fmt.Sprintf("%s at revision %d: delete %v, the store has delete %v", a.Key, a.Revision, a.Delete, e.Delete))
		case !a.Delete && e.Value != a.Value:
			missing = append(missing, fmt.Sprintf("%s at revision %d: value %q, the store has %q", a.Key, a.Revision, a.Value, e.Value))
		}
	}
	return missing
}
