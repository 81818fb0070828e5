// Command ballast-sim runs the scenario catalogue (package scenarios) in the deterministic
// simulator (package sim), checks every run's history, and reports.
//
//	ballast-sim run [-scenario NAME|all] [-seeds N] [-seed S] [-parallel P] [-out DIR]
//	                [-json] [-trace]
//	ballast-sim shrink -scenario X -seed S     (not implemented yet: exits 2)
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
// seed) writes the run's trace to stdout and the table to stderr.
//
// With -out DIR (default reports/sim; "" writes nothing) the command writes DIR/index.html,
// the page a person opens first: one row per scenario, links to every failing run's report
// and, for the first seed of each scenario, its report even when it passed. A run's report
// lives in DIR/<scenario>-<seed>/: report.html and summary.json (linearizability.WriteReport)
// and history.jsonl (its history, which cmd/ballast-check reads).
//
// Exit status: 0 every run passed; 1 a run failed (or its report could not be written); 2 bad
// usage (unknown command, scenario or flag).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/ballastdb/ballast/scenarios"
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
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  ballast-sim run [-scenario NAME|all] [-seeds N] [-seed S] [-parallel P] [-out DIR] [-json] [-trace]
  ballast-sim shrink -scenario X -seed S   (not implemented yet)`)
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
		fmt.Fprintln(stderr, "shrink: not implemented yet")
		return exitBadUsage
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
	if err := fs.Parse(args); err != nil {
		return runConfig{}, err
	}
	if fs.NArg() > 0 {
		return runConfig{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := runConfig{parallel: *parallel, outDir: *outDir, json: *asJSON, trace: *trace}
	cat := catalogue()
	if *name == "all" {
		cfg.scenarios = cat
	} else {
		for _, s := range cat {
			if s.Name == *name {
				cfg.scenarios = []scenarios.Scenario{s}
			}
		}
		if cfg.scenarios == nil {
			names := make([]string, len(cat))
			for i, s := range cat {
				names[i] = s.Name
			}
			return runConfig{}, fmt.Errorf("unknown scenario %q (known: all, %s)", *name, strings.Join(names, ", "))
		}
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
	if cfg.parallel < 1 {
		return runConfig{}, fmt.Errorf("-parallel %d: want at least 1", cfg.parallel)
	}
	if cfg.trace && (len(cfg.scenarios) != 1 || len(cfg.seeds) != 1) {
		return runConfig{}, fmt.Errorf("-trace replays one run: name one scenario and one seed (-scenario X -seed S), not %d scenarios x %d seeds",
			len(cfg.scenarios), len(cfg.seeds))
	}
	return cfg, nil
}
