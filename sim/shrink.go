package sim

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/scenarios"
)

// A run's fault list (Result.Schedule, or Schedule without running) is the scenario's Faults
// followed by the faults drawn for the seed. Options.Skip names indices into it that are not
// injected: the whole list is drawn first and the skipped entries dropped afterwards, so the
// others keep their kinds, times, rates and member targets. Role targets (leader, follower,
// minority) are resolved when the fault is injected, drawing from the faults stream, so
// removing an earlier fault can change which member a later role fault hits; the reduced
// run is still exactly reproducible from its Skip.
//
// Shrink(sc, seed, ShrinkOptions{}) reduces a failing run's list until it is 1-minimal:
// it tries removing the whole list, then halves, quarters, ... and ends with passes removing
// one fault at a time until a pass removes none. "Still failing" means failing in the same
// FailureClass: the checker's verdict and its first check that fired (porcupine, revision,
// watch, lease, durability, liveness), or the simulator's own judgement (HashKV, convergence,
// recovery, panic) without times and revisions. The exact sentence would change with every
// removal; any failure would let a safety violation shrink into an unrelated liveness
// shortfall. The search is deterministic and every candidate is a full run.

// Schedule returns the full fault list a run of sc with seed injects when nothing is
// skipped: the scenario's Faults, then the faults drawn from the faults stream. Run draws
// them first thing from a fresh world, so this is the same list as Result.Schedule without
// running anything.
func Schedule(sc scenarios.Scenario, seed int64) []scenarios.Fault {
	s := &sim{w: newWorld(seed, nil)}
	faults := append([]scenarios.Fault(nil), sc.Faults...)
	return append(faults, drawRandomFaults(s, sc)...)
}

// skipFaults returns fs without the entries at the indices in skip. The list is always drawn
// in full before this, so dropping a fault never changes the others.
func skipFaults(fs []scenarios.Fault, skip []int) ([]scenarios.Fault, error) {
	if len(skip) == 0 {
		return fs, nil
	}
	for _, i := range skip {
		if i < 0 || i >= len(fs) {
			return nil, fmt.Errorf("skip index %d is out of range: the run has %d faults (0..%d)", i, len(fs), len(fs)-1)
		}
	}
	var out []scenarios.Fault
	for i, f := range fs {
		if !slices.Contains(skip, i) {
			out = append(out, f)
		}
	}
	return out, nil
}

// ErrPasses is Shrink's answer for a run that does not fail: there is nothing to reduce.
var ErrPasses = errors.New("the run passes: there is no failure to shrink")

// ShrinkOptions tunes Shrink.
type ShrinkOptions struct {
	// Progress, when set, receives one line per run Shrink makes.
	Progress io.Writer
}

// ShrinkResult is a reduced fault schedule.
type ShrinkResult struct {
	Scenario string
	Seed     int64
	// Schedule is the run's full fault list (Result.Schedule); Skip and Kept index into it.
	Schedule []scenarios.Fault
	// Class is the failure's class (FailureClass) that every reduced run kept.
	Class string
	// Failure is the original run's failure sentence; Reduced is the failing run with Skip.
	Failure string
	Reduced Result
	// Skip lists the removed faults and Kept the remaining ones (indices, ascending). No
	// single index of Kept can move to Skip without the failure of Class disappearing.
	Skip, Kept []int
	// Runs is how many simulator runs it took, the original one included.
	Runs int
}

// Shrink reduces the fault schedule of a failing run of sc with seed until it is 1-minimal:
// removing any one remaining fault makes the run pass or fail in another class. It first
// tries removing chunks (the whole list, then halves, quarters, ...) and ends with passes
// removing one fault at a time until a whole pass removes none. Each candidate is a real
// run with Options.Skip, so the remaining faults keep their kinds, times and targets; the
// search is deterministic (same scenario and seed, same result). Returns ErrPasses when the
// run does not fail.
func Shrink(sc scenarios.Scenario, seed int64, opts ShrinkOptions) (ShrinkResult, error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	out := ShrinkResult{Scenario: sc.Name, Seed: seed}
	first := Run(sc, seed, Options{})
	out.Runs = 1
	out.Schedule = first.Schedule
	if first.Passed {
		fmt.Fprintf(progress, "run 1: all %d faults: passes\n", len(first.Schedule))
		return out, ErrPasses
	}
	out.Failure, out.Class, out.Reduced = first.Failure, FailureClass(first), first
	fmt.Fprintf(progress, "run 1: all %d faults: fails (%s): %s\n", len(first.Schedule), out.Class, firstLine(first.Failure))

	kept := make([]int, len(first.Schedule))
	for i := range kept {
		kept[i] = i
	}
	tried := map[string]bool{} // outcome of every skip set already run
	// stillFails runs the schedule without the faults outside cand.
	stillFails := func(cand []int) bool {
		skip := complement(len(first.Schedule), cand)
		key := fmt.Sprint(skip)
		if same, ok := tried[key]; ok {
			return same
		}
		out.Runs++
		res := Run(sc, seed, Options{Skip: skip})
		verdict := "passes"
		same := false
		if !res.Passed {
			class := FailureClass(res)
			same = class == out.Class
			if same {
				verdict = "fails the same way"
			} else {
				verdict = "fails differently (" + class + ")"
			}
		}
		fmt.Fprintf(progress, "run %d: %d of %d faults %v: %s\n", out.Runs, len(cand), len(first.Schedule), cand, verdict)
		if same {
			out.Reduced = res
		}
		tried[key] = same
		return same
	}
	for chunk := max(len(kept), 1); len(kept) > 0; {
		removed := false
		for i := 0; i < len(kept); {
			end := min(i+chunk, len(kept))
			cand := slices.Concat(kept[:i], kept[end:])
			if stillFails(cand) {
				kept, removed = cand, true
				continue
			}
			i = end
		}
		if chunk == 1 && !removed {
			break // 1-minimal: a whole pass removed no single fault
		}
		chunk = max(chunk/2, 1)
	}
	out.Kept = kept
	out.Skip = complement(len(first.Schedule), kept)
	return out, nil
}

// complement returns the indices in [0, n) not in kept, ascending.
func complement(n int, kept []int) []int {
	var out []int
	for i := range n {
		if !slices.Contains(kept, i) {
			out = append(out, i)
		}
	}
	return out
}

// FailureClass names what kind of failure a run had, for Shrink's "still failing": the
// checker's verdict and the first check (in the checker's order) that did not pass, or the
// simulator's own judgement (HashKV disagreement, no convergence, no recovery, a panic, a
// member that failed, a run that could not start) without its times, revisions and members.
// The exact sentence would be too strict (removing a fault moves every time in it); any
// failure would be too loose (a safety violation could shrink into an unrelated liveness
// shortfall). "" for a passing run. An "unknown" verdict means a checker search ran out of
// its wall-clock timeout, so whether a candidate fails that way depends on the machine's
// load: such a failure does not shrink reproducibly.
func FailureClass(res Result) string {
	if res.Passed {
		return ""
	}
	f := firstLine(res.Failure)
	switch {
	case strings.HasPrefix(f, "checker verdict") && res.Check != nil:
		for _, c := range res.Check.Checks {
			if c.Verdict != linearizability.VerdictOK && c.Verdict != linearizability.VerdictSkipped {
				return fmt.Sprintf("checker %s: %s", c.Verdict, c.Name)
			}
		}
		return "checker " + string(res.Check.Verdict)
	case strings.HasPrefix(f, safetyPrefix):
		// "safety violation (<kind>): ..." keeps its kind
		kind, _, _ := strings.Cut(f, ":")
		return kind
	case strings.HasPrefix(f, "HashKV"):
		return "hashkv disagreement"
	case strings.HasPrefix(f, "members did not converge"):
		return "no convergence"
	case strings.HasPrefix(f, "no write succeeded within"):
		return "no recovery"
	case strings.HasPrefix(f, "panic at t="):
		_, msg, _ := strings.Cut(f, ": ")
		return "panic: " + stem(msg)
	}
	return stem(f)
}

// stem is s up to its first digit: the fixed words of a sentence that goes on to name
// times, indices or revisions.
func stem(s string) string {
	if i := strings.IndexAny(s, "0123456789"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// FormatFault describes one fault in one line, as the shrinker's report lists it.
func FormatFault(f scenarios.Fault) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %v", f.Kind, f.At)
	if f.Duration > 0 {
		fmt.Fprintf(&b, " for %v", f.Duration)
	}
	if len(f.Targets) > 0 {
		ts := make([]string, len(f.Targets))
		for i, t := range f.Targets {
			ts[i] = string(t)
		}
		fmt.Fprintf(&b, " on %s", strings.Join(ts, ","))
	}
	if f.Rate != 0 {
		fmt.Fprintf(&b, " rate %s", strconv.FormatFloat(f.Rate, 'g', 3, 64))
	}
	if f.Delay != 0 {
		fmt.Fprintf(&b, " delay %v", f.Delay.Round(time.Microsecond))
	}
	return b.String()
}
