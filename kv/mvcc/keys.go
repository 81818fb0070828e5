package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The on-disk layout. mvcc owns every Pebble key that starts with keyPrefix.
//
//	mvcc/m/format                      -> formatVersion (ASCII)
//	mvcc/m/state                       -> current revision (8 bytes BE) + compact revision (8 bytes BE, two's complement)
//	mvcc/m/compact-cursor              -> where a part-way compaction resumes (see compact.go)
//	mvcc/m/keys                        -> the number of live keys (8 bytes BE; see Store.Keys)
//	mvcc/k/ esc(key) 0x00 0x01 ^main ^sub -> record kind (1 byte) + marshaled mvccpb.KeyValue
//	mvcc/r/ main sub                   -> record kind (1 byte) + key
//
// The k/ index is key-major with inverted revisions, so the newest version of a key comes
// first and "newest version <= rev" is one seek; a Range is a scan over k/. The r/ index lists
// every version in revision order for watch catch-up (EventsBetween) and HashKV, which must
// visit versions in etcd's order. Values live only in k/.
var (
	keyPrefix           = []byte("mvcc/")
	metaFormatKey       = []byte("mvcc/m/format")
	metaStateKey        = []byte("mvcc/m/state")
	metaStateKeyEnd     = []byte("mvcc/m/state\x00")
	metaCompactCursor   = []byte("mvcc/m/compact-cursor")
	metaKeysKey         = []byte("mvcc/m/keys")
	versionPrefix       = []byte("mvcc/k/")
	versionPrefixEnd    = []byte("mvcc/k0") // the prefix successor of "mvcc/k/"
	revisionPrefix      = []byte("mvcc/r/")
	escapedKeyTerm      = []byte{0x00, 0x01}
	revisionSuffixBytes = 16
)

// formatVersion is the layout version written at the first write and checked at Open.
const formatVersion = "1"

// Record kinds: the first byte of every k/ and r/ value.
const (
	kindPut       byte = 'p'
	kindTombstone byte = 't'
)

// revision is etcd's (main, sub) pair: main is the store revision of a write transaction,
// sub numbers the changes inside it from 0.
type revision struct {
	main int64
	sub  int64
}

// appendEscaped appends key encoded so that byte order is preserved and no encoding is a
// prefix of another once escapedKeyTerm is appended: 0x00 becomes 0x00 0xFF (the encoding
// CockroachDB uses for its ordered keys).
func appendEscaped(dst, key []byte) []byte {
	for {
		i := bytes.IndexByte(key, 0)
		if i < 0 {
			return append(dst, key...)
		}
		dst = append(dst, key[:i]...)
		dst = append(dst, 0x00, 0xFF)
		key = key[i+1:]
	}
}

// versionKeyPrefix is the part of a k/ key shared by every version of key: the prefix, the
// escaped key and the terminator.
func versionKeyPrefix(dst, key []byte) []byte {
	dst = append(dst, versionPrefix...)
	dst = appendEscaped(dst, key)
	return append(dst, escapedKeyTerm...)
}

// versionKey is the k/ key of one version of key.
func versionKey(dst, key []byte, rev revision) []byte {
	dst = versionKeyPrefix(dst, key)
	return appendInvertedRevision(dst, rev)
}

func appendInvertedRevision(dst []byte, rev revision) []byte {
	dst = binary.BigEndian.AppendUint64(dst, ^uint64(rev.main))
	return binary.BigEndian.AppendUint64(dst, ^uint64(rev.sub))
}

// seekAtOrBelow is the k/ key at which, for the key whose versionKeyPrefix is keyPrefix,
// the versions with main <= atRev start (sub revisions of atRev included).
func seekAtOrBelow(dst, keyPrefix []byte, atRev int64) []byte {
	dst = append(dst, keyPrefix...)
	dst = binary.BigEndian.AppendUint64(dst, ^uint64(atRev))
	return binary.BigEndian.AppendUint64(dst, 0)
}

// splitVersionKey splits a k/ key into its per-key prefix and its revision.
func splitVersionKey(k []byte) (keyPrefix []byte, rev revision) {
	if len(k) < len(versionPrefix)+len(escapedKeyTerm)+revisionSuffixBytes || !bytes.HasPrefix(k, versionPrefix) {
		panic(fmt.Sprintf("mvcc: malformed version key %q", k))
	}
	n := len(k) - revisionSuffixBytes
	rev.main = int64(^binary.BigEndian.Uint64(k[n:]))
	rev.sub = int64(^binary.BigEndian.Uint64(k[n+8:]))
	return k[:n], rev
}

// keyPrefixSuccessor is the smallest k/ key after every version of the key whose prefix is
// keyPrefix: the terminator's last byte 0x01 becomes 0x02.
func keyPrefixSuccessor(dst, keyPrefix []byte) []byte {
	dst = append(dst, keyPrefix...)
	dst[len(dst)-1]++
	return dst
}

// versionBounds returns the k/ iteration bounds for etcd's [key, end) convention: end nil
// means the single key, end empty means every key >= key.
func versionBounds(key, end []byte) (lower, upper []byte) {
	if end == nil {
		lower = versionKeyPrefix(nil, key)
		return lower, keyPrefixSuccessor(nil, lower)
	}
	lower = appendEscaped(append([]byte(nil), versionPrefix...), key)
	if len(end) == 0 {
		return lower, versionPrefixEnd
	}
	return lower, appendEscaped(append([]byte(nil), versionPrefix...), end)
}

// revisionKey is the r/ key of a version.
func revisionKey(dst []byte, rev revision) []byte {
	dst = append(dst, revisionPrefix...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(rev.main))
	return binary.BigEndian.AppendUint64(dst, uint64(rev.sub))
}

func parseRevisionKey(k []byte) revision {
	if len(k) != len(revisionPrefix)+revisionSuffixBytes || !bytes.HasPrefix(k, revisionPrefix) {
		panic(fmt.Sprintf("mvcc: malformed revision key %q", k))
	}
	n := len(revisionPrefix)
	return revision{
		main: int64(binary.BigEndian.Uint64(k[n:])),
		sub:  int64(binary.BigEndian.Uint64(k[n+8:])),
	}
}

// etcdRevisionBytes is the key etcd's bolt backend stores a version under (main, '_', sub,
// and 't' for a tombstone); HashKV hashes it so the hash matches etcd's.
func etcdRevisionBytes(dst []byte, rev revision, tombstone bool) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(rev.main))
	dst = append(dst, '_')
	dst = binary.BigEndian.AppendUint64(dst, uint64(rev.sub))
	if tombstone {
		dst = append(dst, 't')
	}
	return dst
}

// normalizeRangeEnd applies etcd's range_end convention: "\x00" means every key >= key and
// becomes the empty non-nil slice; an empty range_end means the single key and becomes nil.
func normalizeRangeEnd(end []byte) []byte {
	if len(end) == 1 && end[0] == 0 {
		return []byte{}
	}
	if len(end) == 0 {
		return nil
	}
	return end
}

// inRange reports whether k lies in [key, end) under normalizeRangeEnd's convention.
func inRange(k, key, end []byte) bool {
	if end == nil {
		return bytes.Equal(k, key)
	}
	if bytes.Compare(k, key) < 0 {
		return false
	}
	return len(end) == 0 || bytes.Compare(k, end) < 0
}
