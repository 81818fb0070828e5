package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// compare is make bench-etcd's runner: a three-member Ballast and a three-member etcd
// v3.7.3, both up at once on loopback with the same flags and their data on the same disk,
// and the same workloads against each, alternating: for every workload, round 1 runs it on
// Ballast then etcd, round 2 on etcd then Ballast (and so on), so a drift in the machine's
// load falls on both alike. Each run is --duration long and bounded (--duration plus a
// minute), the whole by --timeout. The results: results.md (the side-by-side table with
// the ratio Ballast/etcd and the goal), runs.jsonl (every run's JSON summary), and
// the members' logs (their data dirs are removed once they stopped), under --out.

// compareWorkload is one workload run on both stores, and the rows of the table it gives.
type compareWorkload struct {
	name string
	args []string // ballast-bench's, without --endpoints, --duration and -json
	rows []compareRow
	// prepare, when set, runs once on each store before the workload's first round (with
	// its own --total, not timed): the key-count points load their keys with it.
	prepare []string
	// dim and point place a scaling workload on its curve (scaling.go); empty for the goals.
	dim, point string
	x          float64
}

// compareRow is one figure of a workload's runs, and the goal for its ratio.
type compareRow struct {
	label  string
	metric func(report) float64
	unit   string // "ops/s" or "ms"
	// goal is the ratio Ballast/etcd to reach: at least goal when higherBetter, else at most
	// (below when strict); zero: no goal.
	goal         float64
	higherBetter bool
	strict       bool
}

func opsPerS(r report) float64 { return r.OpsPerS }
func p50ms(r report) float64   { return float64(r.P50) / 1e6 }
func p99ms(r report) float64   { return float64(r.P99) / 1e6 }

// compareWorkloads are issue 23's goals (3 members, 256-byte values), in the order they run:
// the 1-client put first, which also writes key 00000000 that the ranges read.
func compareWorkloads() []compareWorkload {
	val := []string{"--val-size", "256"}
	c64 := []string{"--clients", "64", "--conns", "8"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return []compareWorkload{
		{name: "put-1", args: cat([]string{"put", "--clients", "1", "--key-space-size", "1"}, val), rows: []compareRow{
			{label: "put, 1 client, p50 latency", metric: p50ms, unit: "ms", goal: 0.6},
		}},
		{name: "put-64", args: cat([]string{"put", "--key-space-size", "100000"}, c64, val), rows: []compareRow{
			{label: "put, 64 clients over 8 connections, ops/s", metric: opsPerS, unit: "ops/s", goal: 2.0, higherBetter: true},
			{label: "put, 64 clients over 8 connections, p99", metric: p99ms, unit: "ms", goal: 1.0},
		}},
		{name: "range-l", args: cat([]string{"range", "00000000", "--consistency", "l"}, c64), rows: []compareRow{
			{label: "linearizable range of one key, 64 clients, ops/s", metric: opsPerS, unit: "ops/s", goal: 1.5, higherBetter: true},
		}},
		{name: "range-s", args: cat([]string{"range", "00000000", "--consistency", "s"}, c64), rows: []compareRow{
			{label: "serializable range of one key, 64 clients, ops/s", metric: opsPerS, unit: "ops/s", goal: 1.5, higherBetter: true},
		}},
		{name: "txn-put", args: cat([]string{"txn-put", "--key-space-size", "1000", "--sequential-keys"}, c64, val), rows: []compareRow{
			{label: "txn-put (compare-and-swap, 1,000 keys), 64 clients, ops/s", metric: opsPerS, unit: "ops/s", goal: 2.0, higherBetter: true},
		}},
		{name: "watch", args: cat([]string{"watch", "--watchers", "1000", "--streams", "10", "--conns", "8", "--clients", "1", "--rate", "100", "--key-size", "6"}, val), rows: []compareRow{
			{label: "watch: 1,000 watchers of one key, 1 writer at 100 puts/s, event latency p99", metric: p99ms, unit: "ms", goal: 1.0, strict: true},
		}},
		{name: "lease-keepalive", args: cat([]string{"lease-keepalive"}, c64), rows: []compareRow{
			{label: "lease-keepalive, 64 clients, ops/s", metric: opsPerS, unit: "ops/s"},
		}},
	}
}

// compareRun is one run of one workload on one store, as runs.jsonl records it.
type compareRun struct {
	Workload string   `json:"workload"`
	Store    string   `json:"store"`
	Round    int      `json:"round"`
	Args     []string `json:"args"`
	Report   report   `json:"report"`
}

var stores = []string{"ballast", "etcd"}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ballastBin := fs.String("ballast", "", "Ballast's server binary (make bench-etcd builds it)")
	etcdBin := fs.String("etcd", ".bin/etcd-v3.7.3", "etcd v3.7.3's server binary")
	out := fs.String("out", "reports/bench-etcd", "results directory (its ballast/ and etcd/ data and logs, results.md and runs.jsonl are replaced)")
	duration := fs.Duration("duration", 5*time.Second, "length of each run")
	rounds := fs.Int("rounds", 2, "runs of each workload on each store, alternating")
	only := fs.String("workloads", "", "comma-separated workloads to run (default: all; none: only --scaling's): "+strings.Join(workloadNames(), ","))
	timeout := fs.Duration("timeout", 20*time.Minute, "bound on the whole comparison")
	scaling := fs.Bool("scaling", false, "also put throughput against clients, value size and key count (scaling.go), drawn in index.html")
	memKeys := fs.Int("memory-keys", 0, "also measure memory: a fresh cluster of each store with this many keys of 256 bytes, RSS after a full scan (0: not measured; the goal's is 1000000)")
	scalingKeys := fs.String("scaling-keys", "10000", "the key counts of --scaling (comma-separated; each is loaded first)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ballast-bench compare: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return bad("takes no arguments, got %q", fs.Args())
	case *ballastBin == "":
		return bad("--ballast (Ballast's server binary) is required")
	case *duration <= 0:
		return bad("--duration must be positive, got %v", *duration)
	case *rounds < 1:
		return bad("--rounds must be at least 1, got %d", *rounds)
	}
	bins := map[string]string{"ballast": *ballastBin, "etcd": *etcdBin}
	for _, s := range stores {
		if st, err := os.Stat(bins[s]); err != nil || st.IsDir() {
			return bad("%s's server binary %s is missing (make bench-etcd builds both)", s, bins[s])
		}
	}
	workloads, err := pickWorkloads(*only)
	if err != nil {
		return bad("%v", err)
	}
	if *scaling {
		counts, err := parseKeyCounts(*scalingKeys)
		if err != nil {
			return bad("%v", err)
		}
		workloads = append(workloads, scalingWorkloads(counts)...)
	}
	if *memKeys < 0 {
		return bad("--memory-keys must not be negative, got %d", *memKeys)
	}
	if len(workloads) == 0 && *memKeys == 0 {
		return bad("--workloads none without --scaling or --memory-keys leaves nothing to run")
	}
	for _, old := range []string{"ballast", "etcd", "ballast-memory", "etcd-memory", "results.md", "runs.jsonl", "index.html"} {
		if err := os.RemoveAll(filepath.Join(*out, old)); err != nil {
			return bad("%v", err)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return bad("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := compare(ctx, bins, *out, *duration, *rounds, workloads, *memKeys, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ballast-bench compare: %v\n", err)
		return 1
	}
	md := res.markdown()
	if err := os.WriteFile(filepath.Join(*out, "results.md"), []byte(md), 0o644); err != nil {
		fmt.Fprintf(stderr, "ballast-bench compare: %v\n", err)
		return 1
	}
	if *scaling {
		page := res.scalingHTML("Ballast vs etcd v3.7.3: scaling, " + res.started.UTC().Format("2006-01-02 15:04 UTC"))
		if err := os.WriteFile(filepath.Join(*out, "index.html"), []byte(page), 0o644); err != nil {
			fmt.Fprintf(stderr, "ballast-bench compare: %v\n", err)
			return 1
		}
	}
	fmt.Fprint(stdout, md)
	fmt.Fprintf(stdout, "\n(written to %s; every run in %s)\n", filepath.Join(*out, "results.md"), filepath.Join(*out, "runs.jsonl"))
	return 0
}

func workloadNames() []string {
	var names []string
	for _, w := range compareWorkloads() {
		names = append(names, w.name)
	}
	return names
}

func pickWorkloads(only string) ([]compareWorkload, error) {
	all := compareWorkloads()
	switch only {
	case "":
		return all, nil
	case "none":
		return nil, nil
	}
	var out []compareWorkload
	for _, name := range strings.Split(only, ",") {
		found := false
		for _, w := range all {
			if w.name == name {
				out = append(out, w)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(workloadNames(), ","))
		}
	}
	return out, nil
}

// compareResult is everything the table is made of.
type compareResult struct {
	started, ended time.Time
	duration       time.Duration
	rounds         int
	loadBefore     string
	loadAfter      string
	workloads      []compareWorkload
	runs           []compareRun
	rss            map[string][]float64 // each store's members' RSS after the last run, MiB
	// memKeys and mem are the memory measurement's (memory.go): the keys, each member's RSS.
	memKeys int
	mem     map[string][]float64
}

func compare(ctx context.Context, bins map[string]string, out string, duration time.Duration, rounds int, workloads []compareWorkload, memKeys int, progress io.Writer) (*compareResult, error) {
	res := &compareResult{started: time.Now(), duration: duration, rounds: rounds, workloads: workloads,
		loadBefore: loadAvg(), rss: map[string][]float64{}, memKeys: memKeys, mem: map[string][]float64{}}
	clusters := map[string]*procCluster{}
	defer stopAll(clusters)
	for _, s := range stores {
		fmt.Fprintf(progress, "compare: starting 3 %s members (%s)\n", s, bins[s])
		c, err := startProcCluster(ctx, s, bins[s], filepath.Join(out, s), 60*time.Second)
		if err != nil {
			return nil, err
		}
		clusters[s] = c
	}
	runsFile, err := os.Create(filepath.Join(out, "runs.jsonl"))
	if err != nil {
		return nil, err
	}
	defer runsFile.Close()
	enc := json.NewEncoder(runsFile)
	prepared := map[string]bool{}
	for _, st := range schedule(workloads, rounds) {
		w, round, s := st.workload, st.round, st.store
		if len(w.prepare) > 0 && !prepared[w.name+"/"+s] {
			prepared[w.name+"/"+s] = true
			args := append(append([]string{}, w.prepare...), "--endpoints", clusters[s].endpoints, "-json")
			fmt.Fprintf(progress, "compare: preparing %s on %s: ballast-bench %s\n", w.name, s, strings.Join(args, " "))
			var buf, errBuf bytes.Buffer
			pctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
			code := run(pctx, args, &buf, &errBuf)
			cancel()
			if code != 0 {
				return nil, fmt.Errorf("preparing %s on %s: exit %d: %s", w.name, s, code, strings.TrimSpace(errBuf.String()))
			}
		}
		args := append(append([]string{}, w.args...), "--endpoints", clusters[s].endpoints, "--duration", duration.String(), "-json")
		fmt.Fprintf(progress, "compare: %s round %d on %s: ballast-bench %s\n", w.name, round, s, strings.Join(args, " "))
		rctx, cancel := context.WithTimeout(ctx, duration+time.Minute)
		var buf, errBuf bytes.Buffer
		code := run(rctx, args, &buf, &errBuf)
		cancel()
		if code != 0 {
			return nil, fmt.Errorf("%s round %d on %s: exit %d: %s", w.name, round, s, code, strings.TrimSpace(errBuf.String()))
		}
		var r report
		if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s round %d on %s: output %q: %w", w.name, round, s, buf.String(), err)
		}
		cr := compareRun{Workload: w.name, Store: s, Round: round, Args: args, Report: r}
		res.runs = append(res.runs, cr)
		if err := enc.Encode(cr); err != nil {
			return nil, err
		}
		for _, row := range w.rows {
			fmt.Fprintf(progress, "compare:   %s: %.2f %s (errors %s)\n", row.label, row.metric(r), row.unit, formatErrors(r.Errors))
		}
	}
	for _, s := range stores {
		if len(workloads) == 0 {
			break
		}
		rss, err := clusters[s].rssMiB()
		if err != nil {
			return nil, err
		}
		res.rss[s] = rss
	}
	if memKeys > 0 {
		stopAll(clusters)
		for _, s := range stores {
			mem, err := measureMemory(ctx, s, bins[s], filepath.Join(out, s+"-memory"), memKeys, progress)
			if err != nil {
				return nil, err
			}
			res.mem[s] = mem
			fmt.Fprintf(progress, "compare: memory: %s members' RSS with %d keys after a full scan: %.0f MiB\n", s, memKeys, mem)
		}
	}
	res.ended = time.Now()
	res.loadAfter = loadAvg()
	return res, nil
}

// stopAll stops the clusters (in parallel) and forgets them.
func stopAll(clusters map[string]*procCluster) {
	var wg sync.WaitGroup
	for s, c := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop()
		}()
		delete(clusters, s)
	}
	wg.Wait()
}

// step is one run of compare's schedule.
type step struct {
	workload compareWorkload
	round    int
	store    string
}

// schedule is the order of the runs: workload by workload, rounds 1..rounds of each, Ballast
// first in odd rounds and etcd first in even ones (ABBA), so a linear drift of the machine's
// load over two rounds falls on both stores alike.
func schedule(workloads []compareWorkload, rounds int) []step {
	var out []step
	for _, w := range workloads {
		for round := 1; round <= rounds; round++ {
			order := stores
			if round%2 == 0 {
				order = []string{stores[1], stores[0]}
			}
			for _, s := range order {
				out = append(out, step{w, round, s})
			}
		}
	}
	return out
}

// values is a row's figure on store s, one per round, in round order.
func (res *compareResult) values(w compareWorkload, row compareRow, s string) []float64 {
	var out []float64
	for _, r := range res.runs {
		if r.Workload == w.name && r.Store == s {
			out = append(out, row.metric(r.Report))
		}
	}
	return out
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// verdict says whether ratio meets row's goal: "yes", "no" or "" (no goal).
func (row compareRow) verdict(ratio float64) string {
	switch {
	case row.goal == 0:
		return ""
	case row.higherBetter && ratio >= row.goal, !row.higherBetter && !row.strict && ratio <= row.goal,
		row.strict && ratio < row.goal:
		return "yes"
	}
	return "no"
}

func (row compareRow) goalText() string {
	switch {
	case row.goal == 0:
		return "—"
	case row.higherBetter:
		return fmt.Sprintf("≥ %.1fx", row.goal)
	case row.strict:
		return fmt.Sprintf("< %.1fx", row.goal)
	}
	return fmt.Sprintf("≤ %.1fx", row.goal)
}

func formatValue(v float64, unit string) string {
	if unit == "ops/s" {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// cell is "mean (run 1 / run 2 / ...)".
func cell(v []float64, unit string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = formatValue(x, unit)
	}
	if len(v) == 1 {
		return parts[0]
	}
	return fmt.Sprintf("%s (%s)", formatValue(mean(v), unit), strings.Join(parts, " / "))
}

// markdown is the side-by-side table and how it was made.
func (res *compareResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Ballast vs etcd v3.7.3, %s\n\n", res.started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "3 members each, both clusters up at once on loopback, data on the same disk, the same flags "+
		"(--heartbeat-interval 100 --election-timeout 1000 --snapshot-count 10000); load from ballast-bench in the runner's process. "+
		"Each workload ran %d round(s) on each store, %v each, alternating (Ballast first in odd rounds, etcd first in even ones); "+
		"a cell is the mean (then each round's figure). %d CPUs, %s; load average %s before, %s after; %s in all.\n\n",
		res.rounds, res.duration, runtime.NumCPU(), runtime.Version(), res.loadBefore, res.loadAfter, res.ended.Sub(res.started).Round(time.Second))
	b.WriteString("| workload | Ballast | etcd v3.7.3 | Ballast / etcd | goal | met |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, w := range res.workloads {
		if w.dim != "" {
			continue
		}
		for _, row := range w.rows {
			bv, ev := res.values(w, row, "ballast"), res.values(w, row, "etcd")
			ratio := 0.0
			if mean(ev) > 0 {
				ratio = mean(bv) / mean(ev)
			}
			fmt.Fprintf(&b, "| %s | %s %s | %s %s | %.2fx | %s | %s |\n", row.label, cell(bv, row.unit), row.unit, cell(ev, row.unit), row.unit, ratio, row.goalText(), row.verdict(ratio))
		}
	}
	if len(res.rss["ballast"]) > 0 && len(res.rss["etcd"]) > 0 {
		bm, em := maxOf(res.rss["ballast"]), maxOf(res.rss["etcd"])
		fmt.Fprintf(&b, "| RSS of the largest member after these runs (not the goal's 1M-key measurement) | %.0f MiB | %.0f MiB | %.2fx | — | |\n", bm, em, bm/em)
	}
	if res.memKeys > 0 && len(res.mem["ballast"]) > 0 && len(res.mem["etcd"]) > 0 {
		bm, em := maxOf(res.mem["ballast"]), maxOf(res.mem["etcd"])
		goal, met := "—", ""
		if res.memKeys >= 1_000_000 {
			goal, met = "< 1.0x", "no"
			if bm < em {
				met = "yes"
			}
		}
		fmt.Fprintf(&b, "| memory: RSS of the largest member, fresh cluster, %s keys of 256 bytes, after a full scan on every member (members: %s / %s MiB) | %.0f MiB | %.0f MiB | %.2fx | %s | %s |\n",
			countLabel(res.memKeys), mibList(res.mem["ballast"]), mibList(res.mem["etcd"]), bm, em, bm/em, goal, met)
	}
	res.scalingMarkdown(&b)
	b.WriteString("\nErrors (by gRPC code, all runs): ")
	var parts []string
	for _, r := range res.runs {
		if len(r.Report.Errors) > 0 {
			parts = append(parts, fmt.Sprintf("%s round %d on %s: %s", r.Workload, r.Round, r.Store, formatErrors(r.Report.Errors)))
		}
	}
	if len(parts) == 0 {
		parts = []string{"none"}
	}
	b.WriteString(strings.Join(parts, "; ") + ".\n")
	return b.String()
}

func mibList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, ", ")
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// loadAvg is /proc/loadavg's three figures ("?" where unreadable).
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
