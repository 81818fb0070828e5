package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShardsMergeToOneRun: 4 shards of seeds 1..40 merged print the same table (wall times
// aside), the same JSON summary and digest, and the same index page as one run of 1..40.
func TestShardsMergeToOneRun(t *testing.T) {
	tinyCatalogue(t)
	dir := t.TempDir()
	oneOut, shardOut := filepath.Join(dir, "one"), filepath.Join(dir, "shards")

	code, oneStdout, stderr := invoke("run", "-seeds", "40", "-json", "-out", oneOut, "-results", filepath.Join(dir, "one.jsonl"))
	require.Equal(t, exitOK, code, stderr)

	var files []string
	seedsSeen := map[string]int{}
	for i := range 4 {
		f := filepath.Join(dir, fmt.Sprintf("shard%d.jsonl", i))
		files = append(files, f)
		code, _, stderr := invoke("run", "-seeds", "40", "-shard", fmt.Sprintf("%d/4", i), "-out", shardOut, "-results", f)
		require.Equal(t, exitOK, code, stderr)
		recs, err := readResults(f)
		require.NoError(t, err)
		require.Len(t, recs, 20, "shard %d: 10 seeds of each of 2 scenarios", i)
		for _, r := range recs {
			require.Equal(t, int64(i), (r.Seed-1)%4, "seed %d in shard %d", r.Seed, i)
			seedsSeen[fmt.Sprintf("%s/%d", r.Scenario, r.Seed)]++
		}
	}
	require.Len(t, seedsSeen, 80, "every (scenario, seed) in exactly one shard")

	code, mergedStdout, stderr := invoke(append([]string{"merge", "-json", "-out", shardOut}, files...)...)
	require.Equal(t, exitOK, code, stderr)

	oneTable, oneJSON := splitSummary(t, oneStdout)
	mergedTable, mergedJSON := splitSummary(t, mergedStdout)
	require.Equal(t, withoutWall(oneTable, oneOut), withoutWall(mergedTable, shardOut))
	require.NotEmpty(t, oneJSON["digest"])
	for _, k := range []string{"runs", "failed", "ops", "sim_seconds", "digest"} {
		require.Equal(t, oneJSON[k], mergedJSON[k], "json field %s", k)
	}
	require.EqualValues(t, 80, mergedJSON["runs"])

	oneIndex, err := os.ReadFile(filepath.Join(oneOut, "index.html"))
	require.NoError(t, err)
	mergedIndex, err := os.ReadFile(filepath.Join(shardOut, "index.html"))
	require.NoError(t, err)
	require.Equal(t, string(oneIndex), string(mergedIndex))
	require.Contains(t, string(mergedIndex), `href="tiny-calm-1/report.html"`, "the first seed's report, written by shard 0, is linked")
}

func TestShardAndMergeBadUsage(t *testing.T) {
	tinyCatalogue(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	code, _, stderr := invoke("run", "-scenario", "tiny-calm", "-seed", "1", "-out", "", "-results", good)
	require.Equal(t, exitOK, code, stderr)
	garbage := filepath.Join(dir, "garbage.jsonl")
	require.NoError(t, os.WriteFile(garbage, []byte("{\"scenario\":\"x\",\"digest\":\"d\"}\nnot json\n"), 0o644))
	for _, tc := range []struct {
		args   []string
		errHas string
	}{
		{[]string{"run", "-shard", "4/4"}, `-shard "4/4": want i/n with 0 <= i < n`},
		{[]string{"run", "-shard", "x"}, `-shard "x": want i/n`},
		{[]string{"run", "-shard", "0/0"}, `-shard "0/0"`},
		{[]string{"run", "-seed", "2", "-shard", "0/2"}, "-shard 0/2: no seed of this invocation falls in it"},
		{[]string{"merge"}, "name the results files"},
		{[]string{"merge", filepath.Join(dir, "missing.jsonl")}, "no such file"},
		{[]string{"merge", garbage}, "garbage.jsonl:2:"},
		{[]string{"merge", good, good}, "tiny-calm seed 1 skip [] is in both"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := invoke(tc.args...)
			require.Equal(t, exitBadUsage, code, "stderr: %s", stderr)
			require.Contains(t, stderr, tc.errHas)
		})
	}
}

// splitSummary splits stdout into the table and the -json last line.
func splitSummary(t *testing.T, stdout string) (string, map[string]any) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	var js map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &js), "last line: %s", lines[len(lines)-1])
	return strings.Join(lines[:len(lines)-1], "\n"), js
}

var wallColumn = regexp.MustCompile(`\s+[0-9.]+(ns|µs|ms|s|m[0-9.]+s)\s*$`)

// withoutWall drops the table's last column (wall time), its alignment, and the reports
// line's directory.
func withoutWall(table, outDir string) string {
	var out []string
	for _, l := range strings.Split(table, "\n") {
		l = strings.ReplaceAll(l, outDir, "DIR")
		// The table is right-aligned, so the wall column's width moves every column.
		out = append(out, strings.Join(strings.Fields(wallColumn.ReplaceAllString(l, "")), " "))
	}
	return strings.Join(out, "\n")
}
