package gen

import (
	"fmt"

	"github.com/ballastdb/ballast/linearizability/history"
)

// The workload: what clients ask. Requests are drawn from the state when they are called
// (so compares and past revisions are plausible), but their outcome is decided when they
// apply. Every put writes a value no other request writes.

var allKeysStart, allKeysEnd = history.Bytes{0}, history.Bytes{0}

func (g *generator) key() history.Bytes { return g.keys[g.rng.Intn(len(g.keys))] }

// distinctKeys returns n different keys (fewer when the key space is smaller).
func (g *generator) distinctKeys(n int) []history.Bytes {
	perm := g.rng.Perm(len(g.keys))
	var out []history.Bytes
	for i := 0; i < n && i < len(perm); i++ {
		out = append(out, g.keys[perm[i]])
	}
	return out
}

func (g *generator) value() history.Bytes {
	g.valueSeq++
	return history.Bytes(fmt.Sprintf("v%d", g.valueSeq))
}

func (g *generator) lease() int64 {
	if len(g.knownLeases) == 0 {
		return 0
	}
	return g.knownLeases[g.rng.Intn(len(g.knownLeases))]
}

func (g *generator) put(key history.Bytes) *history.PutRequest {
	p := &history.PutRequest{Key: key, Value: g.value(), PrevKV: g.chance(0.3)}
	if g.chance(0.2) {
		p.Lease = g.lease()
	}
	return p
}

func (g *generator) rangeRequest() *history.RangeRequest {
	r := &history.RangeRequest{Key: g.key()}
	switch g.rng.Intn(6) {
	case 0, 1: // a get
	case 2: // every key, maybe limited
		r.Key, r.RangeEnd = allKeysStart, allKeysEnd
		if g.chance(0.5) {
			r.Limit = g.between(1, 3)
		}
	case 3: // the "k" keys
		r.Key, r.RangeEnd = history.Bytes("k"), history.Bytes("l")
		r.CountOnly = g.chance(0.3)
		r.KeysOnly = !r.CountOnly && g.chance(0.3)
	case 4: // a past revision
		r.Revision = g.between(1, g.model.Rev())
		if g.chance(0.5) {
			r.Key, r.RangeEnd = allKeysStart, allKeysEnd
		}
	case 5:
		r.Serializable = true
		if g.chance(0.5) {
			r.Key, r.RangeEnd = allKeysStart, allKeysEnd
		}
	}
	return r
}

func (g *generator) deleteRequest() *history.DeleteRangeRequest {
	d := &history.DeleteRangeRequest{Key: g.key(), PrevKV: g.chance(0.4)}
	if g.chance(0.15) {
		d.Key, d.RangeEnd = history.Bytes("k"), history.Bytes("k2")
	}
	return d
}

// txnRequest draws one of a few txn shapes etcd clients use. Within a branch no key is
// written twice, and reads come before writes.
func (g *generator) txnRequest() *history.TxnRequest {
	keys := g.distinctKeys(3)
	for len(keys) < 3 {
		keys = append(keys, keys[0])
	}
	k1, k2, k3 := keys[0], keys[1], keys[2]
	cur := g.model.Get(k1)
	get := func(k history.Bytes) history.Request { return history.Request{Range: &history.RangeRequest{Key: k}} }
	putReq := func(k history.Bytes) history.Request { return history.Request{Put: g.put(k)} }
	switch g.rng.Intn(5) {
	case 0: // compare-and-swap on the mod revision seen now (or a stale one)
		mod := int64(0)
		if cur != nil {
			mod = cur.ModRevision - g.between(0, 1)
		}
		return &history.TxnRequest{
			Compare: []history.Compare{{Key: k1, Target: history.TargetMod, Result: history.ResultEqual, ModRevision: mod}},
			Success: []history.Request{putReq(k1)}, Failure: []history.Request{get(k1)}}
	case 1: // compare a value; write two keys or one
		var value history.Bytes
		if cur != nil && g.chance(0.7) {
			value = cur.Value
		} else {
			value = history.Bytes("v0")
		}
		txn := &history.TxnRequest{
			Compare: []history.Compare{{Key: k1, Target: history.TargetValue, Result: history.ResultEqual, Value: value}},
			Success: []history.Request{putReq(k2)},
			Failure: []history.Request{putReq(k1)}}
		if k3.Equal(k1) || k3.Equal(k2) {
			return txn
		}
		txn.Success = append(txn.Success, history.Request{DeleteRange: &history.DeleteRangeRequest{Key: k3, PrevKV: g.chance(0.5)}})
		return txn
	case 2: // create if absent, with version and create-revision compares
		results := []history.CompareResult{history.ResultEqual, history.ResultNotEqual, history.ResultLess, history.ResultGreater}
		return &history.TxnRequest{
			Compare: []history.Compare{
				{Key: k1, Target: history.TargetCreate, Result: history.ResultEqual, CreateRevision: 0},
				{Key: k2, Target: history.TargetVersion, Result: results[g.rng.Intn(4)], Version: g.between(0, 2)}},
			Success: []history.Request{putReq(k1)}, Failure: []history.Request{get(k1), get(k2)}}
	case 3: // read-only, on the lease
		return &history.TxnRequest{
			Compare: []history.Compare{{Key: k1, Target: history.TargetLease, Result: history.ResultEqual, Lease: 0}},
			Success: []history.Request{get(k1), {Range: &history.RangeRequest{Key: allKeysStart, RangeEnd: allKeysEnd, Limit: 2}}},
			Failure: []history.Request{get(k2)}}
	default: // nested txn
		var value history.Bytes
		if v := g.model.Get(k2); v != nil {
			value = v.Value
		}
		inner := &history.TxnRequest{
			Compare: []history.Compare{{Key: k2, Target: history.TargetValue, Result: history.ResultEqual, Value: value}},
			Success: []history.Request{putReq(k2)}, Failure: []history.Request{get(k2)}}
		return &history.TxnRequest{
			Compare: []history.Compare{{Key: k1, Target: history.TargetVersion, Result: history.ResultGreater, Version: 0}},
			Success: []history.Request{{Txn: inner}}, Failure: []history.Request{get(k1)}}
	}
}

// request draws a request that etcd accepts (it may still fail definitely when it applies,
// e.g. a put with an expired lease).
func (g *generator) request() history.Request {
	switch w := g.rng.Intn(100); {
	case w < 30:
		return history.Request{Put: g.put(g.key())}
	case w < 55:
		return history.Request{Range: g.rangeRequest()}
	case w < 63:
		return history.Request{DeleteRange: g.deleteRequest()}
	case w < 80:
		return history.Request{Txn: g.txnRequest()}
	case w < 86:
		id := g.nextLeaseID
		g.nextLeaseID++
		g.knownLeases = append(g.knownLeases, id)
		return history.Request{LeaseGrant: &history.LeaseGrantRequest{TTLSeconds: g.cfg.LeaseTTLSeconds, ID: id}}
	case w < 96:
		id := g.lease()
		if id == 0 {
			id = firstLeaseID - 1 // never granted: answered with TTL 0
		}
		return history.Request{LeaseKeepAlive: &history.LeaseKeepAliveRequest{ID: id}}
	default:
		id := g.lease()
		if id == 0 {
			id = firstLeaseID - 1 // never granted
		}
		return history.Request{LeaseRevoke: &history.LeaseRevokeRequest{ID: id}}
	}
}

// rejectedRequest draws a request etcd rejects with a definite error, and that error.
func (g *generator) rejectedRequest() (history.Request, string) {
	switch g.rng.Intn(5) {
	case 0:
		return history.Request{Put: &history.PutRequest{Value: g.value()}}, errEmptyKey
	case 1:
		k := g.key()
		return history.Request{Txn: &history.TxnRequest{Success: []history.Request{
			{Put: &history.PutRequest{Key: k, Value: g.value()}}, {Put: &history.PutRequest{Key: k, Value: g.value()}}}}}, errDuplicateKey
	case 2:
		return history.Request{Range: &history.RangeRequest{Key: g.key(), Revision: 1 << 40}}, errFutureRev
	case 3:
		return history.Request{Put: &history.PutRequest{Key: g.key(), Value: g.value()}}, "etcdserver: request is too large"
	default:
		return history.Request{LeaseRevoke: &history.LeaseRevokeRequest{ID: firstLeaseID - 2}}, errLeaseNotFound
	}
}
