package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/ballastdb/ballast/scenarios"
)

// Random is a target the Docker runner resolves when it plans a run: one member drawn from
// the run's seed (so a seed names the member).
const Random scenarios.Target = "random"

// sharedKinds are the scenarios kinds this runner applies, and how: every kind it applies is
// scenarios' own, with scenarios' descriptor (pause, graceful-restart, rolling-restart and
// kill-all were Docker-only until the simulator modelled them). Crash is kill -9, which is
// not the power loss the simulator's crash is: the page cache keeps what was written but not
// synced. The network kinds are iptables rules in the members' namespaces (network.go).
var sharedKinds = map[scenarios.FaultKind]string{
	scenarios.Crash:           "SIGKILL through the engine API (restarted by the API's start after Duration, when set)",
	scenarios.Restart:         "the engine API's start of a stopped member",
	scenarios.Partition:       "iptables DROP between Targets and the other members, both ways",
	scenarios.Isolate:         "iptables DROP between the target and every other member, both ways",
	scenarios.Bridge:          "iptables DROP between the two halves of the other members; the target reaches both",
	scenarios.OneWay:          "iptables DROP of the connections Targets[0] opens to Targets[1:]'s peer port (its messages to them)",
	scenarios.Loss:            "iptables DROP of each packet between members with probability Rate (TCP retransmits: loss becomes delay)",
	scenarios.AddMember:       "MemberAddAsLearner, a new container with --initial-cluster-state existing, MemberPromote once caught up",
	scenarios.RemoveMember:    "MemberRemove of the target (the removed member stops itself)",
	scenarios.ReplaceMember:   "AddMember as above, then MemberRemove of the target",
	scenarios.TransferLeader:  "MoveLeader, asked of the leader, to the target or a running follower",
	scenarios.Latency:         "power-loss mode only (the chaos image): a file naming Delay copied into every member's data dir (UploadToContainer); the chaos build holds back what peers send it by that much (no netem in this kernel)",
	scenarios.SlowDisk:        "power-loss mode only: a file naming Delay copied into the member's data dir (UploadToContainer), which the chaos build's FS waits for before each sync",
	scenarios.Pause:           "the engine API's pause (the cgroup freezer) for Duration, then unpause",
	scenarios.GracefulRestart: "SIGTERM sent explicitly, exit status 0 required, started again on the member's volume",
	scenarios.RollingRestart:  "every member restarted gracefully (SIGTERM, start), followers first and the leader last, each healthy again before the next",
	scenarios.KillAll:         "kill -9 of every member at once (a power loss of the whole cluster in power-loss mode), all started again after Duration",
}

// notApplied are the scenarios kinds a Docker run skips, each with the reason, which the
// list and the run's fault records show: the rest of the scenario still runs.
var notApplied = map[scenarios.FaultKind]string{
	scenarios.Duplicate: "not applied in Docker: TCP never delivers a duplicated message to the application",
	scenarios.Reorder:   "not applied in Docker: TCP never delivers reordered messages to the application",
}

// appliedKinds names the kinds a Docker run applies, sorted.
func appliedKinds() []string {
	var out []string
	for k := range sharedKinds {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

// chaosBuildKinds need the chaos image's controls (power-loss mode): elsewhere a run
// refuses slow disks and records latency as not applied.
var chaosBuildKinds = map[scenarios.FaultKind]bool{scenarios.SlowDisk: true, scenarios.Latency: true}

// networkKinds need CheckNetworkFaults.
var networkKinds = map[scenarios.FaultKind]bool{
	scenarios.Partition: true, scenarios.Isolate: true, scenarios.Bridge: true, scenarios.OneWay: true, scenarios.Loss: true,
}

// describe is the descriptor of a kind this runner applies: scenarios' own.
func describe(k scenarios.FaultKind) (scenarios.Descriptor, error) {
	if _, ok := sharedKinds[k]; ok {
		d, ok := scenarios.Describe(k)
		if !ok {
			panic(fmt.Sprintf("chaos: kind %q applied here is not in scenarios", k))
		}
		return d, nil
	}
	if _, ok := scenarios.Describe(k); ok {
		return scenarios.Descriptor{}, fmt.Errorf("fault kind %q: the Docker runner does not apply it yet (it applies %s)", k, strings.Join(appliedKinds(), ", "))
	}
	return scenarios.Descriptor{}, fmt.Errorf("unknown fault kind %q", k)
}

// dockerScenarios are the scenarios that exist only in the Docker world, written as the
// catalogue's are: kill-pause-restart's random target is drawn by the Docker runner's plan,
// a target the catalogue's schedules do not have. (The catalogue's pause-leader,
// graceful-restart, rolling-restart and kill-all run in both worlds.)
func dockerScenarios() []scenarios.Scenario {
	return []scenarios.Scenario{{
		Name:        "kill-pause-restart",
		Description: "kill -9 of the leader, kill -9 of a member drawn from the seed, a graceful restart (SIGTERM) of the leader and a pause of a follower, one after another.",
		Members:     3, Duration: 30 * time.Second, Clients: 8,
		Faults: []scenarios.Fault{
			{Kind: scenarios.Crash, At: 3 * time.Second, Duration: 4 * time.Second, Targets: []scenarios.Target{scenarios.Leader}},
			{Kind: scenarios.Crash, At: 10 * time.Second, Duration: 4 * time.Second, Targets: []scenarios.Target{Random}},
			{Kind: scenarios.GracefulRestart, At: 17 * time.Second, Targets: []scenarios.Target{scenarios.Leader}},
			{Kind: scenarios.Pause, At: 22 * time.Second, Duration: 4 * time.Second, Targets: []scenarios.Target{scenarios.Follower}},
		},
	}}
}

// CanaryRun is a canary whose scenario a Docker run takes.
type CanaryRun struct {
	Canary, Scenario, Why string
}

// Canaries are the canaries (scenarios.Canaries) whose scenarios translate into the Docker
// world, in scenarios' order.
func Canaries() []CanaryRun {
	var out []CanaryRun
	for _, c := range scenarios.Canaries() {
		if _, err := plan(c.Scenario, c.Scenario.Members, c.Scenario.Duration, 1); err == nil {
			out = append(out, CanaryRun{Canary: c.Canary, Scenario: c.Scenario.Name, Why: c.Why})
		}
	}
	return out
}

// ScenarioInfo is a scenario a Docker run takes, as ballast-chaos list prints it.
type ScenarioInfo struct {
	Name        string
	Description string
	Members     int
	Duration    time.Duration
	// FaultSummary is one line per fault of the schedule: kind, targets, start and length.
	FaultSummary []string
}

func infoOf(s scenarios.Scenario) ScenarioInfo {
	info := ScenarioInfo{Name: s.Name, Description: s.Description, Members: s.Members, Duration: s.Duration}
	for _, f := range s.Faults {
		line := fmt.Sprintf("%s %s at %s", f.Kind, strings.Join(targetNames(f.Targets), ","), f.At)
		if len(f.Targets) == 0 {
			line = fmt.Sprintf("%s at %s", f.Kind, f.At)
		}
		if f.Rate != 0 {
			line += fmt.Sprintf(" rate %g", f.Rate)
		}
		if f.Duration > 0 {
			line += " for " + f.Duration.String()
		}
		if why, ok := notApplied[f.Kind]; ok {
			line += " (" + why + ")"
		}
		if chaosBuildKinds[f.Kind] {
			line += " (-power-loss only)"
		}
		info.FaultSummary = append(info.FaultSummary, line)
	}
	return info
}

// Scenarios are the scenarios a Docker run takes: the catalogue's whose every fault kind
// this runner applies, in catalogue order, then the Docker-only ones.
func Scenarios() []ScenarioInfo {
	var out []ScenarioInfo
	for _, s := range scenarios.Catalogue() {
		if _, err := plan(s, s.Members, s.Duration, 1); err == nil {
			out = append(out, infoOf(s))
		}
	}
	for _, s := range dockerScenarios() {
		out = append(out, infoOf(s))
	}
	return out
}

// LookupScenario finds a scenario a Docker run takes; the error of a catalogue scenario this
// runner cannot apply says which fault stops it.
func LookupScenario(name string) (ScenarioInfo, error) {
	s, err := scenarioByName(name)
	if err != nil {
		return ScenarioInfo{}, err
	}
	if _, err := plan(s, s.Members, s.Duration, 1); err != nil {
		return ScenarioInfo{}, err
	}
	return infoOf(s), nil
}

// scenarioNames are the names Scenarios lists.
func scenarioNames() []string {
	var out []string
	for _, s := range Scenarios() {
		out = append(out, s.Name)
	}
	return out
}

// scenarioByName finds a Docker-only or catalogue scenario.
func scenarioByName(name string) (scenarios.Scenario, error) {
	for _, s := range dockerScenarios() {
		if s.Name == name {
			return s, nil
		}
	}
	if s, ok := scenarios.ByName(name); ok {
		return s, nil
	}
	for _, c := range scenarios.Canaries() {
		if c.Scenario.Name == name {
			return c.Scenario, nil
		}
	}
	return scenarios.Scenario{}, fmt.Errorf("unknown scenario %q (Docker runs take %v)", name, scenarioNames())
}

// plannedFault is one fault of a run: when it starts, when it is undone (0: not by itself),
// and its targets with Random already drawn.
type plannedFault struct {
	Kind     scenarios.FaultKind
	At, Undo time.Duration
	Targets  []scenarios.Target
	Rate     float64
	Delay    time.Duration
	// Skip, when set, is why the fault is recorded but not applied (notApplied).
	Skip string
}

// plan translates the scenario's fault schedule for a run of the given size and duration:
// times scale by duration/s.Duration (one definition, whatever a run's length), every fault
// is checked against its kind's descriptor, and Random targets are drawn from the seed.
func plan(s scenarios.Scenario, nodes int, duration time.Duration, seed int64) ([]plannedFault, error) {
	if s.Duration <= 0 || duration <= 0 {
		return nil, fmt.Errorf("scenario %q: durations must be positive (scenario %s, run %s)", s.Name, s.Duration, duration)
	}
	if s.RandomFaults != nil {
		return nil, fmt.Errorf("scenario %q: random fault schedules are not applied by the Docker runner yet", s.Name)
	}
	scale := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * float64(duration) / float64(s.Duration))
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0xc4a05))
	var out []plannedFault
	for i, f := range s.Faults {
		if why, ok := notApplied[f.Kind]; ok {
			out = append(out, plannedFault{Kind: f.Kind, At: scale(f.At), Skip: why})
			continue
		}
		d, err := describe(f.Kind)
		if err != nil {
			return nil, fmt.Errorf("scenario %q fault %d: %w", s.Name, i, err)
		}
		if len(f.Targets) < d.MinTargets || (d.MaxTargets >= 0 && len(f.Targets) > d.MaxTargets) {
			return nil, fmt.Errorf("scenario %q fault %d (%s): %d targets, the kind takes %d to %d", s.Name, i, f.Kind, len(f.Targets), d.MinTargets, d.MaxTargets)
		}
		if (f.Rate != 0 && d.Rate != scenarios.RateProbability) || (f.Delay != 0 && !d.Delay) {
			return nil, fmt.Errorf("scenario %q fault %d (%s): rate and delay are not applied by the Docker runner", s.Name, i, f.Kind)
		}
		p := plannedFault{Kind: f.Kind, At: scale(f.At), Rate: f.Rate, Delay: f.Delay}
		if f.Duration > 0 {
			if d.Instant {
				return nil, fmt.Errorf("scenario %q fault %d (%s): the kind is instantaneous but has duration %s", s.Name, i, f.Kind, f.Duration)
			}
			p.Undo = p.At + scale(f.Duration)
		}
		for _, t := range f.Targets {
			switch t {
			case scenarios.Leader, scenarios.Follower, scenarios.Minority:
			case Random:
				t = scenarios.Member(rng.IntN(nodes))
			default:
				idx, ok := t.MemberIndex()
				if !ok {
					return nil, fmt.Errorf("scenario %q fault %d (%s): target %q is not applied by the Docker runner (it takes leader, follower, minority, random and m<index>)", s.Name, i, f.Kind, t)
				}
				if idx >= nodes {
					return nil, fmt.Errorf("scenario %q fault %d (%s): target %q is beyond the %d members", s.Name, i, f.Kind, t, nodes)
				}
			}
			p.Targets = append(p.Targets, t)
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out, nil
}
