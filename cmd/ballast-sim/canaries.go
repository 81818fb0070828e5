package main

// The canaries: deliberately broken variants of the store (package canary, built only with
// -tags canary) that the simulator must catch.
//
//	ballast-sim canaries [-seeds N] [-parallel P] [-canary NAME]
//	ballast-sim run -canary NAME [-scenario X] ...
//
// canaries searches seeds 1..N (default 200) of each canary's scenario
// (scenarios.Canaries) with that canary switched on, up to the first run that fails, then
// runs that seed again with no canary, which must pass (else the failure says nothing about
// the canary). It prints a table (canary, caught, seeds until the first failure, scenario,
// wall time), each caught canary's failure and replay command, and last the line
// "canaries: N caught, M missed"; exit status 1 when M > 0. run -canary runs with one canary
// switched on (by default on its scenario). Both refuse in a normal build, which holds no
// canary.
//
// One canary per process at a time: the switch is a package variable that every run reads,
// so one canary's seeds run in parallel and the next canary is switched on only once they
// all finished.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/scenarios"
	"github.com/ballastdb/ballast/sim"
)

// defaultCanarySeeds is how many seeds `canaries` searches per canary (issue 10: 200).
const defaultCanarySeeds = 200

// canaryOutcome is one canary's search.
type canaryOutcome struct {
	Canary   string
	Scenario string
	// Seed is the first seed whose run failed with the canary on (0: none within the search).
	Seed    int64
	Failure string
	// Baseline is the same seed's run with no canary: it must pass for the catch to count.
	BaselinePassed  bool
	BaselineFailure string
	Runs            int // runs made with the canary on and finished (a few beyond Seed when parallel)
	// Inconclusive lists the seeds whose runs failed only by a checker verdict of unknown.
	Inconclusive []int64
	Wall         time.Duration
}

// Caught: a run failed with the canary on and the same run passes without it.
func (o canaryOutcome) Caught() bool { return o.Seed != 0 && o.BaselinePassed }

// canaries runs `ballast-sim canaries`.
func canaries(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ballast-sim canaries", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seeds := fs.Int64("seeds", defaultCanarySeeds, "search seeds 1..`N` of each canary's scenario")
	parallel := fs.Int("parallel", runtime.NumCPU(), "`P` runs at a time (all of one canary)")
	only := fs.String("canary", "", "search only canary `NAME` (default: all)")
	bad := func(err error) int {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "ballast-sim canaries: %v\n", err)
		}
		return exitBadUsage
	}
	if err := fs.Parse(args); err != nil {
		return bad(err)
	}
	switch {
	case fs.NArg() > 0:
		return bad(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	case !canary.Enabled:
		return bad(fmt.Errorf("%w: go run -tags canary ./cmd/ballast-sim canaries (make canaries)", canary.ErrNotCanaryBuild))
	case *seeds < 1:
		return bad(fmt.Errorf("-seeds %d: want at least 1", *seeds))
	case *parallel < 1:
		return bad(fmt.Errorf("-parallel %d: want at least 1", *parallel))
	}
	var list []scenarios.CanaryScenario
	for _, cs := range scenarios.Canaries() {
		if *only == "" || *only == cs.Canary {
			if err := cs.Scenario.Validate(); err != nil {
				return bad(err)
			}
			list = append(list, cs)
		}
	}
	if len(list) == 0 {
		return bad(fmt.Errorf("-canary %q: no such canary with a scenario (known: %s)", *only, strings.Join(canaryNames(), ", ")))
	}
	defer func() { _ = canary.Set("") }()

	var outcomes []canaryOutcome
	for _, cs := range list {
		o := searchCanary(cs, *seeds, *parallel)
		outcomes = append(outcomes, o)
		fmt.Fprintf(stderr, "%s: %s (%d runs, %v)\n", o.Canary, describeOutcome(o, *seeds), o.Runs, o.Wall.Round(time.Millisecond))
	}
	caught := printCanaries(stdout, outcomes, *seeds)
	if missed := len(outcomes) - caught; missed > 0 {
		return exitFailed
	}
	return exitOK
}

func canaryNames() []string {
	var out []string
	for _, cs := range scenarios.Canaries() {
		out = append(out, cs.Canary)
	}
	return out
}

// searchCanary switches cs.Canary on and runs seeds 1..maxSeeds of its scenario, parallel at
// a time, until the first failure; the answer is the lowest failing seed whatever parallel
// is (seeds are handed out in order, and none below a known failure is skipped). Seed 1 runs
// alone first: most canaries fall there, and runs beside it would only be waited for. Runs
// of seeds above a known failure are abandoned at their next trace line. A run whose only
// fault is a checker verdict of unknown (a search that did not finish) is inconclusive, not
// a catch. Then it switches the canary off and runs the failing seed again.
func searchCanary(cs scenarios.CanaryScenario, maxSeeds int64, parallel int) canaryOutcome {
	start := time.Now()
	out := canaryOutcome{Canary: cs.Canary, Scenario: cs.Scenario.Name}
	if err := canary.Set(cs.Canary); err != nil {
		panic(err) // the names come from scenarios.Canaries, which the canary tests tie to package canary
	}
	var (
		mu        sync.Mutex
		first     int64 // lowest failing seed so far, 0 none
		failures  = map[int64]string{}
		next      = int64(1)
		wg        sync.WaitGroup
		seed1Done = make(chan struct{})
		known     atomic.Int64 // first, for the runs' trace writers
	)
	beyondFirst := func(seed int64) bool { // under mu
		return first != 0 && seed > first
	}
	take := func() (int64, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next > maxSeeds || beyondFirst(next) {
			return 0, false
		}
		next++
		return next - 1, true
	}
	worker := func() {
		defer wg.Done()
		for {
			seed, ok := take()
			if !ok {
				return
			}
			if seed > 1 {
				<-seed1Done
				mu.Lock()
				skip := beyondFirst(seed)
				mu.Unlock()
				if skip {
					return
				}
			}
			abandon := func() bool { f := known.Load(); return f != 0 && seed > f }
			passed, failure := canaryRun(cs.Scenario, seed, abandon)
			if seed == 1 {
				close(seed1Done)
			}
			mu.Lock()
			switch {
			case failure == abandonedRun:
			case passed:
				out.Runs++
			case inconclusive(failure):
				out.Runs++
				out.Inconclusive = append(out.Inconclusive, seed)
			default:
				out.Runs++
				failures[seed] = failure
				if first == 0 || seed < first {
					first = seed
					known.Store(first)
				}
			}
			mu.Unlock()
		}
	}
	for range min(int64(parallel), maxSeeds) {
		wg.Add(1)
		go worker()
	}
	wg.Wait()
	if err := canary.Set(""); err != nil {
		panic(err)
	}
	slices.Sort(out.Inconclusive)
	out.Seed, out.Failure = first, failures[first]
	if first != 0 {
		out.BaselinePassed, out.BaselineFailure = baselineRun(cs.Scenario, first)
	}
	out.Wall = time.Since(start)
	return out
}

// inconclusive reports whether a run failed only because the checker could not decide (a
// search that hit its time bound): that says nothing about the canary either way.
func inconclusive(failure string) bool {
	return strings.HasPrefix(failure, "checker verdict "+string(linearizability.VerdictUnknown))
}

// canaryRun and baselineRun run one seed with the canary on and off; tests replace them.
var (
	canaryRun   = runStopAtFailure
	baselineRun = func(sc scenarios.Scenario, seed int64) (bool, string) {
		res := sim.Run(sc, seed, sim.Options{})
		return res.Passed, res.Failure
	}
)

// abandonedRun is runStopAtFailure's failure for a run stopped because abandon said so.
const abandonedRun = "abandoned: a lower seed already failed"

// runStopAtFailure runs one seed and stops it at the simulator's first FAIL line: a run
// whose logs diverged can spend many times its usual wall time simulating the rest (an
// append/reject storm between members that disagree), and the verdict is already in. It
// also stops it, with abandonedRun, at the first trace line after abandon reports true. The
// failure returned is the FAIL line's, or sim.Run's own when the run failed otherwise (a
// panic, the checker at the end).
func runStopAtFailure(sc scenarios.Scenario, seed int64, abandon func() bool) (passed bool, failure string) {
	stop := &stopAtFailure{abandon: abandon}
	res := sim.Run(sc, seed, sim.Options{Trace: stop})
	if stop.failure != "" {
		return false, stop.failure
	}
	return res.Passed, res.Failure
}

// stopAtFailure is a sim trace writer that panics at the first "t=<ns> FAIL <why>" line;
// sim.Run recovers it as a failed run.
type stopAtFailure struct {
	failure string
	abandon func() bool // nil: never
}

func (s *stopAtFailure) Write(p []byte) (int, error) {
	if s.failure == "" && s.abandon != nil && s.abandon() {
		s.failure = abandonedRun
		panic("canary search: " + abandonedRun)
	}
	if s.failure == "" && bytes.HasPrefix(p, []byte("t=")) {
		if _, rest, ok := bytes.Cut(p, []byte(" ")); ok && bytes.HasPrefix(rest, []byte("FAIL ")) {
			s.failure = strings.TrimSpace(string(rest[len("FAIL "):]))
			panic("canary search: stopped at the run's first failure: " + s.failure)
		}
	}
	return len(p), nil
}

func describeOutcome(o canaryOutcome, maxSeeds int64) string {
	switch {
	case o.Seed == 0:
		return fmt.Sprintf("MISSED: no run of seeds 1..%d failed", maxSeeds) + inconclusiveNote(o)
	case !o.BaselinePassed:
		return fmt.Sprintf("NOT COUNTED: seed %d fails without the canary too: %s", o.Seed, firstLine(o.BaselineFailure))
	default:
		return fmt.Sprintf("caught at seed %d: %s", o.Seed, firstLine(o.Failure)) + inconclusiveNote(o)
	}
}

func inconclusiveNote(o canaryOutcome) string {
	if len(o.Inconclusive) == 0 {
		return ""
	}
	return fmt.Sprintf(" (inconclusive, checker verdict unknown: seeds %v)", o.Inconclusive)
}

// printCanaries writes the table, each canary's first failure and replay command, and the
// summary line last; it returns how many were caught.
func printCanaries(w io.Writer, outcomes []canaryOutcome, maxSeeds int64) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "canary\tcaught\tseeds\tscenario\twall")
	caught := 0
	for _, o := range outcomes {
		yes, seeds := "no", fmt.Sprintf(">%d", maxSeeds)
		if o.Seed != 0 {
			seeds = fmt.Sprint(o.Seed)
		}
		if o.Caught() {
			yes = "yes"
			caught++
		} else if o.Seed != 0 {
			yes = "no (fails without it)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", o.Canary, yes, seeds, o.Scenario, o.Wall.Round(100*time.Millisecond))
	}
	_ = tw.Flush()
	for _, o := range outcomes {
		fmt.Fprintf(w, "%s: %s\n", o.Canary, describeOutcome(o, maxSeeds))
		if o.Seed != 0 {
			fmt.Fprintf(w, "  replay: go run -tags canary ./cmd/ballast-sim run -canary %s -scenario %s -seed %d -trace\n", o.Canary, o.Scenario, o.Seed)
		}
	}
	fmt.Fprintf(w, "canaries: %d caught, %d missed\n", caught, len(outcomes)-caught)
	return caught
}

// canaryFlag registers -canary on run's flag set. apply, called after parsing, switches the
// named canary on (refused in a normal build and for unknown names) and, when no -scenario
// was given, points *scenario at the canary's own scenario.
func canaryFlag(fs *flag.FlagSet) (apply func(scenarioSet bool, scenario *string) error) {
	name := fs.String("canary", "", "switch canary `NAME` on for every run (canary builds only; default scenario: the canary's)")
	return func(scenarioSet bool, scenario *string) error {
		if *name == "" {
			return nil
		}
		if !canary.Enabled {
			return fmt.Errorf("-canary %s: %w", *name, canary.ErrNotCanaryBuild)
		}
		cs, ok := scenarios.CanaryByName(*name)
		if !ok {
			return fmt.Errorf("-canary %q: no such canary with a scenario (known: %s)", *name, strings.Join(canaryNames(), ", "))
		}
		if err := canary.Set(*name); err != nil {
			return err
		}
		if !scenarioSet {
			*scenario = cs.Scenario.Name
		}
		return nil
	}
}

// canaryScenario finds a canary's scenario by its scenario name (they are not in the
// catalogue, but run takes them by name, with or without a canary).
func canaryScenario(name string) (scenarios.Scenario, bool) {
	for _, cs := range scenarios.Canaries() {
		if cs.Scenario.Name == name {
			return cs.Scenario, true
		}
	}
	return scenarios.Scenario{}, false
}

// withCanary turns a replay command into one that switches the active canary on, if any.
func withCanary(cmd string) string {
	if c := canary.Active(); c != "" {
		return strings.Replace(cmd, "ballast-sim run ", "go run -tags canary ./cmd/ballast-sim run -canary "+c+" ", 1)
	}
	return cmd
}
