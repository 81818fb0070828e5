package linearizability

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"

	"github.com/ballastdb/ballast/linearizability/history"
)

// kvState is the Porcupine model's state: the revision, the live key-values sorted by key and
// the live leases sorted by id. It is immutable: apply returns a new state sharing nothing
// mutable with the old one. Its hash is kept up to date incrementally, so Porcupine's cache of
// visited (operations, state) pairs costs O(1) per lookup plus an Equal on a hash match.
type kvState struct {
	rev       int64
	kvs       []history.KeyValue
	leases    []int64
	kvHash    uint64 // sum of hashKV over kvs
	leaseHash uint64 // sum of hashLease over leases
}

var stateSeed = maphash.MakeSeed()

func hashKV(kv *history.KeyValue) uint64 {
	var h maphash.Hash
	h.SetSeed(stateSeed)
	h.Write(kv.Key)
	h.WriteByte(0)
	h.Write(kv.Value)
	var buf [32]byte
	putInt := func(i int, v int64) {
		for b := 0; b < 8; b++ {
			buf[i*8+b] = byte(v >> (8 * b))
		}
	}
	putInt(0, kv.ModRevision)
	putInt(1, kv.CreateRevision)
	putInt(2, kv.Version)
	putInt(3, kv.Lease)
	h.Write(buf[:])
	return h.Sum64()
}

func hashLease(id int64) uint64 {
	x := uint64(id) + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (s *kvState) hash() uint64 {
	return s.kvHash ^ (s.leaseHash * 31) ^ hashLease(s.rev)
}

func (s *kvState) equal(o *kvState) bool {
	if s.rev != o.rev || s.kvHash != o.kvHash || s.leaseHash != o.leaseHash ||
		len(s.kvs) != len(o.kvs) || len(s.leases) != len(o.leases) {
		return false
	}
	for i := range s.kvs {
		if diffKV("", s.kvs[i], o.kvs[i]) != "" {
			return false
		}
	}
	for i := range s.leases {
		if s.leases[i] != o.leases[i] {
			return false
		}
	}
	return true
}

func (s *kvState) find(key []byte) (int, bool) {
	i := sort.Search(len(s.kvs), func(i int) bool { return bytes.Compare(s.kvs[i].Key, key) >= 0 })
	return i, i < len(s.kvs) && bytes.Equal(s.kvs[i].Key, key)
}

func (s *kvState) get(key []byte) (history.KeyValue, bool) {
	if i, ok := s.find(key); ok {
		return s.kvs[i], true
	}
	return history.KeyValue{}, false
}

func (s *kvState) scan(key, end []byte, fn func(history.KeyValue) bool) {
	i, _ := s.find(key)
	for ; i < len(s.kvs); i++ {
		if !inRange(s.kvs[i].Key, key, end) {
			return
		}
		if !fn(s.kvs[i]) {
			return
		}
	}
}

func (s *kvState) leaseExists(id int64) bool {
	i := sort.Search(len(s.leases), func(i int) bool { return s.leases[i] >= id })
	return i < len(s.leases) && s.leases[i] == id
}

func (s *kvState) leaseKeys(id int64) [][]byte {
	var keys [][]byte
	for i := range s.kvs {
		if s.kvs[i].Lease == id {
			keys = append(keys, s.kvs[i].Key)
		}
	}
	return keys
}

// apply returns the state after eff: its mutations at revision s.rev+1 (when there are any)
// and its lease changes.
func (s *kvState) apply(eff *effects) *kvState {
	n := &kvState{rev: s.rev, kvs: s.kvs, leases: s.leases, kvHash: s.kvHash, leaseHash: s.leaseHash}
	if len(eff.muts) > 0 {
		n.rev++
		n.kvs = append([]history.KeyValue(nil), s.kvs...)
		for _, m := range eff.muts {
			i, exists := n.find(m.kv.Key)
			if exists {
				n.kvHash -= hashKV(&n.kvs[i])
			}
			switch {
			case m.delete && exists:
				n.kvs = append(n.kvs[:i], n.kvs[i+1:]...)
			case m.delete:
				panic(fmt.Sprintf("linearizability: deleting absent key %s", m.kv.Key))
			case exists:
				n.kvs[i] = m.kv
			default:
				n.kvs = append(n.kvs, history.KeyValue{})
				copy(n.kvs[i+1:], n.kvs[i:])
				n.kvs[i] = m.kv
			}
			if !m.delete {
				n.kvHash += hashKV(&m.kv)
			}
		}
	}
	if eff.grantLease != 0 {
		n.leases = append(append([]int64(nil), s.leases...), eff.grantLease)
		sort.Slice(n.leases, func(i, j int) bool { return n.leases[i] < n.leases[j] })
		n.leaseHash += hashLease(eff.grantLease)
	}
	if eff.revokedLease != 0 {
		kept := make([]int64, 0, len(s.leases))
		for _, id := range s.leases {
			if id != eff.revokedLease {
				kept = append(kept, id)
			}
		}
		n.leases = kept
		n.leaseHash -= hashLease(eff.revokedLease)
	}
	return n
}

func (s *kvState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d", s.rev)
	for _, kv := range s.kvs {
		fmt.Fprintf(&b, ", %s", describeKV(kv))
	}
	if len(s.leases) > 0 {
		fmt.Fprintf(&b, ", leases %v", s.leases)
	}
	return b.String()
}
