package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/linearizability/history"
)

// The traffic: Clients goroutines, each one client of its own on every endpoint issuing one
// request at a time until the run's duration or its operation bound is reached. Keys live in
// 8 buckets under the run's prefix; a read reads a whole bucket. Puts write a key of their
// own (unique value), deletes delete one of the client's acknowledged keys (with a marker
// put in the same txn: see deleteOwn), at most maxOwnKeys live keys per client, and CAS txns
// update a bucket's counter key if its mod revision is still the one the client last read.
// So the final read of the whole prefix sees every write that was applied, each with its
// revision, and settles every unknown outcome: with puts overwriting a few shared keys, a
// kill's unknown write overwritten before anyone read it left a revision with no known
// writer, and the checker's search (cmd/ballast/process_test.go found) ran out of time.
const (
	trafficBuckets = 8
	maxOwnKeys     = 16
	requestTimeout = 2 * time.Second
)

// ackedWrite is one acknowledged write: after it, the store at Revision has Key = Value (or
// no Key, for a delete).
type ackedWrite struct {
	Key, Value string
	Revision   int64
	Delete     bool
	// Marker: the marker put of a delete's txn (not counted as a write of its own).
	Marker   bool
	CallNs   int64
	ReturnNs int64
}

type traffic struct {
	rec    *history.Recorder
	start  time.Time
	prefix string
	maxOps int64
	// base is subtracted from every revision the history records (see header).
	base int64
	// interval paces the clients: operation n starts no earlier than start + n*interval, so
	// MaxOps operations spread over the whole duration and the schedule's last faults still
	// meet traffic (unpaced, 8 clients reached 20,000 operations in 25 s of a 30 s run).
	interval time.Duration

	ops     atomic.Int64
	nextVal atomic.Int64
	mu      sync.Mutex
	acked   []ackedWrite
}

// rebase is a revision as the history records it (0, "absent", stays 0).
func (w *traffic) rebase(rev int64) int64 {
	if rev == 0 {
		return 0
	}
	return rev - w.base
}

func (w *traffic) now() int64 { return int64(time.Since(w.start)) }

func (w *traffic) ack(a ackedWrite) {
	w.mu.Lock()
	w.acked = append(w.acked, a)
	w.mu.Unlock()
}

// clientState is one traffic client: its keys that exist (acknowledged puts not deleted) and
// the counters' mod revisions it last read, per bucket.
type clientState struct {
	name    string
	c       *clientv3.Client
	rng     *rand.Rand
	own     []string
	counter [trafficBuckets]int64
}

func (w *traffic) bucket(b int) string { return fmt.Sprintf("%sb%d/", w.prefix, b) }

// The history records revisions less w.base: a Docker run's cluster is fresh (base 0); an
// -endpoints run's cluster had revision base+1 when the run began, and none of the run's keys
// existed, so with no other writer the rebased history is one of a fresh store, which the
// revision-guided checker takes as it is. Another writer's revisions show as revisions no
// recorded request wrote, and the verdict is unknown (EndpointsConfig says so).
func (w *traffic) header(h interface {
	GetRevision() int64
	GetMemberId() uint64
}) history.ResponseHeader {
	return history.ResponseHeader{Revision: h.GetRevision() - w.base, MemberID: h.GetMemberId()}
}

func (w *traffic) kvs(in []*mvccpb.KeyValue) []history.KeyValue {
	var out []history.KeyValue
	for _, kv := range in {
		out = append(out, history.KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision - w.base,
			ModRevision: kv.ModRevision - w.base, Version: kv.Version, Lease: kv.Lease})
	}
	return out
}

func (w *traffic) put(cs *clientState, key string) {
	val := fmt.Sprintf("v%d", w.nextVal.Add(1))
	op := w.rec.Call(cs.name, history.Request{Put: &history.PutRequest{Key: history.Bytes(key), Value: history.Bytes(val)}}, w.now())
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	callNs := w.now()
	resp, err := cs.c.Put(ctx, key, val)
	cancel()
	if err != nil {
		op.Fail(err, w.now())
		return
	}
	ret := w.now()
	op.Return(history.Response{Header: w.header(resp.Header), Put: &history.PutResponse{}}, ret)
	w.ack(ackedWrite{Key: key, Value: val, Revision: resp.Header.Revision, CallNs: callNs, ReturnNs: ret})
	cs.own = append(cs.own, key)
}

// get reads a whole prefix (linearizable) and returns the response, nil on error.
func (w *traffic) get(cs *clientState, prefix string) *clientv3.GetResponse {
	end := clientv3.GetPrefixRangeEnd(prefix)
	op := w.rec.Call(cs.name, history.Request{Range: &history.RangeRequest{Key: history.Bytes(prefix), RangeEnd: history.Bytes(end)}}, w.now())
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	resp, err := cs.c.Get(ctx, prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		op.Fail(err, w.now())
		return nil
	}
	op.Return(history.Response{Header: w.header(resp.Header),
		Range: &history.RangeResponse{KVs: w.kvs(resp.Kvs), Count: resp.Count, More: resp.More}}, w.now())
	return resp
}

// deleteOwn deletes one of the client's keys in a txn that also puts a marker key of its own
// (under the prefix's deletes/, unique value): the marker's mod revision is the delete's
// revision, so a delete whose outcome is unknown (a kill) is placed by the final read like
// an unknown put is. Without it, an unknown delete that happened leaves a revision no known
// request wrote, and the checker's verdict is unknown (seed 7 of a 20 s leader-crash run).
func (w *traffic) deleteOwn(cs *clientState) {
	i := cs.rng.IntN(len(cs.own))
	key := cs.own[i]
	marker := fmt.Sprintf("%sdeletes/%s-%d", w.prefix, cs.name, w.nextVal.Add(1))
	val := fmt.Sprintf("v%d", w.nextVal.Add(1))
	req := history.Request{Txn: &history.TxnRequest{Success: []history.Request{
		{DeleteRange: &history.DeleteRangeRequest{Key: history.Bytes(key)}},
		{Put: &history.PutRequest{Key: history.Bytes(marker), Value: history.Bytes(val)}},
	}}}
	op := w.rec.Call(cs.name, req, w.now())
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	callNs := w.now()
	resp, err := cs.c.Txn(ctx).Then(clientv3.OpDelete(key), clientv3.OpPut(marker, val)).Commit()
	cancel()
	// Whatever the outcome, the client no longer counts the key as its own: an unknown
	// delete may have happened.
	cs.own = append(cs.own[:i], cs.own[i+1:]...)
	if err != nil {
		op.Fail(err, w.now())
		return
	}
	ret := w.now()
	deleted := resp.Responses[0].GetResponseDeleteRange().GetDeleted()
	op.Return(history.Response{Header: w.header(resp.Header), Txn: &history.TxnResponse{Succeeded: true, Responses: []history.Response{
		{DeleteRange: &history.DeleteRangeResponse{Deleted: deleted}}, {Put: &history.PutResponse{}}}}}, ret)
	if deleted > 0 {
		w.ack(ackedWrite{Key: key, Revision: resp.Header.Revision, Delete: true, CallNs: callNs, ReturnNs: ret})
	}
	w.ack(ackedWrite{Key: marker, Value: val, Revision: resp.Header.Revision, Marker: true, CallNs: callNs, ReturnNs: ret})
}

// cas updates bucket b's counter if its mod revision is the one the client last read; the
// failure branch reads it.
func (w *traffic) cas(cs *clientState, b int) {
	key := w.bucket(b) + "counter"
	mod := cs.counter[b]
	val := fmt.Sprintf("v%d", w.nextVal.Add(1))
	req := history.Request{Txn: &history.TxnRequest{
		Compare: []history.Compare{{Key: history.Bytes(key), Target: history.TargetMod, Result: history.ResultEqual, ModRevision: w.rebase(mod)}},
		Success: []history.Request{{Put: &history.PutRequest{Key: history.Bytes(key), Value: history.Bytes(val)}}},
		Failure: []history.Request{{Range: &history.RangeRequest{Key: history.Bytes(key)}}},
	}}
	op := w.rec.Call(cs.name, req, w.now())
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	callNs := w.now()
	resp, err := cs.c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", mod)).
		Then(clientv3.OpPut(key, val)).
		Else(clientv3.OpGet(key)).Commit()
	cancel()
	if err != nil {
		op.Fail(err, w.now())
		return
	}
	ret := w.now()
	tr := &history.TxnResponse{Succeeded: resp.Succeeded}
	if resp.Succeeded {
		tr.Responses = []history.Response{{Put: &history.PutResponse{}}}
		cs.counter[b] = resp.Header.Revision
		w.ack(ackedWrite{Key: key, Value: val, Revision: resp.Header.Revision, CallNs: callNs, ReturnNs: ret})
	} else {
		rr := resp.Responses[0].GetResponseRange()
		tr.Responses = []history.Response{{Range: &history.RangeResponse{KVs: w.kvs(rr.Kvs), Count: rr.Count, More: rr.More}}}
		cs.counter[b] = 0
		if len(rr.Kvs) > 0 {
			cs.counter[b] = rr.Kvs[0].ModRevision
		}
	}
	op.Return(history.Response{Header: w.header(resp.Header), Txn: tr}, ret)
}

func (w *traffic) step(cs *clientState) {
	b := cs.rng.IntN(trafficBuckets)
	switch p := cs.rng.IntN(100); {
	case p < 45 && len(cs.own) >= maxOwnKeys:
		// The client's live keys are bounded, so whole-bucket reads stay small (a 14 s run
		// without the bound returned thousands of keys per read and ran out of memory in the
		// checker and the report): at the bound, a put becomes a delete of an own key.
		w.deleteOwn(cs)
	case p < 45:
		w.put(cs, fmt.Sprintf("%s%s-%d", w.bucket(b), cs.name, w.nextVal.Add(1)))
	case p < 75:
		if resp := w.get(cs, w.bucket(b)); resp != nil {
			cs.counter[b] = 0
			for _, kv := range resp.Kvs {
				if string(kv.Key) == w.bucket(b)+"counter" {
					cs.counter[b] = kv.ModRevision
				}
			}
		}
	case p < 90:
		w.cas(cs, b)
	default:
		if len(cs.own) == 0 {
			w.put(cs, fmt.Sprintf("%s%s-%d", w.bucket(b), cs.name, w.nextVal.Add(1)))
		} else {
			w.deleteOwn(cs)
		}
	}
}

// run starts the clients; they stop when ctx is done or the operation bound is reached, and
// the returned function waits for them.
func (w *traffic) run(ctx context.Context, clients int, endpoints []string, seed uint64) (wait func(), err error) {
	var states []*clientState
	for i := range clients {
		c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			for _, cs := range states {
				cs.c.Close()
			}
			return nil, fmt.Errorf("client %d: %w", i+1, err)
		}
		states = append(states, &clientState{name: fmt.Sprintf("c%d", i+1), c: c, rng: rand.New(rand.NewPCG(seed, uint64(i)))})
	}
	var wg sync.WaitGroup
	for _, cs := range states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cs.c.Close()
			for ctx.Err() == nil {
				n := w.ops.Add(1)
				if n > w.maxOps {
					return
				}
				if wait := time.Until(w.start.Add(time.Duration(n) * w.interval)); wait > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(wait):
					}
				}
				w.step(cs)
			}
		}()
	}
	return wg.Wait, nil
}
