package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPrintCanaries(t *testing.T) {
	outcomes := []canaryOutcome{
		{Canary: "commit-old-term", Scenario: "canary-figure-8", Wall: 3 * time.Minute},
		{Canary: "no-log-check", Scenario: "canary-stale-candidate", Seed: 2, Failure: "panic at t=1s: raft: x\nstack", BaselinePassed: true, Wall: time.Second},
		{Canary: "watch-skip", Scenario: "canary-watch-resume", Seed: 1, Failure: "watch gap", BaselinePassed: false, BaselineFailure: "HashKV differs"},
	}
	var b strings.Builder
	caught := printCanaries(&b, outcomes, 200)
	require.Equal(t, 1, caught, "only a failure that the same seed without the canary does not show counts")
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Equal(t, "canaries: 1 caught, 2 missed", lines[len(lines)-1])
	require.Regexp(t, `(?m)^canary\s+caught\s+seeds\s+scenario\s+wall$`, out)
	require.Regexp(t, `(?m)^commit-old-term\s+no\s+>200\s+canary-figure-8\s+3m0s$`, out)
	require.Regexp(t, `(?m)^no-log-check\s+yes\s+2\s+canary-stale-candidate\s+1s$`, out)
	require.Regexp(t, `(?m)^watch-skip\s+no \(fails without it\)\s+1\s+canary-watch-resume`, out)
	require.Contains(t, out, "no-log-check: caught at seed 2: panic at t=1s: raft: x\n")
	require.NotContains(t, out, "stack", "a failure is reported by its first line")
	require.Contains(t, out, "replay: go run -tags canary ./cmd/ballast-sim run -canary no-log-check -scenario canary-stale-candidate -seed 2 -trace")
	require.Contains(t, out, "commit-old-term: MISSED: no run of seeds 1..200 failed")
	require.Contains(t, out, "watch-skip: NOT COUNTED: seed 1 fails without the canary too: HashKV differs")
}

func TestStopAtFailurePanicsAtTheFirstFailLine(t *testing.T) {
	s := &stopAtFailure{}
	for _, line := range []string{"t=1 run scenario=x\n", "t=5 c1 call put FAIL=1\n", "t=9 m0 log FAIL not at the start\n"} {
		n, err := s.Write([]byte(line))
		require.NoError(t, err)
		require.Equal(t, len(line), n)
	}
	require.PanicsWithValue(t, "canary search: stopped at the run's first failure: HashKV at revision 3 differs",
		func() { _, _ = s.Write([]byte("t=12 FAIL HashKV at revision 3 differs\n")) })
	require.Equal(t, "HashKV at revision 3 differs", s.failure)
	_, err := s.Write([]byte("t=13 FAIL a second one\n"))
	require.NoError(t, err, "only the first failure stops the run")
}

func TestStopAtFailureAbandons(t *testing.T) {
	abandon := false
	s := &stopAtFailure{abandon: func() bool { return abandon }}
	_, err := s.Write([]byte("t=1 run scenario=x\n"))
	require.NoError(t, err)
	abandon = true
	require.PanicsWithValue(t, "canary search: "+abandonedRun, func() { _, _ = s.Write([]byte("t=2 m0 open\n")) })
	require.Equal(t, abandonedRun, s.failure)
}

func TestInconclusive(t *testing.T) {
	for _, tc := range []struct {
		failure string
		want    bool
	}{
		{"checker verdict unknown: the search did not finish within 1m0s", true},
		{"checker verdict violation: get k0 ...", false},
		{"HashKV at revision 3 differs", false},
		{"", false},
	} {
		require.Equal(t, tc.want, inconclusive(tc.failure), tc.failure)
	}
}
