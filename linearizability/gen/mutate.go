package gen

import (
	"bytes"
	"fmt"
	"math/rand"
	"sort"

	"github.com/ballastdb/ballast/linearizability/history"
)

// MutationKind names one way Mutate makes a history illegal (see the package doc for why
// each is illegal by construction).
type MutationKind string

const (
	MutValueNeverWritten      MutationKind = "value-never-written"
	MutModRevisionOffByOne    MutationKind = "mod-revision-off-by-one"
	MutHeaderRevisionOffByOne MutationKind = "header-revision-off-by-one"
	MutVersionOffByOne        MutationKind = "version-off-by-one"
	MutDroppedWatchEvent      MutationKind = "dropped-watch-event"
	MutDuplicatedWatchEvent   MutationKind = "duplicated-watch-event"
	MutFlippedTxnSucceeded    MutationKind = "flipped-txn-succeeded"
	MutLeaseExpiryEarlier     MutationKind = "lease-expiry-earlier"
	MutStaleRead              MutationKind = "stale-read"
	MutSplitWatchRevision     MutationKind = "split-watch-revision"
	MutProgressNotifyAhead    MutationKind = "progress-notify-ahead"
	MutWrongPrevKV            MutationKind = "wrong-prev-kv"
)

// MutationKinds lists every kind, in a fixed order.
var MutationKinds = []MutationKind{
	MutValueNeverWritten, MutModRevisionOffByOne, MutHeaderRevisionOffByOne, MutVersionOffByOne,
	MutDroppedWatchEvent, MutDuplicatedWatchEvent, MutFlippedTxnSucceeded, MutLeaseExpiryEarlier,
	MutStaleRead, MutSplitWatchRevision, MutProgressNotifyAhead, MutWrongPrevKV,
}

// Mutate returns a copy of h with one change of the given kind that no correct etcd could
// produce, and a sentence describing it. ok is false (and mutated nil) when h has nothing
// that this kind can change while staying illegal by construction. h itself is not changed.
// Choices among the candidates come from rng, so a seed reproduces a mutation.
func Mutate(h *history.History, kind MutationKind, rng *rand.Rand) (mutated *history.History, description string, ok bool) {
	c := clone(h)
	a := analyse(c)
	var candidates []func() string
	switch kind {
	case MutValueNeverWritten:
		candidates = valueNeverWritten(a, rng)
	case MutModRevisionOffByOne:
		candidates = modRevisionOffByOne(a, rng)
	case MutHeaderRevisionOffByOne:
		candidates = headerRevisionOffByOne(a, rng)
	case MutVersionOffByOne:
		candidates = versionOffByOne(a, rng)
	case MutDroppedWatchEvent:
		candidates = droppedWatchEvent(a)
	case MutDuplicatedWatchEvent:
		candidates = duplicatedWatchEvent(a)
	case MutFlippedTxnSucceeded:
		candidates = flippedTxnSucceeded(a)
	case MutLeaseExpiryEarlier:
		candidates = leaseExpiryEarlier(a, rng)
	case MutStaleRead:
		candidates = staleRead(a)
	case MutSplitWatchRevision:
		candidates = splitWatchRevision(a, rng)
	case MutProgressNotifyAhead:
		candidates = progressNotifyAhead(a)
	case MutWrongPrevKV:
		candidates = wrongPrevKV(a, rng)
	default:
		panic(fmt.Sprintf("gen.Mutate: unknown mutation kind %q", kind))
	}
	if len(candidates) == 0 {
		return nil, "", false
	}
	description = candidates[rng.Intn(len(candidates))]()
	if err := c.Validate(); err != nil {
		panic(fmt.Sprintf("gen.Mutate(%s) broke the format: %v (%s)", kind, err, description))
	}
	return c, description, true
}

// clone deep-copies a history through its file form.
func clone(h *history.History) *history.History {
	var buf bytes.Buffer
	if _, err := h.WriteTo(&buf); err != nil {
		panic(fmt.Sprintf("gen: writing a history to memory: %v", err))
	}
	c, err := history.Read(&buf)
	if err != nil {
		panic(fmt.Sprintf("gen.Mutate: the history to mutate is invalid: %v", err))
	}
	return c
}

func describeOp(op *history.Operation) string {
	ret := "no return"
	if op.ReturnNs != nil {
		ret = fmt.Sprintf("returned at %d ns", *op.ReturnNs)
	}
	return fmt.Sprintf("%s of client %s (line %d, called at %d ns, %s)", op.Request.Kind(), op.Client, op.Line, op.CallNs, ret)
}

// readKVs calls fn on every key-value of every successful top-level range response.
func readKVs(a *analysis, fn func(op *history.Operation, kv *history.KeyValue)) {
	for i := range a.h.Operations {
		op := &a.h.Operations[i]
		if op.Outcome() != history.OutcomeOK || op.Request.Range == nil {
			continue
		}
		for j := range op.Response.Range.KVs {
			fn(op, &op.Response.Range.KVs[j])
		}
	}
}

func offByOne(rng *rand.Rand, v int64) int64 {
	if v <= 1 || rng.Intn(2) == 0 {
		return v + 1
	}
	return v - 1
}

func valueNeverWritten(a *analysis, rng *rand.Rand) []func() string {
	var out []func() string
	readKVs(a, func(op *history.Operation, kv *history.KeyValue) {
		if op.Request.Range.KeysOnly {
			return
		}
		out = append(out, func() string {
			old := kv.Value
			kv.Value = a.neverWritten(rng.Intn(1000))
			return fmt.Sprintf("%s returns %s = %q, a value no request wrote (it was %q)", describeOp(op), kv.Key, kv.Value, old)
		})
	})
	return out
}

func modRevisionOffByOne(a *analysis, rng *rand.Rand) []func() string {
	var out []func() string
	readKVs(a, func(op *history.Operation, kv *history.KeyValue) {
		rev, acked := a.ackRev[string(kv.Value)]
		if op.Request.Range.KeysOnly || !a.uniqueValue(kv.Value) || !acked || rev != kv.ModRevision {
			return
		}
		out = append(out, func() string {
			kv.ModRevision = offByOne(rng, kv.ModRevision)
			return fmt.Sprintf("%s returns %s = %q with mod_revision %d, but the acknowledged write of that value created revision %d",
				describeOp(op), kv.Key, kv.Value, kv.ModRevision, rev)
		})
	})
	return out
}

func headerRevisionOffByOne(a *analysis, rng *rand.Rand) []func() string {
	var out []func() string
	// (a) an acknowledged put whose value was observed at its revision.
	observed := map[string]int64{}
	readKVs(a, func(_ *history.Operation, kv *history.KeyValue) { observed[string(kv.Value)] = kv.ModRevision })
	for _, w := range a.h.Watches {
		for _, s := range w.Streams {
			for _, resp := range s.Responses {
				for _, ev := range resp.Events {
					if ev.Type == history.EventPut {
						observed[string(ev.KV.Value)] = ev.KV.ModRevision
					}
				}
			}
		}
	}
	ops := a.h.Operations
	putByRev := map[int64]*history.Operation{} // acknowledged top-level puts by the revision they created
	for i := range ops {
		if op := &ops[i]; op.Outcome() == history.OutcomeOK && op.Request.Put != nil {
			putByRev[op.Response.Header.Revision] = op
		}
	}
	for i := range ops {
		op := &ops[i]
		if op.Outcome() != history.OutcomeOK || op.Request.Put == nil || !a.uniqueValue(op.Request.Put.Value) {
			continue
		}
		rev, seen := observed[string(op.Request.Put.Value)]
		if !seen || rev != op.Response.Header.Revision {
			continue
		}
		out = append(out, func() string {
			op.Response.Header.Revision = offByOne(rng, rev)
			return fmt.Sprintf("%s answers header revision %d, but its value %q was seen at mod_revision %d",
				describeOp(op), op.Response.Header.Revision, op.Request.Put.Value, rev)
		})
	}
	for i := range ops {
		read := &ops[i]
		if !isLinearizableRead(read) {
			continue
		}
		r := read.Response.Header.Revision
		// (b) a read that saw a change made at its own header revision claims the one before.
		for _, kv := range read.Response.Range.KVs {
			if kv.ModRevision == r && r > 1 {
				out = append(out, func() string {
					read.Response.Header.Revision = r - 1
					return fmt.Sprintf("%s answers header revision %d but returns %s modified at revision %d", describeOp(read), r-1, kv.Key, r)
				})
				break
			}
		}
		// (c) a read claims revision r+1, created by a put called after the read returned.
		if put := putByRev[r+1]; put != nil && put.CallNs > *read.ReturnNs {
			out = append(out, func() string {
				read.Response.Header.Revision = r + 1
				return fmt.Sprintf("%s answers header revision %d, a revision created by %s, called after the read returned",
					describeOp(read), r+1, describeOp(put))
			})
		}
	}
	return out
}

func versionOffByOne(a *analysis, rng *rand.Rand) []func() string {
	var out []func() string
	readKVs(a, func(op *history.Operation, kv *history.KeyValue) {
		if !a.keySure(kv.Key) {
			return
		}
		out = append(out, func() string {
			old := kv.Version
			kv.Version = offByOne(rng, kv.Version)
			return fmt.Sprintf("%s returns %s with version %d; every write to the key is known and gives version %d",
				describeOp(op), kv.Key, kv.Version, old)
		})
	})
	return out
}

// streamProgressAfter reports whether the stream, after event e (response ri, event ei),
// shows progress to revision >= rev: a later event of a higher revision, or a progress
// notification at rev or later.
func streamProgressAfter(s *history.WatchStream, ri, ei int, rev int64) bool {
	for j := ri; j < len(s.Responses); j++ {
		resp := &s.Responses[j]
		if j > ri && resp.ProgressNotify && resp.Revision >= rev {
			return true
		}
		for k, ev := range resp.Events {
			if (j > ri || k > ei) && ev.KV.ModRevision > rev {
				return true
			}
		}
	}
	return false
}

func droppedWatchEvent(a *analysis) []func() string {
	var out []func() string
	for wi := range a.h.Watches {
		w := &a.h.Watches[wi]
		everything := watchesEverything(&w.Request)
		for si := range w.Streams {
			s := &w.Streams[si]
			for ri := range s.Responses {
				evs := s.Responses[ri].Events
				for ei, ev := range evs {
					rev := ev.KV.ModRevision
					// A watch of every key must deliver every revision: drop the whole revision
					// (all its events). Otherwise drop one PUT whose revision and key are pinned by
					// the acknowledged request that wrote its unique value.
					wholeRevision := everything && (ei == 0 || evs[ei-1].KV.ModRevision != rev)
					pinned := false
					if ev.Type == history.EventPut && a.uniqueValue(ev.KV.Value) {
						ackRev, acked := a.ackRev[string(ev.KV.Value)]
						pinned = acked && ackRev == rev
					}
					if !wholeRevision && !pinned {
						continue
					}
					last := ei
					if wholeRevision {
						for last+1 < len(evs) && evs[last+1].KV.ModRevision == rev {
							last++
						}
					}
					if !streamProgressAfter(s, ri, last, rev) {
						continue
					}
					ri, ei, last, ev := ri, ei, last, ev
					out = append(out, func() string {
						resp := &s.Responses[ri]
						resp.Events = append(resp.Events[:ei:ei], resp.Events[last+1:]...)
						if len(resp.Events) == 0 {
							resp.Events = nil
							s.Responses = append(s.Responses[:ri:ri], s.Responses[ri+1:]...)
						}
						what := fmt.Sprintf("the %s of %s", ev.Type, ev.KV.Key)
						if last > ei || (wholeRevision && !pinned) {
							what = fmt.Sprintf("the %d event(s) of revision %d", last-ei+1, rev)
						}
						return fmt.Sprintf("watch %s (stream %d) never delivers %s at revision %d, though it later shows progress past it",
							w.ID, si, what, rev)
					})
				}
			}
		}
	}
	return out
}

func duplicatedWatchEvent(a *analysis) []func() string {
	var out []func() string
	for wi := range a.h.Watches {
		w := &a.h.Watches[wi]
		for si := range w.Streams {
			s := &w.Streams[si]
			for ri := range s.Responses {
				if len(s.Responses[ri].Events) == 0 {
					continue
				}
				ri := ri
				out = append(out, func() string {
					dup := s.Responses[ri]
					dup.Events = append([]history.Event(nil), dup.Events...)
					s.Responses = append(s.Responses[:ri+1:ri+1], append([]history.WatchResponse{dup}, s.Responses[ri+1:]...)...)
					return fmt.Sprintf("watch %s (stream %d) delivers the response at %d ns (revision %d) twice",
						w.ID, si, dup.TimeNs, dup.Events[0].KV.ModRevision)
				})
			}
		}
	}
	return out
}

// statelessResponses answers a branch without knowing the state: only puts without
// prev_kv can be answered so.
func statelessResponses(ops []history.Request) ([]history.Response, bool) {
	var out []history.Response
	for _, op := range ops {
		if op.Put == nil || op.Put.PrevKV {
			return nil, false
		}
		out = append(out, history.Response{Put: &history.PutResponse{}})
	}
	return out, true
}

func flippedTxnSucceeded(a *analysis) []func() string {
	var out []func() string
	for i := range a.h.Operations {
		op := &a.h.Operations[i]
		if op.Outcome() != history.OutcomeOK || op.Request.Txn == nil {
			continue
		}
		txn := op.Request.Txn
		sure := true
		for _, c := range txn.Compare {
			if len(c.RangeEnd) > 0 || !a.keySure(c.Key) {
				sure = false
			}
		}
		other := txn.Success
		if op.Response.Txn.Succeeded {
			other = txn.Failure
		}
		responses, stateless := statelessResponses(other)
		if !sure || !stateless {
			continue
		}
		out = append(out, func() string {
			tr := op.Response.Txn
			tr.Succeeded = !tr.Succeeded
			tr.Responses = responses
			return fmt.Sprintf("%s answers succeeded=%v, but its compares, on keys whose every write is known, held %v at its revision %d",
				describeOp(op), tr.Succeeded, !tr.Succeeded, op.Response.Header.Revision)
		})
	}
	return out
}

func leaseExpiryEarlier(a *analysis, rng *rand.Rand) []func() string {
	var out []func() string
	for i := range a.h.LeaseExpiries {
		le := &a.h.LeaseExpiries[i]
		// the acknowledged renewal (grant or keep-alive with TTL > 0) called last
		var last *history.Operation
		var ttlSeconds int64
		for j := range a.h.Operations {
			op := &a.h.Operations[j]
			if op.Outcome() != history.OutcomeOK {
				continue
			}
			var id, ttl int64
			switch {
			case op.Response.LeaseGrant != nil:
				id, ttl = op.Response.LeaseGrant.ID, op.Response.LeaseGrant.TTLSeconds
			case op.Response.LeaseKeepAlive != nil:
				id, ttl = op.Response.LeaseKeepAlive.ID, op.Response.LeaseKeepAlive.TTLSeconds
			}
			if id == le.LeaseID && ttl > 0 && (last == nil || op.CallNs > last.CallNs) {
				last, ttlSeconds = op, ttl
			}
		}
		if last == nil {
			continue
		}
		boundNs := last.CallNs + ttlSeconds*1_000_000_000 - a.h.Header.ClockErrorNs
		if boundNs <= 1 {
			continue
		}
		out = append(out, func() string {
			old := le.TimeNs
			le.TimeNs = boundNs - 1 - rng.Int63n(min(boundNs-1, ttlSeconds*500_000_000))
			return fmt.Sprintf("lease %d expires at %d ns (was %d), before %s + its TTL of %d s = %d ns",
				le.LeaseID, le.TimeNs, old, describeOp(last), ttlSeconds, last.CallNs+ttlSeconds*1_000_000_000)
		})
	}
	return out
}

func staleRead(a *analysis) []func() string {
	var out []func() string
	ops := a.h.Operations
	// acknowledged puts by return time, with the highest revision created so far
	var puts []*history.Operation
	for i := range ops {
		if p := &ops[i]; p.Outcome() == history.OutcomeOK && p.Request.Put != nil {
			puts = append(puts, p)
		}
	}
	sort.Slice(puts, func(i, j int) bool { return *puts[i].ReturnNs < *puts[j].ReturnNs })
	highest := make([]*history.Operation, len(puts))
	for i, p := range puts {
		highest[i] = p
		if i > 0 && highest[i-1].Response.Header.Revision > p.Response.Header.Revision {
			highest[i] = highest[i-1]
		}
	}
	// successful reads by request shape
	type shape struct {
		key, end            string
		limit, rev          int64
		countOnly, keysOnly bool
	}
	shapeOf := func(r *history.RangeRequest) shape {
		return shape{string(r.Key), string(r.RangeEnd), r.Limit, r.Revision, r.CountOnly, r.KeysOnly}
	}
	reads := map[shape][]*history.Operation{}
	for i := range ops {
		if op := &ops[i]; op.Outcome() == history.OutcomeOK && op.Request.Range != nil {
			reads[shapeOf(op.Request.Range)] = append(reads[shapeOf(op.Request.Range)], op)
		}
	}
	for i := range ops {
		read := &ops[i]
		if !isLinearizableRead(read) {
			continue
		}
		// the latest revision an acknowledged put that returned before the read was called created
		n := sort.Search(len(puts), func(i int) bool { return *puts[i].ReturnNs >= read.CallNs })
		if n == 0 {
			continue
		}
		put := highest[n-1]
		floor := put.Response.Header.Revision
		// an earlier answer to the same read, from before that revision
		var best *history.Operation
		for _, old := range reads[shapeOf(read.Request.Range)] {
			if old.Response.Header.Revision >= floor {
				continue
			}
			if best == nil || (!sameKVs(old, read) && sameKVs(best, read)) {
				best = old
			}
		}
		if best == nil {
			continue
		}
		out = append(out, func() string {
			stale := *best.Response.Range
			stale.KVs = append([]history.KeyValue(nil), stale.KVs...)
			read.Response.Range = &stale
			read.Response.Header.Revision = best.Response.Header.Revision
			return fmt.Sprintf("%s returns the state at revision %d, but %s created revision %d and returned before the read was called",
				describeOp(read), best.Response.Header.Revision, describeOp(put), floor)
		})
	}
	return out
}

func sameKVs(x, y *history.Operation) bool {
	a, b := x.Response.Range.KVs, y.Response.Range.KVs
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) || a[i].ModRevision != b[i].ModRevision {
			return false
		}
	}
	return true
}

func splitWatchRevision(a *analysis, rng *rand.Rand) []func() string {
	var out []func() string
	for wi := range a.h.Watches {
		w := &a.h.Watches[wi]
		for si := range w.Streams {
			s := &w.Streams[si]
			for ri := range s.Responses {
				evs := s.Responses[ri].Events
				var cuts []int // cut before event k when it shares its revision with event k-1
				for k := 1; k < len(evs); k++ {
					if evs[k].KV.ModRevision == evs[k-1].KV.ModRevision {
						cuts = append(cuts, k)
					}
				}
				if len(cuts) == 0 {
					continue
				}
				ri := ri
				out = append(out, func() string {
					resp := s.Responses[ri]
					k := cuts[rng.Intn(len(cuts))]
					first, second := resp, resp
					first.Events = append([]history.Event(nil), resp.Events[:k]...)
					second.Events = append([]history.Event(nil), resp.Events[k:]...)
					rest := append([]history.WatchResponse{first, second}, s.Responses[ri+1:]...)
					s.Responses = append(s.Responses[:ri:ri], rest...)
					return fmt.Sprintf("watch %s (stream %d) splits the events of revision %d across two responses",
						w.ID, si, resp.Events[k].KV.ModRevision)
				})
			}
		}
	}
	return out
}

func progressNotifyAhead(a *analysis) []func() string {
	var out []func() string
	for wi := range a.h.Watches {
		w := &a.h.Watches[wi]
		for si := range w.Streams {
			s := &w.Streams[si]
			for ri := range s.Responses {
				if !s.Responses[ri].ProgressNotify {
					continue
				}
				var next int64
				for j := ri + 1; j < len(s.Responses) && next == 0; j++ {
					if len(s.Responses[j].Events) > 0 {
						next = s.Responses[j].Events[0].KV.ModRevision
					}
				}
				if next == 0 {
					continue
				}
				pn := &s.Responses[ri]
				out = append(out, func() string {
					old := pn.Revision
					pn.Revision = next
					return fmt.Sprintf("watch %s (stream %d) gets a progress notification at %d ns claiming revision %d (was %d) before the event of revision %d arrives",
						w.ID, si, pn.TimeNs, next, old, next)
				})
			}
		}
	}
	return out
}

func wrongPrevKV(a *analysis, rng *rand.Rand) []func() string {
	var out []func() string
	for wi := range a.h.Watches {
		w := &a.h.Watches[wi]
		for si := range w.Streams {
			for ri := range w.Streams[si].Responses {
				evs := w.Streams[si].Responses[ri].Events
				for ei := range evs {
					ev := &evs[ei]
					if ev.PrevKV == nil {
						continue
					}
					out = append(out, func() string {
						old := ev.PrevKV.Value
						ev.PrevKV.Value = a.neverWritten(rng.Intn(1000))
						return fmt.Sprintf("watch %s delivers the %s of %s at revision %d with prev_kv value %q, never written (it was %q)",
							w.ID, ev.Type, ev.KV.Key, ev.KV.ModRevision, ev.PrevKV.Value, old)
					})
				}
			}
		}
	}
	return out
}
