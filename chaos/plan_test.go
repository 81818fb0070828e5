package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/scenarios"
)

// The catalogue's leader-crash translates as written, its times scaled to the run's length.
func TestPlanLeaderCrashScales(t *testing.T) {
	s, err := scenarioByName("leader-crash")
	require.NoError(t, err)
	got, err := plan(s, 3, s.Duration/2, 1)
	require.NoError(t, err)
	require.Len(t, got, len(s.Faults))
	for i, f := range s.Faults {
		require.Equal(t, scenarios.Crash, got[i].Kind)
		require.Equal(t, f.At/2, got[i].At, "fault %d starts at half its catalogue time", i)
		require.Equal(t, (f.At+f.Duration)/2, got[i].Undo, "fault %d is undone at half its catalogue end", i)
		require.Equal(t, []scenarios.Target{scenarios.Leader}, got[i].Targets)
	}
	require.Contains(t, scenarioNames(), "leader-crash")
	require.Contains(t, scenarioNames(), "kill-pause-restart")
	for _, name := range []string{"partition-minority", "partition-majority-flapping", "asymmetric-link", "lossy-network", "snapshot-catch-up"} {
		require.Contains(t, scenarioNames(), name)
	}
	for _, name := range []string{"membership-churn", "snapshot-across-membership", "rolling-restart", "kill-all"} {
		require.Contains(t, scenarioNames(), name)
	}
	for _, name := range []string{"disk-faults", "disk-corruption", "clock-skew-leases"} {
		require.NotContains(t, scenarioNames(), name, "no Docker translation yet")
	}
}

// lossy-network keeps its loss (with the rate) and its latency (with the delay, applied in
// power-loss mode on the chaos image), and records the kinds TCP hides as skipped, each with
// its reason.
func TestPlanLossyNetwork(t *testing.T) {
	s, err := scenarioByName("lossy-network")
	require.NoError(t, err)
	got, err := plan(s, 3, s.Duration, 1)
	require.NoError(t, err)
	require.Len(t, got, 4)
	require.Equal(t, scenarios.Loss, got[0].Kind)
	require.Equal(t, 0.2, got[0].Rate)
	require.Empty(t, got[0].Skip)
	require.NotZero(t, got[0].Undo)
	for _, f := range got[1:3] {
		require.Contains(t, []scenarios.FaultKind{scenarios.Duplicate, scenarios.Reorder}, f.Kind)
		require.Equal(t, notApplied[f.Kind], f.Skip)
		require.Zero(t, f.Undo, "a skipped fault has nothing to undo")
	}
	require.Equal(t, scenarios.Latency, got[3].Kind)
	require.Equal(t, 150*time.Millisecond, got[3].Delay)
	require.Empty(t, got[3].Skip)
	info, err := LookupScenario("lossy-network")
	require.NoError(t, err)
	require.Contains(t, info.FaultSummary[3], "latency at 5s for 2s (-power-loss only)")
}

// Faults the runner cannot apply, or that break their kind's descriptor, are refused by name
// before anything starts.
func TestPlanRefuses(t *testing.T) {
	base := scenarios.Scenario{Name: "x", Members: 3, Duration: 10 * time.Second}
	for _, tc := range []struct {
		name  string
		fault scenarios.Fault
		want  string
	}{
		{"a kind not applied yet", scenarios.Fault{Kind: scenarios.ClockSkew, Rate: 0.1, Targets: []scenarios.Target{scenarios.Leader}}, `fault kind "clock-skew": the Docker runner does not apply it yet`},
		{"an unknown kind", scenarios.Fault{Kind: "melt", Targets: []scenarios.Target{scenarios.Leader}}, `unknown fault kind "melt"`},
		{"too many targets", scenarios.Fault{Kind: scenarios.Pause, Duration: time.Second, Targets: []scenarios.Target{scenarios.Member(0), scenarios.Member(1)}}, "2 targets, the kind takes 1 to 1"},
		{"no target", scenarios.Fault{Kind: scenarios.Crash}, "0 targets"},
		{"a member beyond the cluster", scenarios.Fault{Kind: scenarios.Crash, Targets: []scenarios.Target{scenarios.Member(3)}}, `target "m3" is beyond the 3 members`},
		{"a role not applied", scenarios.Fault{Kind: scenarios.Crash, Targets: []scenarios.Target{"all"}}, `target "all" is not applied`},
		{"an instantaneous kind with a duration", scenarios.Fault{Kind: scenarios.GracefulRestart, Duration: time.Second, Targets: []scenarios.Target{scenarios.Leader}}, "instantaneous"},
		{"a rate", scenarios.Fault{Kind: scenarios.Crash, Rate: 0.5, Targets: []scenarios.Target{scenarios.Leader}}, "rate and delay"},
		{"a delay", scenarios.Fault{Kind: scenarios.Crash, Delay: time.Second, Targets: []scenarios.Target{scenarios.Leader}}, "rate and delay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			s.Faults = []scenarios.Fault{tc.fault}
			_, err := plan(s, 3, 10*time.Second, 1)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := scenarioByName("no-such")
	require.ErrorContains(t, err, `unknown scenario "no-such"`)
}

// A random target is drawn from the seed: the same seed names the same member.
func TestPlanRandomTargetFromSeed(t *testing.T) {
	s, err := scenarioByName("kill-pause-restart")
	require.NoError(t, err)
	members := map[scenarios.Target]bool{}
	for seed := int64(1); seed <= 20; seed++ {
		a, err := plan(s, 3, s.Duration, seed)
		require.NoError(t, err)
		b, err := plan(s, 3, s.Duration, seed)
		require.NoError(t, err)
		require.Equal(t, a, b, "seed %d", seed)
		require.Equal(t, scenarios.Crash, a[1].Kind)
		idx, ok := a[1].Targets[0].MemberIndex()
		require.True(t, ok && idx < 3, "seed %d drew %q", seed, a[1].Targets[0])
		members[a[1].Targets[0]] = true
	}
	require.Len(t, members, 3, "20 seeds draw every one of 3 members")
}

// Every kind the Docker runner applies or skips is scenarios' own, with scenarios'
// descriptor: there are no Docker-only kinds any more (pause, graceful-restart,
// rolling-restart and kill-all moved to scenarios/ once the simulator modelled them). The
// four keep the shapes run.go's apply relies on: a pause and a kill-all are undone after
// Duration, the two restarts are instantaneous, and only pause and graceful-restart take a
// target.
func TestAppliedKindsAreScenariosKinds(t *testing.T) {
	for k := range sharedKinds {
		d, err := describe(k)
		require.NoError(t, err, "%s", k)
		want, ok := scenarios.Describe(k)
		require.True(t, ok, "%s is applied here but not in scenarios", k)
		require.Equal(t, want, d)
	}
	for k := range notApplied {
		require.True(t, k.Known(), "%s", k)
	}
	for _, tc := range []struct {
		kind       scenarios.FaultKind
		instant    bool
		maxTargets int
	}{
		{scenarios.Pause, false, 1}, {scenarios.GracefulRestart, true, 1},
		{scenarios.RollingRestart, true, 0}, {scenarios.KillAll, false, 0},
	} {
		d, err := describe(tc.kind)
		require.NoError(t, err, "%s is not applied by the Docker runner", tc.kind)
		require.Equal(t, tc.instant, d.Instant, "%s", tc.kind)
		require.Equal(t, tc.maxTargets, d.MaxTargets, "%s", tc.kind)
	}
}

func TestMissingWrites(t *testing.T) {
	events := []storeEvent{{Key: "a", Value: "1", Revision: 2}, {Key: "b", Value: "2", Revision: 3}, {Key: "a", Revision: 4, Delete: true}}
	require.Empty(t, missingWrites([]ackedWrite{{Key: "a", Value: "1", Revision: 2}, {Key: "a", Revision: 4, Delete: true}}, events))
	got := missingWrites([]ackedWrite{
		{Key: "b", Value: "9", Revision: 3},   // another value
		{Key: "c", Value: "1", Revision: 5},   // never written
		{Key: "b", Value: "2", Revision: 4},   // not at that revision
		{Key: "b", Revision: 3, Delete: true}, // a put, not a delete
	}, events)
	require.Equal(t, []string{
		`b at revision 3: value "9", the store has "2"`,
		"c at revision 5: no event",
		"b at revision 4: no event",
		"b at revision 3: delete true, the store has delete false",
	}, got)
}

// A slow disk needs the chaos build's FS: without power-loss mode the run is refused before
// anything is made (no Docker needed to see it).
func TestSlowDiskNeedsPowerLoss(t *testing.T) {
	_, err := Run(context.Background(), RunConfig{Image: "unused", Scenario: "canary-power-loss-majority"})
	var setup *SetupError
	require.ErrorAs(t, err, &setup)
	require.ErrorContains(t, err, "its slow-disk fault needs power-loss mode")
}

// The canaries the issue names translate into the Docker world, with their scenarios'
// faults as scenarios defines them.
func TestCanariesTranslate(t *testing.T) {
	byName := map[string]CanaryRun{}
	for _, c := range Canaries() {
		byName[c.Canary] = c
	}
	require.Equal(t, "canary-power-loss-majority", byName[canary.AckBeforeSync].Scenario)
	require.Equal(t, "canary-stale-leader-reads", byName[canary.ReadNoQuorum].Scenario)
	s, err := scenarioByName("canary-power-loss-majority")
	require.NoError(t, err)
	got, err := plan(s, 3, s.Duration, 1)
	require.NoError(t, err)
	require.Equal(t, scenarios.SlowDisk, got[1].Kind)
	require.Equal(t, 100*time.Millisecond, got[1].Delay)
	require.Equal(t, got[2].At, got[3].At, "the leader and the follower lose power at the same instant")
}

// A rolling restart is one instantaneous fault with no targets (the runner orders the
// members itself, the leader last).
func TestPlanRollingRestart(t *testing.T) {
	s, err := scenarioByName("rolling-restart")
	require.NoError(t, err)
	got, err := plan(s, 3, s.Duration/2, 1)
	require.NoError(t, err)
	require.Len(t, got, 2)
	for i, f := range got {
		require.Equal(t, scenarios.RollingRestart, f.Kind)
		require.Empty(t, f.Targets)
		require.Zero(t, f.Undo)
		require.Equal(t, s.Faults[i].At/2, f.At)
	}
}
