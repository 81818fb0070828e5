// Command ballast is the Ballast server: one member of a cluster that serves etcd's v3 API
// (gRPC, with HTTP /health beside it) and takes etcd's flags, so that etcdctl, clientv3 and an
// etcd docker-compose file work with only the binary changed. Installed (or linked) under the
// name etcd it answers as etcd does; under any other name as ballast.
//
//	ballast --name m1 --data-dir m1.etcd \
//	  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
//	  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
//	  --initial-cluster m1=http://127.0.0.1:2380,m2=...,m3=... --initial-cluster-state new
//
// Flags are parsed as etcd parses them (flags.go): every flag of etcd v3.7's --help is either
// honoured or refused at start-up with "flag --X is not supported yet: REASON"
// (flagtable.go), ETCD_* variables fill the flags not given, and --config-file reads etcd's
// YAML instead of both (configfile.go). The member is assembled by rpc/embed. Logs are zap's
// shape from log/slog (logging.go): JSON or console lines, on stderr, stdout or files, with
// etcd's milestones, among them "ready to serve client requests". SIGINT and SIGTERM stop the member gracefully (leadership handed off
// first) and exit 0; a member removed from the cluster stops with etcd's message and exits 1.
//
// `ballast snapshot restore FILE ...` and `ballast snapshot status FILE` are etcdutl's
// snapshot commands (snapshot.go).
//
// Exit codes: 0 after a clean stop, --help or --version; 2 for a command line the flag
// package refuses (an unknown flag, a malformed value); 1 for a configuration etcd's checks
// refuse, a flag not supported yet, a failed start or a fatal error while serving.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/ballastdb/ballast/rpc/embed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// printVersion prints etcd's --version lines (tools parse the first), then Ballast's own.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "etcd Version: %s\nGit SHA: %s\nGo Version: %s\nGo OS/Arch: %s/%s\nBallast Version: %s\n",
		etcdVersion, gitSHA(), runtime.Version(), runtime.GOOS, runtime.GOARCH, ballastVersion)
}

// ballastVersion is Ballast's own release.
const ballastVersion = "0.1.0-dev"

// gitSHA is the commit the binary was built from (Go's VCS stamp, short as etcd's), or
// "Not provided (use ./build instead of go build)" as etcd says without one.
func gitSHA() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				return s.Value[:7]
			}
		}
	}
	return "Not provided (use ./build instead of go build)"
}

// role is the name the program answers to: "etcd" when run as etcd (a link or a renamed
// binary), else "ballast".
func role(argv0 string) string {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if base == "etcd" {
		return "etcd"
	}
	return "ballast"
}

// run is the whole program: parse, start, serve until ctx ends (a signal) or the member fails.
func run(ctx context.Context, argv, environ []string, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		argv = []string{"ballast"}
	}
	name := role(argv[0])
	if len(argv) > 1 && argv[1] == "snapshot" {
		return runSnapshot(ctx, argv[2:], stdout, stderr) // snapshot.go
	}
	opts, err := parseCommandLine(name, argv[1:], environ, stdout, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	var cerr *cmdError
	if errors.As(err, &cerr) && cerr.code == exitUsage {
		return exitUsage // the flag package printed the message and the usage
	}
	if err == nil && opts.printVersion {
		printVersion(stdout)
		return 0
	}
	if err != nil {
		// The refusal goes to stderr whatever --log-outputs says: it may be the refused value.
		lg := newLogger(stderr, opts.logLevel, logFormatJSON)
		lg.Info("Running: ", "args", argv)
		lg.Warn("failed to verify flags", "error", err.Error())
		return exitConfig
	}
	out, closeLogs, err := openLogOutputs(opts.log, stdout, stderr)
	if err != nil {
		newLogger(stderr, opts.logLevel, logFormatJSON).Warn("failed to verify flags", "error", err.Error())
		return exitConfig
	}
	defer closeLogs()
	lg := newLogger(out, opts.logLevel, opts.log.format)
	lg.Info("Running: ", "args", argv)
	for _, l := range opts.infos {
		lg.Info(l.msg, l.args...)
	}
	for _, w := range opts.warnings {
		lg.Warn(w)
	}
	cfg := opts.cfg
	cfg.Logger = lg
	srv, err := embed.Start(ctx, cfg)
	var derr *embed.DiscoveryError
	if errors.As(err, &derr) {
		// etcd's words for any failed discovery, not only a reused token.
		lg.Warn("failed to bootstrap; discovery token was already used", "discovery-token", cfg.Discovery.Token,
			"discovery-endpoints", cfg.Discovery.Endpoints, "error", err.Error())
		lg.Warn("do not reuse discovery token; generate a new one to bootstrap a cluster")
		return 1
	}
	if err != nil {
		lg.Error("failed to start", "error", err.Error())
		return 1
	}
	go notifyReady(ctx, srv.ReadyNotify(), environ, lg)
	select {
	case <-ctx.Done():
		lg.Info("received signal; shutting down")
		srv.Stop()
		return 0
	case err := <-srv.Err():
		lg.Error("member stopped", "error", err.Error())
		srv.Stop()
		return 1
	}
}
