package linearizability

import (
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ballastdb/ballast/linearizability/history"
)

// The Porcupine model of etcd's KV and leases. Its state is a kvState (revision, live
// key-values with their create/mod revisions, versions and leases, live leases), so every
// response's header revision, revisions and versions are checked, not only values.
//
// Unknown outcomes: an operation whose outcome is unknown gets Return = infinity and the
// model accepts any output for it. It may then be linearized at any point after its call,
// including after every other operation, where its effect is invisible: that is exactly
// "applied at some point after the call, or never". Operations that failed with a definite
// error never applied and are left out. So are reads at an explicit past revision, which the
// revision-guided checker judges (the state would otherwise have to keep every past
// revision, and Porcupine's cache would stop working). Serializable reads are in, with their
// interval widened to when their state existed (see staleBounds).
//
// No partitioning: every operation reads or bumps the one revision counter shared by all
// keys, so a per-key partition could not check header revisions (a partition never sees the
// other keys' writes) and would accept histories that are not linearizable.

// porcupineInput is what Porcupine carries per operation: the op itself.
type porcupineInput struct{ o *op }

func etcdModel() porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return &kvState{rev: initialRevision} },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			s := state.(*kvState)
			o := input.(porcupineInput).o
			ok, next, _ := stepOp(s, o)
			return ok, next
		},
		Equal: func(a, b interface{}) bool { return a.(*kvState).equal(b.(*kvState)) },
		Hash:  func(s interface{}) uint64 { return s.(*kvState).hash() },
		DescribeOperation: func(input, output interface{}) string {
			return describeOp(input.(porcupineInput).o)
		},
		DescribeState: func(s interface{}) string { return s.(*kvState).String() },
	}
}

// stepOp applies o to s. It returns false (and why) when o's recorded response is not what
// etcd answers in state s.
func stepOp(s *kvState, o *op) (bool, *kvState, string) {
	expected, eff, err := eval(s, s.rev, o.req, o.resp)
	if err != nil {
		if o.known() {
			return false, s, "etcd would have rejected it: " + err.Error()
		}
		return true, s, "" // an unknown outcome that could not apply: it never did
	}
	if o.known() {
		if d := diffResponse(&expected, o.resp, true); d != "" {
			return false, s, d
		}
	}
	return true, s.apply(&eff), ""
}

// porcupineOps selects and converts the operations the Porcupine model judges.
// returnBound, when not nil, is the revision-guided checker's porcupineReturn: per op id,
// dropNs to leave an unknown outcome out, or a return time to close its interval.
func porcupineOps(ops []*op, returnBound []int64) []porcupine.Operation {
	b := newStaleBounds(ops)
	out := make([]porcupine.Operation, 0, len(ops))
	for _, o := range ops {
		if !porcupineJudges(o) {
			continue
		}
		po := b.operation(o)
		if returnBound != nil && !o.known() {
			switch t := returnBound[o.id]; {
			case t == dropNs:
				continue
			case t != infinity && t >= po.Call:
				po.Return = t
			}
		}
		out = append(out, po)
	}
	return out
}

// staleBounds narrows the interval of serializable reads. A serializable read may show any
// state the cluster reached before it returned, however stale: it is a read that takes effect
// at some point while the state was at its header revision H, and before its return. That
// point is no earlier than the call of the write that created H and no later than the return
// of the write that created H+1, when those writes are known; else the run's start and the
// read's return. Narrowing an interval to where the operation can take effect changes no
// verdict, and keeps Porcupine from trying each such read at every point of the run.
type staleBounds struct {
	creatorCallNs   map[int64]int64 // revision -> call of the known write that created it
	creatorReturnNs map[int64]int64 // revision -> return of the known write that created it
}

func newStaleBounds(ops []*op) *staleBounds {
	b := &staleBounds{creatorCallNs: map[int64]int64{}, creatorReturnNs: map[int64]int64{}}
	for _, o := range ops {
		if !o.known() || o.expiry != nil {
			continue
		}
		if creates, ok := definitelyCreates(o.req, o.resp); ok && creates {
			b.creatorCallNs[o.resp.Header.Revision] = o.callNs
			b.creatorReturnNs[o.resp.Header.Revision] = o.returnNs
		}
	}
	return b
}

// operation converts o for Porcupine.
func (b *staleBounds) operation(o *op) porcupine.Operation {
	callNs, returnNs := o.callNs, o.returnNs
	if o.isSerializable() && o.known() {
		h := o.resp.Header.Revision
		callNs = 0
		if t, ok := b.creatorCallNs[h]; ok && t < o.returnNs {
			callNs = t
		}
		if t, ok := b.creatorReturnNs[h+1]; ok && t < returnNs && t >= callNs {
			returnNs = t
		}
	}
	return porcupine.Operation{ClientId: o.client, Input: porcupineInput{o}, Call: callNs, Return: returnNs}
}

// porcupineJudges reports whether the Porcupine model checks o.
func porcupineJudges(o *op) bool {
	switch {
	case o.outcome == history.OutcomeFailed:
		return false
	case o.isReadAtRevision():
		return false
	case !o.known() && o.req.IsReadOnly():
		return false // an unknown read has no effect and no response to check
	}
	return true
}

// porcupineResult is the outcome of a Porcupine run.
type porcupineResult struct {
	result   porcupine.CheckResult
	info     porcupine.LinearizationInfo
	ops      []porcupine.Operation
	duration time.Duration
}

func runPorcupine(ops []*op, returnBound []int64, timeout time.Duration) porcupineResult {
	pops := porcupineOps(ops, returnBound)
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(etcdModel(), pops, timeout)
	return porcupineResult{result: res, info: info, ops: pops, duration: time.Since(start)}
}
