package compat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// ctlCommand is one etcdctl command line, run against both clusters.
type ctlCommand struct {
	// args may hold placeholders, replaced per cluster by what that cluster named (ctlVars):
	// {lease} (the lease `lease grant` granted), {leader}, {target} (move-leader's), {new}
	// (the member `member add` added), {rev} (the store's revision), {newpeer} and
	// {newpeer2} (unused loopback peer URLs, the same on both), {start} (the revision of the
	// first command's write), {snap} (a snapshot file of this cluster's, named SNAPSHOT in
	// the outputs), {self} (m1's client URL, for make-mirror's destination).
	args  []string
	stdin string
	// sortLines: the output lists members or leases in an order that depends on IDs, which
	// differ between the clusters (as unorderedLists), or lines written concurrently.
	sortLines bool
	// allEndpoints: etcdctl gets every member's endpoint (move-leader looks for the leader
	// among them), not m1's only.
	allEndpoints bool
	// interruptAfter: etcdctl blocks until SIGINT (elect, watch, lock and lease keep-alive
	// without their bounding options): it is sent once this many lines arrived.
	interruptAfter int
	// interruptWhen: etcdctl blocks until SIGINT (make-mirror, which prints nothing until
	// 30 s have passed): it is sent once the condition, polled, holds.
	interruptWhen func(ctx context.Context, s *sideState) (bool, error)
	// sortJSON: a -w json output whose list of this name is in an order that depends on
	// IDs (leases, members: as unorderedLists): its items are sorted after normalising.
	sortJSON string
	// etcdutl: the command is etcdutl's (offline, on a file: no endpoints or timeouts).
	etcdutl bool
	// protobuf: the output is -w protobuf, this message's encoding: it is decoded and
	// compared as a response of the sequence is (IDs mapped, ignoredFields cleared).
	protobuf func() proto.Message
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
// Not run: `check perf` and `check datascale` (a 60 s load at least, whose figures are
// timings and memory use, all normalised away), `elect -l` (it prints only leaders, and
// campaign covers the same calls), `member promote` of a caught-up learner (it needs a
// fourth member process on each side), `downgrade` (an intended difference: Ballast does
// not serve Downgrade, see ignored.go), and etcdctl's local commands other than version
// (completion, help, options: no server is asked).
var etcdctlCommands = []ctlCommand{
	{args: []string{"version"}}, // etcdctl's own: it asks no server
	{args: []string{"put", "ctl/a", "1"}, prepare: startRevision},
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
	// watches from the first write on: the history of ctl/b and of ctl/c, then interrupted
	{args: []string{"watch", "ctl/b", "--rev", "{start}", "--prev-kv"}, interruptAfter: 8},
	{args: []string{"watch", "ctl/c", "--rev", "{start}", "-w", "json"}, interruptAfter: 1},
	// more of get, put and del's options
	{args: []string{"put", "ctl/p", "old"}},
	{args: []string{"put", "ctl/p", "--ignore-value"}},
	{args: []string{"put", "ctl/p", "x", "--ignore-value"}},
	{args: []string{"put", "ctl/p", "x", "--ignore-lease"}},
	{args: []string{"put", "ctl/p", "x", "--lease", "7777"}},
	{args: []string{"get", "ctl/p", "--print-value-only"}},
	{args: []string{"get", "ctl/", "--prefix", "--min-mod-rev", "{start}", "--max-create-rev", "99999999", "--keys-only"}},
	{args: []string{"get", "ctl/", "--prefix", "--min-create-rev", "99999999"}},
	{args: []string{"get", "ctl/", "--prefix", "-w", "protobuf"}, protobuf: func() proto.Message { return &pb.RangeResponse{} }},
	{args: []string{"get", "ctl/", "--prefix", "-w", "table"}},
	{args: []string{"get", "ctl/", "--prefix", "-w", "yaml"}},
	{args: []string{"get", "ctl/d", "ctl/q", "-w", "json"}},
	{args: []string{"del", "ctl/p", "ctl/q", "--range"}},
	{args: []string{"put", "ctl/x/1", "a"}},
	{args: []string{"put", "ctl/x/2", "b"}},
	{args: []string{"del", "ctl/x/", "--prefix", "--prev-kv", "-w", "json"}},
	{args: []string{"del", "ctl/zz", "--from-key"}},
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
	{args: []string{"lease", "keep-alive", "{lease}"}, interruptAfter: 1},
	{args: []string{"lease", "keep-alive", "--once", "{lease}", "-w", "json"}},
	{args: []string{"lease", "timetolive", "{lease}", "--keys", "-w", "json"}},
	{args: []string{"lease", "list"}, sortLines: true},
	{args: []string{"lease", "list", "-w", "json"}, sortJSON: "leases"},
	{args: []string{"lease", "revoke", "{lease}"}},
	{args: []string{"lease", "timetolive", "{lease}"}},
	{args: []string{"get", "ctl/leased"}},
	{args: []string{"lease", "revoke", "12345"}},
	{args: []string{"lease", "timetolive", "12345"}},
	{args: []string{"lock", "ctl/lock", "--", "sh", "-c", "echo key=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV"}},
	{args: []string{"lock", "ctl/lock"}, interruptAfter: 1},
	{args: []string{"get", "ctl/lock", "--prefix", "--count-only", "-w", "fields"}},
	{args: []string{"elect", "ctl/elect", "p1"}, interruptAfter: 2},
	{args: []string{"get", "ctl/elect", "--prefix", "--count-only", "-w", "fields"}},
	{args: []string{"member", "list"}, sortLines: true},
	{args: []string{"member", "list", "-w", "fields"}, sortLines: true},
	{args: []string{"member", "list", "-w", "table"}, sortLines: true},
	{args: []string{"member", "list", "-w", "json"}, sortJSON: "members"},
	{args: []string{"member", "list", "-w", "simple", "--hex"}, sortLines: true},
	{args: []string{"endpoint", "health"}},
	{args: []string{"endpoint", "health", "-w", "table"}},
	{args: []string{"endpoint", "health", "-w", "json"}},
	{args: []string{"endpoint", "health", "--cluster"}, sortLines: true},
	{args: []string{"endpoint", "status", "-w", "fields"}},
	{args: []string{"endpoint", "status", "-w", "table"}},
	{args: []string{"endpoint", "status", "-w", "json"}},
	{args: []string{"endpoint", "status", "--cluster", "-w", "table"}, sortLines: true},
	{args: []string{"alarm", "list"}},
	{args: []string{"alarm", "list", "-w", "json"}},
	{args: []string{"alarm", "disarm"}},
	{args: []string{"alarm", "disarm", "-w", "json"}},
	{args: []string{"defrag"}},
	{args: []string{"defrag", "--cluster"}, sortLines: true},
	{args: []string{"put", "", "x"}},
	{args: []string{"get", "ctl/", "--prefix", "-w", "simple", "--print-value-only"}},
	// users, roles and auth, to auth disabled again; first, the sequence's users and roles
	// (whichever it left) go
	{args: []string{"user", "delete", "root"}},
	{args: []string{"user", "delete", "alice"}},
	{args: []string{"user", "delete", "bob"}},
	{args: []string{"user", "delete", "carol"}},
	{args: []string{"role", "delete", "root"}},
	{args: []string{"role", "delete", "ra"}},
	{args: []string{"role", "delete", "rb"}},
	{args: []string{"role", "delete", "rc"}},
	{args: []string{"user", "list"}},
	{args: []string{"role", "list"}},
	{args: []string{"user", "add", "root", "--new-user-password", "rootpw"}},
	{args: []string{"user", "add", "alice", "--new-user-password", "alicepw"}},
	{args: []string{"user", "add", "bob", "--no-password"}},
	{args: []string{"user", "add", "alice", "--new-user-password", "again"}},
	{args: []string{"user", "add", "carol", "--interactive=false"}, stdin: "carolpw\n"},
	{args: []string{"user", "list"}},
	{args: []string{"role", "add", "reader"}},
	{args: []string{"role", "add", "reader"}},
	{args: []string{"role", "add", "writer", "-w", "json"}},
	{args: []string{"role", "list", "-w", "json"}},
	{args: []string{"role", "grant-permission", "reader", "read", "--prefix", "ctl/"}},
	{args: []string{"role", "grant-permission", "reader", "readwrite", "ctl/own"}},
	{args: []string{"role", "grant-permission", "writer", "write", "ctl/a", "ctl/c"}},
	{args: []string{"role", "grant-permission", "writer", "write", "ctl/z", "--from-key"}},
	{args: []string{"role", "grant-permission", "writer", "write", "ctl/z", "ctl/a"}},
	{args: []string{"role", "grant-permission", "nosuch", "read", "k"}},
	{args: []string{"role", "grant-permission", "reader", "sideways", "k"}},
	{args: []string{"role", "get", "reader"}},
	{args: []string{"role", "get", "writer", "-w", "json"}},
	{args: []string{"user", "grant-role", "alice", "reader"}},
	{args: []string{"user", "grant-role", "alice", "writer", "-w", "json"}},
	{args: []string{"user", "grant-role", "bob", "nosuch"}},
	{args: []string{"user", "get", "alice"}},
	{args: []string{"user", "get", "alice", "--detail"}},
	{args: []string{"user", "get", "alice", "-w", "json"}},
	{args: []string{"auth", "status"}},
	{args: []string{"auth", "enable"}},
	{args: []string{"auth", "status", "--user", "root:rootpw", "-w", "json"}},
	{args: []string{"get", "ctl/b"}},
	{args: []string{"get", "ctl/d", "--user", "alice:alicepw"}},
	{args: []string{"get", "ctl/", "--prefix", "--keys-only", "--user", "alice:alicepw"}},
	{args: []string{"get", "ctl/", "--from-key", "--keys-only", "--user", "alice:alicepw"}},
	{args: []string{"put", "ctl/d", "x", "--user", "alice:alicepw"}},
	{args: []string{"put", "ctl/b", "x", "--user", "alice:alicepw"}},
	{args: []string{"put", "ctl/own", "mine", "--user", "alice:alicepw", "--prev-kv"}},
	{args: []string{"del", "ctl/own", "--user", "alice:alicepw"}},
	{args: []string{"get", "ctl/d", "--user", "alice:wrong"}},
	{args: []string{"get", "ctl/d", "--user", "nobody:x"}},
	{args: []string{"get", "ctl/d", "--user", "carol", "--password", "carolpw"}},
	{args: []string{"compaction", "1", "--user", "alice:alicepw"}},
	{args: []string{"endpoint", "status", "-w", "fields", "--user", "alice:alicepw"}},
	{args: []string{"user", "list", "--user", "alice:alicepw"}},
	{args: []string{"user", "get", "alice", "--user", "alice:alicepw"}},
	{args: []string{"user", "passwd", "alice", "--interactive=false", "--user", "root:rootpw"}, stdin: "alicepw2\n"},
	{args: []string{"get", "ctl/d", "--user", "alice:alicepw"}},
	{args: []string{"get", "ctl/d", "--user", "alice:alicepw2"}},
	{args: []string{"user", "revoke-role", "alice", "reader", "--user", "root:rootpw"}},
	{args: []string{"user", "revoke-role", "alice", "reader", "--user", "root:rootpw"}},
	{args: []string{"get", "ctl/d", "--user", "alice:alicepw2"}},
	{args: []string{"role", "revoke-permission", "reader", "ctl/", "--prefix", "--user", "root:rootpw"}},
	{args: []string{"role", "revoke-permission", "reader", "ctl/", "--prefix", "--user", "root:rootpw"}},
	{args: []string{"role", "revoke-permission", "writer", "ctl/a", "ctl/c", "--user", "root:rootpw", "-w", "json"}},
	{args: []string{"role", "get", "reader", "--user", "root:rootpw"}},
	{args: []string{"user", "delete", "root", "--user", "root:rootpw"}},
	{args: []string{"user", "revoke-role", "root", "root", "--user", "root:rootpw"}},
	{args: []string{"user", "delete", "bob", "--user", "root:rootpw"}},
	{args: []string{"role", "delete", "reader", "--user", "root:rootpw"}},
	{args: []string{"user", "list", "--user", "root:rootpw", "-w", "json"}},
	{args: []string{"role", "list", "--user", "root:rootpw"}},
	{args: []string{"auth", "disable", "--user", "alice:alicepw2"}},
	{args: []string{"auth", "disable", "--user", "root:rootpw"}},
	{args: []string{"auth", "disable"}},
	{args: []string{"auth", "status"}},
	{args: []string{"user", "delete", "alice"}},
	{args: []string{"user", "delete", "carol"}},
	{args: []string{"user", "delete", "root"}},
	{args: []string{"role", "delete", "writer"}},
	{args: []string{"role", "delete", "root"}},
	{args: []string{"role", "list"}},
	{args: []string{"user", "list", "-w", "json"}},
	// snapshot save, and etcdutl on the file: what it says of the store (not of bbolt's file)
	{args: []string{"snapshot", "save", "{snap}"}},
	{etcdutl: true, args: []string{"snapshot", "status", "{snap}", "-w", "json"}},
	{args: []string{"snapshot", "save", "/nonexistent/dir/x.db"}},
	// a mirror of ctl/ under mirror/ in the same cluster, interrupted once it holds every key
	{args: []string{"make-mirror", "--prefix", "ctl/", "--dest-prefix", "mirror/", "{self}"}, interruptWhen: mirrored},
	{args: []string{"get", "mirror/", "--prefix"}},
	{args: []string{"make-mirror", "--prefix", "ctl/", "--dest-prefix", "mirror/", "--no-dest-prefix", "{self}"}},
	{args: []string{"compaction", "99999999"}},
	{args: []string{"compaction", "{rev}"}, prepare: revision},
	{args: []string{"put", "ctl/g", "8"}},
	{args: []string{"compaction", "--physical", "{rev}"}, prepare: revision},
	{args: []string{"get", "ctl/b", "--rev", "2"}},
	{args: []string{"endpoint", "hashkv"}},
	{args: []string{"endpoint", "hashkv", "-w", "table"}},
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

// startRevision sets {start}, the revision the next write makes.
func startRevision(ctx context.Context, s *sideState, v *ctlVars) error {
	if err := revision(ctx, s, v); err != nil {
		return err
	}
	rev, _ := strconv.ParseInt(v.vals["{rev}"], 10, 64)
	v.set("{start}", fmt.Sprint(rev+1), "")
	return nil
}

// mirrored reports whether mirror/ holds as many keys as ctl/ (make-mirror's copy is done).
func mirrored(ctx context.Context, s *sideState) (bool, error) {
	kv := pb.NewKVClient(s.clients[0].ActiveConnection())
	src, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("ctl/"), RangeEnd: []byte("ctl0"), CountOnly: true})
	if err != nil {
		return false, err
	}
	dst, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("mirror/"), RangeEnd: []byte("mirror0"), CountOnly: true})
	if err != nil {
		return false, err
	}
	return src.Count > 0 && dst.Count == src.Count, nil
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
		// the same in endpoint status -w json
		{`"(raftIndex|raftAppliedIndex|dbSize|dbSizeInUse|dbSizeQuota|raftTerm)":\d+`, `"$1":N`},
		{`"leader":m\d`, `"leader":LEADER`},
		{`"(version|storageVersion)":"[^"]*"`, `"$1":VERSION`},
		// snapshot save's log: the file's size (bbolt's pages against Ballast's export)
		{`"size":"[^"]*"`, `"size":SIZE`},
		// etcdutl snapshot status: bbolt's hash of the file's pages and the file's size
		// (Ballast writes its own bbolt file: the same buckets, other pages)
		{`"hash":\d+,`, `"hash":HASH,`},
		{`"totalSize":\d+`, `"totalSize":SIZE`},
		{`lease [0-9a-f]+ granted`, `lease LEASE granted`},
		// JSON prints IDs in decimal: a lease etcdctl granted (the servers' choice)
		{`"(id|ID)":\d{12,}`, `"$1":LEASE`},
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
	bins := tools{ctl: etcdTool(t, "etcdctl", "ETCDCTL_BIN"), utl: etcdTool(t, "etcdutl", "ETCDUTL_BIN")}
	ports := embedtest.FreePorts(t, 2)
	newVars := func(s *sideState) *ctlVars {
		v := &ctlVars{vals: map[string]string{}, names: map[string]string{}, once: map[string]string{}}
		v.set("{newpeer}", fmt.Sprintf("http://127.0.0.1:%d", ports[0]), "")
		v.set("{newpeer2}", fmt.Sprintf("http://127.0.0.1:%d", ports[1]), "")
		snap := filepath.Join(t.TempDir(), s.name+".db")
		v.set("{snap}", snap, "SNAPSHOT")
		v.names[snap+".part"] = "SNAPSHOT.part"
		v.set("{self}", s.clients[0].Endpoints()[0], "")
		return v
	}
	ev, bv := newVars(etcd), newVars(ballast)
	for i, c := range etcdctlCommands {
		// The two clusters are independent: each command runs on both at once.
		var e, b string
		var eerr, berr error
		var wg sync.WaitGroup
		started := time.Now()
		wg.Add(2)
		go func() { defer wg.Done(); e, eerr = runCtl(bins, etcd, ev, c) }()
		go func() { defer wg.Done(); b, berr = runCtl(bins, ballast, bv, c) }()
		wg.Wait()
		if err := errors.Join(eerr, berr); err != nil {
			t.Fatal(err)
		}
		if c.sortLines {
			e, b = sortedLines(e), sortedLines(b)
		}
		if os.Getenv("COMPAT_VERBOSE") != "" || os.Getenv("COMPAT_CTL_VERBOSE") != "" {
			t.Logf("etcdctl %s (%v)\n%s", strings.Join(c.args, " "), time.Since(started).Round(time.Millisecond), e)
		}
		if e != b {
			t.Fatalf("etcdctl command %d differs: etcdctl %s (stdin %q)\netcd:\n%s\nballast:\n%s", i, strings.Join(c.args, " "), c.stdin, e, b)
		}
	}
	t.Logf("%d etcdctl command lines gave the same output on both", len(etcdctlCommands))
}

// tools are etcdctl's and etcdutl's programs.
type tools struct{ ctl, utl string }

// runCtl runs one command on s: its exit code and normalised output. An error is the
// harness's own (etcdctl did not run, a placeholder has no value).
func runCtl(bins tools, s *sideState, v *ctlVars, c ctlCommand) (string, error) {
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
	bin, args := bins.ctl, []string{"--endpoints=" + endpoints, "--dial-timeout=5s", "--command-timeout=15s"}
	if c.etcdutl {
		bin, args = bins.utl, nil
	}
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
	if c.interruptWhen != nil {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			done, err := c.interruptWhen(ctx, s)
			if err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return "", fmt.Errorf("%s: while etcdctl %v ran: %w", s.name, c.args, err)
			}
			if done {
				break
			}
			time.Sleep(50 * time.Millisecond)
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
	raw := out.String()
	if c.protobuf != nil && code == 0 {
		msg := c.protobuf()
		if err := proto.Unmarshal([]byte(raw), msg); err != nil {
			return "", fmt.Errorf("%s: etcdctl %v: the output is not a %T: %w", s.name, c.args, msg, err)
		}
		raw = prototext.Format(normalize(msg, s))
	}
	text := tableNormalize(ctlNormalize(raw, s, v))
	if c.sortJSON != "" {
		text = sortJSONList(text, c.sortJSON)
	}
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

// tableMasked are the columns of -w table outputs whose cells are masked, for the reasons
// ignoredFields gives for the StatusResponse fields they print (and TOOK, a timing).
var tableMasked = map[string]bool{"DB SIZE": true, "IN USE": true, "PERCENTAGE NOT IN USE": true, "IS LEADER": true,
	"RAFT TERM": true, "RAFT INDEX": true, "RAFT APPLIED INDEX": true, "VERSION": true, "STORAGE VERSION": true, "TOOK": true}

// tableNormalize rewrites a -w table output (box drawing, columns as wide as their widest
// cell, so as wide as each side's own values) as rows of cells separated by " | ", with
// tableMasked's cells masked; any other output is returned as is.
func tableNormalize(out string) string {
	if !strings.Contains(out, "┌") {
		return out
	}
	var header []string
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "┌"), strings.HasPrefix(line, "├"), strings.HasPrefix(line, "└"):
			lines = append(lines, "---")
			// └ may end without a newline, the next output following on its line
			if i := strings.LastIndex(line, "┘"); i >= 0 && i+len("┘") < len(line) {
				lines = append(lines, line[i+len("┘"):])
			}
		case strings.HasPrefix(line, "│"):
			cells := strings.Split(strings.Trim(line, "│"), "│")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			if header == nil {
				header = cells
			} else {
				for i := range cells {
					if i < len(header) && tableMasked[header[i]] {
						cells[i] = header[i]
					}
				}
			}
			lines = append(lines, strings.Join(cells, " | "))
		default:
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// sortJSONList sorts the items of the JSON list "name":[...] in out (normalised text, so
// not always JSON any more: items are split at the list's own commas, outside strings).
func sortJSONList(out, name string) string {
	open := `"` + name + `":[`
	start := strings.Index(out, open)
	if start < 0 {
		return out
	}
	start += len(open)
	var items []string
	depth, inString, from := 0, false, start
	for i := start; i < len(out); i++ {
		switch ch := out[i]; {
		case inString:
			if ch == '\\' {
				i++
			} else if ch == '"' {
				inString = false
			}
		case ch == '"':
			inString = true
		case ch == '{' || ch == '[':
			depth++
		case ch == ',' && depth == 0:
			items = append(items, out[from:i])
			from = i + 1
		case ch == ']' && depth == 0:
			items = append(items, out[from:i])
			sort.Strings(items)
			return out[:start] + strings.Join(items, ",") + out[i:]
		case ch == '}' || ch == ']':
			depth--
		}
	}
	return out
}
