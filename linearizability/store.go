package linearizability

import (
	"bytes"
	"sort"

	"github.com/ballastdb/ballast/linearizability/history"
)

// mvccStore is the revision-guided checker's store: every version of every key, so reads at
// past revisions can be answered, plus the live leases and the keys attached to each. It is
// mutable: the checker replays writes into it in revision order.
type mvccStore struct {
	rev       int64
	keys      [][]byte // every key ever written, sorted
	versions  map[string][]keyVersion
	leases    map[int64]bool
	leaseKeys map[int64]map[string]bool
}

// keyVersion is one change of a key: its key-value from rev on, or its deletion at rev.
type keyVersion struct {
	rev     int64
	kv      history.KeyValue
	deleted bool
}

func newMVCCStore() *mvccStore {
	return &mvccStore{rev: initialRevision, versions: map[string][]keyVersion{}, leases: map[int64]bool{},
		leaseKeys: map[int64]map[string]bool{}}
}

// apply applies eff at revision s.rev+1 (when it has mutations) and its lease changes.
func (s *mvccStore) apply(eff *effects) {
	if len(eff.muts) > 0 {
		s.rev++
	}
	for _, m := range eff.muts {
		k := string(m.kv.Key)
		vs, known := s.versions[k]
		if !known {
			i := sort.Search(len(s.keys), func(i int) bool { return bytes.Compare(s.keys[i], m.kv.Key) >= 0 })
			s.keys = append(s.keys, nil)
			copy(s.keys[i+1:], s.keys[i:])
			s.keys[i] = append([]byte(nil), m.kv.Key...)
		}
		if len(vs) > 0 && !vs[len(vs)-1].deleted {
			if old := vs[len(vs)-1].kv.Lease; old != 0 {
				delete(s.leaseKeys[old], k)
			}
		}
		s.versions[k] = append(vs, keyVersion{rev: s.rev, kv: m.kv, deleted: m.delete})
		if !m.delete && m.kv.Lease != 0 {
			if s.leaseKeys[m.kv.Lease] == nil {
				s.leaseKeys[m.kv.Lease] = map[string]bool{}
			}
			s.leaseKeys[m.kv.Lease][k] = true
		}
	}
	if eff.grantLease != 0 {
		s.leases[eff.grantLease] = true
	}
	if eff.revokedLease != 0 {
		delete(s.leases, eff.revokedLease)
		delete(s.leaseKeys, eff.revokedLease)
	}
}

// at returns a read-only view of the store at revision rev (<= s.rev).
func (s *mvccStore) at(rev int64) mvccView { return mvccView{s: s, rev: rev} }

// mvccView is the store at one revision. Lease queries answer for the current revision: only
// the current revision is ever written to.
type mvccView struct {
	s   *mvccStore
	rev int64
}

func (v mvccView) get(key []byte) (history.KeyValue, bool) {
	vs := v.s.versions[string(key)]
	i := sort.Search(len(vs), func(i int) bool { return vs[i].rev > v.rev }) - 1
	if i < 0 || vs[i].deleted {
		return history.KeyValue{}, false
	}
	return vs[i].kv, true
}

func (v mvccView) scan(key, end []byte, fn func(history.KeyValue) bool) {
	if len(end) == 0 {
		if kv, ok := v.get(key); ok {
			fn(kv)
		}
		return
	}
	i := sort.Search(len(v.s.keys), func(i int) bool { return bytes.Compare(v.s.keys[i], key) >= 0 })
	for ; i < len(v.s.keys) && inRange(v.s.keys[i], key, end); i++ {
		if kv, ok := v.get(v.s.keys[i]); ok && !fn(kv) {
			return
		}
	}
}

func (v mvccView) leaseExists(id int64) bool { return v.s.leases[id] }

func (v mvccView) leaseKeys(id int64) [][]byte {
	keys := make([][]byte, 0, len(v.s.leaseKeys[id]))
	for k := range v.s.leaseKeys[id] {
		keys = append(keys, []byte(k))
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	return keys
}

// kvStateAt converts the store's current revision into the Porcupine model's state, for
// handing a stretch of the history over to Porcupine.
func (s *mvccStore) kvStateAt() *kvState {
	st := &kvState{rev: s.rev}
	v := s.at(s.rev)
	for _, k := range s.keys {
		if kv, ok := v.get(k); ok {
			st.kvs = append(st.kvs, kv)
			st.kvHash += hashKV(&kv)
		}
	}
	for id := range s.leases {
		st.leases = append(st.leases, id)
		st.leaseHash += hashLease(id)
	}
	sort.Slice(st.leases, func(i, j int) bool { return st.leases[i] < st.leases[j] })
	return st
}
