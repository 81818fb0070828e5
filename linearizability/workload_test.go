package linearizability

import (
	"fmt"
	"math/rand"

	"github.com/ballastdb/ballast/linearizability/history"
)

// workload generates concurrent histories from a correct sequential execution, for this
// package's own randomized tests and benchmarks (package gen is the independent generator;
// this one exists so benchmarks can make histories of a million operations cheaply). Each
// operation takes effect atomically at its linearization point; its call is some time before
// and its return some time after, so clients overlap at random. Unknown outcomes apply or not
// at random. One watcher sees every change, resuming now and then.
type workload struct {
	rng        *rand.Rand
	clients    int
	keys       int
	unknownPct int
	store      *mvccStore
	h          *history.History
	busyUntil  []int64
	nowNs      int64
	seq        int
	leases     []int64
	nextLease  int64
	watch      *history.Watch
	watchLast  int64
}

func newWorkload(seed int64, clients, keys int) *workload {
	w := &workload{rng: rand.New(rand.NewSource(seed)), clients: clients, keys: keys, unknownPct: 3,
		store: newMVCCStore(), busyUntil: make([]int64, clients), nextLease: 100,
		h: &history.History{Header: history.Header{Version: history.FormatVersion, ClusterSize: 3, Seed: seed, Clock: history.ClockVirtual, Scenario: "workload_test"}}}
	w.h.Watches = []history.Watch{{ID: "w1", Client: "watcher", Request: history.WatchRequest{Key: history.Bytes("k"), RangeEnd: history.Bytes("l"), StartRevision: 2, PrevKV: true},
		Streams: []history.WatchStream{{TimeNs: 0, StartRevision: 2}}}}
	w.watch = &w.h.Watches[0]
	w.watchLast = 1
	return w
}

func (w *workload) key() history.Bytes { return history.Bytes(fmt.Sprintf("k%d", w.rng.Intn(w.keys))) }

func (w *workload) value() history.Bytes {
	w.seq++
	return history.Bytes(fmt.Sprintf("v%d", w.seq))
}

func (w *workload) request() history.Request {
	switch p := w.rng.Intn(100); {
	case p < 35:
		put := &history.PutRequest{Key: w.key(), Value: w.value(), PrevKV: w.rng.Intn(4) == 0}
		if len(w.leases) > 0 && w.rng.Intn(8) == 0 {
			put.Lease = w.leases[w.rng.Intn(len(w.leases))]
		}
		return history.Request{Put: put}
	case p < 60:
		return history.Request{Range: &history.RangeRequest{Key: w.key(), Serializable: w.rng.Intn(10) == 0}}
	case p < 66:
		return history.Request{Range: &history.RangeRequest{Key: history.Bytes("k"), RangeEnd: history.Bytes("l"), Limit: int64(w.rng.Intn(3)), CountOnly: w.rng.Intn(5) == 0}}
	case p < 70:
		return history.Request{Range: &history.RangeRequest{Key: w.key(), Revision: w.store.rev - int64(w.rng.Intn(int(w.store.rev)))}}
	case p < 76:
		return history.Request{DeleteRange: &history.DeleteRangeRequest{Key: w.key(), PrevKV: w.rng.Intn(2) == 0}}
	case p < 92:
		k := w.key()
		kv, _ := w.store.at(w.store.rev).get(k)
		mod := kv.ModRevision
		if w.rng.Intn(3) == 0 {
			mod++
		}
		return history.Request{Txn: &history.TxnRequest{
			Compare: []history.Compare{{Key: k, Target: history.TargetMod, Result: history.ResultEqual, ModRevision: mod}},
			Success: []history.Request{{Put: &history.PutRequest{Key: k, Value: w.value()}}, {Range: &history.RangeRequest{Key: w.key()}}},
			Failure: []history.Request{{Range: &history.RangeRequest{Key: k}}},
		}}
	case p < 95:
		return history.Request{LeaseGrant: &history.LeaseGrantRequest{TTLSeconds: 10}}
	case p < 97 && len(w.leases) > 0:
		return history.Request{LeaseRevoke: &history.LeaseRevokeRequest{ID: w.leases[w.rng.Intn(len(w.leases))]}}
	case len(w.leases) > 0:
		return history.Request{LeaseKeepAlive: &history.LeaseKeepAliveRequest{ID: w.leases[w.rng.Intn(len(w.leases))]}}
	}
	return history.Request{Range: &history.RangeRequest{Key: w.key()}}
}

// step runs one operation at the next linearization point.
func (w *workload) step() {
	w.nowNs += int64(1 + w.rng.Intn(100))
	c := w.rng.Intn(w.clients)
	for w.busyUntil[c] >= w.nowNs {
		w.nowNs = w.busyUntil[c] + 1
	}
	callNs := w.busyUntil[c] + 1 + w.rng.Int63n(w.nowNs-w.busyUntil[c])
	req := w.request()
	var observed *history.Response
	if req.LeaseGrant != nil {
		w.nextLease++
		observed = &history.Response{LeaseGrant: &history.LeaseGrantResponse{ID: w.nextLease, TTLSeconds: 10}}
	}
	unknown := w.rng.Intn(100) < w.unknownPct
	view := w.store.at(w.store.rev)
	if req.Range != nil && req.Range.Revision != 0 {
		view = w.store.at(req.Range.Revision)
	}
	resp, eff, err := eval(view, w.store.rev, &req, observed)
	o := history.Operation{Client: fmt.Sprintf("c%d", c), CallNs: callNs, Request: req}
	if err != nil {
		ret := w.nowNs + int64(w.rng.Intn(200))
		o.ReturnNs, o.Error = &ret, &history.Error{Message: err.Error(), Class: history.Classify(err.Error())}
		w.busyUntil[c] = ret
		w.h.Operations = append(w.h.Operations, o)
		return
	}
	// A grant whose answer was lost leaves its server-chosen id unknown to every client: the
	// generator lets it not apply, since nothing could use or observe it.
	apply := !unknown || (w.rng.Intn(2) == 0 && req.LeaseGrant == nil)
	if apply {
		before := w.store.rev
		w.store.apply(&eff)
		if eff.grantLease != 0 {
			w.leases = append(w.leases, eff.grantLease)
		}
		if eff.revokedLease != 0 {
			for i, id := range w.leases {
				if id == eff.revokedLease {
					w.leases = append(w.leases[:i], w.leases[i+1:]...)
					break
				}
			}
		}
		if w.store.rev != before {
			w.deliver(w.store.rev, eff.muts)
		}
	}
	switch {
	case unknown:
		if w.rng.Intn(2) == 0 {
			ret := w.nowNs + int64(w.rng.Intn(500))
			o.ReturnNs, o.Error = &ret, &history.Error{Message: "etcdserver: request timed out", Class: history.ErrorIndeterminate}
		}
		w.busyUntil[c] = w.nowNs
	default:
		ret := w.nowNs + int64(w.rng.Intn(300))
		o.ReturnNs, o.Response = &ret, &resp
		w.busyUntil[c] = ret
	}
	w.h.Operations = append(w.h.Operations, o)
}

// deliver sends the watcher the changes of one revision, and sometimes resumes its stream.
func (w *workload) deliver(rev int64, muts []mutation) {
	var evs []history.Event
	for _, m := range muts {
		if !inRange(m.kv.Key, w.watch.Request.Key, w.watch.Request.RangeEnd) {
			continue
		}
		ev := history.Event{Type: history.EventPut, KV: m.kv, PrevKV: m.prev}
		if m.delete {
			ev = history.Event{Type: history.EventDelete, KV: history.KeyValue{Key: m.kv.Key, ModRevision: rev}, PrevKV: m.prev}
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		return
	}
	s := &w.watch.Streams[len(w.watch.Streams)-1]
	s.Responses = append(s.Responses, history.WatchResponse{TimeNs: w.nowNs + 1, Revision: rev, Events: evs})
	w.watchLast = rev
	if w.rng.Intn(50) == 0 {
		w.watch.Streams = append(w.watch.Streams, history.WatchStream{TimeNs: w.nowNs + 2, StartRevision: rev + 1})
	}
}

// generate returns a history of n operations.
func generate(seed int64, clients, keys, n int) *history.History {
	return generateWith(seed, clients, keys, n, 3)
}

// generateWith is generate with a chosen share (percent) of unknown outcomes.
func generateWith(seed int64, clients, keys, n, unknownPct int) *history.History {
	w := newWorkload(seed, clients, keys)
	w.unknownPct = unknownPct
	for i := 0; i < n; i++ {
		w.step()
	}
	return w.h
}
