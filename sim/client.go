package sim

import (
	"errors"

	"fmt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/scenarios"
)

// Scenario.Clients clients each issue one request at a time (put, linearizable and
// serializable get, range over all keys, delete, compare-and-swap txn on the value the
// client last saw, lease grant, keep-alive (Member.KeepAlive), revoke, put with one of the
// client's leases; a lease kind with no lease of the client's grants one), at OpsPerSecond overall, to a random live member, with values unique per
// write ("c3-17"), recorded in a history.Recorder in virtual nanoseconds. An error returned
// during Submit itself (no leader known, member stopped) is recorded as definite: the
// member never proposed or forwarded the request. Other errors are classified by
// history.Classify. With no answer within clientTimeout (2 s) the outcome is unknown. A
// paused member is drawn like any live one (a client cannot tell it from a slow one): the
// request waits in it and is submitted when it resumes, its client having given up by then
// if the pause outlasted clientTimeout (pause.go).
// The workload starts once the cluster elected its first leader (bounded by 10 s), and
// scenario times count from then.
//
// Leases (leases.go) are granted with a TTL of 2–6 s drawn per grant from the workload
// stream, and a lease ID the client picks (so the lease of a grant whose answer never came
// is still named in the history). A client keeps up to two of its leases alive, renewing
// each once a third of its TTL has passed (as etcd's client does) and sometimes stopping,
// and lets the others expire; puts with a lease and revokes pick any of its leases, and a
// put with a lease writes either a shared key or the lease's own key ("kl" and the ID in
// base 36), which only a revoke or the expiry deletes, so ranges and watchers see the lease
// end. Every member reports each expiry revoke it applies (node.Config.OnLeaseExpired); the
// first report of a lease becomes its lease_expiry record (lease, the revision of the
// revoke, the virtual time of that first apply), so the checker sees why the lease's keys
// vanished and judges that no lease expired before its TTL since the call that granted or
// renewed it. Later reports must name the same entry and revision (a panic otherwise).
//
// Reads at a past revision (Mix.RangeAtRevision) range over the whole key space at a revision
// drawn up to 2·scenarios.CompactLag behind the highest header revision any answer carried so
// far; compactions (Mix.Compact) compact at CompactLag behind it. A member's mvcc errors
// (compacted, future revision) are recorded with the gRPC text etcd's server sends
// (mvcc.GRPCError), so the history classifies them as etcd's clients would.

// clientTimeout is how long a client waits for an answer before it gives up; the outcome is
// then unknown (the request may still apply).
const clientTimeout = 2 * time.Second

// answerBound is how long a member may take to answer a request it took: its request
// timeout (kv/node's default, 5 election timeouts of 10 ticks) with room for the slowest
// skewed clock and a tick's delay, doubled.
const answerBound = 2 * 5 * node.DefaultElectionTimeoutTicks * node.DefaultTickInterval

// client is one simulated client: one request at a time, to a random live member.
type client struct {
	name    string
	writes  int
	lastVal map[string][]byte // the last value this client saw per key (for compare-and-swap)
	leases  []*clientLease    // leases this client granted and has not seen end (leases.go)
	nextFn  func()            // next(this client), made once
	// user is who the client acts as with Scenario.Auth ("" without); admin marks the auth
	// workload's control client (auth.go), step its next change
	user  string
	admin bool
	step  int
}

// workload issues the scenario's requests and records them.
type workload struct {
	s        *sim
	sc       scenarios.Scenario
	clients  []*client
	interval time.Duration // between one client's requests
	kinds    []string
	weights  []int
	total    int
	stopped  bool
	ops      int
	leases   bool
	// headRev is the highest header revision an answer carried (past-revision reads and
	// compactions count back from it).
	headRev int64
}

func newWorkload(s *sim, sc scenarios.Scenario) (*workload, error) {
	wl := &workload{s: s, sc: sc}
	mix := sc.Mix
	for _, kw := range []struct {
		kind string
		w    int
	}{{"put", mix.Put}, {"get", mix.Get}, {"sget", mix.SerializableGet}, {"range", mix.Range},
		{"delete", mix.Delete}, {"txn", mix.Txn}, {"range-at-rev", mix.RangeAtRevision}, {"compact", mix.Compact}} {
		if kw.w > 0 {
			wl.kinds, wl.weights, wl.total = append(wl.kinds, kw.kind), append(wl.weights, kw.w), wl.total+kw.w
		}
	}
	for _, kw := range []struct {
		kind string
		w    int
	}{{"lease-grant", mix.LeaseGrant}, {"lease-keep-alive", mix.LeaseKeepAlive},
		{"lease-revoke", mix.LeaseRevoke}, {"put-with-lease", mix.PutWithLease}} {
		if kw.w > 0 {
			wl.kinds, wl.weights, wl.total = append(wl.kinds, kw.kind), append(wl.weights, kw.w), wl.total+kw.w
			wl.leases = true
		}
	}
	if wl.total == 0 {
		return nil, fmt.Errorf("workload mix has no request kind with a positive weight")
	}
	if sc.Clients < 1 || sc.OpsPerSecond < 1 || sc.Keys < 1 {
		return nil, fmt.Errorf("workload needs Clients, OpsPerSecond and Keys >= 1 (got %d, %d, %d)", sc.Clients, sc.OpsPerSecond, sc.Keys)
	}
	s.c.expiries = newExpiryLog(s) // every lease the cluster expires is recorded (leases.go)
	wl.interval = time.Duration(int64(time.Second) * int64(sc.Clients) / int64(sc.OpsPerSecond))
	for i := range sc.Clients {
		c := &client{name: fmt.Sprintf("c%d", i), lastVal: map[string][]byte{}}
		if sc.Auth != nil {
			c.user = authUsers[i%len(authUsers)]
		}
		wl.clients = append(wl.clients, c)
		s.w.after(uniform(s.w.workload, 0, wl.interval), func() { wl.next(c) })
	}
	if sc.Auth != nil {
		c := &client{name: authAdmin, user: "root", admin: true}
		s.w.after(uniform(s.w.workload, 0, sc.Auth.ChangeEvery), func() { wl.next(c) })
	}
	return wl, nil
}

func (wl *workload) key() []byte {
	return fmt.Appendf(nil, "k%d", wl.s.w.workload.IntN(wl.sc.Keys))
}

func (wl *workload) request(c *client) history.Request {
	r := wl.s.w.workload
	n := r.IntN(wl.total)
	kind := wl.kinds[len(wl.kinds)-1]
	for i, w := range wl.weights {
		if n < w {
			kind = wl.kinds[i]
			break
		}
		n -= w
	}
	key := wl.key()
	kind = wl.leaseKind(c, kind) // kept leases due for renewal first (leases.go)
	value := func() []byte {
		c.writes++
		return fmt.Appendf(nil, "%s-%d", c.name, c.writes)
	}
	switch kind {
	case "put":
		return history.Request{Put: &history.PutRequest{Key: key, Value: value()}}
	case "get":
		return history.Request{Range: &history.RangeRequest{Key: key}}
	case "sget":
		return history.Request{Range: &history.RangeRequest{Key: key, Serializable: true}}
	case "range":
		return history.Request{Range: &history.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")}}
	case "lease-grant":
		return history.Request{LeaseGrant: wl.leaseGrant()}
	case "lease-keep-alive":
		return history.Request{LeaseKeepAlive: &history.LeaseKeepAliveRequest{ID: c.leaseToRenew()}}
	case "lease-revoke":
		return history.Request{LeaseRevoke: &history.LeaseRevokeRequest{ID: wl.takeLease(c)}}
	case "put-with-lease":
		return history.Request{Put: wl.leasedPut(c, key, value())}
	case "delete":
		return history.Request{DeleteRange: &history.DeleteRangeRequest{Key: key}}
	case "range-at-rev":
		rev := max(1, wl.headRev-int64(r.IntN(2*scenarios.CompactLag)))
		return history.Request{Range: &history.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Revision: rev}}
	case "compact":
		return history.Request{Compact: &history.CompactRequest{Revision: max(1, wl.headRev-scenarios.CompactLag)}}
	default: // txn: compare-and-swap on the value this client last saw
		cmp := history.Compare{Key: key, Target: history.TargetVersion, Result: history.ResultEqual}
		if v, ok := c.lastVal[string(key)]; ok {
			cmp = history.Compare{Key: key, Target: history.TargetValue, Result: history.ResultEqual, Value: v}
		}
		return history.Request{Txn: &history.TxnRequest{Compare: []history.Compare{cmp},
			Success: []history.Request{{Put: &history.PutRequest{Key: key, Value: value()}}},
			Failure: []history.Request{{Range: &history.RangeRequest{Key: key}}}}}
	}
}

// next issues the client's next request, unless the workload stopped.
func (wl *workload) next(c *client) {
	if wl.stopped {
		return
	}
	s := wl.s
	if c.nextFn == nil {
		c.nextFn = func() { wl.next(c) } // one closure per client, not one per request
	}
	sm := s.c.pickLive(s.w.workload)
	if sm == nil {
		s.w.after(wl.interval, c.nextFn)
		return
	}
	var req history.Request
	if c.admin {
		req = adminCycle(c.step)
		c.step++
	} else {
		req = wl.request(c)
	}
	cl := &call{wl: wl, c: c, sm: sm, req: req, called: s.w.now, gen: sm.gen, paused: sm.pausedFor(s.w.now)}
	wl.ops++
	if c.user != "" {
		// the API layer fills the header from the caller's credentials at this member
		cl.authRev = sm.m.AuthRevision()
		cl.h = s.rec.CallAs(c.name, c.user, int64(cl.authRev), req, int64(s.w.now))
	} else {
		cl.h = s.rec.Call(c.name, req, int64(s.w.now))
	}
	s.w.traceCall(c.name, req, sm.name)
	s.w.afterFIFO(laneClientTimeout, clientTimeout, cl.timeout)
	// Every request a member takes is answered (a result, an error, or its own timeout) while
	// that process runs: one dropped silently would leave its client to give up with an
	// unknown outcome, which the history cannot tell from a slow answer.
	s.w.afterFIFO(laneAnswerBound, answerBound, cl.checkAnswered)
	if sm.paused() {
		s.c.hold(sm, cl.submit) // it takes the request when it resumes (pause.go)
	} else {
		cl.submit()
	}
}

// submit hands the request to its member (the same process it was sent to).
func (cl *call) submit() {
	sm := cl.sm
	if sm.m == nil || sm.gen != cl.gen {
		return // the process died while it held the request: the client times out
	}
	cl.inSubmit = true
	if cl.req.LeaseKeepAlive != nil {
		sm.m.KeepAlive(cl.req.LeaseKeepAlive.ID, cl.done)
	} else {
		r := toPB(cl.req)
		if cl.c.user != "" {
			r.Header = &pb.RequestHeader{Username: cl.c.user, AuthRevision: cl.authRev}
		}
		sm.m.Submit(r, cl.done)
	}
	cl.inSubmit = false
	cl.wl.s.c.kick(sm)
}

// call is one request of a client, from its call to its answer or timeout.
type call struct {
	wl     *workload
	c      *client
	sm     *simMember
	req    history.Request
	h      *history.OpHandle
	called time.Duration
	// authRev is the auth revision the request's credentials carry (with a user)
	authRev uint64
	gen     int // sm's process when called
	// paused is sm.pausedFor when called, then as far as checkAnswered has moved its bound
	paused time.Duration
	// finished: answered or given up (the client moved on); answered: the member answered;
	// inSubmit: Submit has not returned yet
	finished, answered, inSubmit bool
}

// finish ends the call for the client, whose next request follows after a pause.
func (cl *call) finish() {
	cl.finished = true
	w := cl.wl.s.w
	iv := cl.wl.interval
	if cl.c.admin {
		iv = cl.wl.sc.Auth.ChangeEvery
	}
	w.after(uniform(w.workload, iv/2, iv*3/2), cl.c.nextFn)
}

// timeout is the client giving up after clientTimeout: the outcome is unknown.
func (cl *call) timeout() {
	if cl.finished {
		return
	}
	cl.h.Unknown()
	cl.wl.s.w.tracef("%s timeout (outcome unknown)", cl.c.name)
	cl.finish()
}

// checkAnswered fails the run if the member, still the same process, never answered.
func (cl *call) checkAnswered() {
	w := cl.wl.s.w
	if sm := cl.sm; !cl.answered && sm.m != nil && sm.gen == cl.gen {
		// the time its member spent paused does not count: a paused member does not tick
		if extra := sm.pausedFor(w.now) - cl.paused; extra > 0 {
			cl.paused += extra
			w.after(extra, cl.checkAnswered)
			return
		}
		cl.wl.s.fail(fmt.Sprintf("%s's request %s on %s at %v was never answered (a member must answer every request it takes, within its request timeout)",
			cl.c.name, describe(cl.req), sm.name, cl.called))
	}
}

// done is the member's answer.
func (cl *call) done(resp node.Response, err error) {
	wl, s, c, req, h := cl.wl, cl.wl.s, cl.c, cl.req, cl.h
	cl.answered = true
	if errors.Is(err, node.ErrTooManyRequests) {
		s.c.refusedFull++ // counted even when the client gave up waiting
	}
	if errors.Is(err, mvcc.ErrCompacted) && req.Range != nil {
		s.c.refusedCompacted++
	}
	err = mvcc.GRPCError(err) // etcd's text for compacted and future revisions
	if cl.finished {
		return
	}
	if err != nil && cl.inSubmit {
		// refused before Submit returned: the member never proposed it nor sent it on
		// (no leader known, stopped, malformed), so it cannot take effect
		h.FailWith(history.Error{Message: err.Error(), Class: history.ErrorDefinite}, int64(s.w.now))
		s.w.tracef("%s error %v (definite)", c.name, err)
		wl.leaseAnswered(c, req, cl.called, nil, err)
	} else if err != nil {
		h.Fail(err, int64(s.w.now))
		s.w.tracef("%s error %v", c.name, err)
		wl.leaseAnswered(c, req, cl.called, nil, err)
	} else {
		hr := fromNode(resp)
		wl.headRev = max(wl.headRev, hr.Header.Revision)
		h.Return(hr, int64(s.w.now))
		wl.learn(c, req, hr)
		s.w.traceOK(c.name, hr.Header.Revision, hr)
		wl.leaseAnswered(c, req, cl.called, &hr, nil)
		if req.Put != nil || req.DeleteRange != nil || req.Txn != nil {
			s.lastWriteOK = s.w.now
		}
	}
	cl.finish()
}

// learn keeps the values the client saw, for its next compare-and-swap.
func (wl *workload) learn(c *client, req history.Request, resp history.Response) {
	switch {
	case req.Put != nil:
		c.lastVal[string(req.Put.Key)] = req.Put.Value
	case req.Range != nil && resp.Range != nil && len(req.Range.RangeEnd) == 0:
		if len(resp.Range.KVs) == 1 {
			c.lastVal[string(req.Range.Key)] = resp.Range.KVs[0].Value
		} else {
			delete(c.lastVal, string(req.Range.Key))
		}
	case req.Txn != nil && resp.Txn != nil:
		key := string(req.Txn.Compare[0].Key)
		if resp.Txn.Succeeded {
			c.lastVal[key] = req.Txn.Success[0].Put.Value
		} else if len(resp.Txn.Responses) == 1 && resp.Txn.Responses[0].Range != nil {
			if kvs := resp.Txn.Responses[0].Range.KVs; len(kvs) == 1 {
				c.lastVal[key] = kvs[0].Value
			} else {
				delete(c.lastVal, key)
			}
		}
	}
}

// describe is a request as the trace names it.
func describe(r history.Request) string { return string(appendRequest(nil, r)) }

// appendRequest appends describe's text for r to b without fmt (the client lines are the
// trace's second most frequent, after traceNet's): the text fmt's verbs gave, which
// TestClientLinesAreTracef pins, so the digests stay.
func appendRequest(b []byte, r history.Request) []byte {
	switch {
	case r.Put != nil:
		b = appendBytes(append(b, "put "...), r.Put.Key)
		b = appendBytes(append(b, '='), r.Put.Value)
		return strconv.AppendInt(append(b, " lease="...), r.Put.Lease, 10)
	case r.LeaseGrant != nil:
		return strconv.AppendInt(append(b, "lease-grant ttl="...), r.LeaseGrant.TTLSeconds, 10)
	case r.LeaseKeepAlive != nil:
		return strconv.AppendInt(append(b, "lease-keep-alive "...), r.LeaseKeepAlive.ID, 10)
	case r.LeaseRevoke != nil:
		return strconv.AppendInt(append(b, "lease-revoke "...), r.LeaseRevoke.ID, 10)
	case r.Range != nil:
		if r.Range.Revision == 0 && len(r.Range.RangeEnd) == 0 {
			b = appendBytes(append(b, "get "...), r.Range.Key)
		} else {
			b = appendBytes(append(b, "range ["...), r.Range.Key)
			b = append(appendBytes(append(b, ','), r.Range.RangeEnd), ')')
			if r.Range.Revision != 0 {
				b = strconv.AppendInt(append(b, " at rev "...), r.Range.Revision, 10)
			}
		}
		return strconv.AppendBool(append(b, " serializable="...), r.Range.Serializable)
	case r.DeleteRange != nil:
		return appendBytes(append(b, "delete "...), r.DeleteRange.Key)
	case r.Compact != nil:
		return strconv.AppendInt(append(b, "compact "...), r.Compact.Revision, 10)
	case r.Auth != nil:
		b = append(append(b, "auth "...), r.Auth.Action...)
		for _, f := range [...]string{r.Auth.User, r.Auth.Role} {
			if f != "" {
				b = append(append(b, ' '), f...)
			}
		}
		if len(r.Auth.Key) > 0 {
			b = appendBytes(append(b, " ["...), r.Auth.Key)
			b = append(appendBytes(append(b, ','), r.Auth.RangeEnd), ')')
		}
		return append(b, r.Auth.Perm...)
	case r.Txn != nil:
		c := r.Txn.Compare[0]
		b = appendBytes(append(b, "txn if "...), c.Key)
		b = append(append(append(b, ' '), c.Target...), ' ')
		b = strconv.AppendInt(appendBytes(b, c.Value), c.Version, 10)
		b = appendBytes(append(b, " then put "...), r.Txn.Success[0].Put.Key)
		return appendBytes(append(b, '='), r.Txn.Success[0].Put.Value)
	}
	return append(b, '?')
}

// appendResponse appends the trace's text for an answer (see appendRequest).
func appendResponse(b []byte, r history.Response) []byte {
	switch {
	case r.Range != nil:
		b = strconv.AppendInt(append(b, "count="...), r.Range.Count, 10)
		for _, kv := range r.Range.KVs {
			b = appendBytes(append(b, ' '), kv.Key)
			b = appendBytes(append(b, '='), kv.Value)
			b = strconv.AppendInt(append(b, '@'), kv.ModRevision, 10)
		}
	case r.DeleteRange != nil:
		b = strconv.AppendInt(append(b, "deleted="...), r.DeleteRange.Deleted, 10)
	case r.Txn != nil:
		b = strconv.AppendBool(append(b, "succeeded="...), r.Txn.Succeeded)
	case r.LeaseGrant != nil:
		b = strconv.AppendInt(append(b, "lease="...), r.LeaseGrant.ID, 10)
		b = strconv.AppendInt(append(b, " ttl="...), r.LeaseGrant.TTLSeconds, 10)
	case r.LeaseKeepAlive != nil:
		b = strconv.AppendInt(append(b, "lease="...), r.LeaseKeepAlive.ID, 10)
		b = strconv.AppendInt(append(b, " ttl="...), r.LeaseKeepAlive.TTLSeconds, 10)
	}
	return b
}

// appendBytes appends x as %s prints a history.Bytes (its String: as is when valid UTF-8,
// else Go-quoted).
func appendBytes(b []byte, x history.Bytes) []byte {
	if utf8.Valid(x) {
		return append(b, x...)
	}
	return strconv.AppendQuote(b, string(x))
}

// traceCall traces a client's call: tracef("%s call %s on %s", client, describe(req), member).
func (w *world) traceCall(client string, req history.Request, member string) {
	b := append(append(w.linePrefix(), client...), " call "...)
	b = appendRequest(b, req)
	w.line = append(append(b, " on "...), member...)
	w.emit()
}

// traceOK traces an answer: tracef("%s ok rev=%d %s", client, rev, describeResp(resp)).
func (w *world) traceOK(client string, rev int64, resp history.Response) {
	b := append(append(w.linePrefix(), client...), " ok rev="...)
	b = strconv.AppendInt(b, rev, 10)
	w.line = appendResponse(append(b, ' '), resp)
	w.emit()
}
