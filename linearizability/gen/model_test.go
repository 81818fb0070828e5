package gen

import (
	"math/rand"
	"testing"

	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/stretchr/testify/require"
)

func put(k, v string) history.Request {
	return history.Request{Put: &history.PutRequest{Key: history.Bytes(k), Value: history.Bytes(v)}}
}

func get(k string) history.Request {
	return history.Request{Range: &history.RangeRequest{Key: history.Bytes(k)}}
}

func kv(k, v string, create, mod, version, lease int64) history.KeyValue {
	return history.KeyValue{Key: history.Bytes(k), Value: history.Bytes(v), CreateRevision: create, ModRevision: mod, Version: version, Lease: lease}
}

func mustApply(t *testing.T, m *Model, req history.Request) history.Response {
	t.Helper()
	resp, errText := m.Apply(req)
	require.Empty(t, errText)
	m.CheckInvariants()
	return resp
}

// TestModelSemantics walks the model through etcd's rules, each step with the answer etcd
// gives (worked out by hand from etcd's documented semantics).
func TestModelSemantics(t *testing.T) {
	m := NewModel()
	require.Equal(t, int64(1), m.Rev())

	r := mustApply(t, m, put("a", "1"))
	require.Equal(t, int64(2), r.Header.Revision)
	r = mustApply(t, m, history.Request{Put: &history.PutRequest{Key: history.Bytes("a"), Value: history.Bytes("2"), PrevKV: true}})
	require.Equal(t, int64(3), r.Header.Revision)
	require.Equal(t, kv("a", "1", 2, 2, 1, 0), *r.Put.PrevKV)
	r = mustApply(t, m, get("a"))
	require.Equal(t, int64(3), r.Header.Revision)
	require.Equal(t, []history.KeyValue{kv("a", "2", 2, 3, 2, 0)}, r.Range.KVs)
	require.Equal(t, int64(1), r.Range.Count)

	// a delete of nothing creates no revision
	r = mustApply(t, m, history.Request{DeleteRange: &history.DeleteRangeRequest{Key: history.Bytes("zz")}})
	require.Equal(t, int64(3), r.Header.Revision)
	require.Equal(t, int64(0), r.DeleteRange.Deleted)

	mustApply(t, m, put("b", "3")) // 4
	mustApply(t, m, put("c", "4")) // 5
	all := &history.RangeRequest{Key: history.Bytes{0}, RangeEnd: history.Bytes{0}, Limit: 2}
	r = mustApply(t, m, history.Request{Range: all})
	require.Equal(t, int64(3), r.Range.Count)
	require.True(t, r.Range.More)
	require.Len(t, r.Range.KVs, 2)
	require.Equal(t, "a", string(r.Range.KVs[0].Key))
	r = mustApply(t, m, history.Request{Range: &history.RangeRequest{Key: history.Bytes("a"), RangeEnd: history.Bytes("c"), CountOnly: true, Limit: 1}})
	require.Equal(t, int64(2), r.Range.Count)
	require.False(t, r.Range.More, "count_only answers more = false")
	require.Empty(t, r.Range.KVs)
	r = mustApply(t, m, history.Request{Range: &history.RangeRequest{Key: history.Bytes("b"), KeysOnly: true}})
	require.Equal(t, []history.KeyValue{{Key: history.Bytes("b"), CreateRevision: 4, ModRevision: 4, Version: 1}}, r.Range.KVs)
	// a past revision
	r = mustApply(t, m, history.Request{Range: &history.RangeRequest{Key: history.Bytes{0}, RangeEnd: history.Bytes{0}, Revision: 2}})
	require.Equal(t, []history.KeyValue{kv("a", "1", 2, 2, 1, 0)}, r.Range.KVs)
	require.Equal(t, int64(5), r.Header.Revision, "the header is the current revision")
	_, errText := m.Apply(history.Request{Range: &history.RangeRequest{Key: history.Bytes("a"), Revision: 6}})
	require.Equal(t, errFutureRev, errText)

	// a ranged delete with prev_kvs, one revision for both keys
	r = mustApply(t, m, history.Request{DeleteRange: &history.DeleteRangeRequest{Key: history.Bytes("b"), RangeEnd: history.Bytes("d"), PrevKV: true}})
	require.Equal(t, int64(6), r.Header.Revision)
	require.Equal(t, int64(2), r.DeleteRange.Deleted)
	require.Equal(t, []history.KeyValue{kv("b", "3", 4, 4, 1, 0), kv("c", "4", 5, 5, 1, 0)}, r.DeleteRange.PrevKVs)
	require.Len(t, m.Events(6), 2)
	require.Equal(t, history.EventDelete, m.Events(6)[1].Type)
	require.Equal(t, int64(6), m.Events(6)[1].KV.ModRevision)
	// a re-created key starts over at version 1
	mustApply(t, m, put("b", "5")) // 7
	require.Equal(t, kv("b", "5", 7, 7, 1, 0), *m.Get(history.Bytes("b")))
}

func TestModelTxn(t *testing.T) {
	m := NewModel()
	mustApply(t, m, put("a", "1")) // 2
	txn := &history.TxnRequest{
		Compare: []history.Compare{{Key: history.Bytes("a"), Target: history.TargetMod, Result: history.ResultEqual, ModRevision: 2}},
		Success: []history.Request{put("a", "2"), get("a"), put("b", "3")},
		Failure: []history.Request{get("a")},
	}
	r := mustApply(t, m, history.Request{Txn: txn})
	require.True(t, r.Txn.Succeeded)
	require.Equal(t, int64(3), r.Header.Revision, "one revision for the whole txn")
	require.Equal(t, []history.KeyValue{kv("a", "2", 2, 3, 2, 0)}, r.Txn.Responses[1].Range.KVs, "a range sees the txn's earlier writes")
	require.Len(t, m.Events(3), 2)

	// the same txn again: the compare fails, the failure branch reads and creates no revision
	r = mustApply(t, m, history.Request{Txn: txn})
	require.False(t, r.Txn.Succeeded)
	require.Equal(t, int64(3), r.Header.Revision)

	// compares of an absent key: value compares are false, others compare against 0
	for _, tc := range []struct {
		c    history.Compare
		want bool
	}{
		{history.Compare{Key: history.Bytes("x"), Target: history.TargetValue, Result: history.ResultNotEqual, Value: history.Bytes("q")}, false},
		{history.Compare{Key: history.Bytes("x"), Target: history.TargetVersion, Result: history.ResultEqual}, true},
		{history.Compare{Key: history.Bytes("x"), Target: history.TargetCreate, Result: history.ResultLess, CreateRevision: 1}, true},
		{history.Compare{Key: history.Bytes("a"), Target: history.TargetValue, Result: history.ResultGreater, Value: history.Bytes("1")}, true},
		{history.Compare{Key: history.Bytes("a"), Target: history.TargetValue, Result: history.ResultLess, Value: history.Bytes("1")}, false},
		{history.Compare{Key: history.Bytes("a"), Target: history.TargetLease, Result: history.ResultEqual}, true},
		{history.Compare{Key: history.Bytes("a"), Target: history.TargetMod, Result: history.ResultGreater, ModRevision: 2}, true},
	} {
		r := mustApply(t, m, history.Request{Txn: &history.TxnRequest{Compare: []history.Compare{tc.c}}})
		require.Equal(t, tc.want, r.Txn.Succeeded, "%+v", tc.c)
	}

	// nested compares are evaluated before the outer txn's writes
	nested := &history.TxnRequest{
		Success: []history.Request{put("c", "4"), {Txn: &history.TxnRequest{
			Compare: []history.Compare{{Key: history.Bytes("c"), Target: history.TargetVersion, Result: history.ResultEqual, Version: 0}},
			Success: []history.Request{put("d", "5")}, Failure: []history.Request{get("d")}}}},
	}
	r = mustApply(t, m, history.Request{Txn: nested})
	require.True(t, r.Txn.Responses[1].Txn.Succeeded)
	require.NotNil(t, m.Get(history.Bytes("d")))

	// a txn that fails definitely changes nothing
	before := m.Rev()
	_, errText := m.Apply(history.Request{Txn: &history.TxnRequest{Success: []history.Request{put("e", "6"), put("e", "7")}}})
	require.Equal(t, errDuplicateKey, errText)
	_, errText = m.Apply(history.Request{Txn: &history.TxnRequest{Success: []history.Request{put("e", "6"),
		{Put: &history.PutRequest{Key: history.Bytes("f"), Value: history.Bytes("8"), Lease: 99}}}}})
	require.Equal(t, errLeaseNotFound, errText)
	require.Equal(t, before, m.Rev())
	require.Nil(t, m.Get(history.Bytes("e")), "the aborted txn's put was undone")
	m.CheckInvariants()
}

func TestModelLeases(t *testing.T) {
	m := NewModel()
	r := mustApply(t, m, history.Request{LeaseGrant: &history.LeaseGrantRequest{TTLSeconds: 5}})
	id := r.LeaseGrant.ID
	require.Equal(t, int64(firstLeaseID), id)
	_, errText := m.Apply(history.Request{LeaseGrant: &history.LeaseGrantRequest{TTLSeconds: 5, ID: id}})
	require.Equal(t, errLeaseExists, errText)
	mustApply(t, m, history.Request{Put: &history.PutRequest{Key: history.Bytes("a"), Value: history.Bytes("1"), Lease: id}}) // 2
	mustApply(t, m, history.Request{Put: &history.PutRequest{Key: history.Bytes("b"), Value: history.Bytes("2"), Lease: id}}) // 3
	mustApply(t, m, history.Request{Put: &history.PutRequest{Key: history.Bytes("c"), Value: history.Bytes("3"), Lease: id}}) // 4
	mustApply(t, m, put("c", "4"))                                                                                            // 5: detaches c
	r = mustApply(t, m, history.Request{LeaseKeepAlive: &history.LeaseKeepAliveRequest{ID: id}})
	require.Equal(t, int64(5), r.LeaseKeepAlive.TTLSeconds)

	rev, ok := m.Expire(id)
	require.True(t, ok)
	require.Equal(t, int64(6), rev, "one revision deletes both keys")
	require.Len(t, m.Events(6), 2)
	require.Nil(t, m.Get(history.Bytes("a")))
	require.NotNil(t, m.Get(history.Bytes("c")))
	r = mustApply(t, m, history.Request{LeaseKeepAlive: &history.LeaseKeepAliveRequest{ID: id}})
	require.Equal(t, int64(0), r.LeaseKeepAlive.TTLSeconds, "a keep-alive of a gone lease answers TTL 0")
	_, errText = m.Apply(history.Request{LeaseRevoke: &history.LeaseRevokeRequest{ID: id}})
	require.Equal(t, errLeaseNotFound, errText)
	_, ok = m.Expire(id)
	require.False(t, ok)

	// a revoke of a lease without keys creates no revision
	r = mustApply(t, m, history.Request{LeaseGrant: &history.LeaseGrantRequest{TTLSeconds: 1, ID: 42}})
	require.Equal(t, int64(42), r.LeaseGrant.ID)
	r = mustApply(t, m, history.Request{LeaseRevoke: &history.LeaseRevokeRequest{ID: 42}})
	require.Equal(t, int64(6), r.Header.Revision)
	_, errText = m.Apply(history.Request{Put: &history.PutRequest{Value: history.Bytes("x")}})
	require.Equal(t, errEmptyKey, errText)
}

// TestModelInvariantsRandom applies random requests (the generator's own workload, with
// rejected ones and expiries mixed in), checks the invariants after each, and checks every
// latest-revision read against the model's other path to the same answer: the history of
// past versions at the current revision.
func TestModelInvariantsRandom(t *testing.T) {
	seed := testSeed(t)
	g := newGenerator(seed, DefaultConfig())
	rng := rand.New(rand.NewSource(seed))
	reads := 0
	for i := 0; i < 3000; i++ {
		req := g.request()
		if rng.Intn(20) == 0 {
			req, _ = g.rejectedRequest()
		}
		before := g.model.Rev()
		resp, errText := g.model.Apply(req)
		g.model.CheckInvariants()
		if errText != "" {
			require.Equal(t, before, g.model.Rev(), "a failed request changed the revision")
			require.Equal(t, history.ErrorDefinite, history.Classify(errText))
			continue
		}
		require.Equal(t, g.model.Rev(), resp.Header.Revision)
		if req.Range != nil && req.Range.Revision == 0 {
			require.Equal(t, g.model.RangeAt(req.Range, g.model.Rev()), *resp.Range)
			reads++
		}
		if rng.Intn(50) == 0 && len(g.knownLeases) > 0 {
			g.model.Expire(g.knownLeases[rng.Intn(len(g.knownLeases))])
			g.model.CheckInvariants()
		}
	}
	require.Greater(t, g.model.Rev(), int64(500))
	require.Greater(t, reads, 300)
}
