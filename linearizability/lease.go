package linearizability

import (
	"fmt"
	"time"

	"github.com/ballastdb/ballast/linearizability/history"
)

// The lease validator:
//
//   - a key attached to a lease never outlives the lease: no read at or after the revision
//     of the lease's revoke or expiry, and no read called after the expiry's recorded time,
//     returns a key attached to it, and no watch event puts one there;
//   - a lease never expires earlier than its TTL after the call time of the keep-alive (or
//     grant) that granted that TTL, give or take the header's clock-error bound: the server
//     answers after the call, so a correct server always leaves at least that much; and no
//     keep-alive called after the lease expired finds it alive.

// leaseEnd is when a lease ended: the revision of its revoke or expiry and a time at or after
// which it was gone.
type leaseEnd struct {
	rev    int64
	timeNs int64
	what   string
}

func validateLeases(h *history.History, ops []*op) []Violation {
	ends := map[int64]leaseEnd{}
	regranted := map[int64]bool{}
	for _, o := range ops {
		if !o.known() || o.req.LeaseRevoke == nil {
			continue
		}
		id := o.req.LeaseRevoke.ID
		what := fmt.Sprintf("revoke (%s)", o.where())
		if o.expiry != nil {
			what = fmt.Sprintf("expiry (%s)", o.where())
		}
		e, seen := ends[id]
		if !seen || o.headerRev() < e.rev {
			ends[id] = leaseEnd{rev: o.headerRev(), timeNs: o.returnNs, what: what}
		}
	}
	for _, o := range ops {
		if o.known() && o.req.LeaseGrant != nil && o.resp.LeaseGrant != nil {
			if e, ok := ends[o.resp.LeaseGrant.ID]; ok && o.callNs > e.timeNs {
				regranted[o.resp.LeaseGrant.ID] = true // an id used again: ends are ambiguous
			}
		}
	}
	var vs []Violation
	for _, o := range ops {
		if !o.known() || o.expiry != nil {
			continue
		}
		// Range results only: prev_kvs show the state before the write, which may predate
		// the lease's end.
		forEachRangeKV(o.resp, func(kv history.KeyValue) {
			e, ok := ends[kv.Lease]
			if !ok || regranted[kv.Lease] || o.req.LeaseRevoke != nil {
				return
			}
			readRev, fresh := o.headerRev(), !o.isSerializable()
			if o.isReadAtRevision() {
				readRev, fresh = o.req.Range.Revision, false // a read of the past may show it
			}
			if readRev >= e.rev || (o.callNs > e.timeNs && fresh) {
				vs = append(vs, Violation{Checker: CheckLease, Kind: "lease-outlived", Lines: []int{o.line}, TimeNs: o.callNs,
					Message: fmt.Sprintf("key %s attached to lease %d outlived its lease: %s (%s) returned it at rev %d, but the lease ended at rev %d by its %s",
						kv.Key, kv.Lease, describeRequest(o.req), o.where(), readRev, e.rev, e.what)})
			}
		})
	}
	for wi := range h.Watches {
		w := &h.Watches[wi]
		for _, s := range w.Streams {
			for _, r := range s.Responses {
				for _, ev := range r.Events {
					e, ok := ends[ev.KV.Lease]
					if ev.Type == history.EventPut && ok && !regranted[ev.KV.Lease] && ev.KV.ModRevision >= e.rev {
						vs = append(vs, Violation{Checker: CheckLease, Kind: "lease-outlived", Lines: []int{s.Line}, TimeNs: r.TimeNs,
							Message: fmt.Sprintf("key %s attached to lease %d outlived its lease: watch %s saw it put at rev %d, but the lease ended at rev %d",
								ev.KV.Key, ev.KV.Lease, w.ID, ev.KV.ModRevision, e.rev)})
					}
				}
			}
		}
	}
	return append(vs, earlyExpiries(h, ops, regranted)...)
}

// earlyExpiries checks each expiry against the keep-alives and grants of its lease.
func earlyExpiries(h *history.History, ops []*op, regranted map[int64]bool) []Violation {
	type grant struct {
		o      *op
		ttlSec int64
	}
	grants := map[int64][]grant{}
	for _, o := range ops {
		if !o.known() {
			continue
		}
		switch {
		case o.req.LeaseGrant != nil && o.resp.LeaseGrant != nil:
			grants[o.resp.LeaseGrant.ID] = append(grants[o.resp.LeaseGrant.ID], grant{o, o.resp.LeaseGrant.TTLSeconds})
		case o.req.LeaseKeepAlive != nil && o.resp.LeaseKeepAlive != nil && o.resp.LeaseKeepAlive.TTLSeconds > 0:
			grants[o.req.LeaseKeepAlive.ID] = append(grants[o.req.LeaseKeepAlive.ID], grant{o, o.resp.LeaseKeepAlive.TTLSeconds})
		}
	}
	var vs []Violation
	for i := range h.LeaseExpiries {
		le := &h.LeaseExpiries[i]
		if regranted[le.LeaseID] {
			continue
		}
		for _, g := range grants[le.LeaseID] {
			earliest := g.o.callNs + g.ttlSec*1e9 - h.Header.ClockErrorNs
			switch {
			case g.o.callNs > le.TimeNs+h.Header.ClockErrorNs:
				vs = append(vs, Violation{Checker: CheckLease, Kind: "lease-alive-after-expiry", Lines: []int{g.o.line, le.Line}, TimeNs: g.o.callNs,
					Message: fmt.Sprintf("lease %d expired at %s, but %s (%s), called at %s, found it alive with ttl %ds",
						le.LeaseID, fmtNs(le.TimeNs), describeRequest(g.o.req), g.o.where(), fmtNs(g.o.callNs), g.ttlSec)})
			case le.TimeNs < earliest:
				vs = append(vs, Violation{Checker: CheckLease, Kind: "lease-early-expiry", Lines: []int{le.Line, g.o.line}, TimeNs: le.TimeNs,
					Message: fmt.Sprintf("lease %d expired early: at %s, but %s (%s), called at %s, granted a ttl of %ds, so it could not expire before %s (clock error %s)",
						le.LeaseID, fmtNs(le.TimeNs), describeRequest(g.o.req), g.o.where(), fmtNs(g.o.callNs), g.ttlSec, fmtNs(earliest), fmtNs(h.Header.ClockErrorNs))})
			}
		}
	}
	return vs
}

// fmtNs renders nanoseconds (from the run's start, or a span) readably: "3.25s", "6µs".
func fmtNs(ns int64) string { return time.Duration(ns).String() }

// forEachRangeKV calls fn for every key-value in the range results of a response, in txns too.
func forEachRangeKV(resp *history.Response, fn func(history.KeyValue)) {
	switch {
	case resp.Range != nil:
		for _, kv := range resp.Range.KVs {
			fn(kv)
		}
	case resp.Txn != nil:
		for i := range resp.Txn.Responses {
			forEachRangeKV(&resp.Txn.Responses[i], fn)
		}
	}
}
