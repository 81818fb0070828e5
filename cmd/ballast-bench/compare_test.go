package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

func TestSchedule(t *testing.T) {
	ws := []compareWorkload{{name: "a"}, {name: "b"}}
	var got []string
	for _, st := range schedule(ws, 3) {
		got = append(got, st.workload.name+"/"+st.store[:1]+string(rune('0'+st.round)))
	}
	require.Equal(t, []string{
		"a/b1", "a/e1", "a/e2", "a/b2", "a/b3", "a/e3",
		"b/b1", "b/e1", "b/e2", "b/b2", "b/b3", "b/e3",
	}, got)
}

// TestCompareWorkloadsParse: every workload's command line is one ballast-bench accepts.
func TestCompareWorkloadsParse(t *testing.T) {
	for _, w := range append(compareWorkloads(), scalingWorkloads([]int{10000, 1000000})...) {
		for _, args := range [][]string{w.args, w.prepare} {
			if args == nil {
				continue
			}
			requireParses(t, w.name, args)
		}
	}
}

func requireParses(t *testing.T, name string, args []string) {
	w := compareWorkload{name: name, args: args, rows: []compareRow{{}}}
	{
		t.Run(w.name, func(t *testing.T) {
			var cmd *command
			for i := range commands {
				if commands[i].name == w.args[0] {
					cmd = &commands[i]
				}
			}
			require.NotNil(t, cmd, "command %q", w.args[0])
			fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg := &config{}
			cfg.flags(fs)
			cmd.setup(fs, cfg)
			extra := []string{"--duration", "1s"}
			if slices.Contains(w.args, "--total") {
				extra = nil
			}
			_, err := cfg.parse(fs, append(append(append([]string{}, w.args[1:]...), "--endpoints", "127.0.0.1:1", "-json"), extra...))
			require.NoError(t, err)
			require.NotEmpty(t, w.rows)
		})
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		row   compareRow
		ratio float64
		want  string
	}{
		{compareRow{goal: 2, higherBetter: true}, 2.0, "yes"},
		{compareRow{goal: 2, higherBetter: true}, 1.99, "no"},
		{compareRow{goal: 0.6}, 0.6, "yes"},
		{compareRow{goal: 0.6}, 0.61, "no"},
		{compareRow{goal: 1, strict: true}, 1.0, "no"},
		{compareRow{goal: 1, strict: true}, 0.99, "yes"},
		{compareRow{}, 5, ""},
	} {
		require.Equal(t, tc.want, tc.row.verdict(tc.ratio), "%+v at %v", tc.row, tc.ratio)
	}
}

func TestMarkdown(t *testing.T) {
	w := compareWorkload{name: "put-64", rows: []compareRow{
		{label: "put ops/s", metric: opsPerS, unit: "ops/s", goal: 2, higherBetter: true},
		{label: "put p99", metric: p99ms, unit: "ms", goal: 1},
	}}
	rep := func(ops float64, p99 time.Duration) report {
		return report{summary: summary{OpsPerS: ops, P99: p99}}
	}
	res := &compareResult{started: time.Unix(0, 0), ended: time.Unix(90, 0), duration: 5 * time.Second, rounds: 2,
		workloads: []compareWorkload{w},
		runs: []compareRun{
			{Workload: "put-64", Store: "ballast", Round: 1, Report: rep(200, 4*time.Millisecond)},
			{Workload: "put-64", Store: "etcd", Round: 1, Report: rep(100, 2*time.Millisecond)},
			{Workload: "put-64", Store: "etcd", Round: 2, Report: rep(200, 2*time.Millisecond)},
			{Workload: "put-64", Store: "ballast", Round: 2, Report: func() report {
				r := rep(400, 2*time.Millisecond)
				r.Errors = map[string]int{"Unavailable": 2}
				return r
			}()},
		},
		rss:     map[string][]float64{"ballast": {50, 60, 55}, "etcd": {100, 120, 110}},
		memKeys: 1000000, mem: map[string][]float64{"ballast": {300, 310, 305}, "etcd": {400, 390, 380}}}
	md := res.markdown()
	require.Contains(t, md, "| put ops/s | 300 (200 / 400) ops/s | 150 (100 / 200) ops/s | 2.00x | ≥ 2.0x | yes |\n")
	require.Contains(t, md, "| put p99 | 3.00 (4.00 / 2.00) ms | 2.00 (2.00 / 2.00) ms | 1.50x | ≤ 1.0x | no |\n")
	require.Contains(t, md, "| 60 MiB | 120 MiB | 0.50x |")
	require.Contains(t, md, "1M keys of 256 bytes, after a full scan on every member (members: 300, 310, 305 / 400, 390, 380 MiB) | 310 MiB | 400 MiB | 0.78x | < 1.0x | yes |\n")
	require.Contains(t, md, "Errors (by gRPC code, all runs): put-64 round 2 on ballast: Unavailable=2.\n")
	require.Contains(t, md, "2 round(s) on each store, 5s each")
}

func TestVMRSS(t *testing.T) {
	kb, err := vmRSS("Name:\tballast\nVmPeak:\t  9000 kB\nVmRSS:\t   58312 kB\nThreads:\t9\n")
	require.NoError(t, err)
	require.Equal(t, int64(58312), kb)
	_, err = vmRSS("Name:\tx\n")
	require.ErrorContains(t, err, "no VmRSS line")
	_, err = vmRSS("VmRSS:\t12 MB\n")
	require.ErrorContains(t, err, `is not "N kB"`)
	// This process's own.
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	kb, err = vmRSS(string(data))
	require.NoError(t, err)
	require.Positive(t, kb)
}

func TestCompareBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--ballast (Ballast's server binary) is required"},
		{[]string{"--ballast", bin, "--etcd", filepath.Join(dir, "nope")}, "etcd's server binary " + filepath.Join(dir, "nope") + " is missing"},
		{[]string{"--ballast", bin, "--etcd", bin, "--workloads", "put-1,nosuch"}, `unknown workload "nosuch"`},
		{[]string{"--ballast", bin, "--etcd", bin, "--rounds", "0"}, "--rounds must be at least 1"},
		{[]string{"--ballast", bin, "--etcd", bin, "--duration", "0s"}, "--duration must be positive"},
		{[]string{"--ballast", bin, "extra"}, `takes no arguments, got ["extra"]`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			require.Equal(t, 2, run(context.Background(), append([]string{"compare", "--out", dir}, tc.args...), &out, &errOut), errOut.String())
			require.Contains(t, errOut.String(), tc.want)
			require.Empty(t, out.String())
		})
	}
}

// TestCompareRuns runs the whole runner briefly (one round: TestSchedule checks the
// alternation of more) with etcd v3.7.3's server in both places
// (the runner does not care which binary is which; make bench-etcd's own run is the one
// with Ballast's): six processes started, the schedule run, the table and runs.jsonl
// written, the members stopped.
func TestCompareRuns(t *testing.T) {
	etcd := embedtest.EtcdTool(t, "etcd", "ETCD_BIN")
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"compare", "--ballast", etcd, "--etcd", etcd, "--out", dir,
		"--workloads", "put-1,range-s", "--scaling", "--scaling-keys", "300", "--memory-keys", "500", "--duration", "100ms", "--rounds", "1", "--timeout", "3m"}, &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	require.NoError(t, err)
	require.Contains(t, out.String(), string(md))
	require.Contains(t, string(md), "| put, 1 client, p50 latency | ")
	require.Contains(t, string(md), "| serializable range of one key, 64 clients, ops/s | ")
	require.Contains(t, string(md), "Errors (by gRPC code, all runs): none.")
	data, err := os.ReadFile(filepath.Join(dir, "runs.jsonl"))
	require.NoError(t, err)
	var order []string
	scaled := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r compareRun
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		require.Positive(t, r.Report.Ops, "%s", line)
		require.Empty(t, r.Report.Errors)
		if r.Workload == "range-s" {
			require.Equal(t, int64(r.Report.Ops), r.Report.Keys, "put-1 wrote the key the ranges read")
		}
		if r.Workload == "scale-keys-300" {
			// Loaded first: 300 keys of 12 bytes, which the timed puts then overwrite.
			require.Contains(t, r.Args, "--key-space-size")
		}
		if !strings.HasPrefix(r.Workload, "scale-") {
			order = append(order, fmt.Sprintf("%s/%s%d", r.Workload, r.Store, r.Round))
		}
		scaled[r.Workload]++
	}
	require.Equal(t, []string{"put-1/ballast1", "put-1/etcd1", "range-s/ballast1", "range-s/etcd1"}, order)
	for _, w := range scalingWorkloads([]int{300}) {
		require.Equal(t, 2, scaled[w.name], "%s: 1 round on 2 stores", w.name)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
	for _, dim := range scalingDims {
		require.Contains(t, string(page), "<h2>"+dim+"</h2>")
	}
	require.Contains(t, string(md), "| key count | 300 | ")
	require.Regexp(t, `\| memory: RSS of the largest member, fresh cluster, 500 keys of 256 bytes, after a full scan on every member \(members: \d+, \d+, \d+ / \d+, \d+, \d+ MiB\) \| \d+ MiB \| \d+ MiB \| [0-9.]+x \| — \|  \|\n`, string(md))
	require.Contains(t, errOut.String(), "compare: memory: loading etcd: ballast-bench put --sequential-keys --total 500")
	require.Contains(t, errOut.String(), "compare: preparing scale-keys-300 on etcd: ballast-bench put --sequential-keys --total 300")
	for _, s := range stores {
		log, err := os.ReadFile(filepath.Join(dir, s, "m1.log"))
		require.NoError(t, err)
		require.Contains(t, string(log), readyLine)
		require.NoDirExists(t, filepath.Join(dir, s, "m1.data"), "data dirs are removed once the members stopped")
		require.NoDirExists(t, filepath.Join(dir, s+"-memory", "m1.data"))
		require.FileExists(t, filepath.Join(dir, s+"-memory", "m1.log"))
	}
}

func TestParseKeyCounts(t *testing.T) {
	got, err := parseKeyCounts("10000, 1000000")
	require.NoError(t, err)
	require.Equal(t, []int{10000, 1000000}, got)
	for _, bad := range []string{"", "0", "-5", "1e6", "10k"} {
		_, err := parseKeyCounts(bad)
		require.ErrorContains(t, err, "is not a key count", "%q", bad)
	}
	require.Equal(t, "10k", countLabel(10000))
	require.Equal(t, "1M", countLabel(1000000))
	require.Equal(t, "1500", countLabel(1500))
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {4321, 5000}, {0.03, 0.05}, {200, 200}} {
		require.InDelta(t, tc.want, niceCeil(tc.in), 1e-9, "niceCeil(%v)", tc.in)
	}
}

// TestScalingPage: the table and the charts from runs of two points of one dimension; each
// chart is well-formed SVG with one polyline per store through its points.
func TestScalingPage(t *testing.T) {
	ws := scalingWorkloads([]int{10000})
	var picked []compareWorkload
	var runs []compareRun
	for _, w := range ws {
		if w.dim != "clients" || (w.point != "1" && w.point != "8") {
			continue
		}
		picked = append(picked, w)
		for _, s := range stores {
			ops := 100.0
			if w.point == "8" {
				ops = 400
			}
			if s == "etcd" {
				ops /= 2
			}
			runs = append(runs, compareRun{Workload: w.name, Store: s, Round: 1, Report: report{summary: summary{OpsPerS: ops, P99: 3 * time.Millisecond}}})
		}
	}
	require.Len(t, picked, 2)
	res := &compareResult{workloads: picked, runs: runs}
	var b strings.Builder
	res.scalingMarkdown(&b)
	require.Contains(t, b.String(), "| clients | 1 | 100 | 50 | 2.00x | 3.0 ms | 3.0 ms |\n")
	require.Contains(t, b.String(), "| clients | 8 | 400 | 200 | 2.00x | 3.0 ms | 3.0 ms |\n")
	page := res.scalingHTML("t <&>")
	require.Contains(t, page, "<title>t &lt;&amp;&gt;</title>")
	require.Contains(t, page, "<tr><td>8</td><td>400</td><td>200</td><td>2.00x</td></tr>")
	require.NotContains(t, page, "<h2>value size</h2>", "a dimension without runs has no chart")
	start, end := strings.Index(page, "<svg"), strings.Index(page, "</svg>")
	require.True(t, start >= 0 && end > start)
	dec := xml.NewDecoder(strings.NewReader(page[start : end+len("</svg>")]))
	polylines := map[string]string{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			var class, points string
			for _, a := range se.Attr {
				switch a.Name.Local {
				case "class":
					class = a.Value
				case "points":
					points = a.Value
				}
			}
			polylines[class] = points
		}
	}
	require.Len(t, polylines, 2)
	// The y axis goes up to 500 (niceCeil of 400) over 220 px from y=20, so v is at
	// 20+220*(1-v/500): 100 -> 196, 400 -> 64, 50 -> 218, 200 -> 152; x from 70 to 540.
	require.Equal(t, "70.0,196.0 540.0,64.0", polylines["b"])
	require.Equal(t, "70.0,218.0 540.0,152.0", polylines["e"])
}
