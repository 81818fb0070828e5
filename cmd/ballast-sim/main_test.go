package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/scenarios"
)

// tinyCatalogue replaces the catalogue with scenarios small enough for a unit test: one
// simulated second of a 3-member cluster, one with a crash.
func tinyCatalogue(t *testing.T) {
	t.Helper()
	base := scenarios.Scenario{
		Description: "a unit test's tiny run", Members: 3, Duration: 3 * time.Second, Clients: 4,
		OpsPerSecond: 50, Keys: 5, Mix: scenarios.Mix{Put: 4, Get: 3},
		Liveness: scenarios.Liveness{MinAckShare: 0.5, MaxRecovery: 2 * time.Second},
	}
	calm := base
	calm.Name = "tiny-calm"
	crash := base
	crash.Name = "tiny-crash"
	crash.Faults = []scenarios.Fault{{Kind: scenarios.Crash, At: 1500 * time.Millisecond,
		Duration: 500 * time.Millisecond, Targets: []scenarios.Target{scenarios.Member(1)}}}
	old := catalogue
	catalogue = func() []scenarios.Scenario { return []scenarios.Scenario{calm, crash} }
	t.Cleanup(func() { catalogue = old })
}

func invoke(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestBadUsageExits2(t *testing.T) {
	tinyCatalogue(t)
	for _, tc := range []struct {
		args   []string
		errHas string
	}{
		{nil, "usage:"},
		{[]string{"fly"}, `unknown command "fly"`},
		{[]string{"run", "-scenario", "nope"}, `unknown scenario "nope" (known: all, tiny-calm, tiny-crash)`},
		{[]string{"run", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"run", "-seeds", "x"}, `invalid value "x" for flag -seeds`},
		{[]string{"run", "-seeds", "0"}, "-seeds 0: want at least 1"},
		{[]string{"run", "-parallel", "0"}, "-parallel 0: want at least 1"},
		{[]string{"run", "-seed", "3", "-seeds", "2"}, "-seed and -seeds exclude each other"},
		{[]string{"run", "-trace"}, "-trace replays one run"},
		{[]string{"run", "-trace", "-scenario", "tiny-calm", "-seeds", "2"}, "-trace replays one run"},
		{[]string{"run", "extra"}, `unexpected argument "extra"`},
		{[]string{"run", "-skip", "0"}, "-skip indexes one scenario's fault list"},
		{[]string{"run", "-scenario", "tiny-crash", "-skip", "x"}, `-skip "x": want fault indices like 0,3,5`},
		{[]string{"run", "-scenario", "tiny-crash", "-skip", "0,-1"}, `-skip "0,-1": want fault indices`},
		{[]string{"run", "-scenario", "tiny-crash", "-seed", "4", "-skip", "1"}, "-skip 1: tiny-crash seed 4 has 1 faults (0..0)"},
		{[]string{"shrink"}, "-scenario X"},
		{[]string{"shrink", "-scenario", "all", "-seed", "1"}, "one scenario, not all"},
		{[]string{"shrink", "-scenario", "tiny-calm"}, "-seed S"},
		{[]string{"shrink", "-scenario", "nope", "-seed", "1"}, `unknown scenario "nope"`},
		{[]string{"shrink", "-scenario", "tiny-calm", "-seed", "1", "extra"}, `unexpected argument "extra"`},
		{[]string{"shrink", "-seeds", "3"}, "flag provided but not defined: -seeds"},
		{[]string{"shrink", "-canary", "apply-twice", "-seed", "1"}, "-canary apply-twice: "},
	} {
		if canary.Enabled && slices.Contains(tc.args, "-canary") {
			continue // a canary build accepts -canary (TestShrinkCanary); only normal builds refuse it
		}
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := invoke(tc.args...)
			require.Equal(t, exitBadUsage, code, "stderr: %s", stderr)
			require.Contains(t, stderr, tc.errHas)
			require.Empty(t, stdout)
		})
	}
}

func TestUnknownScenarioInCatalogueRefusedBeforeRunning(t *testing.T) {
	old := catalogue
	catalogue = func() []scenarios.Scenario { return []scenarios.Scenario{{Name: "broken"}} }
	t.Cleanup(func() { catalogue = old })
	code, _, stderr := invoke("run", "-scenario", "broken", "-out", "")
	require.Equal(t, exitBadUsage, code)
	require.Contains(t, stderr, "Members = 0")
}

func jsonLine(t *testing.T, stdout string) jsonSummary {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(last), &raw), "last line %q", last)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"runs", "failed", "ops", "sim_seconds", "wall_seconds", "digest"}, keys)
	var s jsonSummary
	require.NoError(t, json.Unmarshal([]byte(last), &s))
	return s
}

// TestRunJSONAndDeterminism runs the tiny catalogue twice, once one run at a time and once
// two at a time: the JSON line has the documented shape, and equal invocations print equal
// digests whatever the parallelism.
func TestRunJSONAndDeterminism(t *testing.T) {
	tinyCatalogue(t)
	args := []string{"run", "-scenario", "all", "-seeds", "2", "-out", "", "-json"}
	code1, out1, err1 := invoke(append(args, "-parallel", "1")...)
	code2, out2, _ := invoke(append(args, "-parallel", "2")...)
	s1, s2 := jsonLine(t, out1), jsonLine(t, out2)
	t.Logf("first run:\n%s%s", out1, err1)

	require.Equal(t, 4, s1.Runs)
	require.Len(t, s1.Digest, 64)
	require.Equal(t, s1.Digest, s2.Digest, "two equal invocations printed different digests")
	require.Equal(t, s1.Ops, s2.Ops)
	require.Equal(t, s1.Failed, s2.Failed)
	require.Equal(t, code1, code2)
	require.InDelta(t, s1.SimSeconds, s2.SimSeconds, 1e-9)
	require.Positive(t, s1.Ops)
	require.GreaterOrEqual(t, s1.SimSeconds, 4.0, "4 runs of at least one simulated second each")
	if s1.Failed == 0 {
		require.Equal(t, exitOK, code1)
	} else {
		require.Equal(t, exitFailed, code1)
	}
	// The table: one row per scenario, in catalogue order, and the total.
	calm, crash, total := strings.Index(out1, "tiny-calm"), strings.Index(out1, "tiny-crash"), strings.Index(out1, "total")
	require.True(t, 0 <= calm && calm < crash && crash < total, "table rows out of order:\n%s", out1)
	require.Contains(t, err1, "runs/s", "progress bar")

	// A different seed set gives a different digest.
	_, out3, _ := invoke("run", "-scenario", "all", "-seed", "3", "-out", "", "-json")
	require.NotEqual(t, s1.Digest, jsonLine(t, out3).Digest)
}

// TestFailuresExit1AndIndexLinksReports makes seed 2 of every scenario fail (a wrapper around
// the real simulator) and checks the exit status, the table's failure lines and index.html:
// one row per scenario, the first seed's report linked although it passed, every failing
// run's report and history written and linked.
func TestFailuresExit1AndIndexLinksReports(t *testing.T) {
	tinyCatalogue(t)
	real := simulate
	simulate = func(sc scenarios.Scenario, seed int64, skip []int, trace io.Writer) runResult {
		r := real(sc, seed, skip, trace)
		if seed == 2 {
			r.Passed, r.Failure = false, "injected by the test\nsecond line"
		}
		return r
	}
	t.Cleanup(func() { simulate = real })

	dir := t.TempDir()
	code, stdout, stderr := invoke("run", "-seeds", "2", "-parallel", "2", "-out", dir)
	t.Logf("%s%s", stdout, stderr)
	require.Equal(t, exitFailed, code)
	require.Contains(t, stdout, "FAIL tiny-calm seed 2: injected by the test\n")
	require.Contains(t, stdout, "replay: ballast-sim run -scenario tiny-crash -seed 2 -trace")

	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
	html := string(page)
	require.Equal(t, 2, strings.Count(html, `<tr class="scenario"`))
	for _, name := range []string{"tiny-calm", "tiny-crash"} {
		require.Contains(t, html, `id="row-`+name+`"`)
		for _, seed := range []string{"1", "2"} {
			d := name + "-" + seed
			require.Contains(t, html, `href="`+d+`/report.html"`)
			require.Contains(t, html, `href="`+d+`/history.jsonl"`)
			for _, f := range []string{"report.html", "summary.json", "history.jsonl"} {
				require.FileExists(t, filepath.Join(dir, d, f))
			}
		}
		require.Contains(t, html, `href="`+name+`-2/failure.txt"`)
		require.FileExists(t, filepath.Join(dir, name+"-2", "failure.txt"))
		require.NoFileExists(t, filepath.Join(dir, name+"-1", "failure.txt"))
		require.Contains(t, html, "ballast-sim run -scenario "+name+" -seed 2 -trace")
	}
}

// TestTraceGoesToStdout replays one run with -trace: the trace is on stdout, the table on
// stderr, and the same run traced twice gives the same trace.
func TestTraceGoesToStdout(t *testing.T) {
	tinyCatalogue(t)
	args := []string{"run", "-scenario", "tiny-crash", "-seed", "1", "-trace", "-out", ""}
	_, out1, err1 := invoke(args...)
	_, out2, _ := invoke(args...)
	require.NotEmpty(t, out1)
	require.Equal(t, out1, out2, "the same run traced twice differs")
	require.NotContains(t, out1, "ops checked")
	require.Contains(t, err1, "ops checked")
}

// shrinkCatalogue is tiny-calm beside tiny-bad, which fails only because of its fault 2:
// isolating the leader until the workload ends leaves over 1% of the requests
// unacknowledged, while the other four faults cost none (MinAckShare 0.99; the same shape as
// sim's shrink test).
func shrinkCatalogue(t *testing.T) {
	t.Helper()
	tinyCatalogue(t)
	calm := catalogue()[0]
	bad := scenarios.Scenario{
		Name: "tiny-bad", Description: "one harmful fault among harmless ones", Members: 3, Duration: 4 * time.Second,
		Clients: 3, OpsPerSecond: 40, Keys: 5, Mix: scenarios.Mix{Put: 1, Get: 1},
		Faults: []scenarios.Fault{
			{Kind: scenarios.Latency, At: 500 * time.Millisecond, Duration: time.Second, Delay: 20 * time.Millisecond},
			{Kind: scenarios.Duplicate, At: time.Second, Duration: time.Second, Rate: 0.1},
			{Kind: scenarios.Isolate, At: 1500 * time.Millisecond, Duration: 2500 * time.Millisecond, Targets: []scenarios.Target{scenarios.Leader}},
			{Kind: scenarios.Reorder, At: 2 * time.Second, Duration: time.Second, Rate: 0.2},
			{Kind: scenarios.ClockSkew, At: 500 * time.Millisecond, Duration: 2 * time.Second, Rate: 0.005, Targets: []scenarios.Target{scenarios.Member(1)}},
		},
		Liveness: scenarios.Liveness{MinAckShare: 0.99},
	}
	catalogue = func() []scenarios.Scenario { return []scenarios.Scenario{calm, bad} }
}

// TestShrinkPrintsAReproducingCommand shrinks tiny-bad: exit 0, only the isolation remains,
// and the printed command, run through the same entry point, fails again in the same way
// and with exactly one fault injected, while the full run names no -skip.
func TestShrinkPrintsAReproducingCommand(t *testing.T) {
	shrinkCatalogue(t)
	t.Chdir(t.TempDir()) // the printed command writes its report under reports/sim
	code, stdout, stderr := invoke("shrink", "-scenario", "tiny-bad", "-seed", "1")
	t.Logf("stdout:\n%sstderr:\n%s", stdout, stderr)
	require.Equal(t, exitOK, code)
	require.Contains(t, stdout, "tiny-bad seed 1 fails (checker violation: liveness)")
	require.Contains(t, stdout, "reduced 5 faults to 1 in ")
	require.Contains(t, stdout, "remaining faults (index in the run's fault list):\n  #2 isolate at 1.5s for 2.5s on leader\n")
	require.Contains(t, stderr, "run 1: all 5 faults: fails")

	var command string
	for line := range strings.Lines(stdout) {
		if rest, ok := strings.CutPrefix(line, "reproduce: "); ok {
			command = strings.TrimSpace(rest)
		}
	}
	require.Equal(t, "ballast-sim run -scenario tiny-bad -seed 1 -skip 0,1,3,4", command)
	args := strings.Fields(command)[1:]
	code, out, errOut := invoke(append(args, "-json")...)
	t.Logf("reproduced:\n%s%s", out, errOut)
	require.Equal(t, exitFailed, code)
	require.Contains(t, out, "FAIL tiny-bad seed 1: checker verdict violation: only ")
	require.Contains(t, out, "replay: "+command+" -trace\n")
	require.Regexp(t, `(?m)^\s*tiny-bad\s+1\s+1\s+\S+\s+\d+\s+1\s`, out, "one run, one failure, one fault injected")
	require.FileExists(t, filepath.Join("reports", "sim", "tiny-bad-1-skip0,1,3,4", "failure.txt"))
	page, err := os.ReadFile(filepath.Join("reports", "sim", "index.html"))
	require.NoError(t, err)
	require.Contains(t, string(page), `href="tiny-bad-1-skip0,1,3,4/report.html"`)
	require.Contains(t, string(page), "<code>"+command+" -trace</code>")

	// -skip is what made the difference: the same run without it fails with all five faults
	code, out, _ = invoke("run", "-scenario", "tiny-bad", "-seed", "1", "-out", "")
	require.Equal(t, exitFailed, code)
	require.Regexp(t, `(?m)^\s*tiny-bad\s+1\s+1\s+\S+\s+\d+\s+5\s`, out)
	require.Contains(t, out, "replay: ballast-sim run -scenario tiny-bad -seed 1 -trace\n")
}

func TestShrinkPassingRunExits1(t *testing.T) {
	shrinkCatalogue(t)
	code, stdout, stderr := invoke("shrink", "-scenario", "tiny-calm", "-seed", "1")
	require.Equal(t, exitFailed, code, "stderr: %s", stderr)
	require.True(t, strings.HasPrefix(stdout, "tiny-calm seed 1 passes: there is no failure to shrink (0 faults, 1 run, "), "stdout: %s", stdout)
	require.NotContains(t, stdout, "reproduce:")
}
