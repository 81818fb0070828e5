// Command ballast-chaos runs Docker chaos runs (package chaos): real Ballast server processes
// in containers, killed, paused, restarted and cut off while real etcd clients record a
// history, which is then checked.
//
//	ballast-chaos run [-scenario NAME|all] [-nodes N] [-duration D] [-clients C] [-seed S]
//	                  [-image IMAGE | -stage DIR] [-out DIR] [-json] [-power-loss] [-canary NAME]
//	ballast-chaos run -endpoints URL,... [-prefix P] [-duration D] [-clients C] [-seed S]
//	                  [-kill-cmd CMD] [-restart-cmd CMD] [-out DIR] [-json]
//	ballast-chaos list
//	ballast-chaos canaries [-runs 5] [-canary NAME,...] [-image IMAGE | -stage DIR] [-out DIR]
//
// run -endpoints runs the same traffic and checks against a cluster that is already running
// (chaos.RunEndpoints): no Docker, keys only under -prefix (empty at the start, deleted at
// the end), -kill-cmd and -restart-cmd (sh -c) run at 30% and 55% of the duration as the
// user's own faults. The cluster must have no other writer during the run.
//
// -power-loss runs the chaos build's image (make chaos-images) with --chaos-power-loss: a
// kill -9 is a power loss, and slow-disk faults apply. -canary NAME runs the canary image
// with that canary on (implies -power-loss); canaries (canaries.go) runs each canary's own
// scenario until it is caught.
//
// run starts a cluster per scenario (the catalogue's own definition, or a Docker-only one:
// list prints them with their faults), drives traffic and the scenario's faults, heals, and
// checks (chaos.Run). -scenario all runs every scenario list prints, one after another, at
// the same seed. While a run goes, progress lines on stderr give the elapsed time, the
// operations and the faults so far; at the end a table has one row per run. With -json the
// last line of stdout is one JSON object {"runs": [chaos.Report...], "failed": N}.
//
// -image is the image's id or tag; -stage DIR is a build context make image staged
// (.bin/image, .bin/image-ballast-chaos, .bin/image-ballast-canary), which chaos.BuildImage
// builds with the Dockerfile found above it through the engine's API, tagged with the
// context's hash (<name>-build:<hash>): once per binary, an image with that tag is run as it
// is. The default: BALLAST_IMAGE, else make image's stage .bin/image beside a Dockerfile
// (looked up from the working directory upwards), else the id make image wrote to
// .bin/image.id, else ballast:latest. A run never pulls: an image the engine lacks is refused
// before anything is made. -seed defaults to one drawn from the clock, printed so the run can be
// repeated (a Docker run is not reproducible the way a simulator run is: the seed fixes the
// clients' choices and the drawn targets, not the timing). -out DIR (default reports/chaos;
// "" writes nothing) gets DIR/<scenario>-<seed>/ per run: history.jsonl (for
// cmd/ballast-check), the checker's summary.json and report.html, and chaos.json (the run's
// report).
//
// An interrupt (SIGINT, SIGTERM) stops the run and removes every container, network and
// volume it made before the program exits.
//
// Exit status: 0 every run passed every check; 1 a run found a violation (its problems are
// printed); 2 bad usage or a setup failure (no Docker, no image, a run that could not be
// made).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ballastdb/ballast/chaos"
)

// Exit statuses.
const (
	exitOK        = 0
	exitViolation = 1
	exitSetup     = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: ballast-chaos run|list|canaries [flags] (ballast-chaos run -h lists the flags)")
		return exitSetup
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:], stdout, stderr)
	case "list":
		return listCmd(stdout)
	case "canaries":
		return canariesCmd(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "ballast-chaos: unknown command %q (run, list, canaries)\n", args[0])
		return exitSetup
	}
}

func listCmd(stdout io.Writer) int {
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmembers\tduration\tfaults")
	for _, s := range chaos.Scenarios() {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Name, s.Members, s.Duration, strings.Join(s.FaultSummary, "; "))
	}
	tw.Flush()
	return exitOK
}

// options are run's flags.
type options struct {
	scenario  string
	nodes     int
	duration  time.Duration
	clients   int
	seed      int64
	image     string
	stage     string
	out       string
	json      bool
	powerLoss bool
	canary    string
	// endpoints mode
	endpoints           []string
	prefix              string
	killCmd, restartCmd string
}

func parseRun(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("ballast-chaos run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.scenario, "scenario", "leader-crash", "scenario name, or all (ballast-chaos list names them)")
	fs.IntVar(&o.nodes, "nodes", 0, "members (0: the scenario's own)")
	fs.DurationVar(&o.duration, "duration", 0, "traffic and faults per run (0: the scenario's own); the schedule scales with it")
	fs.IntVar(&o.clients, "clients", 8, "traffic clients")
	fs.Int64Var(&o.seed, "seed", 0, "seed (0: drawn from the clock and printed)")
	fs.StringVar(&o.image, "image", "", "Ballast image id or tag (default: BALLAST_IMAGE, else built from the stage .bin/image, else .bin/image.id, else ballast:latest)")
	fs.StringVar(&o.stage, "stage", "", "make image's staged build context to build the image from, once per binary (.bin/image, .bin/image-ballast-chaos, ...)")
	fs.StringVar(&o.out, "out", filepath.Join("reports", "chaos"), `report directory ("": none)`)
	fs.BoolVar(&o.json, "json", false, "print a JSON summary as the last line of stdout")
	fs.BoolVar(&o.powerLoss, "power-loss", false, "members run with --chaos-power-loss (the chaos image): a kill -9 is a power loss")
	fs.StringVar(&o.canary, "canary", "", "the canary the members run (the canary image; implies -power-loss)")
	endpoints := fs.String("endpoints", "", "comma-separated client URLs of a running cluster: traffic and checks there, no Docker, no faults of the runner's")
	fs.StringVar(&o.prefix, "prefix", "", "with -endpoints: the (empty) prefix every key of the run goes under, deleted at the end (default /ballast-chaos/<run id>/)")
	fs.StringVar(&o.killCmd, "kill-cmd", "", "with -endpoints: a shell command run at 30% of the duration to inject a fault")
	fs.StringVar(&o.restartCmd, "restart-cmd", "", "with -endpoints: a shell command run at 55% of the duration to undo it")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.nodes < 0 || o.clients < 1 || o.duration < 0 {
		return nil, fmt.Errorf("-nodes %d, -clients %d, -duration %s: nodes must not be negative, clients at least 1, duration not negative", o.nodes, o.clients, o.duration)
	}
	if o.scenario != "all" && *endpoints == "" {
		if _, err := chaos.LookupScenario(o.scenario); err != nil {
			return nil, err
		}
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()%1_000_000 + 1
	}
	if *endpoints != "" {
		o.endpoints = strings.Split(*endpoints, ",")
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, n := range []string{"scenario", "nodes", "image", "stage", "power-loss", "canary"} {
			if set[n] {
				return nil, fmt.Errorf("-%s does not go with -endpoints (a run against a running cluster has no scenario, image or members of its own)", n)
			}
		}
		if o.duration == 0 {
			o.duration = 30 * time.Second
		}
		return o, nil
	}
	if o.prefix != "" || o.killCmd != "" || o.restartCmd != "" {
		return nil, errors.New("-prefix, -kill-cmd and -restart-cmd go with -endpoints only")
	}
	if o.canary != "" {
		o.powerLoss = true
	}
	if o.image != "" && o.stage != "" {
		return nil, errors.New("-image and -stage name the image two ways: give one")
	}
	if o.image == "" && o.stage == "" {
		o.image, o.stage = defaultImage(o)
	}
	return o, nil
}

// defaultImage is the image to run, or the stage to build it from: for a plain run
// BALLAST_IMAGE, else make image's stage .bin/image in a directory that also holds a
// Dockerfile, else .bin/image.id, looked up from the working directory upwards, else
// ballast:latest; for -power-loss the chaos build's (BALLAST_CHAOS_IMAGE,
// .bin/image-ballast-chaos, .bin/image-ballast-chaos.id, ballast-chaos:latest), for -canary
// the canary build's (BALLAST_CANARY_IMAGE, .bin/image-ballast-canary,
// .bin/image-ballast-canary.id, ballast-canary:latest).
func defaultImage(o *options) (image, stage string) {
	env, name, tag := "BALLAST_IMAGE", "image", "ballast:latest"
	switch {
	case o.canary != "":
		env, name, tag = "BALLAST_CANARY_IMAGE", "image-ballast-canary", "ballast-canary:latest"
	case o.powerLoss:
		env, name, tag = "BALLAST_CHAOS_IMAGE", "image-ballast-chaos", "ballast-chaos:latest"
	}
	if img := os.Getenv(env); img != "" {
		return img, ""
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			st := filepath.Join(dir, ".bin", name)
			if isDir(st) && isFile(filepath.Join(dir, "Dockerfile")) {
				return "", st
			}
			if data, err := os.ReadFile(filepath.Join(dir, ".bin", name+".id")); err == nil {
				return strings.TrimSpace(string(data)), ""
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return tag, ""
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// stageImage is image when stage is empty, else the tag chaos.BuildImage gives the stage's
// image (built now, or already there for this binary), with the Dockerfile found in the
// stage's parent directories (make image's stage is .bin/image-..., beside the Dockerfile).
func stageImage(ctx context.Context, image, stage string, stderr io.Writer) (string, error) {
	if stage == "" {
		return image, nil
	}
	abs, err := filepath.Abs(stage)
	if err != nil {
		return "", err
	}
	var dockerfile string
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if isFile(filepath.Join(dir, "Dockerfile")) {
			dockerfile = filepath.Join(dir, "Dockerfile")
			break
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("-stage %s: no Dockerfile in a directory above it (make image stages .bin/image beside the project's Dockerfile)", stage)
		}
	}
	tag, built, err := chaos.BuildImage(ctx, chaos.BuildConfig{Stage: stage, Dockerfile: dockerfile,
		Logf: func(f string, a ...any) { fmt.Fprintf(stderr, "ballast-chaos: "+f+"\n", a...) }})
	if err != nil {
		return "", err
	}
	how := "built now"
	if !built {
		how = "built before for this binary"
	}
	fmt.Fprintf(stderr, "ballast-chaos: image %s from %s (%s)\n", tag, stage, how)
	return tag, nil
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseRun(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "ballast-chaos run: %v\n", err)
		}
		return exitSetup
	}
	if o.endpoints != nil {
		return endpointsRun(ctx, o, stdout, stderr)
	}
	names := []string{o.scenario}
	if o.scenario == "all" {
		names = nil
		for _, s := range chaos.Scenarios() {
			names = append(names, s.Name)
		}
	}
	if o.image, err = stageImage(ctx, o.image, o.stage, stderr); err != nil {
		fmt.Fprintf(stderr, "ballast-chaos run: %v\n", err)
		return exitSetup
	}
	fmt.Fprintf(stderr, "ballast-chaos: %d scenario(s), seed %d (repeat with -seed %d), image %s\n", len(names), o.seed, o.seed, o.image)
	var reports []*chaos.Report
	code := exitOK
	for _, name := range names {
		cfg := chaos.RunConfig{Image: o.image, Scenario: name, Nodes: o.nodes, Duration: o.duration, Clients: o.clients, Seed: o.seed,
			PowerLoss: o.powerLoss, Canary: o.canary,
			Logf: func(f string, a ...any) { fmt.Fprintf(stderr, name+": "+f+"\n", a...) }}
		if o.out != "" {
			cfg.Out = filepath.Join(o.out, fmt.Sprintf("%s-%d", name, o.seed))
		}
		rep, err := chaos.Run(ctx, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			code = exitSetup
			break
		}
		reports = append(reports, rep)
		if cfg.Out != "" {
			if err := writeJSON(filepath.Join(cfg.Out, "chaos.json"), rep); err != nil {
				fmt.Fprintf(stderr, "%s: writing its report: %v\n", name, err)
				code = exitSetup
			}
		}
		if !rep.Passed() && code == exitOK {
			code = exitViolation
		}
	}
	return finish(reports, o, code, stdout)
}

// finish prints the table, every failed run's problems and the JSON line, and returns code.
func finish(reports []*chaos.Report, o *options, code int, stdout io.Writer) int {
	if len(reports) > 0 {
		printTable(stdout, reports, o.out)
	}
	failed := 0
	for _, r := range reports {
		if !r.Passed() {
			failed++
			repeat := fmt.Sprintf("ballast-chaos run -scenario %s -seed %d", r.Scenario, r.Seed)
			if o.endpoints != nil {
				repeat = fmt.Sprintf("ballast-chaos run -endpoints %s -seed %d", strings.Join(o.endpoints, ","), r.Seed)
			}
			fmt.Fprintf(stdout, "\n%s seed %d FAILED (repeat: %s):\n", r.Scenario, r.Seed, repeat)
			for _, p := range r.Problems {
				fmt.Fprintf(stdout, "  - %s\n", p)
			}
		}
	}
	if o.json {
		line, err := json.Marshal(struct {
			Runs   []*chaos.Report `json:"runs"`
			Failed int             `json:"failed"`
		}{reports, failed})
		if err != nil {
			panic(err) // Report is plain data
		}
		fmt.Fprintln(stdout, string(line))
	}
	return code
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func printTable(w io.Writer, reports []*chaos.Report, out string) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tseed\tresult\toperations\tacked writes\tunknown\tfaults\tverdict\tchecker\twrites resumed after leader kill")
	for _, r := range reports {
		result := "ok"
		if !r.Passed() {
			result = fmt.Sprintf("FAILED (%d)", len(r.Problems))
		}
		var resumed []string
		for _, d := range r.WriteResumeAfterLeaderKill {
			resumed = append(resumed, d.Round(time.Millisecond).String())
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Scenario, r.Seed, result, r.Operations, r.AckedWrites, r.Unknown,
			len(r.Faults), r.Verdict, r.CheckerTime.Round(time.Millisecond), strings.Join(resumed, " "))
	}
	tw.Flush()
	if out != "" && len(reports) > 0 {
		fmt.Fprintf(w, "reports: %s/<scenario>-<seed>/report.html\n", out)
	}
}

// endpointsRun is run -endpoints: one run against a running cluster (chaos.RunEndpoints).
func endpointsRun(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	cfg := chaos.EndpointsConfig{Endpoints: o.endpoints, Prefix: o.prefix, Duration: o.duration, Clients: o.clients, Seed: o.seed,
		KillCmd: o.killCmd, RestartCmd: o.restartCmd, Logf: func(f string, a ...any) { fmt.Fprintf(stderr, "endpoints: "+f+"\n", a...) }}
	if o.out != "" {
		cfg.Out = filepath.Join(o.out, fmt.Sprintf("endpoints-%d", o.seed))
	}
	fmt.Fprintf(stderr, "ballast-chaos: endpoints %s, seed %d (repeat with -seed %d)\n", strings.Join(o.endpoints, ","), o.seed, o.seed)
	rep, err := chaos.RunEndpoints(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "endpoints: %v\n", err)
		return exitSetup
	}
	code := exitOK
	if cfg.Out != "" {
		if err := writeJSON(filepath.Join(cfg.Out, "chaos.json"), rep); err != nil {
			fmt.Fprintf(stderr, "endpoints: writing its report: %v\n", err)
			code = exitSetup
		}
	}
	if !rep.Passed() && code == exitOK {
		code = exitViolation
	}
	return finish([]*chaos.Report{rep}, o, code, stdout)
}
