package linearizability

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/ballastdb/ballast/linearizability/history"
)

// The auth validator: every request made with credentials is judged against the permission
// state of the auth revision its credentials carried (the operation's auth_revision R).
//
// Why R is the state to judge against: a request's check refuses credentials older than
// the store (etcd's "revision of auth store is old") and R was the store's revision, or
// earlier, when the client called; so a request that passed that check (it succeeded, or was
// refused with "permission denied") was judged at a point where the store was exactly at R.
// The validator then checks:
//
//   - auth-unpermitted: a request succeeded although R's permissions do not allow it (auth
//     enabled at R, and the user missing or without a role covering every key range the
//     request needs: read for ranges and compares, write for puts and deletes, read too with
//     prev_kv, both branches of a txn);
//   - auth-wrongly-denied: a request was refused with "permission denied" although R's
//     permissions allow it, or auth was disabled at R;
//   - auth-stale-credentials: a linearizable request passed the revision check although the
//     change that made revision R+1 returned before it was called (or the change that made R
//     was called only after it returned): no instant of its interval had the store at R.
//     Serializable reads are exempt (a member answers them from its own, older state);
//   - auth-stale-refusal: a request refused as "revision of auth store is old" although no
//     change to a revision above R can have applied before it returned;
//   - auth-revision-duplicate, auth-revision-backwards: two changes that raise the revision
//     reported the same one, or a change reported a revision not above that of a change
//     acknowledged before it was called.
//
// The states come from the auth changes the history records (it must record every change,
// from an empty, disabled store at revision 1, as etcd starts): successful ones replayed in
// the order of the revision their answer reports. Each change but enable (and a disable of a
// disabled store, a role granted to a user who holds it) raises the revision by one, so a revision no
// acknowledged change made was made by one whose outcome is unknown: when exactly one such
// change can have made it (called before the next acknowledged change returned, and after the
// last one acknowledged before its call), it is placed there; otherwise every state from that
// revision on is uncertain. An unknown enable makes the enabled flag uncertain from the
// revision at its call. An uncertain state judges nothing: the validator flags only what no
// placement of the unknown changes allows. Requests without an auth revision, lease calls and
// compactions are not judged. A denied request changed nothing, which the other checkers
// already assume of every definite error.

type authPerm struct {
	key, end []byte // [key, end); end nil: every key >= key
	typ      history.PermType
}

// authState is the auth store at one revision; never modified once built.
type authState struct {
	enabled bool
	users   map[string][]string // user -> roles
	roles   map[string][]authPerm
}

func (s *authState) clone() *authState {
	c := &authState{enabled: s.enabled, users: make(map[string][]string, len(s.users)), roles: make(map[string][]authPerm, len(s.roles))}
	for u, rs := range s.users {
		c.users[u] = append([]string(nil), rs...)
	}
	for r, ps := range s.roles {
		c.roles[r] = append([]authPerm(nil), ps...)
	}
	return c
}

// permRange is a permission's or request's key range in etcd's encoding as [key, end).
func permRange(key, rangeEnd []byte) (start, end []byte) {
	switch {
	case len(rangeEnd) == 0:
		return key, append(append([]byte(nil), key...), 0)
	case len(rangeEnd) == 1 && rangeEnd[0] == 0:
		return key, nil
	}
	return key, rangeEnd
}

// bumps reports whether a successful change a, applied to s, raises the revision.
func bumps(a *history.AuthRequest, s *authState) bool {
	switch a.Action {
	case history.AuthEnable:
		return false
	case history.AuthDisable:
		return s.enabled
	case history.AuthUserGrantRole:
		return !containsString(s.users[a.User], a.Role) // etcd ignores a role granted twice
	}
	return true
}

// apply applies a successful change to s (a copy).
func (s *authState) apply(a *history.AuthRequest) *authState {
	c := s.clone()
	switch a.Action {
	case history.AuthUserAdd:
		c.users[a.User] = nil
	case history.AuthUserDelete:
		delete(c.users, a.User)
	case history.AuthUserChangePassword:
		// no permission changes; the revision still rises
	case history.AuthUserGrantRole:
		if !containsString(c.users[a.User], a.Role) {
			c.users[a.User] = append(c.users[a.User], a.Role)
		}
	case history.AuthUserRevokeRole:
		c.users[a.User] = removeString(c.users[a.User], a.Role)
	case history.AuthRoleAdd:
		c.roles[a.Role] = nil
	case history.AuthRoleDelete:
		delete(c.roles, a.Role)
		for u, rs := range c.users {
			c.users[u] = removeString(rs, a.Role) // etcd revokes a deleted role from every user
		}
	case history.AuthRoleGrantPermission:
		k, e := permRange(a.Key, a.RangeEnd)
		ps := c.roles[a.Role]
		for i := range ps {
			if bytes.Equal(ps[i].key, k) && bytes.Equal(ps[i].end, e) {
				ps[i].typ = a.Perm // etcd updates a permission granted again
				return c
			}
		}
		c.roles[a.Role] = append(ps, authPerm{key: k, end: e, typ: a.Perm})
	case history.AuthRoleRevokePermission:
		k, e := permRange(a.Key, a.RangeEnd)
		var kept []authPerm
		for _, p := range c.roles[a.Role] {
			if !bytes.Equal(p.key, k) || !bytes.Equal(p.end, e) {
				kept = append(kept, p)
			}
		}
		c.roles[a.Role] = kept
	case history.AuthEnable:
		c.enabled = true
	case history.AuthDisable:
		c.enabled = false
	}
	return c
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func removeString(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// permitted reports whether user may access (typ) the key range [key, rangeEnd) in s with
// auth enabled: etcd's isOpPermitted (root role: everything; else the union of the user's
// roles' permissions of that kind, readwrite counting as both, must cover the range).
func (s *authState) permitted(user string, typ history.PermType, key, rangeEnd []byte) bool {
	roles, ok := s.users[user]
	if !ok {
		return false
	}
	if containsString(roles, "root") {
		return true
	}
	var ivs []authPerm
	for _, r := range roles {
		for _, p := range s.roles[r] {
			if p.typ == typ || p.typ == history.PermReadWrite {
				ivs = append(ivs, p)
			}
		}
	}
	sort.Slice(ivs, func(i, j int) bool { return bytes.Compare(ivs[i].key, ivs[j].key) < 0 })
	start, end := permRange(key, rangeEnd)
	at := start // everything below at is covered
	for _, p := range ivs {
		if bytes.Compare(p.key, at) > 0 {
			break
		}
		if p.end == nil {
			return true
		}
		if bytes.Compare(p.end, at) > 0 {
			at = p.end
		}
		if end != nil && bytes.Compare(at, end) >= 0 {
			return true
		}
	}
	return false
}

// authNeed is one permission a request needs.
type authNeed struct {
	typ      history.PermType
	key, end []byte
}

// authNeeds lists what r needs (etcd's apply-time checks); ok is false when r is not
// judged (lease calls, compactions, auth changes, a put with a lease: its check depends on
// the lease's keys).
func authNeeds(r *history.Request, out []authNeed) ([]authNeed, bool) {
	switch {
	case r.Put != nil:
		if r.Put.Lease != 0 {
			return out, false
		}
		out = append(out, authNeed{history.PermWrite, r.Put.Key, nil})
		if r.Put.PrevKV {
			out = append(out, authNeed{history.PermRead, r.Put.Key, nil})
		}
	case r.Range != nil:
		out = append(out, authNeed{history.PermRead, r.Range.Key, r.Range.RangeEnd})
	case r.DeleteRange != nil:
		out = append(out, authNeed{history.PermWrite, r.DeleteRange.Key, r.DeleteRange.RangeEnd})
		if r.DeleteRange.PrevKV {
			out = append(out, authNeed{history.PermRead, r.DeleteRange.Key, r.DeleteRange.RangeEnd})
		}
	case r.Txn != nil:
		for _, c := range r.Txn.Compare {
			out = append(out, authNeed{history.PermRead, c.Key, c.RangeEnd})
		}
		for _, branch := range [][]history.Request{r.Txn.Success, r.Txn.Failure} {
			for i := range branch {
				var ok bool
				if out, ok = authNeeds(&branch[i], out); !ok {
					return out, false
				}
			}
		}
	default:
		return out, false
	}
	return out, true
}

type authChange struct {
	op    *history.Operation
	rev   int64 // reported (known) or placed (unknown) revision
	r0    int64 // unknown: the highest revision acknowledged before its call
	place bool  // unknown: placed at rev
}

// authTimeline is the replayed auth store, revision by revision.
type authTimeline struct {
	states      []*authState    // states[r]: after every change of revision r (r >= 1)
	made        []*authChange   // made[r]: the change that made revision r (nil: unknown)
	enables     [][]*authChange // enables[r]: enables that applied during revision r
	uncertainAt int64           // states from this revision on are uncertain (0: none)
	enabledFrom int64           // the enabled flag is uncertain from this revision on (0: never)
	unknown     []*authChange   // changes with unknown outcome that raise the revision
	maxRev      int64
}

// authCounts are what the validator judged, for its note.
type authCounts struct {
	changes, judged, uncertain int
}

func (c authCounts) note() string {
	if c.changes == 0 {
		return "no auth changes recorded"
	}
	return fmt.Sprintf("%d auth changes; %d requests with credentials judged, %d left at an uncertain state", c.changes, c.judged, c.uncertain)
}

func validateAuth(h *history.History) ([]Violation, authCounts) {
	var counts authCounts
	var known, unknown []*authChange
	for i := range h.Operations {
		o := &h.Operations[i]
		if o.Request.Auth == nil {
			continue
		}
		switch o.Outcome() {
		case history.OutcomeOK:
			known = append(known, &authChange{op: o, rev: o.Response.Auth.AuthRevision})
		case history.OutcomeUnknown:
			unknown = append(unknown, &authChange{op: o})
		}
	}
	counts.changes = len(known) + len(unknown)
	if counts.changes == 0 {
		return nil, counts
	}
	var vs []Violation
	tl, tvs := buildAuthTimeline(known, unknown)
	vs = append(vs, tvs...)
	var needs []authNeed
	for i := range h.Operations {
		o := &h.Operations[i]
		if o.Request.Auth != nil || o.AuthRevision == 0 || o.ReturnNs == nil || o.Outcome() == history.OutcomeUnknown {
			continue
		}
		var ok bool
		if needs, ok = authNeeds(&o.Request, needs[:0]); !ok {
			continue
		}
		v, bad, judged := tl.judge(o, needs)
		if bad {
			vs = append(vs, v)
		}
		if judged {
			counts.judged++
		} else {
			counts.uncertain++
		}
	}
	return vs, counts
}

func authWhere(o *history.Operation) string {
	if o.Line > 0 {
		return fmt.Sprintf("%s's %s (line %d)", o.Client, describeRequest(&o.Request), o.Line)
	}
	return fmt.Sprintf("%s's %s at %d ns", o.Client, describeRequest(&o.Request), o.CallNs)
}

func authLines(ops ...*history.Operation) []int {
	var ls []int
	for _, o := range ops {
		if o != nil && o.Line > 0 {
			ls = append(ls, o.Line)
		}
	}
	return ls
}

func buildAuthTimeline(known, unknown []*authChange) (*authTimeline, []Violation) {
	var vs []Violation
	sort.SliceStable(known, func(i, j int) bool {
		if known[i].rev != known[j].rev {
			return known[i].rev < known[j].rev
		}
		return known[i].op.CallNs < known[j].op.CallNs
	})
	// real-time order: a change acknowledged before another was called has a lower revision
	// (or the same, for the one that does not raise it)
	for _, a := range known {
		for _, b := range known {
			if a != b && *a.op.ReturnNs < b.op.CallNs && b.rev < a.rev {
				vs = append(vs, Violation{Checker: CheckAuth, Kind: "auth-revision-backwards", TimeNs: b.op.CallNs,
					Lines:   authLines(a.op, b.op),
					Message: fmt.Sprintf("%s reported auth revision %d although %s, acknowledged before it was called, reported %d", authWhere(b.op), b.rev, authWhere(a.op), a.rev)})
			}
		}
	}
	for _, u := range unknown {
		for _, k := range known {
			if *k.op.ReturnNs < u.op.CallNs && k.rev > u.r0 {
				u.r0 = k.rev
			}
		}
	}
	tl := &authTimeline{states: []*authState{nil, {users: map[string][]string{}, roles: map[string][]authPerm{}}},
		made: []*authChange{nil, nil}, enables: [][]*authChange{nil, nil}}
	for _, u := range unknown {
		if u.op.Request.Auth.Action == history.AuthEnable {
			if tl.enabledFrom == 0 || max(u.r0, 1) < tl.enabledFrom {
				tl.enabledFrom = max(u.r0, 1)
			}
			continue
		}
		tl.unknown = append(tl.unknown, u)
	}
	cur := int64(1)
	uncertain := func(r int64) {
		if tl.uncertainAt == 0 {
			tl.uncertainAt = r
		}
	}
	grow := func(st *authState, by *authChange) {
		cur++
		tl.states = append(tl.states, st)
		tl.made = append(tl.made, by)
		tl.enables = append(tl.enables, nil)
	}
	// fill makes the revisions up to to that no acknowledged change made: each by an unknown
	// change, placed when only one fits (called before next returned, after the last change
	// acknowledged before its call)
	fill := func(to int64, next *authChange) {
		for cur < to {
			g := cur + 1
			var cand *authChange
			n := 0
			st := tl.states[cur]
			for _, u := range tl.unknown {
				if !u.place && u.r0 < g && u.op.CallNs <= *next.op.ReturnNs && bumps(u.op.Request.Auth, st) {
					cand, n = u, n+1
				}
			}
			if n == 1 && tl.uncertainAt == 0 {
				cand.place, cand.rev = true, g
				grow(st.apply(cand.op.Request.Auth), cand)
			} else {
				uncertain(g)
				grow(st, nil)
			}
		}
	}
	for _, k := range known {
		a := k.op.Request.Auth
		if k.rev < cur || (k.rev == cur && bumps(a, tl.states[cur])) {
			kind, what := "auth-revision-duplicate", fmt.Sprintf("which %s had already made", describeMaker(tl.made[max(min(k.rev, cur), 1)]))
			if k.rev < 1 {
				kind, what = "auth-revision-backwards", "below etcd's first auth revision, 1"
			} else if k.rev == 1 {
				what = "the store's initial revision"
			}
			vs = append(vs, Violation{Checker: CheckAuth, Kind: kind, TimeNs: k.op.CallNs, Lines: authLines(k.op),
				Message: fmt.Sprintf("%s reported auth revision %d, %s", authWhere(k.op), k.rev, what)})
			continue
		}
		if bumps(a, tl.states[cur]) {
			fill(k.rev-1, k)
			grow(tl.states[cur].apply(a), k)
			continue
		}
		fill(k.rev, k) // enable, a disable of a disabled store, a role granted twice: within revision k.rev
		if a.Action == history.AuthEnable && !tl.states[cur].enabled {
			tl.enables[cur] = append(tl.enables[cur], k)
		}
		tl.states[cur] = tl.states[cur].apply(a)
	}
	tl.maxRev = cur
	return tl, vs
}

func describeMaker(c *authChange) string {
	if c == nil || c.op == nil {
		return "another change"
	}
	return authWhere(c.op)
}

// judge checks one request with credentials at revision o.AuthRevision; judged is false when
// the state was uncertain (or the outcome says nothing).
func (tl *authTimeline) judge(o *history.Operation, needs []authNeed) (_ Violation, bad, judged bool) {
	r := o.AuthRevision
	serializable := o.Request.Range != nil && o.Request.Range.Serializable
	msg := errorMessage(o)
	denied := o.Outcome() == history.OutcomeFailed && strings.Contains(msg, "etcdserver: permission denied")
	stale := o.Outcome() == history.OutcomeFailed && strings.Contains(msg, "etcdserver: revision of auth store is old")
	who := o.User
	if who == "" {
		who = "no user"
	}
	v := func(kind, format string, args ...any) (Violation, bool, bool) {
		return Violation{Checker: CheckAuth, Kind: kind, TimeNs: o.CallNs, Lines: authLines(o),
			Message: fmt.Sprintf("%s as %s at auth revision %d ", authWhere(o), who, r) + fmt.Sprintf(format, args...)}, true, true
	}
	if stale {
		// some change to a revision above r must have been able to apply before the return
		for q := r + 1; q <= tl.maxRev; q++ {
			if m := tl.made[q]; m == nil || m.op.CallNs <= *o.ReturnNs {
				return Violation{}, false, true
			}
		}
		for _, u := range tl.unknown {
			if !u.place && u.op.CallNs <= *o.ReturnNs {
				return Violation{}, false, true
			}
		}
		return v("auth-stale-refusal", "was refused as stale although no auth change above revision %d can have applied before it returned", r)
	}
	if !denied && o.Outcome() != history.OutcomeOK {
		return Violation{}, false, false
	}
	verb := "succeeded"
	if denied {
		verb = "was denied"
	}
	if r > tl.maxRev || (tl.uncertainAt != 0 && r >= tl.uncertainAt) {
		return Violation{}, false, false // a state no acknowledged change made: uncertain
	}
	if !serializable {
		if r+1 <= tl.maxRev {
			if m := tl.made[r+1]; m != nil && *m.op.ReturnNs < o.CallNs {
				return v("auth-stale-credentials", "%s although %s, which made revision %d, returned before it was called", verb, authWhere(m.op), r+1)
			}
		}
		if m := tl.made[r]; m != nil && m.op.CallNs > *o.ReturnNs {
			return v("auth-stale-credentials", "%s although %s, which made revision %d, was called only after it returned", verb, authWhere(m.op), r)
		}
	}
	st := tl.states[r]
	enabledKnown := tl.enabledFrom == 0 || r < tl.enabledFrom
	for _, e := range tl.enables[r] {
		if serializable || e.op.ReturnNs == nil || o.CallNs <= *e.op.ReturnNs {
			enabledKnown = false // it may have come before the enable
		}
	}
	allowed := true
	var missing authNeed
	for _, n := range needs {
		if !st.permitted(o.User, n.typ, n.key, n.end) {
			allowed, missing = false, n
			break
		}
	}
	switch {
	case denied && !st.enabled && enabledKnown:
		return v("auth-wrongly-denied", "was denied although auth was disabled at that revision")
	case denied && allowed:
		return v("auth-wrongly-denied", "was denied although its roles allow it at that revision")
	case !denied && !allowed && st.enabled && enabledKnown:
		return v("auth-unpermitted", "succeeded although %s may not %s %s at that revision", who, missing.typ, describeRange(missing.key, missing.end))
	}
	return Violation{}, false, true
}

func errorMessage(o *history.Operation) string {
	if o.Error == nil {
		return ""
	}
	return o.Error.Message
}
