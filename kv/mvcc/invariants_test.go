package mvcc

import (
	"bytes"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
)

// checkStorageInvariants reads the raw layout: every k/ version has its r/ entry and back,
// and, when no compaction is pending, every key keeps at most one version at or below
// compactRev, a put.
func checkStorageInvariants(t *testing.T, r pebble.Reader, compactRev int64) {
	t.Helper()
	s := &Store{}
	pending, err := s.CompactPending(r)
	require.NoError(t, err)
	versions := map[revision][]byte{}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: versionPrefix, UpperBound: versionPrefixEnd})
	require.NoError(t, err)
	var lastPrefix []byte
	atOrBelow := 0
	for valid := it.First(); valid; valid = it.Next() {
		kp, rev := splitVersionKey(it.Key())
		if !bytes.Equal(kp, lastPrefix) {
			lastPrefix, atOrBelow = bytes.Clone(kp), 0
		}
		kv, err := decodeRecord(it.Value())
		require.NoError(t, err)
		versions[rev] = kv.Key
		require.Equal(t, versionKey(nil, kv.Key, rev), it.Key(), "record key does not match its index key")
		if rev.main <= compactRev && !pending {
			atOrBelow++
			require.Equal(t, 1, atOrBelow, "key %q keeps %d versions at or below compact revision %d", kv.Key, atOrBelow, compactRev)
			require.Equal(t, kindPut, it.Value()[0], "key %q keeps a tombstone at %v after compaction at %d", kv.Key, rev, compactRev)
		}
	}
	require.NoError(t, it.Close())
	it, err = r.NewIter(&pebble.IterOptions{LowerBound: revisionPrefix, UpperBound: []byte("mvcc/r0")})
	require.NoError(t, err)
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		rev := parseRevisionKey(it.Key())
		key, ok := versions[rev]
		require.True(t, ok, "revision entry %v without a version", rev)
		require.Equal(t, key, it.Value()[1:])
		n++
	}
	require.NoError(t, it.Close())
	require.Equal(t, len(versions), n, "versions without a revision entry")
}
