package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/sim"
)

// shrink runs `ballast-sim shrink -scenario X -seed S [-canary NAME]`: sim.Shrink with its
// progress on stderr, then the result and the command that reproduces the reduced run on
// stdout (with -canary NAME when a canary was on, see withCanary).
func shrink(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ballast-sim shrink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("scenario", "", "scenario `NAME` from the catalogue (required)")
	seed := fs.Int64("seed", 0, "the failing run's seed `S` (required)")
	applyCanary := canaryFlag(fs) // canaries.go: -canary NAME, whose scenario is the default
	bad := func(err error) int {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "ballast-sim shrink: %v\n", err)
		}
		return exitBadUsage
	}
	if err := fs.Parse(args); err != nil {
		return bad(err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := applyCanary(set["scenario"], name); err != nil {
		return bad(err)
	}
	// every run of the search has the canary on; the printed command switches it on again
	defer func() { _ = canary.Set("") }()
	switch {
	case fs.NArg() > 0:
		return bad(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	case *name == "" || *name == "all":
		return bad(errors.New("name the failing run's scenario: -scenario X (one scenario, not all)"))
	case !set["seed"]:
		return bad(errors.New("name the failing run's seed: -seed S"))
	}
	sc, err := findScenario(*name)
	if err != nil {
		return bad(err)
	}
	if err := sc.Validate(); err != nil {
		return bad(err)
	}

	start := time.Now()
	res, err := sim.Shrink(sc, *seed, sim.ShrinkOptions{Progress: stderr})
	wall := time.Since(start).Round(time.Millisecond)
	if errors.Is(err, sim.ErrPasses) {
		fmt.Fprintf(stdout, "%s seed %d passes: there is no failure to shrink (%d faults, %d run, %v)\n",
			sc.Name, *seed, len(res.Schedule), res.Runs, wall)
		return exitFailed
	}
	if err != nil {
		fmt.Fprintf(stderr, "ballast-sim shrink: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s seed %d fails (%s): %s\n", sc.Name, *seed, res.Class, firstLine(res.Failure))
	if strings.HasPrefix(res.Class, "checker "+string(linearizability.VerdictUnknown)) {
		fmt.Fprintln(stdout, "note: an unknown verdict is a checker search that ran out of its wall-clock timeout; on another machine or load the reduction may differ")
	}
	switch n, k := len(res.Schedule), len(res.Kept); {
	case n == 0:
		fmt.Fprintf(stdout, "the run has no faults to remove (%d run, %v)\n", res.Runs, wall)
	case k == n:
		fmt.Fprintf(stdout, "all %d faults are needed: removing any one makes the failure disappear (%d runs, %v)\n", n, res.Runs, wall)
	default:
		fmt.Fprintf(stdout, "reduced %d faults to %d in %d runs (%v); no remaining fault can be removed without the failure disappearing\n",
			n, k, res.Runs, wall)
	}
	if len(res.Kept) > 0 {
		fmt.Fprintln(stdout, "remaining faults (index in the run's fault list):")
		for _, i := range res.Kept {
			fmt.Fprintf(stdout, "  #%d %s\n", i, sim.FormatFault(res.Schedule[i]))
		}
	}
	if len(res.Skip) > 0 {
		fmt.Fprintf(stdout, "reduced run fails: %s\n", firstLine(res.Reduced.Failure))
	}
	fmt.Fprintf(stdout, "reproduce: %s\n", replayCommand(sc.Name, *seed, res.Skip))
	return exitOK
}
