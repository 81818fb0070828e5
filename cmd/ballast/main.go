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
// Flags are parsed as etcd parses them (flags.go); the member is assembled by rpc/embed. Logs
// are JSON lines on stderr (log/slog) with etcd's milestones, among them "ready to serve
// client requests". SIGINT and SIGTERM stop the member gracefully (leadership handed off
// first) and exit 0; a member removed from the cluster stops with etcd's message and exits 1.
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
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
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
	opts, err := parseCommandLine(name, argv[1:], environ, stdout, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	var cerr *cmdError
	if errors.As(err, &cerr) && cerr.code == exitUsage {
		return exitUsage // the flag package printed the message and the usage
	}
	if err == nil && opts.printVersion {
		fmt.Fprintf(stdout, "%s Version: %s\netcd API Version: %s\nGo Version: %s\nGo OS/Arch: %s/%s\n",
			name, etcdVersion, etcdVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	lg := newLogger(stderr, opts.logLevel)
	lg.Info("Running: ", "args", argv)
	if err != nil {
		lg.Warn("failed to verify flags", "error", err.Error())
		return exitConfig
	}
	for _, w := range opts.warnings {
		lg.Warn(w)
	}
	cfg := opts.cfg
	cfg.Logger = lg
	srv, err := embed.Start(ctx, cfg)
	if err != nil {
		lg.Error("failed to start", "error", err.Error())
		return 1
	}
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

// newLogger writes JSON lines to w with etcd's (zap's) field names: level (lower case), ts,
// msg.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				a.Key = "ts"
			case slog.LevelKey:
				lv, _ := a.Value.Any().(slog.Level)
				s := strings.ToLower(lv.String())
				if lv >= levelFatal {
					s = "fatal"
				}
				a.Value = slog.StringValue(s)
			}
			return a
		},
	}))
}
