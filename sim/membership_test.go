package sim

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/scenarios"
)

// churnScenario is a small cluster under a light workload with the given faults.
func churnScenario(members int, faults ...scenarios.Fault) scenarios.Scenario {
	return scenarios.Scenario{
		Name: "sim-test-churn", Members: members, Duration: 6 * time.Second, Clients: 4, OpsPerSecond: 100, Keys: 5, Watchers: 1,
		Mix:      scenarios.Mix{Put: 4, Get: 3, SerializableGet: 1, Range: 1, Delete: 1, Txn: 2},
		Faults:   faults,
		Liveness: scenarios.Liveness{MinAckShare: 0.5, MaxRecovery: 3 * time.Second},
	}
}

// lastHashMembers returns how many members the last HashKV comparison of the trace covered.
func lastHashMembers(t *testing.T, trace string) int {
	t.Helper()
	ms := regexp.MustCompile(`hashkv rev=\d+ agree=[0-9a-f]+ members=(\d+)`).FindAllStringSubmatch(trace, -1)
	require.NotEmpty(t, ms, "no HashKV comparison in the trace")
	var n int
	_, err := fmt.Sscan(ms[len(ms)-1][1], &n)
	require.NoError(t, err)
	return n
}

// requireNotPickedAfter fails if, after the first trace line containing marker, a client
// call or a watch went to member name.
func requireNotPickedAfter(t *testing.T, trace, marker, name string) {
	t.Helper()
	i := strings.Index(trace, marker)
	require.GreaterOrEqual(t, i, 0, "no %q in the trace", marker)
	for _, line := range strings.Split(trace[i:], "\n") {
		if (strings.Contains(line, " call ") && strings.HasSuffix(line, " on "+name)) || strings.Contains(line, " watch on "+name+" ") {
			require.Fail(t, "member picked after it left", "%s, then: %s", marker, line)
		}
	}
}

// TestMembershipFaults runs each churn fault on its own: after it the raft configuration (as
// the leader reported it when the change applied) and the members the final HashKV
// comparison covers are what they should be, and the run passes (every member, the new
// ones included, converged and agreed).
func TestMembershipFaults(t *testing.T) {
	at := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	for _, tc := range []struct {
		name    string
		members int
		faults  []scenarios.Fault
		want    []string // trace lines (substrings) that must appear
		absent  []string // ... and must not
		final   int      // members in the last HashKV comparison
		names   []string // the history header's members
	}{
		{"add", 3, []scenarios.Fault{{Kind: scenarios.AddMember, At: at(1)}},
			[]string{"m3 open", "conf add-learner m3 on", "voters=[1 2 3 4] learners=[]"}, nil, 4,
			[]string{"m0", "m1", "m2", "m3"}},
		{"remove follower", 5, []scenarios.Fault{{Kind: scenarios.RemoveMember, At: at(1), Targets: []scenarios.Target{scenarios.Member(1)}}},
			[]string{"conf remove m1 on", "voters=[1 3 4 5] learners=[]", "m1 removed", "m1 stops (removed)"}, nil, 4,
			[]string{"m0", "m1", "m2", "m3", "m4"}},
		{"remove leader", 5, []scenarios.Fault{{Kind: scenarios.RemoveMember, At: at(1), Targets: []scenarios.Target{scenarios.Leader}}},
			[]string{"conf remove", "removed", "stops (removed)"}, nil, 4,
			[]string{"m0", "m1", "m2", "m3", "m4"}},
		{"replace leader (add first, then remove)", 3, []scenarios.Fault{{Kind: scenarios.ReplaceMember, At: at(1), Targets: []scenarios.Target{scenarios.Leader}}},
			[]string{"m3 open", "learners=[4]", "voters=[1 2 3 4] learners=[]", "removed"}, nil, 3,
			[]string{"m0", "m1", "m2", "m3"}},
		{"remove refused below three voters", 3, []scenarios.Fault{{Kind: scenarios.RemoveMember, At: at(1), Targets: []scenarios.Target{scenarios.Member(1)}}},
			nil, []string{"m1 removed", "conf remove m1 on"}, 3,
			[]string{"m0", "m1", "m2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, seed := range seedsFromEnv(t, []int64{1, 2}) {
				var trace strings.Builder
				res := Run(churnScenario(tc.members, tc.faults...), seed, Options{Trace: &trace})
				tr := trace.String()
				t.Logf("seed %d: passed=%v ops=%d sim=%v failure=%q", seed, res.Passed, res.Ops, res.SimDuration, res.Failure)
				require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
				for _, w := range tc.want {
					require.Contains(t, tr, w, "seed %d", seed)
				}
				for _, a := range tc.absent {
					require.NotContains(t, tr, a, "seed %d", seed)
				}
				require.Equal(t, tc.final, lastHashMembers(t, tr), "seed %d: members in the final HashKV", seed)
				for _, name := range regexp.MustCompile(`(m\d+) removed`).FindAllStringSubmatch(tr, -1) {
					requireNotPickedAfter(t, tr, name[0], name[1])
				}
				require.Equal(t, tc.names, res.History.Header.Members, "seed %d", seed)
				require.Len(t, res.History.Faults, len(tc.faults), "seed %d", seed)
			}
		})
	}
}

// TestAddMemberCatchesUpFromSnapshot: with a small SnapshotEntries the leader's log is
// compacted long before the new member joins, so it can only catch up from a streamed
// snapshot; it must then agree with the others (HashKV over all four) and the run pass.
func TestAddMemberCatchesUpFromSnapshot(t *testing.T) {
	sc := churnScenario(3, scenarios.Fault{Kind: scenarios.AddMember, At: 4 * time.Second})
	sc.SnapshotEntries, sc.SnapshotCatchUpEntries = 100, 20
	sc.OpsPerSecond = 200
	for _, seed := range seedsFromEnv(t, []int64{1}) {
		var trace strings.Builder
		res := Run(sc, seed, Options{Trace: &trace})
		tr := trace.String()
		t.Logf("seed %d: passed=%v ops=%d sim=%v failure=%q", seed, res.Passed, res.Ops, res.SimDuration, res.Failure)
		require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
		require.Regexp(t, `m3 log member 4: installed a snapshot at index \d+`, tr, "seed %d: the new member never installed a snapshot", seed)
		require.Equal(t, 4, lastHashMembers(t, tr), "seed %d", seed)
	}
}

// TestMembershipChurnScenario runs the catalogue's membership-churn, twice for the first
// seed: it passes and the digest repeats.
func TestMembershipChurnScenario(t *testing.T) {
	sc, ok := scenarios.ByName("membership-churn")
	require.True(t, ok)
	for i, seed := range seedsFromEnv(t, []int64{1, 2}) {
		var trace strings.Builder
		res := Run(sc, seed, Options{Trace: &trace})
		t.Logf("seed %d: passed=%v ops=%d sim=%v faults=%d digest=%s", seed, res.Passed, res.Ops, res.SimDuration, res.FaultsInjected, res.Digest[:12])
		require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
		require.Equal(t, len(sc.Faults), res.FaultsInjected)
		require.Equal(t, 3, strings.Count(trace.String(), " stops (removed)"), "seed %d: one remove and two replaces", seed)
		require.Equal(t, 3, lastHashMembers(t, trace.String()), "seed %d", seed)
		if i == 0 {
			again := Run(sc, seed, Options{})
			require.Equal(t, res.Digest, again.Digest, "seed %d: same seed, different digest", seed)
		}
	}
}
