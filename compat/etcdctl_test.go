package compat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// ctlCommand is one etcdctl command line, run against both clusters.
type ctlCommand struct {
	// args may hold placeholders, replaced per cluster by what that cluster named (ctlVars):
	// {lease} (the lease `lease grant` granted), {leader}, {target} (move-leader's), {new}
	// (the member `member add` added), {rev} (the store's revision), {newpeer} and
	// {newpeer2} (unused loopback peer URLs, the same on both).
	args  []string
	stdin string
	// sortLines: the output lists members or leases in an order that depends on IDs, which
	// differ between the clusters (as unorderedLists), or lines written concurrently.
	sortLines bool
	// allEndpoints: etcdctl gets every member's endpoint (move-leader looks for the leader
	// among them), not m1's only.
	allEndpoints bool
	// interruptAfter: etcdctl blocks until SIGINT (elect): it is sent once this many lines
	// arrived.
	interruptAfter int
	// prepare learns what the command's placeholders need before it runs.
	prepare func(ctx context.Context, s *sideState, v *ctlVars) error
	// capture learns from the output what later commands refer to.
	capture func(out string, v *ctlVars)
}

// ctlVars are one cluster's placeholder values and the names its own IDs are normalised to
// (a lease etcd granted has another ID than Ballast's).
type ctlVars struct {
	vals  map[string]string // "{lease}" -> "694d7d1c2e0a1b05"
	names map[string]string // "694d7d1c2e0a1b05" -> "LEASE"
	// once are names for the next command's output only (the leader's ID is LEADER only
	// until leadership moves).
	once map[string]string
}

func (v *ctlVars) set(placeholder, value, name string) {
	v.vals[placeholder] = value
	if name != "" {
		v.names[value] = name
	}
}

var (
	leaseGranted = regexp.MustCompile(`lease ([0-9a-f]+) granted with TTL`)
	memberAdded  = regexp.MustCompile(`Member +([0-9a-f]+) added`)
)

// etcdctlCommands are run, in order, against both clusters (their member m1, unless
// allEndpoints); each output is compared after normalising only IDs, URLs and timings. Keys
// are under ctl/, which the sequences never touch; the stores are equal when this runs
// (every call before agreed). Commands that change the cluster (compaction, move-leader,
// membership) come last, where nothing runs after them.
//
// Not run: `snapshot save` (its output names the file and its size, bbolt pages that differ
// by construction; the sequence's Snapshot call compares the files' contents, and
// tools/etcd/roundtrip restores Ballast's with etcdutl), `check perf` (a 60 s load at least, whose figures are timings, all normalised
// away), `elect -l` and `lock` without a command (they print only once interrupted or never
// return, and campaign/lock with a command cover the same calls), `member promote` of a
// caught-up learner (it needs a fourth member process on each side).
var etcdctlCommands = []ctlCommand{
	{args: []string{"put", "ctl/a", "1"}},
	{args: []string{"put", "ctl/b", "2", "--prev-kv"}},
	{args: []string{"put", "ctl/b", "3", "--prev-kv"}},
	{args: []string{"get", "ctl/", "--prefix"}},
	{args: []string{"get", "ctl/", "--prefix", "--keys-only"}},
	{args: []string{"get", "ctl/", "--prefix", "--count-only", "-w", "fields"}},
	{args: []string{"get", "ctl/", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND", "--limit", "1", "-w", "json"}},
	{args: []string{"get", "ctl/", "--prefix", "--sort-by", "VALUE", "--order", "ASCEND", "-w", "fields"}},
	{args: []string{"get", "ctl/", "--prefix", "--sort-by", "VERSION", "--order", "DESCEND"}},
	{args: []string{"get", "ctl/", "--prefix", "--sort-by", "CREATE", "--order", "ASCEND", "--consistency", "s"}},
	{args: []string{"get", "ctl/b", "--consistency", "l", "-w", "json"}},
	{args: []string{"get", "ctl/b", "--consistency", "x"}},
	{args: []string{"get", "ctl/", "--from-key", "--limit", "2", "--keys-only"}},
	{args: []string{"get", "ctl/", "--prefix", "--order", "SIDEWAYS"}},
	{args: []string{"get", "ctl/a", "--rev", "1"}},
	{args: []string{"get", "ctl/a", "--rev", "99999999"}},
	{args: []string{"get", "ctl/b", "--rev", "{rev}"}, prepare: revision},
	{args: []string{"del", "ctl/a", "--prev-kv"}},
	{args: []string{"del", "ctl/nothing"}},
	{args: []string{"txn"}, stdin: "mod(\"ctl/b\") > \"0\"\n\nput ctl/c 4\nget ctl/b\n\ndel ctl/b\n\n"},
	{args: []string{"txn", "-w", "json"}, stdin: "value(\"ctl/c\") = \"4\"\n\nget ctl/c\n\n\n"},
	{args: []string{"txn", "-i"}, stdin: "version(\"ctl/c\") = \"1\"\ncreate(\"ctl/none\") = \"0\"\n\nput ctl/d 5\ndel ctl/c\n\nget ctl/c\n\n"},
	{args: []string{"txn", "-i"}, stdin: "value(\"ctl/d\") = \"nope\"\n\nput ctl/e 6\n\nget ctl/d\nput ctl/f 7\n\n"},
	{args: []string{"txn", "-i"}, stdin: "no such compare\n"},
	// Before the leases etcdctl has granted (their IDs, the servers' choice, are in the
	// hashed versions) and after a compaction removed them.
	{args: []string{"endpoint", "hashkv", "-w", "json"}},
	{args: []string{"lease", "grant", "600"}, capture: func(out string, v *ctlVars) {
		if m := leaseGranted.FindStringSubmatch(out); m != nil {
			v.set("{lease}", m[1], "LEASE")
		}
	}},
	{args: []string{"put", "ctl/leased", "x", "--lease", "{lease}"}},
	{args: []string{"lease", "timetolive", "{lease}", "--keys"}},
	{args: []string{"lease", "keep-alive", "--once", "{lease}"}},
	{args: []string{"lease", "list"}, sortLines: true},
	{args: []string{"lease", "revoke", "{lease}"}},
	{args: []string{"lease", "timetolive", "{lease}"}},
	{args: []string{"get", "ctl/leased"}},
	{args: []string{"lease", "revoke", "12345"}},
	{args: []string{"lease", "timetolive", "12345"}},
	{args: []string{"lock", "ctl/lock", "--", "sh", "-c", "echo key=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV"}},
	{args: []string{"get", "ctl/lock", "--prefix", "--count-only", "-w", "fields"}},
	{args: []string{"elect", "ctl/elect", "p1"}, interruptAfter: 2},
	{args: []string{"get", "ctl/elect", "--prefix", "--count-only", "-w", "fields"}},
	{args: []string{"member", "list"}, sortLines: true},
	{args: []string{"member", "list", "-w", "fields"}, sortLines: true},
	{args: []string{"endpoint", "health"}},
	{args: []string{"endpoint", "health", "--cluster"}, sortLines: true},
	{args: []string{"endpoint", "status", "-w", "fields"}},
	{args: []string{"alarm", "list"}},
	{args: []string{"alarm", "disarm"}},
	{args: []string{"defrag"}},
	{args: []string{"defrag", "--cluster"}, sortLines: true},
	{args: []string{"put", "", "x"}},
	{args: []string{"get", "ctl/", "--prefix", "-w", "simple", "--print-value-only"}},
	{args: []string{"compaction", "99999999"}},
	{args: []string{"compaction", "{rev}"}, prepare: revision},
	{args: []string{"put", "ctl/g", "8"}},
	{args: []string{"compaction", "--physical", "{rev}"}, prepare: revision},
	{args: []string{"get", "ctl/b", "--rev", "2"}},
	{args: []string{"endpoint", "hashkv"}},
	{args: []string{"endpoint", "hashkv", "--cluster"}, sortLines: true},
	{args: []string{"move-leader", "{target}"}, allEndpoints: true, prepare: leaderAndTarget},
	{args: []string{"move-leader", "{leader}"}, allEndpoints: true, prepare: moveBack},
	{args: []string{"move-leader", "ffff"}, allEndpoints: true, prepare: leaderURL},
	{args: []string{"member", "add", "m4", "--peer-urls", "{newpeer}", "--learner"}, capture: func(out string, v *ctlVars) {
		if m := memberAdded.FindStringSubmatch(out); m != nil {
			v.set("{new}", m[1], "NEW")
			if id, err := strconv.ParseUint(m[1], 16, 64); err == nil {
				v.names[fmt.Sprint(id)] = "NEW" // -w fields prints IDs in decimal
			}
		}
	}},
	{args: []string{"member", "list"}, sortLines: true},
	// A set of peer URLs other than m4's, one of them m4's: m4's ID hashes its URLs and the
	// second of the add, so the same set within the same second would meet "member ID
	// already exist" first, and a second later not.
	{args: []string{"member", "add", "m5", "--peer-urls", "{newpeer2},{newpeer}"}},
	{args: []string{"member", "update", "{new}", "--peer-urls", "{newpeer2}"}},
	{args: []string{"member", "list", "-w", "fields"}, sortLines: true},
	{args: []string{"member", "promote", "{new}"}},
	{args: []string{"member", "remove", "{new}"}},
	{args: []string{"member", "remove", "{new}"}},
	{args: []string{"member", "update", "ffff", "--peer-urls", "{newpeer2}"}},
	{args: []string{"member", "list"}, sortLines: true},
}

// revision sets {rev}, the store's current revision (the same on both: every call agreed).
func revision(ctx context.Context, s *sideState, v *ctlVars) error {
	resp, err := pb.NewKVClient(s.clients[0].ActiveConnection()).Range(ctx, &pb.RangeRequest{Key: []byte("sync"), CountOnly: true})
	if err != nil {
		return err
	}
	v.set("{rev}", fmt.Sprint(resp.Header.Revision), "")
	return nil
}

// leaderAndTarget sets {leader} to the leader's ID and {target} to the first other member's
// (in member order), named LEADER and TARGET in the command's output: which member leads
// differs between the clusters.
func leaderAndTarget(ctx context.Context, s *sideState, v *ctlVars) error {
	leader, err := leaderOf(ctx, s)
	if err != nil {
		return err
	}
	var ids []uint64
	for id := range s.ids {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int { return int(s.ids[a]) - int(s.ids[b]) })
	for _, id := range ids {
		if id != leader {
			v.set("{target}", fmt.Sprintf("%x", id), "")
			break
		}
	}
	v.set("{leader}", fmt.Sprintf("%x", leader), "")
	return moveBack(ctx, s, v)
}

// moveBack names {leader} LEADER and {target} TARGET in the next output (move-leader
// {leader} hands leadership back).
func moveBack(_ context.Context, _ *sideState, v *ctlVars) error {
	v.once[v.vals["{leader}"]] = "LEADER"
	v.once[v.vals["{target}"]] = "TARGET"
	return nil
}

// leaderURL names the leader's client URL LEADER-client in the next output (etcdctl's log
// line names the endpoint it sent the call to).
func leaderURL(ctx context.Context, s *sideState, v *ctlVars) error {
	leader, err := leaderOf(ctx, s)
	if err != nil {
		return err
	}
	for u, name := range s.urls {
		if name == fmt.Sprintf("m%d-client", s.ids[leader]) {
			v.once[strings.TrimPrefix(u, "http://")] = "LEADER-client"
		}
	}
	return nil
}

func leaderOf(ctx context.Context, s *sideState) (uint64, error) {
	st, err := pb.NewMaintenanceClient(s.clients[0].ActiveConnection()).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return 0, err
	}
	if _, ok := s.ids[st.Leader]; !ok {
		return 0, fmt.Errorf("leader %x is not a member", st.Leader)
	}
	return st.Leader, nil
}

// ctlNormalize maps what must differ between the clusters: the IDs the commands learnt
// (v.names), URLs (ports) to mN-client / mN-peer, member IDs (hex and decimal) to mN,
// cluster IDs, raft terms and indexes, db sizes and lease IDs to placeholders, durations to
// DURATION (whole seconds, such as TTLs, stay), and in etcdctl's own log lines the time, the
// client's pointer and local port.
func ctlNormalize(out string, s *sideState, v *ctlVars) string {
	for _, names := range []map[string]string{v.once, v.names} {
		var ids []string
		for id := range names {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool {
			return len(ids[i]) > len(ids[j]) || (len(ids[i]) == len(ids[j]) && ids[i] < ids[j])
		})
		for _, id := range ids {
			out = strings.ReplaceAll(out, id, names[id])
		}
	}
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
		{`cluster +[0-9a-f]{1,16}\b`, `cluster ID`},
		{`"ts":"[^"]*"`, `"ts":TIME`},
		{`etcd-endpoints://0x[0-9a-f]+/`, `etcd-endpoints://POINTER/`},
		{`LocalAddr: '127\.0\.0\.1:\d+'`, `LocalAddr: 'LOCAL'`},
		{`"RaftTerm" : \d+`, `"RaftTerm" : TERM`},
		// endpoint status: what ignoredFields names for StatusResponse, for the same reasons
		{`"(RaftIndex|RaftAppliedIndex|DBSize|DBSizeInUse|DBSizeQuota)" : \d+`, `"$1" : N`},
		{`"Leader" : m\d`, `"Leader" : LEADER`},
		{`"(Version|StorageVersion)" : "[^"]*"`, `"$1" : VERSION`},
		{`lease [0-9a-f]+ granted`, `lease LEASE granted`},
		{`(ctl/(lock|elect)/)[0-9a-f]+`, `${1}LEASE`},
		{`took = [0-9.]+[µmn]?s`, `took = DURATION`},
		{`took [0-9.]+[µmn]?s`, `took DURATION`},
		{`\b\d+\.\d+(ms|µs|s)\b`, `DURATION`},
	} {
		out = regexp.MustCompile(r.re).ReplaceAllString(out, r.to)
	}
	// member add lists the cluster in the order of the member IDs
	out = regexp.MustCompile(`ETCD_INITIAL_CLUSTER="([^"]*)"`).ReplaceAllStringFunc(out, func(line string) string {
		inner := strings.TrimSuffix(strings.TrimPrefix(line, `ETCD_INITIAL_CLUSTER="`), `"`)
		parts := strings.Split(inner, ",")
		sort.Strings(parts)
		return `ETCD_INITIAL_CLUSTER="` + strings.Join(parts, ",") + `"`
	})
	return out
}

// testEtcdctl runs etcdctlCommands against both clusters and compares their outputs.
func testEtcdctl(t *testing.T, etcd, ballast *sideState) {
	bin := etcdTool(t, "etcdctl", "ETCDCTL_BIN")
	ports := embedtest.FreePorts(t, 2)
	newVars := func() *ctlVars {
		v := &ctlVars{vals: map[string]string{}, names: map[string]string{}, once: map[string]string{}}
		v.set("{newpeer}", fmt.Sprintf("http://127.0.0.1:%d", ports[0]), "")
		v.set("{newpeer2}", fmt.Sprintf("http://127.0.0.1:%d", ports[1]), "")
		return v
	}
	ev, bv := newVars(), newVars()
	for i, c := range etcdctlCommands {
		// The two clusters are independent: each command runs on both at once.
		var e, b string
		var eerr, berr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); e, eerr = runCtl(bin, etcd, ev, c) }()
		go func() { defer wg.Done(); b, berr = runCtl(bin, ballast, bv, c) }()
		wg.Wait()
		if err := errors.Join(eerr, berr); err != nil {
			t.Fatal(err)
		}
		if c.sortLines {
			e, b = sortedLines(e), sortedLines(b)
		}
		if os.Getenv("COMPAT_VERBOSE") != "" {
			t.Logf("etcdctl %s\n%s", strings.Join(c.args, " "), e)
		}
		if e != b {
			t.Fatalf("etcdctl command %d differs: etcdctl %s (stdin %q)\netcd:\n%s\nballast:\n%s", i, strings.Join(c.args, " "), c.stdin, e, b)
		}
	}
	t.Logf("%d etcdctl command lines gave the same output on both", len(etcdctlCommands))
}

// runCtl runs one command on s: its exit code and normalised output. An error is the
// harness's own (etcdctl did not run, a placeholder has no value).
func runCtl(bin string, s *sideState, v *ctlVars, c ctlCommand) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c.prepare != nil {
		if err := c.prepare(ctx, s, v); err != nil {
			return "", fmt.Errorf("%s: before etcdctl %v: %w", s.name, c.args, err)
		}
	}
	endpoints := s.clients[0].Endpoints()[0]
	if c.allEndpoints {
		var all []string
		for _, cl := range s.clients {
			all = append(all, cl.Endpoints()...)
		}
		endpoints = strings.Join(all, ",")
	}
	args := []string{"--endpoints=" + endpoints, "--dial-timeout=5s", "--command-timeout=15s"}
	for _, a := range c.args {
		for p, val := range v.vals {
			a = strings.ReplaceAll(a, p, val)
		}
		if strings.Contains(a, "{") && strings.Contains(a, "}") && !strings.Contains(a, "$") {
			return "", fmt.Errorf("%s: etcdctl %v: placeholder in %q has no value (an earlier command did not set it)", s.name, c.args, a)
		}
		args = append(args, a)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = withoutPrefix(os.Environ(), "ETCDCTL_")
	cmd.Stdin = strings.NewReader(c.stdin)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%s: etcdctl %v: %w", s.name, c.args, err)
	}
	if c.interruptAfter > 0 {
		deadline := time.Now().Add(15 * time.Second)
		for strings.Count(out.String(), "\n") < c.interruptAfter && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
	}
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		return "", fmt.Errorf("%s: etcdctl %v: %w", s.name, c.args, err)
	}
	if c.capture != nil {
		c.capture(out.String(), v)
	}
	text := ctlNormalize(out.String(), s, v)
	clear(v.once)
	return fmt.Sprintf("exit %d\n%s", code, text), nil
}

// lockedBuffer is etcdctl's output, read while it still runs (interruptAfter).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
