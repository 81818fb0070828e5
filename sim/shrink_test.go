package sim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/scenarios"
)

// oneBadFault is a scenario that fails only because of its fault 2: isolating the leader for
// 2.5 s (until the workload ends) leaves the clients that talk to it waiting for their timeout, so well over 1%
// of the requests go unacknowledged, while the latency spike, duplication, reordering and
// clock skew around it cost no acknowledgement at all (MinAckShare 0.99). With a 2 s
// isolation, 3 of seeds 1..30 did not fail or needed a second fault; with 2.5 s, none.
func oneBadFault() scenarios.Scenario {
	return scenarios.Scenario{
		Name: "shrink-test", Members: 3, Duration: 4 * time.Second, Clients: 3, OpsPerSecond: 40, Keys: 5,
		Mix: scenarios.Mix{Put: 1, Get: 1},
		Faults: []scenarios.Fault{
			{Kind: scenarios.Latency, At: 500 * time.Millisecond, Duration: time.Second, Delay: 20 * time.Millisecond},
			{Kind: scenarios.Duplicate, At: time.Second, Duration: time.Second, Rate: 0.1},
			{Kind: scenarios.Isolate, At: 1500 * time.Millisecond, Duration: 2500 * time.Millisecond, Targets: []scenarios.Target{scenarios.Leader}},
			{Kind: scenarios.Reorder, At: 2 * time.Second, Duration: time.Second, Rate: 0.2},
			{Kind: scenarios.ClockSkew, At: 500 * time.Millisecond, Duration: 2 * time.Second, Rate: 0.005, Targets: []scenarios.Target{scenarios.Member(1)}},
		},
		Liveness: scenarios.Liveness{MinAckShare: 0.99},
	}
}

// TestShrinkFindsTheOneFault shrinks oneBadFault over a few seeds: the result keeps exactly
// the isolation, the reduced run fails in the same class when run again from its Skip, and
// removing the isolation too makes it pass (so the result is 1-minimal for a reason).
func TestShrinkFindsTheOneFault(t *testing.T) {
	sc := oneBadFault()
	for _, seed := range seedsFromEnv(t, []int64{1, 2, 3}) {
		var progress strings.Builder
		res, err := Shrink(sc, seed, ShrinkOptions{Progress: &progress})
		t.Logf("seed %d (rerun with SIM_SEED=%d): class %q, kept %v after %d runs\n%s", seed, seed, res.Class, res.Kept, res.Runs, progress.String())
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, "checker violation: "+linearizability.CheckLiveness, res.Class, "seed %d", seed)
		require.Equal(t, []int{2}, res.Kept, "seed %d", seed)
		require.Equal(t, []int{0, 1, 3, 4}, res.Skip, "seed %d", seed)
		require.Equal(t, sc.Faults, res.Schedule, "seed %d", seed)
		require.Greater(t, res.Runs, 2, "seed %d", seed)
		require.Equal(t, res.Runs, strings.Count(progress.String(), "\n"), "seed %d: one progress line per run", seed)

		again := Run(sc, seed, Options{Skip: res.Skip})
		require.False(t, again.Passed, "seed %d: the reduced run passes", seed)
		require.Equal(t, res.Class, FailureClass(again), "seed %d", seed)
		require.Equal(t, res.Reduced.Digest, again.Digest, "seed %d: the reduced run is not reproduced", seed)
		require.Equal(t, 1, again.FaultsInjected, "seed %d", seed)

		none := Run(sc, seed, Options{Skip: []int{0, 1, 2, 3, 4}})
		require.True(t, none.Passed, "seed %d: passes without any fault: %s", seed, none.Failure)
	}
}

func TestShrinkPassingRun(t *testing.T) {
	sc := oneBadFault()
	sc.Liveness.MinAckShare = 0.5
	res, err := Shrink(sc, 1, ShrinkOptions{})
	require.ErrorIs(t, err, ErrPasses)
	require.Equal(t, 1, res.Runs)
	require.Nil(t, res.Kept)
}

// TestSkipKeepsTheOtherFaults checks what Shrink relies on: with Skip the run draws the same
// full list (random faults included) and injects the other faults at the same times on the
// same members as without it.
func TestSkipKeepsTheOtherFaults(t *testing.T) {
	sc := oneBadFault()
	sc.Liveness = scenarios.Liveness{}
	sc.Faults = sc.Faults[:2] // latency and duplicate: no role targets, which draw at injection
	sc.RandomFaults = &scenarios.RandomFaults{Kinds: []scenarios.FaultKind{scenarios.Loss, scenarios.Latency, scenarios.SlowDisk, scenarios.ClockSkew}, Count: 3}
	seed := seedsFromEnv(t, []int64{5})[0]
	full := Run(sc, seed, Options{})
	require.True(t, full.Passed, "seed %d: %s", seed, full.Failure)
	require.Len(t, full.Schedule, 5)
	require.Equal(t, full.Schedule, Schedule(sc, seed), "seed %d: Schedule differs from Run's", seed)
	require.Equal(t, sc.Faults, full.Schedule[:2])
	require.Len(t, full.History.Faults, 5)

	// The history records faults in injection order: by At, ties in schedule order.
	order := []int{0, 1, 2, 3, 4}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(full.Schedule[a].At, full.Schedule[b].At) })
	for _, skip := range [][]int{{0}, {3}, {1, 4}} {
		res := Run(sc, seed, Options{Skip: skip})
		require.Equal(t, full.Schedule, res.Schedule, "seed %d skip %v", seed, skip)
		var want []string
		for i, f := range full.History.Faults {
			if !slices.Contains(skip, order[i]) {
				want = append(want, faultKey(f))
			}
		}
		var got []string
		for _, f := range res.History.Faults {
			got = append(got, faultKey(f))
		}
		require.Equal(t, want, got, "seed %d skip %v", seed, skip)
	}

	bad := Run(sc, seed, Options{Skip: []int{5}})
	require.False(t, bad.Passed)
	require.Equal(t, "skip index 5 is out of range: the run has 5 faults (0..4)", bad.Failure)
}

func faultKey(f history.Fault) string {
	return fmt.Sprintf("%s %v at %v: %s", f.Kind, f.Members, time.Duration(f.StartNs), f.Detail)
}

func TestFailureClass(t *testing.T) {
	checked := &linearizability.Result{Verdict: linearizability.VerdictViolation, Checks: []linearizability.CheckResult{
		{Name: linearizability.CheckPorcupine, Verdict: linearizability.VerdictSkipped},
		{Name: linearizability.CheckRevision, Verdict: linearizability.VerdictOK},
		{Name: linearizability.CheckWatch, Verdict: linearizability.VerdictViolation},
		{Name: linearizability.CheckLiveness, Verdict: linearizability.VerdictViolation},
	}}
	for _, tc := range []struct {
		res  Result
		want string
	}{
		{Result{Passed: true}, ""},
		{Result{Failure: "checker verdict violation: watch event skipped", Check: checked}, "checker violation: watch"},
		{Result{Failure: "HashKV at revision 12 differs: m0 0000abcd, m1 0000abce"}, "hashkv disagreement"},
		{Result{Failure: "HashKV(4) on m2: boom"}, "hashkv disagreement"},
		{Result{Failure: "members did not converge to one applied revision within 10s after healing"}, "no convergence"},
		{Result{Failure: "no write succeeded within 2s after the last fault healed at 3.5s"}, "no recovery"},
		{Result{Failure: "panic at t=1.5s: raft: tocommit(9) is out of range\nstack"}, "panic: raft: tocommit("},
		{Result{Failure: `fault kind "corrupt" is not supported by the simulator yet`}, `fault kind "corrupt" is not supported by the simulator yet`},
		{Result{Failure: "skip index 7 is out of range: the run has 5 faults (0..4)"}, "skip index"},
	} {
		require.Equal(t, tc.want, FailureClass(tc.res), "failure %q", tc.res.Failure)
	}
}

func TestFormatFault(t *testing.T) {
	for _, tc := range []struct {
		f    scenarios.Fault
		want string
	}{
		{scenarios.Fault{Kind: scenarios.Isolate, At: 1500 * time.Millisecond, Duration: 2 * time.Second, Targets: []scenarios.Target{scenarios.Leader}},
			"isolate at 1.5s for 2s on leader"},
		{scenarios.Fault{Kind: scenarios.OneWay, At: time.Second, Targets: []scenarios.Target{scenarios.Member(0), scenarios.Member(2)}}, "one-way at 1s on m0,m2"},
		{scenarios.Fault{Kind: scenarios.Loss, At: 2 * time.Second, Duration: time.Second, Rate: 0.123456}, "loss at 2s for 1s rate 0.123"},
		{scenarios.Fault{Kind: scenarios.SlowDisk, At: 0, Duration: time.Second, Delay: 123456789, Targets: []scenarios.Target{scenarios.Member(1)}}, "slow-disk at 0s for 1s on m1 delay 123.457ms"},
	} {
		require.Equal(t, tc.want, FormatFault(tc.f))
	}
}

// TestShrinkResultIsOneMinimal shrinks runs of twelve random faults (role targets included)
// against a tight acknowledgement threshold and checks the promise independently: the
// reduced run fails in the same class, and removing any one more of the kept faults makes
// that failure disappear.
func TestShrinkResultIsOneMinimal(t *testing.T) {
	sc := oneBadFault()
	sc.Faults = nil
	sc.Liveness.MinAckShare = 0.97
	// the kinds whose injection is settled (no corruption or membership churn, which other
	// work is changing), so the test judges the shrinker rather than those faults
	sc.RandomFaults = &scenarios.RandomFaults{Count: 12, Kinds: []scenarios.FaultKind{
		scenarios.Crash, scenarios.Partition, scenarios.Isolate, scenarios.OneWay, scenarios.Loss, scenarios.Duplicate,
		scenarios.Reorder, scenarios.Latency, scenarios.ClockSkew, scenarios.SlowDisk, scenarios.TransferLeader}}
	// the first two failing seeds, not fixed ones: which seeds fail moves whenever unrelated
	// code reshuffles the traces
	seeds := seedsFromEnv(t, nil)
	for s := int64(1); s <= 40 && len(seeds) < 2; s++ {
		if !Run(sc, s, Options{}).Passed {
			seeds = append(seeds, s)
		}
	}
	require.NotEmpty(t, seeds, "none of seeds 1..40 fails: the test scenario no longer exercises the shrinker")
	for _, seed := range seeds {
		res, err := Shrink(sc, seed, ShrinkOptions{})
		t.Logf("seed %d (rerun with SIM_SEED=%d): class %q, %d faults, kept %v after %d runs", seed, seed, res.Class, len(res.Schedule), res.Kept, res.Runs)
		require.NoError(t, err, "seed %d", seed)
		require.Len(t, res.Schedule, 12, "seed %d", seed)
		require.Less(t, len(res.Kept), 12, "seed %d: nothing removed", seed)
		require.Equal(t, res.Class, FailureClass(Run(sc, seed, Options{Skip: res.Skip})), "seed %d", seed)
		for _, k := range res.Kept {
			more := append(slices.Clone(res.Skip), k)
			r := Run(sc, seed, Options{Skip: more})
			require.NotEqual(t, res.Class, FailureClass(r), "seed %d: fault %d (%s) can be removed too", seed, k, FormatFault(res.Schedule[k]))
		}
	}
}
