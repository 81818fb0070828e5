package linearizability

import (
	"math"
	"sort"

	"github.com/ballastdb/ballast/linearizability/history"
)

// infinity is the return time of an operation whose outcome is unknown: it may take effect
// at any instant after its call, which is the same as returning at the end of time.
const infinity = math.MaxInt64

// op is one operation as every checker sees it: a client operation or a lease expiry (a
// revoke issued by the cluster), with its interval and what is known of its outcome.
type op struct {
	id       int    // index in checker.ops
	client   int    // dense client number (Porcupine's ClientId); cluster is the last
	clientID string // the client's name in the history
	line     int    // line in the history file, 0 when unknown
	callNs   int64
	returnNs int64 // infinity when the outcome is unknown
	req      *history.Request
	resp     *history.Response // nil unless the outcome is OK
	outcome  history.Outcome
	expiry   *history.LeaseExpiry // set for a lease expiry: req is a revoke of its lease
}

func (o *op) known() bool { return o.outcome == history.OutcomeOK }

// headerRev returns the header revision of a known operation: the revision it created, or
// the one it observed. Lease expiries carry theirs in the record.
func (o *op) headerRev() int64 {
	if o.expiry != nil {
		return o.expiry.Revision
	}
	return o.resp.Header.Revision
}

// isReadAtRevision reports whether the operation reads at an explicit past revision.
func (o *op) isReadAtRevision() bool { return o.req.Range != nil && o.req.Range.Revision != 0 }

// isSerializable reports whether the operation is a serializable read: any member may answer
// it from its own, possibly stale, state.
func (o *op) isSerializable() bool { return o.req.Range != nil && o.req.Range.Serializable }

// buildOps turns a history's operations and lease expiries into ops, sorted by call time (ties
// by record order), with dense client numbers sorted by name.
func buildOps(h *history.History) []*op {
	names := map[string]bool{}
	for i := range h.Operations {
		names[h.Operations[i].Client] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	clientNum := make(map[string]int, len(sorted))
	for i, n := range sorted {
		clientNum[n] = i
	}
	ops := make([]*op, 0, len(h.Operations)+len(h.LeaseExpiries))
	for i := range h.Operations {
		ho := &h.Operations[i]
		if ho.Request.Compact != nil || ho.Request.Auth != nil {
			continue // changes no key nor revision: judged by the compaction or auth validator alone
		}
		o := &op{client: clientNum[ho.Client], clientID: ho.Client, line: ho.Line, callNs: ho.CallNs,
			returnNs: infinity, req: &ho.Request, outcome: ho.Outcome()}
		if o.outcome != history.OutcomeUnknown {
			o.returnNs = *ho.ReturnNs
		}
		if o.outcome == history.OutcomeOK {
			o.resp = ho.Response
		}
		ops = append(ops, o)
	}
	for i := range h.LeaseExpiries {
		le := &h.LeaseExpiries[i]
		req := &history.Request{LeaseRevoke: &history.LeaseRevokeRequest{ID: le.LeaseID}}
		// The expiry happened no later than its recorded time; with an exact clock, exactly
		// then. With a wall clock the record is a bound from above, so the interval starts
		// at the run's start.
		callNs := le.TimeNs
		if h.Header.Clock != history.ClockVirtual {
			callNs = 0
		}
		resp := &history.Response{Header: history.ResponseHeader{Revision: le.Revision}, LeaseRevoke: &history.LeaseRevokeResponse{}}
		ops = append(ops, &op{client: len(sorted), clientID: history.ClusterClient, line: le.Line,
			callNs: callNs, returnNs: le.TimeNs, req: req, resp: resp, outcome: history.OutcomeOK, expiry: le})
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].callNs < ops[j].callNs })
	for i, o := range ops {
		o.id = i
	}
	return ops
}
