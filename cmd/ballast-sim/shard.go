package main

// Seeds at scale: `run -shard i/n` runs a deterministic share of the seeds, `-results FILE`
// writes one JSON line per run, and `merge` builds one table, index page and JSON summary
// from many such files, the same ones a single run of every seed prints (wall times aside).
// A Kubernetes Indexed Job runs shard $JOB_COMPLETION_INDEX of n with a shared -out volume;
// each shard writes the reports of its failing runs (and shard 0 the first seed's), and merge
// writes index.html over them.
//
// A seed s belongs to shard (s-1) mod n: every shard gets a share of every scenario, so a
// slow scenario does not land on one shard.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ballastdb/ballast/sim"
)

// runRecord is one run as a results line: what the table, the digest and the index need.
type runRecord struct {
	Scenario       string `json:"scenario"`
	Seed           int64  `json:"seed"`
	Skip           []int  `json:"skip,omitempty"`
	Passed         bool   `json:"passed"`
	Failure        string `json:"failure,omitempty"`
	Ops            int    `json:"ops"`
	SimNs          int64  `json:"sim_ns"`
	FaultsInjected int    `json:"faults"`
	Digest         string `json:"digest"`
	WallNs         int64  `json:"wall_ns"`
	// Coverage: the run's purpose events and rare paths (sim.Coverage)
	Coverage *sim.Coverage `json:"coverage,omitempty"`
}

func recordOf(r *runResult) runRecord {
	return runRecord{Scenario: r.Scenario, Seed: r.Seed, Skip: r.Skip, Passed: r.Passed, Failure: r.Failure,
		Ops: r.Ops, SimNs: int64(r.SimDuration), FaultsInjected: r.FaultsInjected, Digest: r.Digest, WallNs: int64(r.Wall),
		Coverage: r.Coverage}
}

func (rec runRecord) result() runResult {
	return runResult{Scenario: rec.Scenario, Seed: rec.Seed, Skip: rec.Skip, Passed: rec.Passed, Failure: rec.Failure,
		Ops: rec.Ops, SimDuration: time.Duration(rec.SimNs), FaultsInjected: rec.FaultsInjected, Digest: rec.Digest,
		Wall: time.Duration(rec.WallNs), Coverage: rec.Coverage}
}

// parseShard parses "i/n" (0 <= i < n).
func parseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("-shard %q: want i/n with 0 <= i < n, like 0/4", s)
	}
	return i, n, nil
}

// shardSeeds keeps the seeds of shard i of n.
func shardSeeds(seeds []int64, i, n int) []int64 {
	var out []int64
	for _, s := range seeds {
		if (s-1)%int64(n) == int64(i) {
			out = append(out, s)
		}
	}
	return out
}

// writeResults writes one JSON line per run to path.
func writeResults(path string, results []runResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range results {
		if err := enc.Encode(recordOf(&results[i])); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readResults reads the run records of one results file; a malformed line is an error naming
// the file and line.
func readResults(path string) ([]runRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []runRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		var rec runRecord
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if rec.Scenario == "" || rec.Digest == "" {
			return nil, fmt.Errorf("%s:%d: not a run record (no scenario or digest)", path, line)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// merge reads results files and prints what one run of all their runs prints: the table,
// index.html over the shards' report directories (-out), and the -json line.
func merge(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ballast-sim merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	outDir := fs.String("out", "reports/sim", "write index.html into `DIR`, where the shards wrote their run reports (\"\": none)")
	asJSON := fs.Bool("json", false, "print a JSON summary as the last line of stdout")
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "ballast-sim merge: %v\n", err)
		}
		return exitBadUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "ballast-sim merge: name the results files of the shards (run -shard i/n -results FILE)")
		return exitBadUsage
	}
	var results []runResult
	seen := map[string]string{}
	for _, path := range fs.Args() {
		recs, err := readResults(path)
		if err != nil {
			fmt.Fprintf(stderr, "ballast-sim merge: %v\n", err)
			return exitBadUsage
		}
		for _, rec := range recs {
			id := fmt.Sprintf("%s seed %d skip %v", rec.Scenario, rec.Seed, rec.Skip)
			if other, dup := seen[id]; dup {
				fmt.Fprintf(stderr, "ballast-sim merge: %s is in both %s and %s\n", id, other, path)
				return exitBadUsage
			}
			seen[id] = path
			results = append(results, rec.result())
		}
	}
	// (scenario in catalogue order, then seed): the order one run prints and digests in.
	order := map[string]int{}
	for i, sc := range catalogue() {
		order[sc.Name] = i
	}
	slices.SortStableFunc(results, func(a, b runResult) int {
		oa, okA := order[a.Scenario]
		ob, okB := order[b.Scenario]
		switch {
		case okA != okB:
			if okA {
				return -1
			}
			return 1
		case oa != ob:
			return oa - ob
		case a.Scenario != b.Scenario:
			return strings.Compare(a.Scenario, b.Scenario)
		}
		return int(a.Seed - b.Seed)
	})
	var wall time.Duration
	for _, r := range results {
		wall += r.Wall
	}
	return report(results, *outDir, *asJSON, wall, false, stdout, stdout, stderr)
}

// linkedFiles says which of a run's report files the shards wrote into outDir.
func linkedFiles(outDir string, r *runResult) (report, hist bool) {
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(outDir, runDir(r), name))
		return err == nil
	}
	return exists("report.html"), exists(historyFile)
}
