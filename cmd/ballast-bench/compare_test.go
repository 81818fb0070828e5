package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	for _, w := range compareWorkloads() {
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
			_, err := cfg.parse(fs, append(append([]string{}, w.args[1:]...), "--endpoints", "127.0.0.1:1", "--duration", "1s", "-json"))
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
		rss: map[string][]float64{"ballast": {50, 60, 55}, "etcd": {100, 120, 110}}}
	md := res.markdown()
	require.Contains(t, md, "| put ops/s | 300 (200 / 400) ops/s | 150 (100 / 200) ops/s | 2.00x | ≥ 2.0x | yes |\n")
	require.Contains(t, md, "| put p99 | 3.00 (4.00 / 2.00) ms | 2.00 (2.00 / 2.00) ms | 1.50x | ≤ 1.0x | no |\n")
	require.Contains(t, md, "| 60 MiB | 120 MiB | 0.50x |")
	require.Contains(t, md, "Errors (by gRPC code, all runs): put-64 round 2 on ballast: Unavailable=2.\n")
	require.Contains(t, md, "2 times on each store, 5s each")
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

// TestCompareRuns runs the whole runner briefly with etcd v3.7.3's server in both places
// (the runner does not care which binary is which; make bench-etcd's own run is the one
// with Ballast's): six processes started, the schedule run, the table and runs.jsonl
// written, the members stopped.
func TestCompareRuns(t *testing.T) {
	etcd := embedtest.EtcdTool(t, "etcd", "ETCD_BIN")
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"compare", "--ballast", etcd, "--etcd", etcd, "--out", dir,
		"--workloads", "put-1,range-s", "--duration", "300ms", "--rounds", "2", "--timeout", "2m"}, &out, &errOut)
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
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r compareRun
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		require.Positive(t, r.Report.Ops, "%s", line)
		require.Empty(t, r.Report.Errors)
		if r.Workload == "range-s" {
			require.Equal(t, int64(r.Report.Ops), r.Report.Keys, "put-1 wrote the key the ranges read")
		}
		order = append(order, fmt.Sprintf("%s/%s%d", r.Workload, r.Store, r.Round))
	}
	require.Equal(t, []string{"put-1/ballast1", "put-1/etcd1", "put-1/etcd2", "put-1/ballast2",
		"range-s/ballast1", "range-s/etcd1", "range-s/etcd2", "range-s/ballast2"}, order)
	for _, s := range stores {
		log, err := os.ReadFile(filepath.Join(dir, s, "m1.log"))
		require.NoError(t, err)
		require.Contains(t, string(log), readyLine)
	}
}
