package embed

import (
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/raft"
)

// /debug/vars on the client URLs, as etcd's etcdhttp.HandleDebug serves it (always, not only
// with --enable-pprof): GET only (anything else is 405 with "Allow: GET"), the process's
// expvar variables as one JSON object: Go's cmdline and memstats, and etcd's own two,
// file_descriptor_limit and raft.status (etcd's raft.Status JSON: id, term, vote, commit,
// lead, raftState, applied, progress by member, leadtransferee, IDs in hex). expvar is
// process-wide and refuses a second Publish of a name, so the two are published once and
// raft.status reads the member most recently started in this process (etcd keeps one
// raftStatus function likewise). etcd's TestConnectionMultiplexing fetches it.

// debugVarsServer is the member raft.status reports.
var debugVarsServer atomic.Pointer[Server]

var publishDebugVars sync.Once

func (s *Server) serveDebugVars(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprint(w, "{\n")
	first := true
	expvar.Do(func(kv expvar.KeyValue) {
		if !first {
			fmt.Fprint(w, ",\n")
		}
		first = false
		fmt.Fprintf(w, "%q: %s", kv.Key, kv.Value)
	})
	fmt.Fprint(w, "\n}\n")
}

// registerDebugVars makes s the member raft.status reports and publishes etcd's variables
// once per process.
func (s *Server) registerDebugVars() {
	debugVarsServer.Store(s)
	publishDebugVars.Do(func() {
		expvar.Publish("file_descriptor_limit", expvar.Func(func() any {
			var l syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
				return 0
			}
			return l.Cur
		}))
		expvar.Publish("raft.status", expvar.Func(func() any {
			s := debugVarsServer.Load()
			if s == nil || s.driver == nil {
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			var st raft.Status
			if err := s.driver.Inspect(ctx, func(m *node.Member) { st = m.Status() }); err != nil {
				return nil
			}
			return json.RawMessage(raftStatusJSON(st))
		}))
	})
}

// raftStatusJSON is st in etcd's raft.Status MarshalJSON shape.
func raftStatusJSON(st raft.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":"%x","term":%d,"vote":"%x","commit":%d,"lead":"%x","raftState":%q,"applied":%d,"progress":{`,
		st.ID, st.Term, st.Vote, st.Commit, st.Lead, st.RaftState.String(), st.Applied)
	progress := append([]raft.ProgressStatus(nil), st.Progress...)
	sort.Slice(progress, func(i, j int) bool { return progress[i].ID < progress[j].ID })
	for i, p := range progress {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%x":{"match":%d,"next":%d,"state":%q}`, p.ID, p.Match, p.Next, p.State)
	}
	fmt.Fprintf(&b, `},"leadtransferee":"%x"}`, st.LeadTransferee)
	return b.String()
}
