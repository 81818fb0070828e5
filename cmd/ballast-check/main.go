// Command ballast-check judges history files (linearizability/FORMAT.md) from any source: the
// simulator, Docker chaos runs or a real etcd cluster.
//
//	ballast-check HISTORY... [-out DIR] [-json] [-timeout D] [-porcupine-max-ops N]
//	              [-min-ack-share F] [-max-no-write D]
//
// Exit status: 0 every history is linearizable and passes every validator; 1 a violation; 3
// no violation but a check did not finish (Porcupine's timeout): unknown, never ok; 2 bad
// input (an unreadable or malformed file, with the reader's line-numbered message) or bad
// usage. With several histories the status is the most serious one: 2, then 1, then 3.
//
// With -out, a report (report.html and summary.json) is written for every history that is not
// ok, into DIR/<file name without extension>/. With -json, each history's summary is printed
// as one JSON line; otherwise one line of text per history.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/linearizability/history"
)

// Exit statuses.
const (
	exitOK        = 0
	exitViolation = 1
	exitBadInput  = 2
	exitUnknown   = 3
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ballast-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	outDir := fs.String("out", "", "write a report for each history that is not ok into `DIR`/<name>/")
	asJSON := fs.Bool("json", false, "print each history's summary as a JSON line")
	timeout := fs.Duration("timeout", linearizability.DefaultPorcupineTimeout, "bound on each Porcupine search; its expiry makes the verdict unknown")
	maxOps := fs.Int("porcupine-max-ops", linearizability.DefaultPorcupineMaxOps, "skip the whole-history Porcupine search above this many operations (-1: never run it)")
	minAck := fs.Float64("min-ack-share", 0, "liveness: least share of operations that must be acknowledged (0: not enforced)")
	maxNoWrite := fs.Duration("max-no-write", 0, "liveness: longest allowed stretch without a successful write (0: not enforced)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ballast-check HISTORY... [-out DIR] [-json]")
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return exitBadInput
	}
	if len(paths) == 0 {
		fs.Usage()
		return exitBadInput
	}
	opts := linearizability.Options{PorcupineTimeout: *timeout, PorcupineMaxOps: *maxOps, MinAckShare: *minAck,
		MaxNoWriteNs: int64(*maxNoWrite)}
	status := exitOK
	for _, path := range paths {
		status = worse(status, checkFile(path, opts, *outDir, *asJSON, stdout, stderr))
	}
	return status
}

// parseInterleaved parses flags that may come before, between or after the history paths.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return paths, nil
		}
		paths = append(paths, args[0])
		args = args[1:]
	}
}

func worse(a, b int) int {
	rank := map[int]int{exitOK: 0, exitUnknown: 1, exitViolation: 2, exitBadInput: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func checkFile(path string, opts linearizability.Options, outDir string, asJSON bool, stdout, stderr io.Writer) int {
	h, err := readFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "ballast-check: %s: %v\n", path, err)
		return exitBadInput
	}
	res := linearizability.Check(h, opts)
	if outDir != "" && res.Verdict != linearizability.VerdictOK {
		dir := filepath.Join(outDir, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
		if err := linearizability.WriteReport(dir, res); err != nil {
			fmt.Fprintf(stderr, "ballast-check: %s: %v\n", path, err)
			return exitBadInput
		}
	}
	if asJSON {
		line, err := json.Marshal(struct {
			File string `json:"file"`
			*linearizability.Result
		}{path, res})
		if err != nil {
			fmt.Fprintf(stderr, "ballast-check: %s: %v\n", path, err)
			return exitBadInput
		}
		fmt.Fprintln(stdout, string(line))
	} else {
		fmt.Fprintf(stdout, "%s: %s (%d operations, %d watches, checked in %s)", path, res.Verdict, res.Operations, res.Watches, res.CheckerTime.Round(time.Microsecond))
		if res.FirstViolation != "" {
			fmt.Fprintf(stdout, ": %s", res.FirstViolation)
		}
		fmt.Fprintln(stdout)
	}
	switch res.Verdict {
	case linearizability.VerdictViolation:
		return exitViolation
	case linearizability.VerdictUnknown:
		return exitUnknown
	}
	return exitOK
}

func readFile(path string) (*history.History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := history.Read(f)
	var re *history.ReadError
	if errors.As(err, &re) {
		return nil, re
	}
	return h, err
}
