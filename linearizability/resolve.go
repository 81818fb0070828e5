package linearizability

import (
	"github.com/ballastdb/ballast/linearizability/history"
)

// Resolving unknown outcomes from the record. Workloads write values unique per write, so a
// value that a read or a watcher saw, with its mod revision, names the one write that made it
// and the revision it applied at. A write whose outcome is unknown and whose value was seen
// took effect at that revision; one never seen is settled by revision accounting in the
// replay (revcheck.go): when every revision up to the last one observed has a writer, an
// unseen write never took effect (or took effect without changing anything, like a delete of
// an absent key). etcd's robustness tests patch histories the same way from watch events.
// Where a value is written twice, it identifies no one: the checker does not resolve by it
// and says so.

// resolution is what the record proves about an operation with an unknown outcome.
type resolution int

const (
	// notUnknown: the outcome was known (ok or a definite failure) from the start.
	notUnknown resolution = iota
	unresolved
	resolvedApplied
	resolvedNever
)

// kvObservation is a key-value somebody saw, with the revision it was written at.
type kvObservation struct {
	key, value string
}

// resolver collects the observed key-values and the writers of each value.
type resolver struct {
	observedAt map[kvObservation]int64 // key-value -> mod revision it was seen with
	writers    map[kvObservation]int   // key-value -> number of puts (any outcome) writing it
	duplicates int                     // values written more than once
	// watched are the events watchers saw, per revision, with the earliest arrival time.
	watched map[int64]*watchedRevision
}

// watchedRevision is what watchers saw of one revision.
type watchedRevision struct {
	events    map[string]history.Event // by key
	firstSeen int64
}

func newResolver(ops []*op, watches []history.Watch, ignore func(*op) bool) *resolver {
	r := &resolver{observedAt: map[kvObservation]int64{}, writers: map[kvObservation]int{}, watched: map[int64]*watchedRevision{}}
	// Only values written by operations of unknown outcome need resolving, and only
	// revisions no known write claims need the watchers' view: keeping just those keeps the
	// maps small on histories of millions of operations.
	claimed := map[int64]bool{}
	for _, o := range ops {
		switch {
		case o.outcome == history.OutcomeUnknown:
			forEachPut(o.req, func(p *history.PutRequest) { r.writers[kvObservation{string(p.Key), string(p.Value)}] = 0 })
		case o.known() && o.expiry == nil:
			if creates, ok := definitelyCreates(o.req, o.resp); ok && creates {
				claimed[o.resp.Header.Revision] = true
			}
		}
	}
	for _, o := range ops {
		forEachPut(o.req, func(p *history.PutRequest) {
			k := kvObservation{string(p.Key), string(p.Value)}
			if n, relevant := r.writers[k]; relevant {
				r.writers[k] = n + 1
				if n+1 == 2 {
					r.duplicates++
				}
			}
		})
		if o.known() && !ignore(o) {
			forEachKV(o.resp, r.observe)
		}
	}
	for wi := range watches {
		for si := range watches[wi].Streams {
			for ri := range watches[wi].Streams[si].Responses {
				resp := &watches[wi].Streams[si].Responses[ri]
				for _, ev := range resp.Events {
					if ev.Type == history.EventPut {
						r.observe(ev.KV)
					}
					if ev.PrevKV != nil {
						r.observe(*ev.PrevKV)
					}
					if claimed[ev.KV.ModRevision] {
						continue
					}
					wr := r.watched[ev.KV.ModRevision]
					if wr == nil {
						wr = &watchedRevision{events: map[string]history.Event{}, firstSeen: resp.TimeNs}
						r.watched[ev.KV.ModRevision] = wr
					}
					wr.events[string(ev.KV.Key)] = ev
					if resp.TimeNs < wr.firstSeen {
						wr.firstSeen = resp.TimeNs
					}
				}
			}
		}
	}
	return r
}

func (r *resolver) observe(kv history.KeyValue) {
	if kv.ModRevision <= 0 {
		return
	}
	k := kvObservation{string(kv.Key), string(kv.Value)}
	if _, relevant := r.writers[k]; relevant {
		r.observedAt[k] = kv.ModRevision
	}
}

// resolve returns the revision an unknown write applied at, when a unique value of it was
// seen; else 0.
func (r *resolver) resolve(o *op) int64 {
	var rev int64
	forEachPut(o.req, func(p *history.PutRequest) {
		k := kvObservation{string(p.Key), string(p.Value)}
		if r.writers[k] != 1 {
			return
		}
		if at, ok := r.observedAt[k]; ok && rev == 0 {
			rev = at
		}
	})
	return rev
}

// forEachPut calls fn for every put in the request, in both branches of txns.
func forEachPut(req *history.Request, fn func(*history.PutRequest)) {
	switch {
	case req.Put != nil:
		fn(req.Put)
	case req.Txn != nil:
		for i := range req.Txn.Success {
			forEachPut(&req.Txn.Success[i], fn)
		}
		for i := range req.Txn.Failure {
			forEachPut(&req.Txn.Failure[i], fn)
		}
	}
}

// forEachKV calls fn for every key-value a response shows (range results, prev_kvs), in txns
// too.
func forEachKV(resp *history.Response, fn func(history.KeyValue)) {
	switch {
	case resp.Range != nil:
		for _, kv := range resp.Range.KVs {
			if len(kv.Value) > 0 || kv.Version > 0 {
				fn(kv)
			}
		}
	case resp.Put != nil && resp.Put.PrevKV != nil:
		fn(*resp.Put.PrevKV)
	case resp.DeleteRange != nil:
		for _, kv := range resp.DeleteRange.PrevKVs {
			fn(kv)
		}
	case resp.Txn != nil:
		for i := range resp.Txn.Responses {
			forEachKV(&resp.Txn.Responses[i], fn)
		}
	}
}

// mayWrite reports whether a request can change the store: anything but a read, a
// keep-alive and a txn of reads.
func mayWrite(req *history.Request) bool {
	return !req.IsReadOnly() && req.LeaseKeepAlive == nil
}

// definitelyCreates reports, from a successful response alone, whether the request created a
// revision: yes for a put, for a delete that deleted something and for a txn whose branch did
// either; unknown (ok=false) for a lease revoke, which creates one only when keys were
// attached to the lease.
func definitelyCreates(req *history.Request, resp *history.Response) (creates, ok bool) {
	switch {
	case req.Put != nil:
		return true, true
	case req.DeleteRange != nil:
		return resp.DeleteRange != nil && resp.DeleteRange.Deleted > 0, true
	case req.Txn != nil:
		if resp.Txn == nil {
			return false, true
		}
		branch := req.Txn.Failure
		if resp.Txn.Succeeded {
			branch = req.Txn.Success
		}
		for i := range branch {
			if i >= len(resp.Txn.Responses) {
				break
			}
			if c, _ := definitelyCreates(&branch[i], &resp.Txn.Responses[i]); c {
				return true, true
			}
		}
		return false, true
	case req.LeaseRevoke != nil:
		return false, false
	}
	return false, true
}

// explains reports whether changes muts could be the revision a watcher saw as wr: every
// event seen is one of the changes, with the same type (and value, for a put).
func (wr *watchedRevision) explains(muts []mutation) bool {
	if len(muts) == 0 || len(wr.events) == 0 {
		return false
	}
	byKey := make(map[string]mutation, len(muts))
	for _, m := range muts {
		byKey[string(m.kv.Key)] = m
	}
	for k, ev := range wr.events {
		m, ok := byKey[k]
		if !ok || (ev.Type == history.EventDelete) != m.delete {
			return false
		}
		if !m.delete && string(m.kv.Value) != string(ev.KV.Value) {
			return false
		}
	}
	return true
}
