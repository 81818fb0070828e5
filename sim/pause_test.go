package sim

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/scenarios"
)

// traceLine is one line of a run's trace: its virtual time and its text.
type traceLine struct {
	at   time.Duration
	text string
}

func parseTrace(t *testing.T, trace string) []traceLine {
	var out []traceLine
	for _, l := range strings.Split(strings.TrimSuffix(trace, "\n"), "\n") {
		ns, text, ok := strings.Cut(strings.TrimPrefix(l, "t="), " ")
		if !ok || !strings.HasPrefix(l, "t=") {
			continue // a panic's stack, which a passing run has not
		}
		v, err := strconv.ParseInt(ns, 10, 64)
		require.NoError(t, err, "trace line %q", l)
		out = append(out, traceLine{time.Duration(v), text})
	}
	return out
}

// pausedLeaderScenario pauses the leader for 3 s, three election timeouts.
func pausedLeaderScenario() scenarios.Scenario {
	sc := smallScenario()
	sc.Name = "sim-test-paused-leader"
	sc.Duration = 8 * time.Second
	sc.Faults = []scenarios.Fault{{Kind: scenarios.Pause, At: 1500 * time.Millisecond, Duration: 3 * time.Second, Targets: []scenarios.Target{scenarios.Leader}}}
	return sc
}

// TestPausedLeaderStepsDown: a paused leader is a process that stops without noticing. While
// it is frozen its followers elect another leader; it is never restarted (no open, no crash);
// what reached it meanwhile is held and, when it resumes, received in the order it arrived,
// all of it; among those messages it finds the new leader's term and steps down to it; and
// no acknowledged write is lost (the checker's verdict, HashKV agreement). Modelled as
// nothing, the pause elects no one; as a crash, the member is reopened and holds nothing.
func TestPausedLeaderStepsDown(t *testing.T) {
	sc := pausedLeaderScenario()
	for _, seed := range seedsFromEnv(t, []int64{1, 2}) {
		var trace strings.Builder
		res := Run(sc, seed, Options{Trace: &trace})
		require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
		require.Equal(t, linearizability.VerdictOK, res.Check.Verdict, "seed %d", seed)
		require.True(t, res.Coverage.Purposes[scenarios.LeaderStepDown], "seed %d: no leader stepped down", seed)
		lines := parseTrace(t, trace.String())

		var paused string
		var start, end time.Duration
		for _, l := range lines {
			if rest, ok := strings.CutPrefix(l.text, "fault pause start ["); ok {
				paused, _, _ = strings.Cut(rest, "]")
				start = l.at
			}
			if l.text == "fault pause end ["+paused+"]" {
				end = l.at
			}
		}
		require.NotEmpty(t, paused, "seed %d: no pause", seed)
		require.Equal(t, start+3*time.Second, end, "seed %d", seed)
		idx, ok := scenarios.Target(paused).MemberIndex()
		require.True(t, ok)
		id := idx + 1

		leaderNow := regexp.MustCompile(`^(m\d+) log member \d+: leader is now (\d+) \(was (\d+)\)$`)
		var held, received []string
		newLeader := ""
		steppedDown := false
		for _, l := range lines {
			m := leaderNow.FindStringSubmatch(l.text)
			switch {
			case l.at > start && l.at < end:
				require.NotContains(t, []string{paused + " open", paused + " stops gracefully"}, l.text, "seed %d: the paused member was restarted", seed)
				require.False(t, strings.HasPrefix(l.text, paused+" crash"), "seed %d: the paused member crashed: %s", seed, l.text)
				require.False(t, strings.HasPrefix(l.text, paused+" log"), "seed %d: the paused member did something: %s", seed, l.text)
				if m != nil && m[1] != paused && m[2] != "0" && m[2] != strconv.Itoa(id) {
					newLeader = m[2]
				}
				if rest, ok := strings.CutPrefix(l.text, paused+" holds "); ok {
					held = append(held, rest)
				}
			case l.at >= end:
				if rest, ok := strings.CutPrefix(l.text, paused+" receives held "); ok {
					received = append(received, rest)
				}
				if m != nil && m[1] == paused && !steppedDown {
					require.Equal(t, strconv.Itoa(id), m[3], "seed %d: %s did not lead when it resumed", seed, paused)
					require.Equal(t, newLeader, m[2], "seed %d: %s did not follow the leader elected while it was paused", seed, paused)
					steppedDown = true
				}
			}
		}
		require.NotEmpty(t, newLeader, "seed %d: no new leader was elected while the leader %s was paused", seed, paused)
		require.NotEmpty(t, held, "seed %d: nothing reached the paused member", seed)
		require.Equal(t, held, received, "seed %d: the held messages were not all received, in arrival order, on resume", seed)
		require.True(t, steppedDown, "seed %d: the old leader %s never stepped down", seed, paused)
		t.Logf("seed %d: %s paused %v..%v, m%s elected meanwhile, %d messages held and received in order", seed, paused, start, end, newLeader, len(held))
	}
}

// TestLongPauseMovesTheAnswerBound: a follower paused for 11 s holds requests for longer
// than answerBound (10 s), which it answers once it resumes: the time it spent paused does
// not count against it (it did not tick), so the run passes; the requests are answered, or
// their clients gave up with unknown outcomes.
func TestLongPauseMovesTheAnswerBound(t *testing.T) {
	require.Less(t, answerBound, 11*time.Second)
	sc := smallScenario()
	sc.Name = "sim-test-long-pause"
	sc.Duration = 13 * time.Second
	// few clients: each call that waits in the paused member ends with an unknown outcome,
	// and the checker's searches grow with them
	sc.Clients, sc.OpsPerSecond = 2, 20
	sc.Faults = []scenarios.Fault{{Kind: scenarios.Pause, At: time.Second, Duration: 11 * time.Second, Targets: []scenarios.Target{scenarios.Follower}}}
	var trace strings.Builder
	res := Run(sc, 1, Options{Trace: &trace})
	require.True(t, res.Passed, "%s", res.Failure)
	require.Regexp(t, `m\d resumes after 11s: \d+ held events`, trace.String())
	// requests were sent to the paused member and waited in it
	lines := parseTrace(t, trace.String())
	var paused string
	var start time.Duration
	calls := 0
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l.text, "fault pause start ["); ok {
			paused, _, _ = strings.Cut(rest, "]")
			start = l.at
		}
		if paused != "" && l.at > start && l.at < start+11*time.Second && strings.HasSuffix(l.text, " on "+paused) {
			calls++
		}
	}
	require.Positive(t, calls, "no client called the paused member")
	t.Logf("%d calls waited in %s", calls, paused)
}

// TestPauseNests: two overlapping pauses of one member freeze it from the first's start to
// the second's end, and a crash of a paused member is a crash (SIGKILL reaches a frozen
// process): the restarted process is not paused, and the pause's end is void.
func TestPauseNests(t *testing.T) {
	sc := smallScenario()
	sc.Name = "sim-test-pause-nests"
	sc.Duration = 8 * time.Second
	m1 := []scenarios.Target{scenarios.Member(1)}
	sc.Faults = []scenarios.Fault{
		{Kind: scenarios.Pause, At: time.Second, Duration: 2 * time.Second, Targets: m1},
		{Kind: scenarios.Pause, At: 2 * time.Second, Duration: 2 * time.Second, Targets: m1},
		{Kind: scenarios.Pause, At: 5 * time.Second, Duration: 2 * time.Second, Targets: m1},
		{Kind: scenarios.Crash, At: 5500 * time.Millisecond, Duration: 500 * time.Millisecond, Targets: m1},
	}
	var trace strings.Builder
	res := Run(sc, 1, Options{Trace: &trace})
	require.True(t, res.Passed, "%s", res.Failure)
	// scenario times count from the workload's start: the lines are timed from the first pause
	var rel []string
	t0 := time.Duration(-1)
	for _, l := range parseTrace(t, trace.String()) {
		if l.text == "m1 pauses" && t0 < 0 {
			t0 = l.at
		}
		if t0 < 0 {
			continue
		}
		switch {
		case l.text == "m1 pauses", strings.HasPrefix(l.text, "m1 crash"), l.text == "m1 open":
			rel = append(rel, fmt.Sprintf("+%v %s", l.at-t0, l.text))
		case strings.HasPrefix(l.text, "m1 resumes"):
			rel = append(rel, fmt.Sprintf("+%v m1 resumes", l.at-t0))
		}
	}
	require.Equal(t, []string{
		"+0s m1 pauses", "+3s m1 resumes", // the second pause kept it frozen to its own end
		"+4s m1 pauses", "+4.5s m1 crash (fault)", "+5s m1 open", // no resume: that process is gone
	}, rel)
}
