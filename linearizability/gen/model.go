package gen

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/ballastdb/ballast/linearizability/history"
)

// Model is a small in-memory reference of etcd's KV and lease semantics, applied one
// request at a time: the sequential execution a generated history is cut from. It keeps
// every revision's events and every key's past versions, so it can answer reads at past
// revisions and feed watchers.
//
// Semantics, as etcd 3.5+ applies them:
//   - The store starts at revision 1 with no keys. A request that changes keys creates one
//     new revision; all of a txn's (or a revoke's) changes share it, in order. A delete that
//     deletes nothing, and a txn whose path changes nothing, create no revision.
//   - put: a new key gets create = mod = the new revision and version 1; an existing one keeps
//     its create revision, gets mod = the new revision and version + 1. The key is attached to
//     the put's lease (0: detached from any). A put naming a lease that does not exist fails
//     with "etcdserver: requested lease not found" and changes nothing.
//   - range: keys in [key, range_end) ("\x00" = no upper bound; none = the one key), ascending;
//     count = all matching keys; limit > 0 cuts kvs and sets more; count_only returns no kvs
//     and more = false; keys_only drops values; revision > 0 reads that past revision
//     ("etcdserver: mvcc: required revision is a future revision" when ahead of the store). The
//     header revision is always the store's current revision.
//   - txn: every compare (of the outer txn and of nested txns on the path taken) is evaluated
//     against the state before the txn; then the path's puts are checked (lease exists) and
//     the path's requests applied in order, a range seeing the txn's earlier writes. A branch
//     that puts one key twice fails with "etcdserver: duplicate key given in txn request". A
//     compare of an absent key: value compares are false, the others compare against 0.
//   - lease grant: a new lease with the requested id or the next free one; revoke deletes the
//     lease's keys (in key order) in one revision; keep-alive of an absent lease answers TTL 0.
//     Expire is the cluster's revoke of an expired lease.
type Model struct {
	rev         int64
	keys        map[string]*history.KeyValue // live keys
	past        map[string][]keyVersion      // every version of every key, by revision
	leases      map[int64]*leaseState
	nextLeaseID int64
	// revisions[r] holds the events of revision r (revisions[0] and [1] are empty).
	revisions [][]history.Event
}

type keyVersion struct {
	rev int64
	kv  *history.KeyValue // nil: deleted at rev
}

type leaseState struct {
	ttlSeconds int64
	keys       map[string]bool
}

// Errors the model returns, etcd's exact texts.
const (
	errLeaseNotFound = "etcdserver: requested lease not found"
	errFutureRev     = "etcdserver: mvcc: required revision is a future revision"
	errDuplicateKey  = "etcdserver: duplicate key given in txn request"
	errEmptyKey      = "etcdserver: key is not provided"
	errLeaseExists   = "etcdserver: lease already exists"
)

// firstLeaseID is the first id the model hands out; ids rise from it.
const firstLeaseID = 7001

// NewModel returns the empty store at revision 1.
func NewModel() *Model {
	return &Model{
		rev:         1,
		keys:        make(map[string]*history.KeyValue),
		past:        make(map[string][]keyVersion),
		leases:      make(map[int64]*leaseState),
		nextLeaseID: firstLeaseID,
		revisions:   make([][]history.Event, 2),
	}
}

// Rev returns the store's current revision.
func (m *Model) Rev() int64 { return m.rev }

// Events returns the events of revision rev, in order (nil for a revision without events or
// out of range).
func (m *Model) Events(rev int64) []history.Event {
	if rev < 0 || rev >= int64(len(m.revisions)) {
		return nil
	}
	return m.revisions[rev]
}

// LeaseExists reports whether the lease is live.
func (m *Model) LeaseExists(id int64) bool { _, ok := m.leases[id]; return ok }

// LeaseTTL returns the lease's granted TTL in seconds, 0 when it does not exist.
func (m *Model) LeaseTTL(id int64) int64 {
	if l, ok := m.leases[id]; ok {
		return l.ttlSeconds
	}
	return 0
}

// Get returns the live key-value of key, or nil.
func (m *Model) Get(key []byte) *history.KeyValue {
	if kv, ok := m.keys[string(key)]; ok {
		c := *kv
		return &c
	}
	return nil
}

// Apply applies one request. A non-empty errText is a definite error: the store did not
// change. Otherwise resp answers the request, with the header revision set.
func (m *Model) Apply(req history.Request) (resp history.Response, errText string) {
	switch req.Kind() {
	case history.KindPut, history.KindDeleteRange, history.KindTxn, history.KindRange:
		txn := m.begin()
		resp, errText = txn.apply(&req)
		if errText != "" {
			txn.abort()
			return history.Response{}, errText
		}
		txn.commit()
	case history.KindLeaseGrant:
		id := req.LeaseGrant.ID
		if id == 0 {
			for m.leases[m.nextLeaseID] != nil {
				m.nextLeaseID++
			}
			id = m.nextLeaseID
			m.nextLeaseID++
		} else if m.leases[id] != nil {
			return history.Response{}, errLeaseExists
		}
		m.leases[id] = &leaseState{ttlSeconds: req.LeaseGrant.TTLSeconds, keys: make(map[string]bool)}
		resp.LeaseGrant = &history.LeaseGrantResponse{ID: id, TTLSeconds: req.LeaseGrant.TTLSeconds}
	case history.KindLeaseRevoke:
		if !m.revoke(req.LeaseRevoke.ID) {
			return history.Response{}, errLeaseNotFound
		}
		resp.LeaseRevoke = &history.LeaseRevokeResponse{}
	case history.KindLeaseKeepAlive:
		resp.LeaseKeepAlive = &history.LeaseKeepAliveResponse{ID: req.LeaseKeepAlive.ID, TTLSeconds: m.LeaseTTL(req.LeaseKeepAlive.ID)}
	default:
		panic(fmt.Sprintf("gen.Model.Apply: request of no kind: %+v", req))
	}
	resp.Header.Revision = m.rev
	return resp, ""
}

// Expire revokes an expired lease, as the cluster does; ok is false when the lease does not
// exist. It returns the revision at which the revoke applied.
func (m *Model) Expire(id int64) (revision int64, ok bool) {
	ok = m.revoke(id)
	return m.rev, ok
}

func (m *Model) revoke(id int64) bool {
	l, ok := m.leases[id]
	if !ok {
		return false
	}
	keys := sortedKeys(l.keys)
	txn := m.begin()
	for _, k := range keys {
		txn.deleteKey(k, false)
	}
	txn.commit()
	delete(m.leases, id)
	return true
}

// RangeAt answers a range against the state at revision rev (<= Rev()), ignoring
// req.Revision; the header is left for the caller.
func (m *Model) RangeAt(req *history.RangeRequest, rev int64) history.RangeResponse {
	if rev > m.rev || rev < 1 {
		panic(fmt.Sprintf("gen.Model.RangeAt: revision %d outside [1, %d]", rev, m.rev))
	}
	var kvs []history.KeyValue
	for _, k := range m.keysInRange(req.Key, req.RangeEnd, true) {
		if kv := m.valueAt(k, rev); kv != nil {
			kvs = append(kvs, *kv)
		}
	}
	return shapeRange(req, kvs)
}

// valueAt returns key k at revision rev, or nil.
func (m *Model) valueAt(k string, rev int64) *history.KeyValue {
	versions := m.past[k]
	i := sort.Search(len(versions), func(i int) bool { return versions[i].rev > rev }) - 1
	if i < 0 || versions[i].kv == nil {
		return nil
	}
	c := *versions[i].kv
	return &c
}

// shapeRange applies count_only, keys_only and limit to the matching kvs, as etcd does.
func shapeRange(req *history.RangeRequest, kvs []history.KeyValue) history.RangeResponse {
	resp := history.RangeResponse{Count: int64(len(kvs))}
	if req.CountOnly {
		return resp
	}
	if req.Limit > 0 && int64(len(kvs)) > req.Limit {
		kvs = kvs[:req.Limit]
		resp.More = true
	}
	if req.KeysOnly {
		for i := range kvs {
			kvs[i].Value = nil
		}
	}
	resp.KVs = kvs
	return resp
}

// keysInRange returns the keys (live, or every key ever written when all is set) in
// [key, rangeEnd), ascending.
func (m *Model) keysInRange(key, rangeEnd []byte, all bool) []string {
	var out []string
	add := func(k string) {
		if InRange([]byte(k), key, rangeEnd) {
			out = append(out, k)
		}
	}
	if all {
		for k := range m.past {
			add(k)
		}
	} else {
		for k := range m.keys {
			add(k)
		}
	}
	sort.Strings(out)
	return out
}

// InRange reports whether k is in etcd's range [key, rangeEnd): rangeEnd empty = the key
// itself; "\x00" = every key >= key.
func InRange(k, key, rangeEnd []byte) bool {
	switch {
	case len(rangeEnd) == 0:
		return bytes.Equal(k, key)
	case len(rangeEnd) == 1 && rangeEnd[0] == 0:
		return bytes.Compare(k, key) >= 0
	default:
		return bytes.Compare(k, key) >= 0 && bytes.Compare(k, rangeEnd) < 0
	}
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// txn is one atomic change in progress: its writes get revision m.rev+1.
type txn struct {
	m       *Model
	changed bool
	undo    []func()
	events  []history.Event
}

func (m *Model) begin() *txn { return &txn{m: m} }

func (t *txn) newRev() int64 { return t.m.rev + 1 }

func (t *txn) abort() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
}

func (t *txn) commit() {
	if !t.changed {
		return
	}
	m := t.m
	m.rev++
	m.revisions = append(m.revisions, t.events)
	if int64(len(m.revisions)) != m.rev+1 {
		panic(fmt.Sprintf("gen.Model: %d revisions recorded at revision %d", len(m.revisions), m.rev))
	}
	for _, ev := range t.events {
		k := string(ev.KV.Key)
		var kv *history.KeyValue
		if ev.Type == history.EventPut {
			c := ev.KV
			kv = &c
		}
		m.past[k] = append(m.past[k], keyVersion{rev: m.rev, kv: kv})
	}
}

func (t *txn) putKey(p *history.PutRequest) *history.KeyValue {
	m := t.m
	k := string(p.Key)
	old := m.keys[k]
	kv := &history.KeyValue{Key: p.Key, Value: p.Value, CreateRevision: t.newRev(), ModRevision: t.newRev(), Version: 1, Lease: p.Lease}
	if old != nil {
		kv.CreateRevision = old.CreateRevision
		kv.Version = old.Version + 1
	}
	var prev *history.KeyValue
	if old != nil {
		c := *old
		prev = &c
		if l := m.leases[old.Lease]; l != nil {
			delete(l.keys, k)
			t.undo = append(t.undo, func() { l.keys[k] = true })
		}
	}
	if l := m.leases[p.Lease]; l != nil {
		l.keys[k] = true
		t.undo = append(t.undo, func() { delete(l.keys, k) })
	}
	m.keys[k] = kv
	t.undo = append(t.undo, func() {
		if old == nil {
			delete(m.keys, k)
		} else {
			m.keys[k] = old
		}
	})
	t.changed = true
	t.events = append(t.events, history.Event{Type: history.EventPut, KV: *kv, PrevKV: prev})
	return prev
}

func (t *txn) deleteKey(k string, _ bool) *history.KeyValue {
	m := t.m
	old := m.keys[k]
	if old == nil {
		return nil
	}
	if l := m.leases[old.Lease]; l != nil {
		delete(l.keys, k)
		t.undo = append(t.undo, func() { l.keys[k] = true })
	}
	delete(m.keys, k)
	t.undo = append(t.undo, func() { m.keys[k] = old })
	t.changed = true
	prev := *old
	t.events = append(t.events, history.Event{Type: history.EventDelete,
		KV: history.KeyValue{Key: old.Key, ModRevision: t.newRev()}, PrevKV: &prev})
	return &prev
}

// apply applies one request inside the txn (a top-level put, range or delete is a txn of
// one request). It returns a definite error's text, after which the caller aborts.
func (t *txn) apply(req *history.Request) (history.Response, string) {
	m := t.m
	var resp history.Response
	switch req.Kind() {
	case history.KindPut:
		p := req.Put
		if len(p.Key) == 0 {
			return resp, errEmptyKey
		}
		if p.Lease != 0 && m.leases[p.Lease] == nil {
			return resp, errLeaseNotFound
		}
		prev := t.putKey(p)
		resp.Put = &history.PutResponse{}
		if p.PrevKV {
			resp.Put.PrevKV = prev
		}
	case history.KindRange:
		r := req.Range
		if len(r.Key) == 0 {
			return resp, errEmptyKey
		}
		if r.Revision > m.rev {
			return resp, errFutureRev
		}
		var rr history.RangeResponse
		if r.Revision > 0 {
			rr = m.RangeAt(r, r.Revision)
		} else {
			var kvs []history.KeyValue
			for _, k := range m.keysInRange(r.Key, r.RangeEnd, false) {
				kvs = append(kvs, *m.keys[k])
			}
			rr = shapeRange(r, kvs)
		}
		resp.Range = &rr
	case history.KindDeleteRange:
		d := req.DeleteRange
		if len(d.Key) == 0 {
			return resp, errEmptyKey
		}
		dr := &history.DeleteRangeResponse{}
		for _, k := range m.keysInRange(d.Key, d.RangeEnd, false) {
			prev := t.deleteKey(k, d.PrevKV)
			dr.Deleted++
			if d.PrevKV {
				dr.PrevKVs = append(dr.PrevKVs, *prev)
			}
		}
		resp.DeleteRange = dr
	case history.KindTxn:
		if hasDuplicatePut(req.Txn) {
			return resp, errDuplicateKey
		}
		path := m.txnPath(req.Txn)
		if errText := m.checkPath(req.Txn, path); errText != "" {
			return resp, errText
		}
		return t.applyPath(req.Txn, path)
	default:
		panic(fmt.Sprintf("gen.Model: %s inside a txn", req.Kind()))
	}
	return resp, ""
}

// txnPath evaluates the compares of a txn and of the nested txns on the path it takes, all
// against the state before the txn (as etcd does), and returns the branches taken in
// depth-first order.
func (m *Model) txnPath(txn *history.TxnRequest) []bool {
	ok := true
	for i := range txn.Compare {
		if !m.compare(&txn.Compare[i]) {
			ok = false
			break
		}
	}
	path := []bool{ok}
	for _, op := range branch(txn, ok) {
		if op.Txn != nil {
			path = append(path, m.txnPath(op.Txn)...)
		}
	}
	return path
}

func branch(txn *history.TxnRequest, succeeded bool) []history.Request {
	if succeeded {
		return txn.Success
	}
	return txn.Failure
}

// checkPath checks the puts (lease exists) and ranges (not in the future) of the path.
func (m *Model) checkPath(txn *history.TxnRequest, path []bool) string {
	var walk func(txn *history.TxnRequest) string
	i := 0
	walk = func(txn *history.TxnRequest) string {
		ok := path[i]
		i++
		for _, op := range branch(txn, ok) {
			switch {
			case op.Put != nil && op.Put.Lease != 0 && m.leases[op.Put.Lease] == nil:
				return errLeaseNotFound
			case op.Put != nil && len(op.Put.Key) == 0, op.Range != nil && len(op.Range.Key) == 0,
				op.DeleteRange != nil && len(op.DeleteRange.Key) == 0:
				return errEmptyKey
			case op.Range != nil && op.Range.Revision > m.rev:
				return errFutureRev
			case op.Txn != nil:
				if errText := walk(op.Txn); errText != "" {
					return errText
				}
			}
		}
		return ""
	}
	return walk(txn)
}

func (t *txn) applyPath(txn *history.TxnRequest, path []bool) (history.Response, string) {
	ok := path[0]
	rest := path[1:]
	tr := &history.TxnResponse{Succeeded: ok}
	for _, op := range branch(txn, ok) {
		var resp history.Response
		var errText string
		if op.Txn != nil {
			n := pathLen(op.Txn, rest)
			resp, errText = t.applyPath(op.Txn, rest[:n])
			rest = rest[n:]
		} else {
			resp, errText = t.apply(&op)
		}
		if errText != "" {
			return history.Response{}, errText
		}
		tr.Responses = append(tr.Responses, resp)
	}
	return history.Response{Txn: tr}, ""
}

// pathLen returns how many entries of path belong to txn (itself and its nested txns).
func pathLen(txn *history.TxnRequest, path []bool) int {
	n := 1
	for _, op := range branch(txn, path[0]) {
		if op.Txn != nil {
			n += pathLen(op.Txn, path[n:])
		}
	}
	return n
}

// hasDuplicatePut reports whether a branch (of the txn or a nested one) puts one key twice.
func hasDuplicatePut(txn *history.TxnRequest) bool {
	for _, ops := range [][]history.Request{txn.Success, txn.Failure} {
		seen := make(map[string]bool)
		for _, op := range ops {
			if op.Put != nil {
				if seen[string(op.Put.Key)] {
					return true
				}
				seen[string(op.Put.Key)] = true
			}
			if op.Txn != nil && hasDuplicatePut(op.Txn) {
				return true
			}
		}
	}
	return false
}

// compare evaluates one compare against the current state, as etcd's applyCompare does.
func (m *Model) compare(c *history.Compare) bool {
	kv := m.keys[string(c.Key)]
	if kv == nil {
		if c.Target == history.TargetValue {
			return false
		}
		kv = &history.KeyValue{}
	}
	switch c.Result {
	case history.ResultEqual, history.ResultNotEqual, history.ResultLess, history.ResultGreater:
	default:
		panic(fmt.Sprintf("gen.Model: compare result %q", c.Result)) // the generator makes valid compares only
	}
	switch c.Target {
	case history.TargetValue, history.TargetVersion, history.TargetCreate, history.TargetMod, history.TargetLease:
	default:
		panic(fmt.Sprintf("gen.Model: compare target %q", c.Target))
	}
	return c.Holds(kv)
}

// CheckInvariants panics when the model's state breaks one of its invariants: every live key
// has 1 <= version, 1 < create <= mod <= rev, and is attached to a live lease exactly when its
// lease is not 0; every revision after 1 has events, of that revision; past versions rise.
func (m *Model) CheckInvariants() {
	if int64(len(m.revisions)) != m.rev+1 {
		panic(fmt.Sprintf("gen.Model: %d revision slots at revision %d", len(m.revisions), m.rev))
	}
	for r := int64(2); r <= m.rev; r++ {
		if len(m.revisions[r]) == 0 {
			panic(fmt.Sprintf("gen.Model: revision %d has no events", r))
		}
		for _, ev := range m.revisions[r] {
			if ev.KV.ModRevision != r {
				panic(fmt.Sprintf("gen.Model: an event of revision %d has mod revision %d", r, ev.KV.ModRevision))
			}
		}
	}
	for _, k := range sortedKeys(keySet(m.keys)) {
		kv := m.keys[k]
		if kv.Version < 1 || kv.CreateRevision < 2 || kv.CreateRevision > kv.ModRevision || kv.ModRevision > m.rev {
			panic(fmt.Sprintf("gen.Model: key %q has version %d, create %d, mod %d at revision %d", k, kv.Version, kv.CreateRevision, kv.ModRevision, m.rev))
		}
		if kv.Lease != 0 && (m.leases[kv.Lease] == nil || !m.leases[kv.Lease].keys[k]) {
			panic(fmt.Sprintf("gen.Model: key %q names lease %d, which does not hold it", k, kv.Lease))
		}
		if last := m.past[k][len(m.past[k])-1]; last.kv == nil || last.kv.ModRevision != kv.ModRevision {
			panic(fmt.Sprintf("gen.Model: key %q's last past version is not its live value", k))
		}
	}
	for id, l := range m.leases {
		for k := range l.keys {
			if kv := m.keys[k]; kv == nil || kv.Lease != id {
				panic(fmt.Sprintf("gen.Model: lease %d holds key %q, which is not attached to it", id, k))
			}
		}
	}
	for k, versions := range m.past {
		for i := 1; i < len(versions); i++ {
			if versions[i].rev <= versions[i-1].rev {
				panic(fmt.Sprintf("gen.Model: key %q's versions do not rise: %d after %d", k, versions[i].rev, versions[i-1].rev))
			}
		}
	}
}

func keySet(m map[string]*history.KeyValue) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
