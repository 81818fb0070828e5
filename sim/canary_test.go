//go:build canary

package sim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/scenarios"
)

// A harness that never fails proves nothing. The deliberately broken variants of the store
// (package canary, compiled only with -tags canary) each break one rule, and each names the
// scenario sharpened to catch it (scenarios.Canaries, outside the catalogue). `make
// canaries` (ballast-sim canaries) searches seeds 1..200 of each; TestCanaries (-tags
// canary, a line of make unit) searches seeds 1..12 of each
// (wideWindows may widen one, with its reason). A catch counts only when
// the same seed passes with no canary, and a checker verdict of unknown never counts. Runs
// are stopped at their first FAIL line (a run whose members' logs diverged can otherwise
// take minutes: they trade appends and rejections in a storm the simulator must play out).
//
// commit-old-term (a leader commits an entry of an earlier term by counting replicas) is the
// hard one. Every new leader appends an empty entry of its term and sends it with the old
// ones, followers acknowledge both together, and the leader counts its own entry only once
// synced, so with the default 1 MiB append bound the broken rule fires only while the
// leader's own entry is unsynced, when kv/node hands out nothing (no Ready while a sync is
// outstanding); 200 seeds of a random schedule never failed. canary-figure-8 is therefore a
// script of the paper's Figure 8 with one entry per append (Scenario.MaxAppendBytes 1, so a
// follower can hold old entries without the new leader's own): m0 leads and is cut off with
// m1; m2 and m3 cannot hear each other, so only m4 can win the other side, and its first
// entry is lost when m2 and m3 (slow disks) lose power within 0.5 s of its election while m4
// is cut off; m0 or m1 then commits the old entries on m2 and m3 by counting them; m0 and m1
// are cut off again and m4 wins. Judged by the end of the run (the members never converged
// again once m4 overwrote the entry) it was caught at seed 20 of 200: the election inside a
// 0.5 s window is rare. The online safety checker judges the commit itself (a leader's
// commit index must land on an entry of its own term) at the step it happens, which the
// script reaches far more often than the overwrite: caught at seed 1 of 12.

// canaryWindow is how many seeds (1..canaryWindow) each canary may take to be caught. A
// window rather than one fixed seed, so that unrelated changes that reshuffle traces do not
// make a canary escape by luck; CANARY_SEEDS=n changes it, CANARY=name runs one canary.
const canaryWindow = 12

// wideWindows widens the window for canaries whose scenario catches them on few seeds, with
// the reason. None today: commit-old-term needed 60 seeds (canary-figure-8 first failed at
// seed 20, where a later leader overwrote the unsafely committed entry) until the online
// safety checker judged the commit rule itself (safety.go: a leader's commit index lands on
// an entry of its own term); it is caught at seed 1 since.
var wideWindows = map[string]int64{}

// TestCanaries runs each canary (package canary) over the first seeds of the scenario meant
// to catch it, and fails if one escapes them all. The seed that caught it is run again with
// no canary active and must pass: it was the broken rule, not the scenario, that failed.
// Canaries run one after another, never in parallel: the switch is one per process.
func TestCanaries(t *testing.T) {
	window := int64(canaryWindow)
	if s := os.Getenv("CANARY_SEEDS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		window = n
	}
	only := os.Getenv("CANARY")
	t.Cleanup(func() { require.NoError(t, canary.Set("")) })
	for _, cs := range scenarios.Canaries() {
		if only != "" && only != cs.Canary {
			continue
		}
		t.Run(cs.Canary, func(t *testing.T) {
			require.NoError(t, cs.Scenario.Validate())
			require.NoError(t, canary.Set(cs.Canary))
			window := window
			if w, ok := wideWindows[cs.Canary]; ok && os.Getenv("CANARY_SEEDS") == "" {
				window = w
			}
			var caught int64
			for seed := int64(1); seed <= window; seed++ {
				start := time.Now()
				stop := &stopAtFailure{}
				res := Run(cs.Scenario, seed, Options{Trace: stop})
				failure := res.Failure
				if stop.failure != "" {
					failure = stop.failure
				}
				t.Logf("%s seed %d: passed=%v wall=%v failure=%q", cs.Scenario.Name, seed, res.Passed,
					time.Since(start).Round(time.Millisecond), canaryFailureLine(failure))
				// a checker that could not decide (verdict unknown) says nothing about the canary
				if !res.Passed && !strings.HasPrefix(failure, "checker verdict "+string(linearizability.VerdictUnknown)) {
					caught = seed
					break
				}
			}
			if dir := os.Getenv("CANARY_TRACE_DIR"); dir != "" && caught != 0 {
				writeCanaryTrace(t, dir, cs, caught)
			}
			require.NoError(t, canary.Set(""))
			require.NotZero(t, caught, "canary %s escaped seeds 1..%d of %s (CANARY=%s CANARY_SEEDS=n to search further)",
				cs.Canary, window, cs.Scenario.Name, cs.Canary)
			res := Run(cs.Scenario, caught, Options{})
			require.True(t, res.Passed, "%s seed %d fails without the canary too, so it proves nothing about %s: %s",
				cs.Scenario.Name, caught, cs.Canary, res.Failure)
		})
	}
}

// writeCanaryTrace replays the caught run with its trace into dir/<canary>-<seed>.trace.
func writeCanaryTrace(t *testing.T, dir string, cs scenarios.CanaryScenario, seed int64) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.trace", cs.Canary, seed)))
	require.NoError(t, err)
	defer f.Close()
	w := bufio.NewWriter(f)
	res := Run(cs.Scenario, seed, Options{Trace: w})
	require.NoError(t, w.Flush())
	require.False(t, res.Passed, "the replay of a caught run passed: the run is not deterministic")
}

// stopAtFailure is a trace writer that panics at the run's first "t=<ns> FAIL <why>" line
// (Run recovers it as a failed run): a run whose members' logs diverged can take many
// times its usual wall time to simulate to the end, and the verdict is already in.
type stopAtFailure struct{ failure string }

func (s *stopAtFailure) Write(p []byte) (int, error) {
	if s.failure == "" && bytes.HasPrefix(p, []byte("t=")) {
		if _, rest, ok := bytes.Cut(p, []byte(" ")); ok && bytes.HasPrefix(rest, []byte("FAIL ")) {
			s.failure = strings.TrimSpace(string(rest[len("FAIL "):]))
			panic("canary test: stopped at the run's first failure: " + s.failure)
		}
	}
	return len(p), nil
}

// canaryFailureLine is a failure's first line, at most 300 bytes (a panic carries its stack).
func canaryFailureLine(s string) string {
	s = firstLine(s)
	if len(s) > 300 {
		return s[:300]
	}
	return s
}
