// Command ballast-sim runs the scenario catalogue (package scenarios) in the deterministic
// simulator (package sim), checks every run's history, and reports.
//
//	ballast-sim run [-scenario NAME|all] [-seeds N] [-seed S] [-parallel P] [-out DIR]
//	                [-json] [-trace] [-skip I,J,...] [-shard i/n] [-results FILE]
//	ballast-sim merge [-out DIR] [-json] FILE...
//	ballast-sim shrink -scenario X -seed S [-canary NAME]
//	ballast-sim canaries [-seeds N] [-parallel P] [-canary NAME]   (canary builds, see canaries.go)
//
// run executes seeds 1..N (or exactly seed S) of the named scenario, or of every scenario in
// catalogue order, P runs at a time. Each sim.Run is single-goroutine and independent of the
// others, so parallelism changes only the wall time: results are gathered and printed in
// (scenario, seed) order. While it runs, a progress bar on stderr shows runs/s and the
// failures so far; then a table per scenario (runs, failures, simulated time, operations
// checked, faults injected) and every failing run with the command that replays it. With
// -json the last line of stdout is one JSON object:
//
//	{"runs":..,"failed":..,"ops":..,"sim_seconds":..,"wall_seconds":..,"digest":".."}
//
// where digest is a SHA-256 over every run's trace digest in (scenario, seed) order, so two
// equal invocations print equal digests whatever -parallel is. -trace (one scenario, one
// seed) writes the run's trace to stdout and the table to stderr. -skip (one scenario) leaves
// out the faults at those indices of each run's fault list (sim.Options.Skip): the command
// shrink prints reproduces its reduced run this way.
//
// -shard i/n keeps the seeds s with (s-1) mod n = i; -results FILE writes one JSON line per
// run. merge reads such files (from the shards of one invocation) and prints the table, the
// index page (over the run reports the shards wrote into the same -out DIR) and the -json line
// that a single run of all their seeds prints; the digest is the same, wall times differ. See
// shard.go.
//
// shrink reduces a failing run's fault list until no single fault can be removed without
// the failure (of the same sim.FailureClass) disappearing, see sim.Shrink. It prints one line
// per run to stderr, then the failure, the remaining faults with their indices, the number
// of runs, and the command that reproduces the reduced run:
//
//	reproduce: ballast-sim run -scenario X -seed S -skip 0,1,3
//
// Its exit status is 0 when it reduced the list (or the list was already 1-minimal, as a
// single fault is), 1 when the run does not fail at all (nothing to shrink), 2 on bad usage.
// In a canary build, -canary NAME shrinks a run with that canary on (its scenario is the
// default), and the printed command switches it on too.
//
// With -out DIR (default reports/sim; "" writes nothing) the command writes DIR/index.html,
// the page a person opens first: one row per scenario, links to every failing run's report
// and, for the first seed of each scenario, its report even when it passed. A run's report
// lives in DIR/<scenario>-<seed>/: report.html and summary.json (linearizability.WriteReport)
// and history.jsonl (its history, which cmd/ballast-check reads).
//
// run's exit status: 0 every run passed; 1 a run failed (or its report could not be written); 2 bad
// usage (unknown command, scenario or flag).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/ballastdb/ballast/scenarios"
	"github.com/ballastdb/ballast/sim"
)

// Exit statuses.
const (
	exitOK       = 0
	exitFailed   = 1
	exitBadUsage = 2
)

// catalogue is where run finds scenarios; tests replace it with tiny ones.
var catalogue = scenarios.Catalogue

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(sim.GCPercent)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  ballast-sim run [-scenario NAME|all] [-seeds N] [-seed S] [-parallel P] [-out DIR] [-json] [-trace] [-skip I,J,...] [-shard i/n] [-results FILE]
  ballast-sim merge [-out DIR] [-json] FILE...
  ballast-sim shrink -scenario X -seed S [-canary NAME]
  ballast-sim canaries [-seeds N] [-parallel P] [-canary NAME]   (canary builds; run also takes -canary NAME)`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitBadUsage
	}
	switch args[0] {
	case "run":
		cfg, err := parseRun(args[1:], stderr)
		if err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(stderr, "ballast-sim run: %v\n", err)
			}
			return exitBadUsage
		}
		return execute(cfg, stdout, stderr)
	case "shrink":
		return shrink(args[1:], stdout, stderr)
	case "canaries":
		return canaries(args[1:], stdout, stderr)
	case "merge":
		return merge(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stderr)
		return exitBadUsage
	default:
		fmt.Fprintf(stderr, "ballast-sim: unknown command %q\n", args[0])
		usage(stderr)
		return exitBadUsage
	}
}

// runConfig is a parsed `run` invocation.
type runConfig struct {
	scenarios []scenarios.Scenario
	seeds     []int64
	parallel  int
	outDir    string
	json      bool
	trace     bool
	skip      []int  // indices into each run's fault list (sim.Options.Skip)
	results   string // write one JSON line per run here (shard.go)
}

func parseRun(args []string, stderr io.Writer) (runConfig, error) {
	fs := flag.NewFlagSet("ballast-sim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("scenario", "all", "scenario `NAME` from the catalogue, or all")
	seeds := fs.Int("seeds", 3, "run seeds 1..`N` of each scenario")
	seed := fs.Int64("seed", 0, "run exactly seed `S` (instead of -seeds)")
	parallel := fs.Int("parallel", runtime.NumCPU(), "`P` runs at a time")
	outDir := fs.String("out", "reports/sim", "write index.html and run reports into `DIR` (\"\": none)")
	asJSON := fs.Bool("json", false, "print a JSON summary as the last line of stdout")
	trace := fs.Bool("trace", false, "write the run's trace to stdout (one scenario, one seed)")
	skip := fs.String("skip", "", "leave out the faults at indices `I,J,...` of each run's fault list (one scenario)")
	shard := fs.String("shard", "", "run only shard `i/n` of the seeds: seed s when (s-1) mod n = i")
	results := fs.String("results", "", "write one JSON line per run into `FILE`, for merge")
	applyCanary := canaryFlag(fs) // canaries.go
	if err := fs.Parse(args); err != nil {
		return runConfig{}, err
	}
	if fs.NArg() > 0 {
		return runConfig{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := applyCanary(set["scenario"], name); err != nil {
		return runConfig{}, err
	}

	cfg := runConfig{parallel: *parallel, outDir: *outDir, json: *asJSON, trace: *trace, results: *results}
	if *name == "all" {
		cfg.scenarios = catalogue()
	} else {
		sc, err := findScenario(*name)
		if err != nil {
			return runConfig{}, err
		}
		cfg.scenarios = []scenarios.Scenario{sc}
	}
	for _, s := range cfg.scenarios {
		if err := s.Validate(); err != nil {
			return runConfig{}, err
		}
	}
	switch {
	case set["seed"] && set["seeds"]:
		return runConfig{}, errors.New("-seed and -seeds exclude each other")
	case set["seed"]:
		cfg.seeds = []int64{*seed}
	case *seeds < 1:
		return runConfig{}, fmt.Errorf("-seeds %d: want at least 1", *seeds)
	default:
		for s := 1; s <= *seeds; s++ {
			cfg.seeds = append(cfg.seeds, int64(s))
		}
	}
	if set["shard"] {
		i, n, err := parseShard(*shard)
		if err != nil {
			return runConfig{}, err
		}
		if cfg.seeds = shardSeeds(cfg.seeds, i, n); len(cfg.seeds) == 0 {
			return runConfig{}, fmt.Errorf("-shard %s: no seed of this invocation falls in it", *shard)
		}
	}
	if cfg.parallel < 1 {
		return runConfig{}, fmt.Errorf("-parallel %d: want at least 1", cfg.parallel)
	}
	if cfg.trace && (len(cfg.scenarios) != 1 || len(cfg.seeds) != 1) {
		return runConfig{}, fmt.Errorf("-trace replays one run: name one scenario and one seed (-scenario X -seed S), not %d scenarios x %d seeds",
			len(cfg.scenarios), len(cfg.seeds))
	}
	if set["skip"] {
		if len(cfg.scenarios) != 1 {
			return runConfig{}, errors.New("-skip indexes one scenario's fault list: name one scenario (-scenario X)")
		}
		var err error
		if cfg.skip, err = parseSkip(*skip); err != nil {
			return runConfig{}, err
		}
		// refuse indices past a run's list before running anything
		for _, seed := range cfg.seeds {
			n := len(sim.Schedule(cfg.scenarios[0], seed))
			for _, i := range cfg.skip {
				if i >= n {
					return runConfig{}, fmt.Errorf("-skip %d: %s seed %d has %d faults (0..%d)", i, cfg.scenarios[0].Name, seed, n, n-1)
				}
			}
		}
	}
	return cfg, nil
}

// findScenario looks a scenario up in the catalogue by name.
func findScenario(name string) (scenarios.Scenario, error) {
	cat := catalogue()
	for _, s := range cat {
		if s.Name == name {
			return s, nil
		}
	}
	if s, ok := canaryScenario(name); ok {
		return s, nil
	}
	names := make([]string, len(cat))
	for i, s := range cat {
		names[i] = s.Name
	}
	return scenarios.Scenario{}, fmt.Errorf("unknown scenario %q (known: all, %s)", name, strings.Join(names, ", "))
}

// parseSkip parses "0,3,5" into ascending distinct indices.
func parseSkip(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || i < 0 {
			return nil, fmt.Errorf("-skip %q: want fault indices like 0,3,5", s)
		}
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out, nil
}

// formatSkip is parseSkip's inverse.
func formatSkip(skip []int) string {
	parts := make([]string, len(skip))
	for i, v := range skip {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}

// replayCommand is the command that runs exactly one (scenario, seed, skip) again.
func replayCommand(scenario string, seed int64, skip []int) string {
	cmd := fmt.Sprintf("ballast-sim run -scenario %s -seed %d", scenario, seed)
	if len(skip) > 0 {
		cmd += " -skip " + formatSkip(skip)
	}
	return withCanary(cmd)
}
