package compat

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// etcdctlCommands are run, in order, against both clusters (their member m1); each output is
// compared after normalising only IDs, URLs and timings. Keys are under ctl/, which the
// sequences never touch; the stores are equal when this runs (every call before agreed).
var etcdctlCommands = []struct {
	args  []string
	stdin string
	// sortLines: the output lists members by ID, and the IDs (hashes of the ports) differ
	// between the clusters (as unorderedLists).
	sortLines bool
}{
	{args: []string{"put", "ctl/a", "1"}},
	{args: []string{"put", "ctl/b", "2", "--prev-kv"}},
	{args: []string{"put", "ctl/b", "3", "--prev-kv"}},
	{args: []string{"get", "ctl/", "--prefix"}},
	{args: []string{"get", "ctl/", "--prefix", "--keys-only"}},
	{args: []string{"get", "ctl/", "--prefix", "--count-only", "-w", "fields"}},
	{args: []string{"get", "ctl/", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND", "--limit", "1", "-w", "json"}},
	{args: []string{"get", "ctl/a", "--rev", "1"}},
	{args: []string{"get", "ctl/a", "--rev", "99999999"}},
	{args: []string{"del", "ctl/a", "--prev-kv"}},
	{args: []string{"del", "ctl/nothing"}},
	{args: []string{"txn"}, stdin: "mod(\"ctl/b\") > \"0\"\n\nput ctl/c 4\nget ctl/b\n\ndel ctl/b\n\n"},
	{args: []string{"txn", "-w", "json"}, stdin: "value(\"ctl/c\") = \"4\"\n\nget ctl/c\n\n\n"},
	{args: []string{"lease", "grant", "600"}},
	{args: []string{"lease", "revoke", "12345"}},
	{args: []string{"lease", "timetolive", "12345"}},
	{args: []string{"member", "list"}, sortLines: true},
	{args: []string{"endpoint", "health"}},
	{args: []string{"compaction", "99999999"}},
	{args: []string{"put", "", "x"}},
	{args: []string{"get", "ctl/", "--prefix", "-w", "simple", "--print-value-only"}},
}

// ctlNormalize maps what must differ between the clusters: URLs (ports) to mN-client /
// mN-peer, member IDs (hex and decimal) to mN, cluster IDs, raft terms and lease IDs to
// placeholders, fractional durations to "DURATION" (whole seconds, such as TTLs, stay), and
// in etcdctl's own log lines the time, the client's pointer and local port.
func ctlNormalize(out string, s *sideState) string {
	var urls []string
	for u := range s.urls {
		urls = append(urls, u)
	}
	sort.Slice(urls, func(i, j int) bool { return len(urls[i]) > len(urls[j]) })
	for _, u := range urls {
		out = strings.ReplaceAll(out, u, s.urls[u])
		out = strings.ReplaceAll(out, strings.TrimPrefix(u, "http://"), s.urls[u])
	}
	for id, n := range s.ids {
		out = strings.ReplaceAll(out, fmt.Sprintf("%x", id), fmt.Sprintf("m%d", n))
		out = strings.ReplaceAll(out, fmt.Sprint(id), fmt.Sprintf("m%d", n))
	}
	for _, r := range []struct{ re, to string }{
		{`"cluster_id":\d+`, `"cluster_id":ID`},
		{`"raft_term":\d+`, `"raft_term":TERM`},
		{`"ClusterID" : \d+`, `"ClusterID" : ID`},
		{`"ts":"[^"]*"`, `"ts":TIME`},
		{`etcd-endpoints://0x[0-9a-f]+/`, `etcd-endpoints://POINTER/`},
		{`LocalAddr: '127\.0\.0\.1:\d+'`, `LocalAddr: 'LOCAL'`},
		{`"RaftTerm" : \d+`, `"RaftTerm" : TERM`},
		{`lease [0-9a-f]+ granted`, `lease LEASE granted`},
		{`took = [0-9.]+[µmn]?s`, `took = DURATION`},
		{`\b\d+\.\d+(ms|µs|s)\b`, `DURATION`},
	} {
		out = regexp.MustCompile(r.re).ReplaceAllString(out, r.to)
	}
	return out
}

// testEtcdctl runs etcdctlCommands against both clusters and compares their outputs.
func testEtcdctl(t *testing.T, etcd, ballast *sideState) {
	bin := etcdTool(t, "etcdctl", "ETCDCTL_BIN")
	run := func(s *sideState, args []string, stdin string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		endpoint := s.clients[0].Endpoints()[0]
		cmd := exec.CommandContext(ctx, bin, append([]string{"--endpoints=" + endpoint, "--dial-timeout=5s", "--command-timeout=15s"}, args...)...)
		cmd.Env = withoutPrefix(os.Environ(), "ETCDCTL_")
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("etcdctl %v: %v", args, err)
		}
		return fmt.Sprintf("exit %d\n%s", code, ctlNormalize(out.String(), s))
	}
	for i, c := range etcdctlCommands {
		e, b := run(etcd, c.args, c.stdin), run(ballast, c.args, c.stdin)
		if c.sortLines {
			e, b = sortedLines(e), sortedLines(b)
		}
		if e != b {
			t.Fatalf("etcdctl command %d differs: etcdctl %s (stdin %q)\netcd:\n%s\nballast:\n%s", i, strings.Join(c.args, " "), c.stdin, e, b)
		}
	}
	t.Logf("%d etcdctl command lines gave the same output on both", len(etcdctlCommands))
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
