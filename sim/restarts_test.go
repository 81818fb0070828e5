package sim

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/scenarios"
)

// TestNewKindsScenarios runs the catalogue's scenarios of the kinds the simulator took over
// from the Docker world (pause, graceful-restart, rolling-restart, kill-all) for seeds 2 and
// 3 (TestCatalogue runs seed 1 twice, for the digest): each passes the checker, and its
// trace shows the kind did what it says.
func TestNewKindsScenarios(t *testing.T) {
	leaderNow := regexp.MustCompile(`^m\d+ log member \d+: leader is now (\d+) `)
	for _, tc := range []struct {
		name  string
		check func(t *testing.T, seed int64, lines []traceLine)
	}{
		{"pause-leader", func(t *testing.T, seed int64, lines []traceLine) {
			require.Len(t, grep(lines, regexp.MustCompile(`^m\d resumes after `)), 2, "seed %d", seed)
		}},
		{"graceful-restart", func(t *testing.T, seed int64, lines []traceLine) {
			require.Len(t, grep(lines, regexp.MustCompile(`^m\d stops gracefully$`)), 3, "seed %d", seed)
			require.Empty(t, grep(lines, regexp.MustCompile(`^m\d crash`)), "seed %d: a graceful restart crashed", seed)
		}},
		{"rolling-restart", func(t *testing.T, seed int64, lines []traceLine) {
			// each roll restarts every member once, the leader of the time last
			steps := regexp.MustCompile(`^rolling-restart: (m\d) `)
			var order []string
			leader := ""
			rolls := 0
			for _, l := range lines {
				if m := leaderNow.FindStringSubmatch(l.text); m != nil && m[1] != "0" {
					id, _ := strconv.Atoi(m[1])
					leader = string(scenarios.Member(id - 1))
				}
				if m := steps.FindStringSubmatch(l.text); m != nil {
					if len(order) < 2 {
						require.NotEqual(t, leader, m[1], "seed %d: the leader %s restarted before a follower (%v)", seed, leader, order)
					}
					order = append(order, m[1])
				}
				if l.text == "rolling-restart done" {
					require.ElementsMatch(t, []string{"m0", "m1", "m2"}, order, "seed %d", seed)
					order = nil
					rolls++
				}
			}
			require.Equal(t, 2, rolls, "seed %d", seed)
			require.Empty(t, grep(lines, regexp.MustCompile(`not serving again`)), "seed %d", seed)
			require.Empty(t, grep(lines, regexp.MustCompile(`^m\d crash`)), "seed %d", seed)
		}},
		{"kill-all", func(t *testing.T, seed int64, lines []traceLine) {
			crashes := grep(lines, regexp.MustCompile(`^m\d crash \(fault\)$`))
			require.Len(t, crashes, 6, "seed %d", seed)
			for i := 0; i < 6; i += 3 {
				require.Equal(t, crashes[i].at, crashes[i+2].at, "seed %d: the members of a kill-all crashed at different times", seed)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ok := scenarios.ByName(tc.name)
			require.True(t, ok)
			for _, seed := range seedsFromEnv(t, []int64{2, 3}) {
				var trace strings.Builder
				res := Run(sc, seed, Options{Trace: &trace})
				t.Logf("%s seed %d: passed=%v ops=%d faults=%d digest=%.12s", tc.name, seed, res.Passed, res.Ops, res.FaultsInjected, res.Digest)
				require.True(t, res.Passed, "%s seed %d (rerun with SIM_SEED=%d): %s", tc.name, seed, seed, res.Failure)
				require.Equal(t, linearizability.VerdictOK, res.Check.Verdict)
				require.Equal(t, len(sc.Faults), res.FaultsInjected)
				tc.check(t, seed, parseTrace(t, trace.String()))
			}
		})
	}
}

func grep(lines []traceLine, re *regexp.Regexp) []traceLine {
	var out []traceLine
	for _, l := range lines {
		if re.MatchString(l.text) {
			out = append(out, l)
		}
	}
	return out
}

// TestKillAllUntilHealing: a kill-all without a Duration leaves the cluster down until the
// run heals, which restarts every member; the run then converges and passes.
func TestKillAllUntilHealing(t *testing.T) {
	sc := smallScenario()
	sc.Name = "sim-test-kill-all"
	sc.Faults = []scenarios.Fault{{Kind: scenarios.KillAll, At: 4 * time.Second}}
	sc.Liveness = scenarios.Liveness{MinAckShare: 0.3}
	var trace strings.Builder
	res := Run(sc, 1, Options{Trace: &trace})
	require.True(t, res.Passed, "%s", res.Failure)
	lines := parseTrace(t, trace.String())
	crashes := grep(lines, regexp.MustCompile(`^m\d crash \(fault\)$`))
	require.Len(t, crashes, 3)
	healed := grep(lines, regexp.MustCompile(`^healed$`))
	require.Len(t, healed, 1)
	opens := 0
	for _, l := range grep(lines, regexp.MustCompile(`^m\d open$`)) {
		if l.at > crashes[0].at {
			require.Equal(t, healed[0].at, l.at, "a member restarted before healing")
			opens++
		}
	}
	require.Equal(t, 3, opens)
}
