package linearizability

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ballastdb/ballast/linearizability/history"
)

// The revision-guided checker. etcd numbers every change with a revision and returns it, so
// the order of writes is in the record: replaying the writes in revision order rebuilds the
// state at every revision, each read is checked against the state at its header revision,
// and one sweep in time order checks that revisions respect real time. Sorting dominates:
// O(n log n) for n operations.
//
// Real time, with closed intervals as in Porcupine: A precedes B only when A returned
// strictly before B was called (A.return < B.call); equal times are concurrent. When A
// precedes B, rev(A) <= rev(B), and rev(A) < rev(B) when B created a revision.
//
// Where the record leaves a revision without a known writer (an unknown outcome no read or
// watcher pinned down), the replay stops there and Porcupine judges the rest of the history,
// starting from the state the replay reached.

// revResult is what the revision-guided checker found.
type revResult struct {
	violations []Violation
	// events are the linearization's changes per revision, for the watch validator, and
	// writers the operation that made each; both indexed by revision, nil where unknown.
	events  [][]mutation
	writers []*op
	// replayedThrough is the last revision whose state the replay knows.
	replayedThrough int64
	// gapRev is the first revision without a known writer (0: none); from there on
	// Porcupine judged the history, with result fallback.
	gapRev    int64
	fallback  porcupine.CheckResult
	fallbackN int
	// guessed: a window's linearization was adopted where others may exist; windows counts
	// the stretches Porcupine judged that way.
	guessed bool
	windows int
	// maxRev is the highest revision anything in the record shows.
	maxRev int64
	// porcupineReturn is, per op id, the return time the whole-history Porcupine search may
	// use for an operation with an unknown outcome (see porcupineBounds): dropNs leaves it
	// out, infinity keeps it open; nil when the checker ran in comparable mode.
	porcupineReturn []int64
	unresolved      int // unknown writes the record does not settle
	resolvedAt      int // unknown writes pinned to a revision
	resolvedOut     int // unknown writes proven never applied (or applied without effect)
	duration        time.Duration
}

// revChecker carries the checker's working state.
type revChecker struct {
	ops     []*op
	watches []history.Watch
	res     *revResult
	store   *mvccStore
	watched map[int64]*watchedRevision
	// per-op facts, indexed by op id
	rev        []int64 // effective revision: header revision, or where an unknown write applied
	creates    []bool
	resolution []resolution
	opts       revOptions
	// unknown writes not yet settled; grants (with a client-chosen id) and revokes among
	// them by lease: they may have applied at any time after their call
	pendingUnknown int
	pendingGrants  map[int64][]*op
	pendingRevokes map[int64][]*op
	seenAtOrAbove  []int64 // by revision: earliest time anything showed it or a later one
	bounds         *staleBounds
}

func (c *revChecker) staleBounds() *staleBounds {
	if c.bounds == nil {
		c.bounds = newStaleBounds(c.ops)
	}
	return c.bounds
}

type revOptions struct {
	porcupineTimeout time.Duration
	// windowTimeout bounds a window's search (0: DefaultWindowTimeout).
	windowTimeout time.Duration
	// windowRevs > 0: at a revision without a known writer, Porcupine judges only the next
	// windowRevs revisions and the replay continues from the linearization it found (a guess
	// when several exist; see checkRevisionsGuessing). 0: Porcupine judges everything after
	// the first such revision.
	windowRevs int64
	// comparable restricts the checker to what Porcupine judges (no reads at past revisions,
	// no watch events as evidence), for tests that compare the two.
	comparable bool
}

func checkRevisions(ops []*op, watches []history.Watch, opts revOptions) *revResult {
	start := time.Now()
	c := &revChecker{ops: ops, watches: watches, res: &revResult{}, store: newMVCCStore(), opts: opts,
		rev: make([]int64, len(ops)), creates: make([]bool, len(ops)), resolution: make([]resolution, len(ops))}
	c.resolveUnknowns()
	pinned := append([]resolution(nil), c.resolution...)
	pinnedRev := append([]int64(nil), c.rev...)
	c.replay()
	c.sweepRealTime()
	if !opts.comparable {
		c.porcupineBounds(pinned, pinnedRev)
	}
	c.res.duration = time.Since(start)
	return c.res
}

// dropNs marks an operation the whole-history Porcupine search leaves out.
const dropNs = -1

// porcupineBounds narrows what the whole-history Porcupine search must consider for each
// operation with an unknown outcome, using what this checker proved from the record. An
// unknown outcome otherwise gets an open interval (return = infinity), and a few hundred of
// them (every request cut off by a partition) make Porcupine's search explode: the
// simulator's partition scenarios ran into its 60 s timeout at about a thousand operations.
//
// Narrowing only removes linearizations, never adds one, so it can turn a Porcupine "ok"
// into "illegal" but never the reverse: a wrong narrowing shows up as a violation to look
// into, never as a false pass. Two narrowings, both sound given the record:
//   - an unknown write pinned to revision R (its unique value was seen at R, or it was the
//     only write that can have made R) took effect before anything showed R or a later
//     revision, so its return is bounded by that time;
//   - when the replay explained every revision without a guess, an unknown KV write (put,
//     delete, txn) that created none never took effect, took effect without changing
//     anything, or took effect after everything the record shows: in each case leaving it
//     out changes no response Porcupine checks. Lease grants and revokes stay open: they
//     change lease state without a revision, which later keep-alives observe.
//
// Pins made while replaying guessed windows are not used (another linearization may
// exist); only the pins resolveUnknowns proved (pinned, pinnedRev), or every pin when the
// replay was complete and unguessed.
func (c *revChecker) porcupineBounds(pinned []resolution, pinnedRev []int64) {
	complete := len(c.res.violations) == 0 && c.res.gapRev == 0 && !c.res.guessed
	resolutions, revs := pinned, pinnedRev
	if complete {
		resolutions, revs = c.resolution, c.rev
	}
	out := make([]int64, len(c.ops))
	for _, o := range c.ops {
		out[o.id] = infinity
		if o.known() || o.outcome != history.OutcomeUnknown || !mayWrite(o.req) {
			continue
		}
		switch {
		case resolutions[o.id] == resolvedApplied && revs[o.id] > 0:
			if t := c.firstSeenNs(revs[o.id]); t != infinity && t >= o.callNs {
				out[o.id] = t
			}
		case complete && o.req.LeaseGrant == nil && o.req.LeaseRevoke == nil:
			out[o.id] = dropNs
		}
	}
	c.res.porcupineReturn = out
}

// checkRevisionsGuessing runs the checker with windowed fallbacks (see windowFallback); when
// that finds a violation after adopting a guessed stretch, the guess may be to blame, so the
// verdict comes from a strict run, which hands everything after the first gap to Porcupine.
// A clean run needs no second look: the guesses are then one linearization that works.
func checkRevisionsGuessing(ops []*op, watches []history.Watch, opts revOptions, moreViolations func(*revResult) bool) *revResult {
	guessing := opts
	guessing.windowRevs = defaultWindowRevs
	res := checkRevisions(ops, watches, guessing)
	if !res.guessed || (len(res.violations) == 0 && !moreViolations(res)) {
		return res
	}
	strict := checkRevisions(ops, watches, opts)
	strict.duration += res.duration
	return strict
}

func (c *revChecker) skip(o *op) bool {
	return c.opts.comparable && o.isReadAtRevision()
}

func (c *revChecker) violate(kind string, o *op, format string, args ...any) {
	v := Violation{Checker: CheckRevision, Kind: kind, Message: fmt.Sprintf(format, args...)}
	if o != nil {
		v.Lines = []int{o.line}
		v.TimeNs = o.callNs
	}
	c.res.violations = append(c.res.violations, v)
}

// resolveUnknowns pins unknown writes whose unique values were seen and computes every
// operation's revision and whether it (definitely) created one.
func (c *revChecker) resolveUnknowns() {
	watches := c.watches
	if c.opts.comparable {
		watches = nil // Porcupine sees no watch events; judge on the same evidence
	}
	r := newResolver(c.ops, watches, c.skip)
	c.watched = r.watched
	note := func(rev int64) {
		if rev > c.res.maxRev {
			c.res.maxRev = rev
		}
	}
	for _, o := range c.ops {
		switch {
		case o.known():
			c.rev[o.id] = o.headerRev()
			note(c.rev[o.id])
			c.creates[o.id], _ = definitelyCreates(o.req, o.resp)
		case o.outcome == history.OutcomeUnknown && mayWrite(o.req):
			if at := r.resolve(o); at != 0 {
				c.rev[o.id], c.creates[o.id], c.resolution[o.id] = at, true, resolvedApplied
				c.res.resolvedAt++
			} else {
				c.resolution[o.id] = unresolved
			}
		case o.outcome == history.OutcomeUnknown:
			c.resolution[o.id] = resolvedNever // an unknown read: no effect
		}
	}
	for _, rev := range r.observedAt {
		note(rev)
	}
	for wi := range c.watches {
		for si := range c.watches[wi].Streams {
			for _, resp := range c.watches[wi].Streams[si].Responses {
				note(resp.Revision)
				for _, ev := range resp.Events {
					note(ev.KV.ModRevision)
				}
			}
		}
	}
	c.res.events = make([][]mutation, c.res.maxRev+2)
	c.res.writers = make([]*op, c.res.maxRev+2)
}

// replay applies writes in revision order and checks every operation against the state at
// its revision.
func (c *revChecker) replay() {
	creators := make([][]*op, c.res.maxRev+2)
	maybe := make([][]*op, c.res.maxRev+2) // lease revokes: creating only if keys were attached
	readers := make([][]*op, c.res.maxRev+2)
	for _, o := range c.ops {
		rev := c.rev[o.id]
		switch {
		case c.resolution[o.id] == resolvedApplied || (o.known() && c.creates[o.id]):
			creators[rev] = append(creators[rev], o)
		case o.known() && c.skip(o):
		case o.known() && o.req.LeaseRevoke != nil:
			maybe[rev] = append(maybe[rev], o)
		case o.known():
			readers[rev] = append(readers[rev], o)
		}
	}
	c.pendingGrants, c.pendingRevokes = map[int64][]*op{}, map[int64][]*op{}
	for _, o := range c.ops {
		if c.resolution[o.id] != unresolved {
			continue
		}
		c.pendingUnknown++
		switch {
		case o.req.LeaseGrant != nil && o.req.LeaseGrant.ID != 0:
			c.pendingGrants[o.req.LeaseGrant.ID] = append(c.pendingGrants[o.req.LeaseGrant.ID], o)
		case o.req.LeaseRevoke != nil:
			c.pendingRevokes[o.req.LeaseRevoke.ID] = append(c.pendingRevokes[o.req.LeaseRevoke.ID], o)
		}
	}
	for rev := int64(0); rev <= initialRevision && rev < int64(len(creators)); rev++ {
		for _, o := range creators[rev] {
			c.violate(kindOf(o), o, "%s (%s) claims to have changed the store at revision %d, but the first change makes revision %d",
				describeOp(o), o.where(), rev, initialRevision+1)
		}
	}
	c.checkReaders(readers[0])
	// Nothing creates the initial revision: revokes seen there deleted no keys.
	initial := append(readers[initialRevision], maybe[initialRevision]...)
	sort.SliceStable(initial, func(i, j int) bool { return initial[i].callNs < initial[j].callNs })
	c.checkReaders(initial)
	for rev := int64(initialRevision + 1); rev <= c.res.maxRev; rev++ {
		var creator *op
		switch {
		case len(creators[rev]) > 1:
			a, b := creators[rev][0], creators[rev][1]
			c.violate("duplicate-revision", b, "%s (%s) and %s (%s) both claim to have created revision %d",
				describeOp(a), a.where(), describeOp(b), b.where(), rev)
			creator = a
		case len(creators[rev]) == 1:
			creator = creators[rev][0]
		default:
			creator = c.revokeCreating(maybe[rev], rev)
			if creator == nil && c.pendingUnknown > 0 {
				if creator = c.unknownWriter(rev, readers[rev], maybe[rev]); creator != nil && !creator.known() {
					c.pendingUnknown--
				}
			}
		}
		if creator == nil {
			if c.pendingUnknown > 0 && c.opts.windowRevs > 0 {
				if end, ok := c.windowFallback(rev, creators, readers, maybe); ok {
					rev = end
					continue
				}
			}
			if c.pendingUnknown > 0 {
				c.fallBack(rev, readers, maybe)
				return
			}
			// Something showed rev or a later revision (maxRev >= rev), yet no write made it.
			witness := c.firstObserverFrom(rev, creators, readers, maybe)
			msg := fmt.Sprintf("no write in the history created revision %d, yet revisions up to %d were seen", rev, c.res.maxRev)
			if witness != nil {
				msg = fmt.Sprintf("%s (%s) shows revision %d, but no write in the history created revision %d",
					describeOp(witness), witness.where(), c.rev[witness.id], rev)
			}
			c.res.violations = append(c.res.violations, Violation{Checker: CheckRevision, Kind: "revision-without-writer", Message: msg})
			if witness != nil {
				last := &c.res.violations[len(c.res.violations)-1]
				last.Lines, last.TimeNs = []int{witness.line}, witness.callNs
			}
			c.res.replayedThrough = rev - 1
			c.res.gapRev = rev
			return
		}
		c.applyCreator(creator, rev)
		for _, o := range maybe[rev] {
			if o != creator {
				readers[rev] = append(readers[rev], o)
			}
		}
		sort.SliceStable(readers[rev], func(i, j int) bool { return readers[rev][i].callNs < readers[rev][j].callNs })
		c.checkReaders(readers[rev])
	}
	c.res.replayedThrough = c.res.maxRev
	c.res.resolvedOut = c.pendingUnknown
}

// revokeCreating returns the lease revoke among ops (all with header revision rev) that
// created rev: its lease has keys attached in the state at rev-1, it was called before anything
// showed rev, and what watchers saw at rev is its deletions. While unknown writes are
// unsettled, one of them may have detached the keys and made rev instead: nil, and
// unknownWriter decides among all of them.
func (c *revChecker) revokeCreating(ops []*op, rev int64) *op {
	for _, o := range ops {
		_, eff, err := eval(c.store.at(c.store.rev), c.store.rev, o.req, o.resp)
		if err != nil || len(eff.muts) == 0 || c.firstSeenNs(rev) < o.callNs {
			continue
		}
		// An unsettled unknown write may have made rev (and detached the keys): then
		// unknownWriter weighs the revoke against those writes.
		if c.pendingUnknown > 0 {
			return nil
		}
		if wr := c.watched[rev]; wr == nil || wr.explains(eff.muts) {
			return o
		}
	}
	return nil
}

// firstSeenNs is the earliest time anything showed revision rev or later: an operation
// returning it, or a watch response.
func (c *revChecker) firstSeenNs(rev int64) int64 {
	if c.seenAtOrAbove == nil {
		c.seenAtOrAbove = make([]int64, c.res.maxRev+2)
		for i := range c.seenAtOrAbove {
			c.seenAtOrAbove[i] = infinity
		}
		note := func(r, t int64) {
			if r >= 0 && r < int64(len(c.seenAtOrAbove)) && t < c.seenAtOrAbove[r] {
				c.seenAtOrAbove[r] = t
			}
		}
		for _, o := range c.ops {
			if o.known() {
				note(c.rev[o.id], o.returnNs)
			}
		}
		if !c.opts.comparable {
			for wi := range c.watches {
				for _, st := range c.watches[wi].Streams {
					for _, r := range st.Responses {
						note(r.Revision, r.TimeNs)
					}
				}
			}
		}
		for r := len(c.seenAtOrAbove) - 2; r >= 0; r-- {
			if c.seenAtOrAbove[r+1] < c.seenAtOrAbove[r] {
				c.seenAtOrAbove[r] = c.seenAtOrAbove[r+1]
			}
		}
	}
	if rev < 0 || rev >= int64(len(c.seenAtOrAbove)) {
		return infinity
	}
	return c.seenAtOrAbove[rev]
}

// unknownWriter finds the one unsettled unknown write that can have created rev: called
// before anything showed rev, changing something in the state at rev-1, matching what
// watchers saw at rev, and leaving a state every read at rev agrees with. Some operation
// created rev; when only one could have, it did. nil when none or several could have.
func (c *revChecker) unknownWriter(rev int64, readers, revokes []*op) *op {
	wr := c.watched[rev]
	seenNs := c.firstSeenNs(rev)
	if wr != nil && wr.firstSeen < seenNs {
		seenNs = wr.firstSeen
	}
	view := c.store.at(c.store.rev)
	var cands []*op
	var candMuts [][]mutation
	candidate := func(o *op) bool {
		_, eff, err := c.evalWithPendingGrants(view, o, seenNs)
		if err != nil || len(eff.muts) == 0 || (wr != nil && !wr.explains(eff.muts)) || !c.readersAgree(view, eff.muts, rev, readers) {
			return true
		}
		cands, candMuts = append(cands, o), append(candMuts, eff.muts)
		return len(cands) <= maxEqualCandidates
	}
	// The revokes that saw rev are candidates too: one may have deleted its lease's keys.
	for _, o := range revokes {
		if o.callNs <= seenNs && !candidate(o) {
			return nil
		}
	}
	for _, o := range c.ops {
		if o.callNs > seenNs {
			break // c.ops is sorted by call time: later ones were called after rev was seen
		}
		if c.resolution[o.id] == unresolved && !candidate(o) {
			return nil
		}
	}
	found := preferKnown(cands, candMuts)
	if found != nil && !found.known() {
		c.resolution[found.id], c.rev[found.id], c.creates[found.id] = resolvedApplied, rev, true
		c.res.resolvedAt++
	}
	return found
}

// maxEqualCandidates bounds how many candidate writers of one revision unknownWriter weighs
// before it gives up and lets the fallback decide.
const maxEqualCandidates = 8

// preferKnown picks the writer of a revision among candidates: the only one, or, when
// several would make exactly the same changes and exactly one of them is a known operation
// (a lease revoke whose response showed the revision), that one. The typical case is a revoke
// deleting its lease's one key while an unknown delete of that key is pending: either made
// the revision, and the store after it is the same. Choosing the known revoke loses nothing:
// the unknown write stays pending, free to take effect later or never, which covers the
// branch where it made the revision (the revoke then deleted nothing, and revoked the same
// lease at the same revision). Otherwise nil: the choice could matter, and the fallback
// decides.
func preferKnown(cands []*op, muts [][]mutation) *op {
	if len(cands) == 1 {
		return cands[0]
	}
	known := -1
	for i, o := range cands {
		if o.known() {
			if known >= 0 {
				return nil
			}
			known = i
		}
	}
	if known < 0 {
		return nil
	}
	for i := range cands {
		if !sameMutations(muts[i], muts[known]) {
			return nil
		}
	}
	return cands[known]
}

// sameMutations reports whether two sets of changes leave the same store: the same keys
// deleted, or put with the same value and lease.
func sameMutations(a, b []mutation) bool {
	if len(a) != len(b) {
		return false
	}
	type change struct {
		del   bool
		value string
		lease int64
	}
	byKey := make(map[string]change, len(a))
	for _, m := range a {
		byKey[string(m.kv.Key)] = change{m.delete, string(m.kv.Value), m.kv.Lease}
	}
	for _, m := range b {
		ch, ok := byKey[string(m.kv.Key)]
		if !ok || ch.del != m.delete || (!m.delete && (ch.value != string(m.kv.Value) || ch.lease != m.kv.Lease)) {
			return false
		}
	}
	return true
}

// evalWithPendingGrants evaluates o at view as if every lease o needs that an unsettled
// unknown grant (called by byNs) may have created existed.
func (c *revChecker) evalWithPendingGrants(view kvView, o *op, byNs int64) (history.Response, effects, error) {
	lv := &leaseOverlay{kvView: view, extra: map[int64]bool{}}
	for {
		resp, eff, err := eval(lv, c.store.rev, o.req, o.resp)
		var missing leaseNotFound
		if !errors.As(err, &missing) || lv.extra[missing.id] || c.pendingGrant(missing.id, byNs) == nil {
			return resp, eff, err
		}
		lv.extra[missing.id] = true
	}
}

// leaseOverlay is a view with extra live leases.
type leaseOverlay struct {
	kvView
	extra map[int64]bool
}

func (l *leaseOverlay) leaseExists(id int64) bool { return l.extra[id] || l.kvView.leaseExists(id) }

// readersAgree reports whether every read that saw rev agrees with the state view plus muts.
func (c *revChecker) readersAgree(view kvView, muts []mutation, rev int64, readers []*op) bool {
	after := &evaluator{base: view, pending: map[string]mutation{}}
	for _, m := range muts {
		after.pending[string(m.kv.Key)] = m
	}
	for _, r := range readers {
		if !r.known() || !r.req.IsReadOnly() || r.isReadAtRevision() {
			continue
		}
		expected, _, err := eval(after, rev, r.req, r.resp)
		if err != nil || diffResponse(&expected, r.resp, true) != "" {
			return false
		}
	}
	return true
}

func (c *revChecker) firstObserverFrom(rev int64, lists ...[][]*op) *op {
	for r := rev; r <= c.res.maxRev; r++ {
		for _, l := range lists {
			if int(r) < len(l) && len(l[r]) > 0 {
				return l[r][0]
			}
		}
	}
	return nil
}

// applyCreator applies the write that created rev and checks its response.
func (c *revChecker) applyCreator(o *op, rev int64) {
	expected, eff, err := c.evalSettlingGrants(c.store.at(c.store.rev), o)
	switch {
	case err != nil:
		c.violate("impossible-write", o, "%s (%s) claims revision %d, but etcd would have rejected it: %v", describeOp(o), o.where(), rev, err)
		return
	case len(eff.muts) == 0:
		c.violate("impossible-write", o, "%s (%s) claims to have created revision %d, but in the state at revision %d it changes nothing",
			describeOp(o), o.where(), rev, rev-1)
		c.store.apply(&eff)
		return
	}
	if o.known() {
		if d := diffResponse(&expected, o.resp, true); d != "" {
			c.violate(kindOf(o), o, "%s (%s) returned %s", describeOp(o), o.where(), d)
		}
	}
	c.store.apply(&eff)
	c.res.events[rev] = eff.muts
	c.res.writers[rev] = o
	c.creates[o.id] = true
}

// checkReaders checks operations that created no revision against the current state (or, for
// a read at a past revision, the state then). Lease grants and key-less revokes change the
// lease set, in call order.
func (c *revChecker) checkReaders(ops []*op) {
	// Keep-alives are judged after the lease changes of the revision: which of them came
	// first among concurrent operations that all saw this revision is not in the record.
	var keepAlives []*op
	aliveAtStart := map[int64]bool{}
	granted, revoked := map[int64]*op{}, map[int64]*op{}
	for _, o := range ops {
		if o.req.LeaseKeepAlive != nil {
			keepAlives = append(keepAlives, o)
			aliveAtStart[o.req.LeaseKeepAlive.ID] = c.store.leases[o.req.LeaseKeepAlive.ID]
		}
	}
	// A revoke that saw this revision found its lease granted, so grants that saw it go first.
	ordered := make([]*op, 0, len(ops))
	for _, o := range ops {
		if o.req.LeaseGrant != nil {
			ordered = append(ordered, o)
		}
	}
	for _, o := range ops {
		if o.req.LeaseGrant == nil {
			ordered = append(ordered, o)
		}
	}
	for _, o := range ordered {
		if o.req.LeaseKeepAlive != nil {
			continue
		}
		switch {
		case o.req.LeaseGrant != nil && o.resp.LeaseGrant != nil:
			granted[o.resp.LeaseGrant.ID] = o
		case o.req.LeaseRevoke != nil:
			revoked[o.req.LeaseRevoke.ID] = o
		}
		at := c.store.rev
		if o.isReadAtRevision() {
			at = o.req.Range.Revision
			if at > c.rev[o.id] {
				c.violate("future-read", o, "%s (%s) read at revision %d, ahead of its own header revision %d", describeOp(o), o.where(), at, c.rev[o.id])
				continue
			}
		}
		expected, eff, err := c.evalSettlingGrants(c.store.at(at), o)
		if err != nil {
			c.violate(kindOf(o), o, "%s (%s) succeeded, but etcd would have rejected it: %v", describeOp(o), o.where(), err)
			continue
		}
		if len(eff.muts) > 0 {
			c.violate(kindOf(o), o, "%s (%s) reports header revision %d as if it changed nothing, but at that revision it changes %s",
				describeOp(o), o.where(), c.rev[o.id], eff.muts[0].kv.Key)
			continue
		}
		if d := diffResponse(&expected, o.resp, true); d != "" {
			c.violate(kindOf(o), o, "%s", c.explainRead(o, &expected, d))
			continue
		}
		c.store.apply(&eff)
	}
	for _, o := range keepAlives {
		c.checkKeepAlive(o, aliveAtStart[o.req.LeaseKeepAlive.ID], granted, revoked)
	}
}

// evalSettlingGrants evaluates a successful operation at a view; when it fails only because a
// lease is missing and a grant of that id with an unknown outcome was called before the
// operation returned, that grant applied: it is settled so and the evaluation repeated.
func (c *revChecker) evalSettlingGrants(v kvView, o *op) (history.Response, effects, error) {
	for {
		expected, eff, err := eval(v, c.store.rev, o.req, o.resp)
		var missing leaseNotFound
		applied := o.known() || c.resolution[o.id] == resolvedApplied
		if !applied || !errors.As(err, &missing) {
			return expected, eff, err
		}
		g := c.pendingGrant(missing.id, o.returnNs)
		if g == nil {
			return expected, eff, err
		}
		c.store.leases[missing.id] = true
		c.resolution[g.id] = resolvedApplied
		c.pendingUnknown--
		c.res.resolvedAt++
	}
}

// pendingGrant returns an unsettled unknown grant of the lease called by the time given.
func (c *revChecker) pendingGrant(id, byNs int64) *op {
	for _, g := range c.pendingGrants[id] {
		if c.resolution[g.id] == unresolved && g.callNs <= byNs {
			return g
		}
	}
	return nil
}

// checkKeepAlive judges a keep-alive that saw revision R: a lease alive at R's start or
// granted at R by a grant called before the keep-alive returned may be found alive, unless a
// revoke at R returned before the keep-alive was called; symmetrically for "not found".
func (c *revChecker) checkKeepAlive(o *op, aliveAtStart bool, granted, revoked map[int64]*op) {
	id := o.req.LeaseKeepAlive.ID
	g, r := granted[id], revoked[id]
	mayBeAlive := (aliveAtStart || (g != nil && g.callNs <= o.returnNs)) && (r == nil || r.returnNs >= o.callNs)
	mayBeGone := (!aliveAtStart && (g == nil || g.returnNs >= o.callNs)) || (r != nil && r.callNs <= o.returnNs)
	for _, u := range c.pendingGrants[id] {
		if c.resolution[u.id] != resolvedNever && u.callNs <= o.returnNs && (r == nil || r.returnNs >= o.callNs) {
			mayBeAlive = true // a grant with an unknown outcome may have applied by then
		}
	}
	for _, u := range c.pendingRevokes[id] {
		if c.resolution[u.id] == unresolved && u.callNs <= o.returnNs {
			mayBeGone = true // an unknown revoke may have applied by then
		}
	}
	alive := o.resp.LeaseKeepAlive != nil && o.resp.LeaseKeepAlive.TTLSeconds > 0
	switch {
	case o.resp.Header.Revision != c.store.rev:
		c.violate("lease", o, "%s (%s) returned header revision %d, but the state gives %d", describeOp(o), o.where(), o.resp.Header.Revision, c.store.rev)
	case alive && !mayBeAlive:
		c.violate("lease", o, "%s (%s) found lease %d alive at rev %d, but it no longer exists", describeOp(o), o.where(), id, o.resp.Header.Revision)
	case !alive && !mayBeGone:
		c.violate("lease", o, "%s (%s) found lease %d gone at rev %d, but it is alive", describeOp(o), o.where(), id, o.resp.Header.Revision)
	}
}

// explainRead words a read that disagrees with the state at its revision, naming the write
// that made the state when the read returned an older value.
func (c *revChecker) explainRead(o *op, expected *history.Response, d string) string {
	if o.req.Range != nil && expected.Range != nil && o.resp.Range != nil {
		e, got := expected.Range.KVs, o.resp.Range.KVs
		for i := range e {
			w := c.writerOf(e[i].ModRevision)
			if w == nil {
				continue
			}
			var gotKV string
			switch {
			case i < len(got) && string(got[i].Key) == string(e[i].Key) && diffKV("", e[i], got[i]) == "":
				continue
			case i < len(got) && string(got[i].Key) == string(e[i].Key):
				gotKV = fmt.Sprintf("%s (mod rev %d)", got[i].Value, got[i].ModRevision)
			default:
				gotKV = "no value"
			}
			ack := "was still in flight when the get was called"
			if w.returnNs < o.callNs {
				ack = "acknowledged before the get was called"
			}
			return fmt.Sprintf("get %s at rev %d returned %s, but %s was written at rev %d by %s and %s (%s)",
				describeRange(o.req.Range.Key, o.req.Range.RangeEnd), o.resp.Header.Revision, gotKV, e[i].Value,
				e[i].ModRevision, describeRequest(w.req), ack, o.where())
		}
	}
	if o.req.Range != nil && o.resp.Range != nil {
		for _, kv := range o.resp.Range.KVs {
			if _, live := c.store.at(o.resp.Header.Revision).get(kv.Key); live {
				continue
			}
			vs := c.store.versions[string(kv.Key)]
			i := sort.Search(len(vs), func(i int) bool { return vs[i].rev > o.resp.Header.Revision }) - 1
			if i >= 0 && vs[i].deleted {
				by := "a delete"
				if w := c.writerOf(vs[i].rev); w != nil {
					by = describeOp(w)
				}
				return fmt.Sprintf("get %s at rev %d returned %s=%s, but the key was deleted at rev %d by %s (%s)",
					describeRange(o.req.Range.Key, o.req.Range.RangeEnd), o.resp.Header.Revision, kv.Key, kv.Value, vs[i].rev, by, o.where())
			}
		}
	}
	return fmt.Sprintf("%s (%s) returned %s", describeOp(o), o.where(), d)
}

func (c *revChecker) writerOf(rev int64) *op {
	if rev > 0 && rev < int64(len(c.res.writers)) {
		return c.res.writers[rev]
	}
	return nil
}

// kindOf names the violation a wrong response of o is.
func kindOf(o *op) string {
	switch {
	case o.req.Range != nil:
		return "stale-read"
	case o.req.Txn != nil:
		return "wrong-txn"
	case o.req.LeaseKeepAlive != nil || o.req.LeaseGrant != nil || o.req.LeaseRevoke != nil:
		return "lease"
	}
	return "wrong-response"
}

// defaultWindowRevs is how many revisions a windowed fallback hands to Porcupine: enough
// for the evidence that settles an unknown write to arrive, small enough for a fast search.
const defaultWindowRevs = 8

// maxWindowUnknowns bounds the unknown writes a window hands to Porcupine (its search is
// exponential in them); a window needing more is left to the strict run.
const maxWindowUnknowns = 12

// windowFallback hands revisions [gap, gap+windowRevs) to Porcupine, starting from the state at
// gap-1: the operations that saw those revisions and the unknown writes that may have applied
// in them. When Porcupine finds a linearization, the replay adopts it (its writes fill those
// revisions; unknown writes it placed before the last known operation are pinned where it
// put them) and continues after the window. It returns the window's last revision.
func (c *revChecker) windowFallback(gap int64, lists ...[][]*op) (int64, bool) {
	end := gap + c.opts.windowRevs - 1
	if end > c.res.maxRev {
		end = c.res.maxRev
	}
	var window []*op
	var lastReturnNs int64
	var pastReads []*op
	for r := gap; r <= end; r++ {
		for _, l := range lists {
			for _, o := range l[r] {
				if o.isReadAtRevision() {
					pastReads = append(pastReads, o)
					continue
				}
				if !o.known() && c.resolution[o.id] != resolvedApplied {
					continue
				}
				window = append(window, o)
				if o.known() && o.returnNs > lastReturnNs {
					lastReturnNs = o.returnNs
				}
			}
		}
	}
	if lastReturnNs == 0 {
		return 0, false // only watchers saw these revisions: nothing for Porcupine to order
	}
	// Unknown writes that change nothing at the window's start are left out: each could be
	// placed anywhere at no cost, and Porcupine would try every subset of them. If one of
	// them was needed after all, the search fails and the strict run decides.
	view, unknowns := c.store.at(c.store.rev), 0
	for _, o := range c.ops {
		if o.callNs > lastReturnNs {
			break
		}
		if c.resolution[o.id] != unresolved {
			continue
		}
		if _, eff, err := c.evalWithPendingGrants(view, o, lastReturnNs); err != nil || len(eff.muts) == 0 {
			continue
		}
		if unknowns++; unknowns > maxWindowUnknowns {
			return 0, false
		}
		window = append(window, o)
	}
	bounds := c.staleBounds()
	pops := make([]porcupine.Operation, len(window))
	for i, o := range window {
		pops[i] = bounds.operation(o)
		if !o.known() {
			pops[i].Return = infinity
		}
	}
	init := c.store.kvStateAt()
	model := etcdModel()
	model.Init = func() interface{} { return init }
	timeout, budget := c.opts.porcupineTimeout, c.opts.windowTimeout
	if budget == 0 {
		budget = DefaultWindowTimeout
	}
	if timeout > budget || timeout == 0 {
		timeout = budget
	}
	res, info := porcupine.CheckOperationsVerbose(model, pops, timeout)
	if res != porcupine.Ok {
		return 0, false
	}
	var order []int
	for _, l := range info.PartialLinearizations()[0] {
		if len(l) > len(order) {
			order = l
		}
	}
	lastKnown := -1
	for i, id := range order {
		if window[id].known() {
			lastKnown = i
		}
	}
	for _, id := range order[:lastKnown+1] {
		o := window[id]
		expected, eff, err := eval(c.store.at(c.store.rev), c.store.rev, o.req, o.resp)
		if err != nil {
			continue // an unknown write Porcupine placed where it cannot apply: it did not
		}
		if o.known() && diffResponse(&expected, o.resp, true) != "" {
			return 0, false // cannot happen when Porcupine accepted it; be strict anyway
		}
		c.store.apply(&eff)
		if len(eff.muts) > 0 {
			c.res.events[c.store.rev] = eff.muts
			c.res.writers[c.store.rev] = o
			c.creates[o.id] = true
		}
		if !o.known() && c.resolution[o.id] == unresolved && (len(eff.muts) > 0 || eff.grantLease != 0 || eff.revokedLease != 0) {
			c.resolution[o.id] = resolvedApplied
			c.rev[o.id] = c.store.rev
			c.pendingUnknown--
			c.res.resolvedAt++
		}
	}
	// Every known operation of the window saw a revision at most this one; the revisions
	// after it (if any) are the next stretch's.
	if c.store.rev < gap {
		panic(fmt.Sprintf("linearizability: Porcupine's linearization of revisions %d..%d ends at revision %d, before the gap", gap, end, c.store.rev))
	}
	end = c.store.rev
	for _, o := range pastReads {
		expected, _, err := eval(c.store.at(o.req.Range.Revision), c.rev[o.id], o.req, o.resp)
		if err == nil && o.known() {
			if d := diffResponse(&expected, o.resp, true); d != "" {
				c.violate("stale-read", o, "%s (%s) returned %s", describeOp(o), o.where(), d)
			}
		}
	}
	c.res.guessed = true
	c.res.windows++
	return end, true
}

// fallBack hands the history from revision gap on to Porcupine, starting from the state at
// gap-1: every operation that saw revision gap-1's successor or later, and every unknown
// write not yet settled.
func (c *revChecker) fallBack(gap int64, readerLists ...[][]*op) {
	c.res.gapRev = gap
	c.res.replayedThrough = gap - 1
	var suffix []porcupine.Operation
	for _, o := range c.ops {
		in := false
		switch {
		case c.resolution[o.id] == unresolved || c.resolution[o.id] == resolvedApplied:
			in = c.resolution[o.id] == unresolved || c.rev[o.id] >= gap
		case o.known():
			in = c.rev[o.id] >= gap && porcupineJudges(o)
		}
		if in {
			c.res.unresolved++
			suffix = append(suffix, c.staleBounds().operation(o))
		}
	}
	c.res.fallbackN = len(suffix)
	init := c.store.kvStateAt()
	model := etcdModel()
	model.Init = func() interface{} { return init }
	res := porcupine.CheckOperationsTimeout(model, suffix, c.opts.porcupineTimeout)
	c.res.fallback = res
	if res == porcupine.Illegal {
		c.res.violations = append(c.res.violations, Violation{Checker: CheckRevision, Kind: "not-linearizable",
			Message: fmt.Sprintf("from revision %d on, where no write is known to have created revision %d, Porcupine finds no linearization of the %d remaining operations", gap, gap, len(suffix))})
	}
	c.checkPastReadsAfterGap(gap)
}

// checkPastReadsAfterGap judges the reads at an explicit revision that Porcupine left out:
// one reading a revision below the gap against the replayed state; one reading at or above
// it only for values nobody wrote (the state there is not known).
func (c *revChecker) checkPastReadsAfterGap(gap int64) {
	written := map[kvObservation]bool{}
	for _, o := range c.ops {
		forEachPut(o.req, func(p *history.PutRequest) { written[kvObservation{string(p.Key), string(p.Value)}] = true })
	}
	for _, o := range c.ops {
		if !o.known() || !o.isReadAtRevision() || c.rev[o.id] < gap || c.skip(o) || o.resp.Range == nil {
			continue
		}
		at := o.req.Range.Revision
		if at < gap {
			expected, _, err := eval(c.store.at(at), c.rev[o.id], o.req, o.resp)
			if err == nil {
				if d := diffResponse(&expected, o.resp, true); d != "" {
					c.violate("stale-read", o, "%s (%s) returned %s", describeOp(o), o.where(), d)
				}
			}
			continue
		}
		for _, kv := range o.resp.Range.KVs {
			if len(kv.Value) > 0 && !written[kvObservation{string(kv.Key), string(kv.Value)}] {
				c.violate("stale-read", o, "%s (%s) returned %s=%s, a value no request ever wrote", describeOp(o), o.where(), kv.Key, kv.Value)
			}
		}
	}
}

// sweepRealTime checks that revisions respect real time: walking calls in time order while
// adding every operation that returned strictly before, the largest revision seen so far is a
// lower bound for each operation called (strict for one that created a revision).
// Serializable reads need not be fresh, so they are not held to the bound, but the revision
// they saw must have been reached: its writer was called before they returned.
func (c *revChecker) sweepRealTime() {
	var byReturn []*op
	for _, o := range c.ops {
		if o.known() && !c.skip(o) {
			byReturn = append(byReturn, o)
		}
	}
	sort.SliceStable(byReturn, func(i, j int) bool { return byReturn[i].returnNs < byReturn[j].returnNs })
	var maxRev int64
	var maxOp *op
	j := 0
	for _, b := range c.ops { // c.ops is sorted by call time
		for j < len(byReturn) && byReturn[j].returnNs < b.callNs {
			if r := c.rev[byReturn[j].id]; r > maxRev {
				maxRev, maxOp = r, byReturn[j]
			}
			j++
		}
		// An unknown write pinned to a revision is held to the bound too (it applied after
		// its call); one only inferred to have applied (a grant) has no revision to check.
		applied := b.known() || (c.resolution[b.id] == resolvedApplied && c.rev[b.id] > 0)
		if !applied || c.skip(b) {
			continue
		}
		rev := c.rev[b.id]
		if b.isSerializable() {
			if w := c.writerOf(rev); w != nil && w.callNs > b.returnNs {
				c.violate("future-read", b, "%s (%s) saw revision %d before the write that created it (%s) was called",
					describeOp(b), b.where(), rev, describeOp(w))
			}
			continue
		}
		if maxOp == nil {
			continue
		}
		if rev < maxRev || (rev == maxRev && c.creates[b.id]) {
			c.violate("revision-backwards", b, "%s (%s) has revision %d, but %s (%s) had already returned revision %d before it was called: the revision went backwards",
				describeOp(b), b.where(), rev, describeOp(maxOp), maxOp.where(), maxRev)
		}
	}
}
