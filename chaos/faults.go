package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/ballastdb/ballast/scenarios"
)

// Docker-only fault kinds: faults of a real process that the simulator does not model (yet).
// They use scenarios' Descriptor type, so they are validated like the shared kinds; once
// scenarios/ declares them (the plan: a member that stops and resumes), these move
// there and TestDockerOnlyKindsAreNotShared says so.
const (
	Pause           scenarios.FaultKind = "pause"
	GracefulRestart scenarios.FaultKind = "graceful-restart"
)

// Random is a target the Docker runner resolves when it plans a run: one member drawn from
// the run's seed (so a seed names the member).
const Random scenarios.Target = "random"

var dockerOnlyKinds = []scenarios.Descriptor{
	{Kind: Pause, MinTargets: 1, MaxTargets: 1, Random: scenarios.RandomMember,
		Summary: "freezes the member's processes (docker pause) for Duration, then thaws them (docker unpause)"},
	{Kind: GracefulRestart, MinTargets: 1, MaxTargets: 1, Random: scenarios.RandomMember, Instant: true,
		Summary: "sends SIGTERM, requires exit status 0, and starts the member again on its volume"},
}

// sharedKinds are the scenarios kinds this runner applies, and how. Crash is kill -9, which
// is not the power loss the simulator's crash is: the page cache keeps what was written but
// not synced.
var sharedKinds = map[scenarios.FaultKind]string{
	scenarios.Crash:   "docker kill --signal KILL (restarted with docker start after Duration, when set)",
	scenarios.Restart: "docker start of a stopped member",
}

// describe is a kind's descriptor: scenarios' own for the shared kinds this runner applies,
// or the Docker-only one.
func describe(k scenarios.FaultKind) (scenarios.Descriptor, error) {
	if _, ok := sharedKinds[k]; ok {
		d, ok := scenarios.Describe(k)
		if !ok {
			panic(fmt.Sprintf("chaos: kind %q applied here is not in scenarios", k))
		}
		return d, nil
	}
	for _, d := range dockerOnlyKinds {
		if d.Kind == k {
			return d, nil
		}
	}
	if _, ok := scenarios.Describe(k); ok {
		return scenarios.Descriptor{}, fmt.Errorf("fault kind %q: the Docker runner does not apply it yet (it applies crash, restart, pause and graceful-restart)", k)
	}
	return scenarios.Descriptor{}, fmt.Errorf("unknown fault kind %q", k)
}

// dockerScenarios are the scenarios that exist only in the Docker world, written as the
// catalogue's are.
func dockerScenarios() []scenarios.Scenario {
	return []scenarios.Scenario{{
		Name:        "kill-pause-restart",
		Description: "kill -9 of the leader, kill -9 of a member drawn from the seed, a graceful restart (SIGTERM) of the leader and a pause of a follower, one after another.",
		Members:     3, Duration: 30 * time.Second, Clients: 8,
		Faults: []scenarios.Fault{
			{Kind: scenarios.Crash, At: 3 * time.Second, Duration: 4 * time.Second, Targets: []scenarios.Target{scenarios.Leader}},
			{Kind: scenarios.Crash, At: 10 * time.Second, Duration: 4 * time.Second, Targets: []scenarios.Target{Random}},
			{Kind: GracefulRestart, At: 17 * time.Second, Targets: []scenarios.Target{scenarios.Leader}},
			{Kind: Pause, At: 22 * time.Second, Duration: 4 * time.Second, Targets: []scenarios.Target{scenarios.Follower}},
		},
	}}
}

// ScenarioNames are the scenarios a Docker run takes: the catalogue's whose every fault kind
// this runner applies, then the Docker-only ones.
func ScenarioNames() []string {
	var out []string
	for _, s := range scenarios.Catalogue() {
		if _, err := plan(s, s.Members, s.Duration, 1); err == nil {
			out = append(out, s.Name)
		}
	}
	for _, s := range dockerScenarios() {
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
	return scenarios.Scenario{}, fmt.Errorf("unknown scenario %q (Docker runs take %v)", name, ScenarioNames())
}

// plannedFault is one fault of a run: when it starts, when it is undone (0: not by itself),
// and its targets with Random already drawn.
type plannedFault struct {
	Kind     scenarios.FaultKind
	At, Undo time.Duration
	Targets  []scenarios.Target
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
		d, err := describe(f.Kind)
		if err != nil {
			return nil, fmt.Errorf("scenario %q fault %d: %w", s.Name, i, err)
		}
		if len(f.Targets) < d.MinTargets || (d.MaxTargets >= 0 && len(f.Targets) > d.MaxTargets) {
			return nil, fmt.Errorf("scenario %q fault %d (%s): %d targets, the kind takes %d to %d", s.Name, i, f.Kind, len(f.Targets), d.MinTargets, d.MaxTargets)
		}
		if f.Rate != 0 || f.Delay != 0 {
			return nil, fmt.Errorf("scenario %q fault %d (%s): rate and delay are not applied by the Docker runner", s.Name, i, f.Kind)
		}
		p := plannedFault{Kind: f.Kind, At: scale(f.At)}
		if f.Duration > 0 {
			if d.Instant {
				return nil, fmt.Errorf("scenario %q fault %d (%s): the kind is instantaneous but has duration %s", s.Name, i, f.Kind, f.Duration)
			}
			p.Undo = p.At + scale(f.Duration)
		}
		for _, t := range f.Targets {
			switch t {
			case scenarios.Leader, scenarios.Follower:
			case Random:
				t = scenarios.Member(rng.IntN(nodes))
			default:
				idx, ok := t.MemberIndex()
				if !ok {
					return nil, fmt.Errorf("scenario %q fault %d (%s): target %q is not applied by the Docker runner (it takes leader, follower, random and m<index>)", s.Name, i, f.Kind, t)
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
