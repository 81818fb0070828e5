package gen

import (
	"strconv"

	"github.com/ballastdb/ballast/linearizability/history"
)

// analysis holds what a history proves, which Mutate uses to choose only changes that are
// illegal by construction.
type analysis struct {
	h *history.History
	// valueCount counts the put requests (anywhere, whatever their outcome) writing each value.
	valueCount map[string]int
	// ackRev maps a value written by an acknowledged request (on the txn path it took) to the
	// revision it created: the request's header revision.
	ackRev map[string]int64
	// Keys that a request with an unknown outcome might have written.
	unsurePut     map[string]bool
	unsureDeletes []*history.DeleteRangeRequest
	unsureRevoke  bool
	leasedKeys    map[string]bool // keys some put attached to a lease
}

func analyse(h *history.History) *analysis {
	a := &analysis{h: h, valueCount: map[string]int{}, ackRev: map[string]int64{}, unsurePut: map[string]bool{}, leasedKeys: map[string]bool{}}
	for i := range h.Operations {
		op := &h.Operations[i]
		walkRequests(&op.Request, func(r *history.Request) {
			if r.Put != nil {
				a.valueCount[string(r.Put.Value)]++
				if r.Put.Lease != 0 {
					a.leasedKeys[string(r.Put.Key)] = true
				}
			}
		})
		switch op.Outcome() {
		case history.OutcomeOK:
			appliedPuts(&op.Request, op.Response, func(p *history.PutRequest) {
				a.ackRev[string(p.Value)] = op.Response.Header.Revision
			})
		case history.OutcomeUnknown:
			walkRequests(&op.Request, func(r *history.Request) {
				switch {
				case r.Put != nil:
					a.unsurePut[string(r.Put.Key)] = true
				case r.DeleteRange != nil:
					a.unsureDeletes = append(a.unsureDeletes, r.DeleteRange)
				case r.LeaseRevoke != nil:
					a.unsureRevoke = true
				}
			})
		}
	}
	return a
}

// walkRequests calls fn on req and on every request nested in it (both branches of txns).
func walkRequests(req *history.Request, fn func(*history.Request)) {
	fn(req)
	if req.Txn != nil {
		for _, ops := range [][]history.Request{req.Txn.Success, req.Txn.Failure} {
			for i := range ops {
				walkRequests(&ops[i], fn)
			}
		}
	}
}

// appliedPuts calls fn on the puts an acknowledged request applied: on the path its txn
// responses say it took.
func appliedPuts(req *history.Request, resp *history.Response, fn func(*history.PutRequest)) {
	switch {
	case req.Put != nil:
		fn(req.Put)
	case req.Txn != nil && resp != nil && resp.Txn != nil:
		ops := req.Txn.Failure
		if resp.Txn.Succeeded {
			ops = req.Txn.Success
		}
		for i := range ops {
			if i < len(resp.Txn.Responses) {
				appliedPuts(&ops[i], &resp.Txn.Responses[i], fn)
			}
		}
	}
}

// uniqueValue reports whether exactly one put request in the history writes v.
func (a *analysis) uniqueValue(v history.Bytes) bool {
	return len(v) > 0 && a.valueCount[string(v)] == 1
}

// keySure reports whether no request with an unknown outcome could have written key k: then
// every write to k, and with the acknowledged revisions their order, is known.
func (a *analysis) keySure(k history.Bytes) bool {
	if a.unsurePut[string(k)] || (a.unsureRevoke && a.leasedKeys[string(k)]) {
		return false
	}
	for _, d := range a.unsureDeletes {
		if InRange(k, d.Key, d.RangeEnd) {
			return false
		}
	}
	return true
}

// neverWritten returns a value no put request writes.
func (a *analysis) neverWritten(seed int) history.Bytes {
	for i := seed; ; i++ {
		v := history.Bytes("never-written-" + strconv.Itoa(i))
		if a.valueCount[string(v)] == 0 {
			return v
		}
	}
}

// isLinearizableRead reports whether op is a successful top-level linearizable read of the
// latest revision.
func isLinearizableRead(op *history.Operation) bool {
	return op.Outcome() == history.OutcomeOK && op.Request.Range != nil && !op.Request.Range.Serializable && op.Request.Range.Revision == 0
}

// watchesEverything reports whether a watch sees every event: all keys, no filters.
func watchesEverything(req *history.WatchRequest) bool {
	allKeys := (len(req.Key) == 0 || (len(req.Key) == 1 && req.Key[0] == 0)) && len(req.RangeEnd) == 1 && req.RangeEnd[0] == 0
	return allKeys && len(req.Filters) == 0
}
