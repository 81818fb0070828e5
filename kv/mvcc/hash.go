package mvcc

import (
	"bytes"
	"fmt"
	"hash/crc32"

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
	h := hasher{revs: revs, versions: versions, hashRev: rev, compactRev: st.compactRev}
	sum, err := h.run(crc)
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

type hasher struct {
	revs, versions      *pebble.Iterator
	hashRev, compactRev int64
	keyBuf, seekBuf     []byte
	revBytes            []byte
}

// run carries the CRC-32C crc on over the versions of the revisions h.revs visits.
func (h *hasher) run(crc uint32) (uint32, error) {
	for valid := h.revs.First(); valid; valid = h.revs.Next() {
		rev := parseRevisionKey(h.revs.Key())
		ref, err := h.revs.ValueAndErr()
		if err != nil {
			return 0, err
		}
		h.keyBuf = versionKey(h.keyBuf[:0], ref[1:], rev)
		if rev.main <= h.compactRev {
			kept, err := h.keptByCompaction(rev)
			if err != nil {
				return 0, err
			}
			if !kept {
				continue
			}
		}
		if !h.versions.SeekGE(h.keyBuf) || !bytes.Equal(h.versions.Key(), h.keyBuf) {
			return 0, fmt.Errorf("mvcc: revision %v listed but its version is missing: %w", rev, h.versions.Error())
		}
		value, err := h.versions.ValueAndErr()
		if err != nil {
			return 0, err
		}
		h.revBytes = etcdRevisionBytes(h.revBytes[:0], rev, value[0] == kindTombstone)
		crc = crc32.Update(crc, castagnoli, h.revBytes)
		crc = crc32.Update(crc, castagnoli, value[1:])
	}
	return crc, h.revs.Error()
}

// keptByCompaction reports whether the version at h.keyBuf (revision rev, at or below the
// compact revision) is its key's newest version <= hashRev and a put.
func (h *hasher) keptByCompaction(rev revision) (bool, error) {
	keyPrefix := h.keyBuf[:len(h.keyBuf)-revisionSuffixBytes]
	h.seekBuf = seekAtOrBelow(h.seekBuf[:0], keyPrefix, h.hashRev)
	if !h.versions.SeekGE(h.seekBuf) {
		return false, h.versions.Error()
	}
	if !bytes.Equal(h.versions.Key(), h.keyBuf) {
		return false, nil
	}
	value, err := h.versions.ValueAndErr()
	if err != nil {
		return false, err
	}
	return value[0] == kindPut, nil
}
