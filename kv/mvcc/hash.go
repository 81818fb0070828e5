package mvcc

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// etcdKeyBucketName starts etcd's hash: it hashes the name of the bolt bucket first.
var etcdKeyBucketName = []byte("key")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// HashKV computes etcd's HashKV at rev (0: the current revision) from r: CRC-32C over "key"
// and then, in revision order, each version's etcd revision bytes and stored KeyValue, for
// the versions with main <= rev that a finished compaction would keep. Versions above the
// compact revision all count; at or below it, a version counts only if it is its key's
// newest version <= rev and not a tombstone (etcd's Keep(rev)). The answer depends only on
// the history and the compact revision, not on how far CompactStep got, so members agree
// while one of them is part-way through a compaction.
//
// It differs from etcd in one corner: when no key is live at rev, etcd's keep set is empty
// and it then hashes every version up to rev, which depends on compaction progress; Ballast
// applies the rule above always.
func (s *Store) HashKV(r pebble.Reader, rev int64) (*pb.HashKVResponse, error) {
	return s.hashKV(r, rev, false)
}

// HashKVCarried is HashKV for a caller that asks again and again at growing revisions (the
// simulator, every two simulated seconds): while nothing is compacted, the versions up to
// the revision hashed last time are not read again: the CRC carries on from the value then.
// It trusts that those versions did not change since, so it cannot find damage at rest in
// them; HashKV reads everything. The carried value lives in this Store, which is opened
// anew after a restart or a snapshot install, so it never spans a change of the store's
// content other than new revisions.
func (s *Store) HashKVCarried(r pebble.Reader, rev int64) (*pb.HashKVResponse, error) {
	return s.hashKV(r, rev, true)
}

func (s *Store) hashKV(r pebble.Reader, rev int64, carried bool) (*pb.HashKVResponse, error) {
	revs, st, err := openView(r)
	if err != nil {
		return nil, err
	}
	defer revs.Close()
	if rev > 0 && rev < st.compactRev {
		return nil, ErrCompacted
	}
	if rev > st.currentRev {
		return nil, ErrFutureRev
	}
	if rev <= 0 {
		rev = st.currentRev
	}
	versions, err := revs.Clone(pebble.CloneOptions{})
	if err != nil {
		return nil, err
	}
	defer versions.Close()
	// Versions at or below the compact revision count by a rule that depends on rev, so a
	// CRC carries on only while there are none.
	carried = carried && st.compactRev <= 0
	from, crc := int64(0), crc32.Update(0, castagnoli, etcdKeyBucketName)
	if carried {
		s.carry.mu.Lock()
		defer s.carry.mu.Unlock()
		if s.carry.rev > 0 && s.carry.rev <= rev {
			from, crc = s.carry.rev, s.carry.crc
		}
	}
	revs.SetBounds(revisionKey(nil, revision{main: from + 1}), revisionKey(nil, revision{main: rev + 1}))
	versions.SetBounds(versionPrefix, versionPrefixEnd)
	h := hasher{revs: revs, versions: versions, keepRev: rev, compactRev: st.compactRev}
	sum := crc
	err = h.walk(func(rev revision, tombstone bool, value []byte) error {
		h.revBytes = etcdRevisionBytes(h.revBytes[:0], rev, tombstone)
		sum = crc32.Update(sum, castagnoli, h.revBytes)
		sum = crc32.Update(sum, castagnoli, value)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if carried {
		s.carry.rev, s.carry.crc = rev, sum
	}
	return &pb.HashKVResponse{
		Header:          &pb.ResponseHeader{Revision: st.currentRev},
		Hash:            sum,
		CompactRevision: st.compactRev,
		HashRevision:    rev,
	}, nil
}

// hashWindow is how many revisions the hasher looks up together: it reads them from the
// revision index in revision order, then their versions in key order (so the seeks of one
// window move forward through the store and Pebble turns most of them into a few Next
// steps), then hashes them in revision order. One seek per revision in revision order
// jumps between keys at every step: it was 14% of BenchmarkSteady1000's profile, most of
// it in seeks that each loaded a block again. The window bounds the values held at once.
const hashWindow = 1024

// The hasher also serves Export, which keeps versions at or below the compact revision by the
// same rule at the compact revision itself (keepRev), as a finished compaction leaves them.
type hasher struct {
	revs, versions *pebble.Iterator
	// keepRev: a version at or below compactRev counts only if it is its key's newest
	// version <= keepRev and not a tombstone.
	keepRev, compactRev int64
	seekBuf             []byte
	revBytes            []byte
	window              []hashEntry
	order               []int
	keys, values        []byte // the window's version keys and values, end to end
	// sortWindow's scratch: the window's keys, each with its revisions as a list through
	// next (newest first), and the key of each list
	groups  []hashGroup
	next    []int
	groupOf map[string]int
}

// hashGroup is one key of a window: its version key prefix and its newest revision's
// index in the window (the others follow through hasher.next, -1 ends).
type hashGroup struct {
	prefix []byte
	head   int
}

// hashEntry is one revision of a window: its version key and, once looked up, where its
// value lies in hasher.values, whether compaction drops it, or the error that stops the hash.
type hashEntry struct {
	rev              revision
	keyStart, keyEnd int
	start, end       int
	dropped          bool
	err              error
}

func (h *hasher) key(e *hashEntry) []byte { return h.keys[e.keyStart:e.keyEnd] }

// walk calls visit, in revision order, with each counted version of the revisions h.revs
// visits: its revision, whether it is a tombstone and its stored KeyValue (valid only during
// the call).
func (h *hasher) walk(visit func(rev revision, tombstone bool, value []byte) error) error {
	valid := h.revs.First()
	for valid {
		// a window of revisions in revision order; an error reading the index ends it, and
		// counts after the errors of the revisions before it, as in revision order
		h.window, h.keys = h.window[:0], h.keys[:0]
		var indexErr error
		for ; valid && len(h.window) < hashWindow; valid = h.revs.Next() {
			rev := parseRevisionKey(h.revs.Key())
			ref, err := h.revs.ValueAndErr()
			if err != nil {
				indexErr, valid = err, false
				break
			}
			start := len(h.keys)
			h.keys = versionKey(h.keys, ref[1:], rev)
			h.window = append(h.window, hashEntry{rev: rev, keyStart: start, keyEnd: len(h.keys)})
		}
		h.lookUp()
		for i := range h.window {
			e := &h.window[i]
			if e.err != nil {
				return e.err
			}
			if e.dropped {
				continue
			}
			value := h.values[e.start:e.end]
			if err := visit(e.rev, value[0] == kindTombstone, value[1:]); err != nil {
				return err
			}
		}
		if indexErr != nil {
			return indexErr
		}
	}
	return h.revs.Error()
}

// lookUp finds the versions of the window's revisions, in version key order, and copies
// their values into h.values.
func (h *hasher) lookUp() {
	h.sortWindow()
	h.values = h.values[:0]
	for _, i := range h.order {
		e := &h.window[i]
		key := h.key(e)
		if e.rev.main <= h.compactRev {
			kept, err := h.keptByCompaction(key)
			if err != nil {
				e.err = err
				continue
			}
			if !kept {
				e.dropped = true
				continue
			}
		}
		if !seekGEForward(h.versions, key) || !bytes.Equal(h.versions.Key(), key) {
			e.err = fmt.Errorf("mvcc: revision %v listed but its version is missing: %w", e.rev, h.versions.Error())
			continue
		}
		value, err := h.versions.ValueAndErr()
		if err != nil {
			e.err = err
			continue
		}
		e.start = len(h.values)
		h.values = append(h.values, value...)
		e.end = len(h.values)
	}
}

// sortWindow puts the window's indices into h.order in version key order: by key, and a
// key's revisions newest first (the inverted revision in the version key). The window is in
// revision order, so grouping it by key and sorting the keys gives that order without
// comparing every pair of version keys (sorting the whole window was 40% of lookUp). A
// version key is its key's prefix then the inverted revision, and no prefix is a prefix of
// another (keys are escaped and terminated), so key order then revision is version key order.
func (h *hasher) sortWindow() {
	if h.groupOf == nil {
		h.groupOf = make(map[string]int)
	}
	clear(h.groupOf)
	h.groups, h.next = h.groups[:0], h.next[:0]
	for i := range h.window {
		k := h.key(&h.window[i])
		prefix := k[:len(k)-revisionSuffixBytes]
		g, ok := h.groupOf[string(prefix)]
		if !ok {
			g = len(h.groups)
			h.groupOf[string(prefix)] = g
			h.groups = append(h.groups, hashGroup{prefix: prefix, head: -1})
		}
		h.next = append(h.next, h.groups[g].head) // the window ascends: each new head is newer
		h.groups[g].head = i
	}
	slices.SortFunc(h.groups, func(a, b hashGroup) int { return bytes.Compare(a.prefix, b.prefix) })
	h.order = h.order[:0]
	for _, g := range h.groups {
		for i := g.head; i >= 0; i = h.next[i] {
			h.order = append(h.order, i)
		}
	}
}

// seekGEForward is it.SeekGE(key), stepping with Next instead while it is positioned a few
// keys before key: the window's lookups come in key order, and a key's versions in one
// window lie next to each other in the version index, so most lookups are the entry after
// the one before (a seek per revision through every level was most of HashKV's cost: 8% of
// BenchmarkSteady1000, where the simulator hashes every member every two simulated
// seconds).
func seekGEForward(it *pebble.Iterator, key []byte) bool {
	if it.Valid() && bytes.Compare(it.Key(), key) < 0 {
		for range maxNextsBeforeSeek {
			if !it.Next() {
				return false // nothing at or after key: SeekGE would find nothing either
			}
			if bytes.Compare(it.Key(), key) >= 0 {
				return true // the first key at or after key, as SeekGE lands
			}
		}
	}
	return it.SeekGE(key)
}

// keptByCompaction reports whether the version at key (at or below the compact revision)
// is its key's newest version <= keepRev and a put.
func (h *hasher) keptByCompaction(key []byte) (bool, error) {
	keyPrefix := key[:len(key)-revisionSuffixBytes]
	h.seekBuf = seekAtOrBelow(h.seekBuf[:0], keyPrefix, h.keepRev)
	if !h.versions.SeekGE(h.seekBuf) {
		return false, h.versions.Error()
	}
	if !bytes.Equal(h.versions.Key(), key) {
		return false, nil
	}
	value, err := h.versions.ValueAndErr()
	if err != nil {
		return false, err
	}
	return value[0] == kindPut, nil
}
