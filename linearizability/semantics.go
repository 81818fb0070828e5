package linearizability

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/ballastdb/ballast/linearizability/history"
)

// This file is etcd's KV and lease state machine, written once and used by every checker:
// eval computes what etcd answers to a request in a given state and which changes the request
// makes. The Porcupine model runs it on a small persistent state, the revision-guided checker
// on a multi-version store, and the watch validator on the changes it reports.

// kvView is a read-only view of the store at one revision.
type kvView interface {
	// get returns the live key-value of key.
	get(key []byte) (history.KeyValue, bool)
	// scan calls fn with every live key-value in the range, in ascending key order, until fn
	// returns false. end follows etcd's rules (see inRange).
	scan(key, end []byte, fn func(history.KeyValue) bool)
	// leaseExists reports whether the lease is granted and not yet revoked or expired.
	leaseExists(id int64) bool
	// leaseKeys returns the live keys attached to the lease, in ascending order.
	leaseKeys(id int64) [][]byte
}

// mutation is one key's change at a revision: a new key-value, or its deletion.
type mutation struct {
	kv     history.KeyValue // for a deletion: the key-value deleted (the watch event's prev_kv)
	prev   *history.KeyValue
	delete bool
}

// effects are the changes one request makes. All mutations share one revision; a request
// with no mutations creates no revision (etcd does not bump the revision for a delete that
// deletes nothing or a txn whose branch only reads).
type effects struct {
	muts         []mutation
	grantLease   int64 // lease granted, 0 for none
	revokedLease int64 // lease revoked or expired, 0 for none
}

// Definite etcd errors the state machine can produce: a request that gets one never changes
// the store.
var (
	errLeaseNotFound = errors.New("etcdserver: requested lease not found")
	errLeaseExists   = errors.New("etcdserver: lease already exists")
	errDuplicateKey  = errors.New("etcdserver: duplicate key given in txn request")
	errKeyNotFound   = errors.New("etcdserver: key not found")
	errUnsupported   = errors.New("request kind the checker cannot evaluate")
)

// leaseNotFound is errLeaseNotFound naming the lease, so a checker can look for an unknown
// grant of it.
type leaseNotFound struct{ id int64 }

func (e leaseNotFound) Error() string { return errLeaseNotFound.Error() }
func (e leaseNotFound) Unwrap() error { return errLeaseNotFound }

// inRange reports whether key falls in etcd's range [start, end): an empty end is the single
// key start, end "\x00" is every key >= start.
func inRange(key, start, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(key, start)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(key, start) >= 0
	default:
		return bytes.Compare(key, start) >= 0 && bytes.Compare(key, end) < 0
	}
}

// evaluator runs requests against a view; observed is consulted only for what the server
// chooses freely (a lease id picked by the server).
type evaluator struct {
	base    kvView
	pending map[string]mutation // writes earlier in the same txn
	order   []string            // keys of pending, in write order
}

// eval computes etcd's response to req at revision rev (the store's current revision) and the
// request's effects, which would apply at rev+1. observed, when not nil, is the response the
// client saw: it supplies the lease id of a grant where the client did not choose one.
func eval(v kvView, rev int64, req *history.Request, observed *history.Response) (history.Response, effects, error) {
	e := &evaluator{base: v}
	var eff effects
	resp, err := e.evalOne(rev, req, observed, &eff, true)
	if err != nil {
		return history.Response{}, effects{}, err
	}
	for _, k := range e.order {
		eff.muts = append(eff.muts, e.pending[k])
	}
	resp.Header.Revision = rev
	if len(eff.muts) > 0 {
		resp.Header.Revision = rev + 1
	}
	return resp, eff, nil
}

func (e *evaluator) get(key []byte) (history.KeyValue, bool) {
	if m, ok := e.pending[string(key)]; ok {
		return m.kv, !m.delete
	}
	return e.base.get(key)
}

func (e *evaluator) scan(key, end []byte, fn func(history.KeyValue) bool) {
	if len(e.pending) == 0 {
		e.base.scan(key, end, fn)
		return
	}
	var kvs []history.KeyValue
	seen := map[string]bool{}
	e.base.scan(key, end, func(kv history.KeyValue) bool {
		seen[string(kv.Key)] = true
		if m, ok := e.pending[string(kv.Key)]; ok {
			if !m.delete {
				kvs = append(kvs, m.kv)
			}
			return true
		}
		kvs = append(kvs, kv)
		return true
	})
	for k, m := range e.pending {
		if !seen[k] && !m.delete && inRange(m.kv.Key, key, end) {
			kvs = append(kvs, m.kv)
		}
	}
	sort.Slice(kvs, func(i, j int) bool { return bytes.Compare(kvs[i].Key, kvs[j].Key) < 0 })
	for _, kv := range kvs {
		if !fn(kv) {
			return
		}
	}
}

// An evaluator is itself a view: the base with the pending writes on top.
func (e *evaluator) leaseExists(id int64) bool   { return e.base.leaseExists(id) }
func (e *evaluator) leaseKeys(id int64) [][]byte { return e.base.leaseKeys(id) }

func (e *evaluator) write(m mutation) error {
	k := string(m.kv.Key)
	if _, dup := e.pending[k]; dup {
		return errDuplicateKey
	}
	if e.pending == nil {
		e.pending = map[string]mutation{}
	}
	e.pending[k] = m
	e.order = append(e.order, k)
	return nil
}

func (e *evaluator) evalOne(rev int64, req *history.Request, observed *history.Response, eff *effects, top bool) (history.Response, error) {
	switch {
	case req.Put != nil:
		return e.put(rev, req.Put)
	case req.Range != nil:
		return history.Response{Range: e.rangeKVs(req.Range)}, nil
	case req.DeleteRange != nil:
		return e.deleteRange(rev, req.DeleteRange)
	case req.Txn != nil:
		return e.txn(rev, req.Txn, observed, eff)
	case req.LeaseGrant != nil && top:
		id := req.LeaseGrant.ID
		if id == 0 && observed != nil && observed.LeaseGrant != nil {
			id = observed.LeaseGrant.ID
		}
		if id != 0 && e.base.leaseExists(id) {
			return history.Response{}, errLeaseExists
		}
		eff.grantLease = id
		ttl := req.LeaseGrant.TTLSeconds
		if observed != nil && observed.LeaseGrant != nil {
			ttl = observed.LeaseGrant.TTLSeconds // etcd may raise a TTL below its minimum
		}
		return history.Response{LeaseGrant: &history.LeaseGrantResponse{ID: id, TTLSeconds: ttl}}, nil
	case req.LeaseRevoke != nil && top:
		if err := e.revoke(rev, req.LeaseRevoke.ID, eff); err != nil {
			return history.Response{}, err
		}
		return history.Response{LeaseRevoke: &history.LeaseRevokeResponse{}}, nil
	case req.LeaseKeepAlive != nil && top:
		id := req.LeaseKeepAlive.ID
		ka := &history.LeaseKeepAliveResponse{ID: id}
		if e.base.leaseExists(id) {
			// The TTL granted is the server's choice; a live lease answers a positive one
			// (diffResponse compares only the sign).
			ka.TTLSeconds = 1
		}
		return history.Response{LeaseKeepAlive: ka}, nil
	}
	return history.Response{}, fmt.Errorf("%w: %q", errUnsupported, req.Kind())
}

// revoke deletes the lease and every key attached to it, all at revision rev+1.
func (e *evaluator) revoke(rev int64, id int64, eff *effects) error {
	if !e.base.leaseExists(id) {
		return leaseNotFound{id}
	}
	for _, key := range e.base.leaseKeys(id) {
		kv, _ := e.base.get(key)
		if err := e.write(mutation{kv: kv, prev: &kv, delete: true}); err != nil {
			return err
		}
	}
	eff.revokedLease = id
	return nil
}

func (e *evaluator) put(rev int64, p *history.PutRequest) (history.Response, error) {
	prev, exists := e.get(p.Key)
	kv := history.KeyValue{Key: p.Key, Value: p.Value, Lease: p.Lease, ModRevision: rev + 1, CreateRevision: rev + 1, Version: 1}
	if exists {
		kv.CreateRevision = prev.CreateRevision
		kv.Version = prev.Version + 1
	}
	if p.IgnoreValue || p.IgnoreLease {
		if !exists {
			return history.Response{}, errKeyNotFound
		}
		if p.IgnoreValue {
			kv.Value = prev.Value
		}
		if p.IgnoreLease {
			kv.Lease = prev.Lease
		}
	}
	if kv.Lease != 0 && !e.base.leaseExists(kv.Lease) {
		return history.Response{}, leaseNotFound{kv.Lease}
	}
	m := mutation{kv: kv}
	if exists {
		m.prev = &prev
	}
	if err := e.write(m); err != nil {
		return history.Response{}, err
	}
	resp := &history.PutResponse{}
	if p.PrevKV && exists {
		pc := prev
		resp.PrevKV = &pc
	}
	return history.Response{Put: resp}, nil
}

func (e *evaluator) rangeKVs(r *history.RangeRequest) *history.RangeResponse {
	resp := &history.RangeResponse{}
	e.scan(r.Key, r.RangeEnd, func(kv history.KeyValue) bool {
		resp.Count++
		if r.CountOnly || (r.Limit > 0 && int64(len(resp.KVs)) >= r.Limit) {
			return true
		}
		if r.KeysOnly {
			kv.Value = nil
		}
		resp.KVs = append(resp.KVs, kv)
		return true
	})
	resp.More = !r.CountOnly && r.Limit > 0 && resp.Count > r.Limit
	return resp
}

func (e *evaluator) deleteRange(rev int64, d *history.DeleteRangeRequest) (history.Response, error) {
	resp := &history.DeleteRangeResponse{}
	var doomed []history.KeyValue
	e.scan(d.Key, d.RangeEnd, func(kv history.KeyValue) bool {
		doomed = append(doomed, kv)
		return true
	})
	for _, kv := range doomed {
		resp.Deleted++
		if d.PrevKV {
			resp.PrevKVs = append(resp.PrevKVs, kv)
		}
		prev := kv
		if err := e.write(mutation{kv: kv, prev: &prev, delete: true}); err != nil {
			return history.Response{}, err
		}
	}
	return history.Response{DeleteRange: resp}, nil
}

func (e *evaluator) txn(rev int64, t *history.TxnRequest, observed *history.Response, eff *effects) (history.Response, error) {
	succeeded := true
	for i := range t.Compare {
		if !e.compare(&t.Compare[i]) {
			succeeded = false
			break
		}
	}
	branch := t.Failure
	if succeeded {
		branch = t.Success
	}
	resp := &history.TxnResponse{Succeeded: succeeded}
	for i := range branch {
		var sub *history.Response
		if observed != nil && observed.Txn != nil && i < len(observed.Txn.Responses) {
			sub = &observed.Txn.Responses[i]
		}
		r, err := e.evalOne(rev, &branch[i], sub, eff, false)
		if err != nil {
			return history.Response{}, err
		}
		resp.Responses = append(resp.Responses, r)
	}
	return history.Response{Txn: resp}, nil
}

// compare evaluates one compare as etcd does: every key in the range must satisfy it; an
// absent key has zero version, revisions and lease, and fails every value compare.
func (e *evaluator) compare(c *history.Compare) bool {
	var kvs []history.KeyValue
	if len(c.RangeEnd) == 0 {
		if kv, ok := e.get(c.Key); ok {
			kvs = append(kvs, kv)
		}
	} else {
		e.scan(c.Key, c.RangeEnd, func(kv history.KeyValue) bool {
			kvs = append(kvs, kv)
			return true
		})
	}
	if len(kvs) == 0 {
		if c.Target == history.TargetValue {
			return false
		}
		return c.Holds(&history.KeyValue{})
	}
	for _, kv := range kvs {
		if !c.Holds(&kv) {
			return false
		}
	}
	return true
}

// initialRevision is the revision of an empty etcd store: a fresh cluster answers reads with
// header revision 1, and its first write creates revision 2.
const initialRevision = 1
