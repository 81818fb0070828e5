// Command ballast-bench is the load tool for comparing Ballast with etcd, in the shape of
// etcd's tools/benchmark, against any etcd-API endpoints (Ballast's or etcd's): the
// workloads put, range (linearizable or serializable), txn-put (compare-and-swap), watch
// (watchers and --clients writers: the latency from a put to its events) and lease-keepalive, with
// etcd's flags (--endpoints --conns --clients --total --key-size --val-size
// --key-space-size --sequential-keys) and --duration as an alternative to --total; a
// progress bar on stderr; a summary with ops/s, nearest-rank p50/p90/p99/p99.9 latency
// and errors by gRPC code, or the same as JSON with -json. The compare subcommand is
// make bench-etcd's runner: it starts a three-member Ballast and a three-member etcd on
// loopback and runs the same workloads against each, alternating.
//
// One file per concern: config.go (the shared flags and connections), load.go (the closed
// loop and the progress bar), stats.go (quantiles), output.go (the summary), one file per
// workload, compare.go (the side-by-side runner), cluster.go (its members as processes),
// scaling.go (its throughput curves and their page), memory.go (RSS with N keys) and
// large.go (make bench-large: a cluster filled to GiBs per member).
//
// Imports: etcd's client and API packages, progressbar; nothing of Ballast's (compare runs
// the servers as processes). Its tests start a Ballast cluster in-process (rpc/embed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// runFunc runs a workload with the positional arguments left after the flags.
type runFunc func(ctx context.Context, args []string) (report, error)

// command is one workload: setup registers its own flags (besides the shared ones) and
// returns what runs it.
type command struct {
	name, args, help string
	setup            func(fs *flag.FlagSet, cfg *config) runFunc
}

var commands = []command{
	{"put", "", "put keys of the key space", putCommand},
	{"range", "KEY [END]", "range over KEY (to END, or with --prefix every key under it)", rangeCommand},
	{"txn-put", "", "compare-and-swap txns: put if the key's mod revision is the one last seen", txnPutCommand},
	{"watch", "", "watchers on the key space, --clients writers; latency from each put to its events", watchCommand},
	{"lease-keepalive", "", "keep-alives of one lease per client", leaseKeepaliveCommand},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ballast-bench COMMAND [flags]   (ballast-bench COMMAND -h for its flags)")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", strings.TrimSpace(c.name+" "+c.args), c.help)
	}
	fmt.Fprintf(w, "  %-16s %s\n", "compare", "make bench-etcd's runner: Ballast and etcd v3.7.3 side by side (compare -h)")
	fmt.Fprintf(w, "  %-16s %s\n", "large", "make bench-large's runner: a 3-member Ballast filled to GiBs per member, then put throughput, restart, catch-up by snapshot and snapshot save (large -h)")
}

// run is the whole program: exit status 0 done, 1 the run failed, 2 a bad command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) < 1 {
			return 2
		}
		return 0
	}
	if args[0] == "compare" {
		return runCompare(ctx, args[1:], stdout, stderr)
	}
	if args[0] == "large" {
		return runLarge(ctx, args[1:], stdout, stderr)
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "ballast-bench: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ballast-bench %s [flags]\n%s\n", strings.TrimSpace(cmd.name+" "+cmd.args), cmd.help)
		fs.PrintDefaults()
	}
	cfg := &config{}
	cfg.flags(fs)
	runIt := cmd.setup(fs, cfg)
	pos, err := cfg.parse(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ballast-bench %s: %v\n", cmd.name, err)
		return 2
	}
	if !cfg.json {
		cfg.progress = stderr
	}
	r, err := runIt(ctx, pos)
	var usageErr usageError
	if errors.As(err, &usageErr) {
		fmt.Fprintf(stderr, "ballast-bench %s: %v\n", cmd.name, err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "ballast-bench %s: %v\n", cmd.name, err)
		return 1
	}
	if err := r.print(stdout, cfg.json); err != nil {
		fmt.Fprintf(stderr, "ballast-bench %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

// usageError is a bad command line found by a workload (its positional arguments or a
// combination of its flags): exit status 2, as for a flag the parser refused.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func noArgs(name string, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("%s takes no arguments, got %q", name, args)}
	}
	return nil
}
