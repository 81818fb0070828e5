package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ballastdb/ballast/chaos"
)

// canariesCmd proves the Docker world can fail: for each canary whose scenario translates
// (chaos.Canaries; -canary NAME for one), it runs the canary image with that canary on, in
// power-loss mode, on seeds 1, 2, ... up to -runs, and stops at the first run that finds a
// violation (caught). Exit 0 when every canary was caught, 1 when one was not, 2 on bad
// usage or a setup failure.
//
//	ballast-chaos canaries [-runs 5] [-canary NAME,...] [-image IMAGE | -stage DIR] [-out DIR]
func canariesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ballast-chaos canaries", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 5, "runs per canary (seeds 1..runs) before it counts as not caught")
	only := fs.String("canary", "", "canaries, comma-separated (default: every canary whose scenario a Docker run takes)")
	image := fs.String("image", "", "the canary image (default: BALLAST_CANARY_IMAGE, else built from the stage .bin/image-ballast-canary, else .bin/image-ballast-canary.id, else ballast-canary:latest)")
	stage := fs.String("stage", "", "make chaos-images' staged build context of the canary build to build the image from, once per binary (.bin/image-ballast-canary)")
	out := fs.String("out", filepath.Join("reports", "chaos-canaries"), `report directory ("": none)`)
	if err := fs.Parse(args); err != nil {
		return exitSetup
	}
	if fs.NArg() > 0 || *runs < 1 {
		fmt.Fprintf(stderr, "ballast-chaos canaries: unexpected arguments %q or -runs %d below 1\n", fs.Args(), *runs)
		return exitSetup
	}
	list := chaos.Canaries()
	var names []string
	for _, c := range list {
		names = append(names, c.Canary)
	}
	if *only != "" {
		var picked []chaos.CanaryRun
		for _, name := range strings.Split(*only, ",") {
			i := slices.Index(names, name)
			if i < 0 {
				fmt.Fprintf(stderr, "ballast-chaos canaries: %q is not a canary whose scenario a Docker run takes (those are %v)\n", name, names)
				return exitSetup
			}
			picked = append(picked, list[i])
		}
		list = picked
	}
	if *image != "" && *stage != "" {
		fmt.Fprintln(stderr, "ballast-chaos canaries: -image and -stage name the image two ways: give one")
		return exitSetup
	}
	if *image == "" && *stage == "" {
		*image, *stage = defaultImage(&options{canary: "any"})
	}
	img, err := stageImage(ctx, *image, *stage, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ballast-chaos canaries: %v\n", err)
		return exitSetup
	}
	*image = img
	type row struct {
		canary, scenario string
		caughtAt         int // 0: not caught
		first            string
	}
	var rows []row
	code := exitOK
	for _, c := range list {
		r := row{canary: c.Canary, scenario: c.Scenario}
		for seed := int64(1); seed <= int64(*runs) && r.caughtAt == 0; seed++ {
			cfg := chaos.RunConfig{Image: *image, Scenario: c.Scenario, Seed: seed, Canary: c.Canary, PowerLoss: true, HealTimeout: 20 * time.Second,
				Logf: func(f string, a ...any) { fmt.Fprintf(stderr, c.Canary+": "+f+"\n", a...) }}
			if *out != "" {
				cfg.Out = filepath.Join(*out, fmt.Sprintf("%s-%d", c.Canary, seed))
			}
			rep, err := chaos.Run(ctx, cfg)
			var setup *chaos.SetupError
			if errors.As(err, &setup) && ctx.Err() == nil && seed < int64(*runs) {
				// A broken member can keep the run from applying its faults (no leader to
				// isolate): the seed proves nothing either way, and the next one runs.
				fmt.Fprintf(stderr, "%s seed %d: %v (next seed)\n", c.Canary, seed, err)
				continue
			}
			if err != nil {
				fmt.Fprintf(stderr, "%s seed %d: %v\n", c.Canary, seed, err)
				return exitSetup
			}
			if !rep.Passed() {
				r.caughtAt, r.first = int(seed), rep.Problems[0]
			}
		}
		if r.caughtAt == 0 {
			code = exitViolation
		}
		rows = append(rows, r)
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "canary\tscenario\tcaught\tfirst problem")
	for _, r := range rows {
		caught := fmt.Sprintf("NOT CAUGHT in %d runs", *runs)
		if r.caughtAt > 0 {
			caught = fmt.Sprintf("seed %d", r.caughtAt)
		}
		first := r.first
		if len(first) > 160 {
			first = first[:160] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.canary, r.scenario, caught, first)
	}
	tw.Flush()
	return code
}
