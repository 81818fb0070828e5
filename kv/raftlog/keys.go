package raftlog

import (
	"encoding/binary"
	"fmt"
)

// Keys of the layout (see doc.go).
var (
	keyPrefix      = []byte("raft/")
	formatKey      = []byte("raft/format")
	hardStateKey   = []byte("raft/hardstate")
	truncatedKey   = []byte("raft/truncated")
	snapshotKey    = []byte("raft/snapshot")
	entryPrefix    = []byte("raft/e/")
	entryPrefixEnd = []byte("raft/e0") // the prefix successor of "raft/e/"
	keyPrefixEnd   = []byte("raft0")   // the prefix successor of "raft/"
)

// formatVersion is the layout version written when a log is created and checked at Open.
const formatVersion uint64 = 1

const entryKeyBytes = 7 + 8

// entryKey is the key of the entry at index: the prefix then the index big-endian, so keys
// sort by index.
func entryKey(index uint64) []byte {
	k := make([]byte, entryKeyBytes)
	copy(k, entryPrefix)
	binary.BigEndian.PutUint64(k[len(entryPrefix):], index)
	return k
}

// parseEntryKey returns the index of an entry key.
func parseEntryKey(k []byte) (uint64, error) {
	if len(k) != entryKeyBytes || string(k[:len(entryPrefix)]) != string(entryPrefix) {
		return 0, fmt.Errorf("%w: key %q is not an entry key", ErrCorrupt, k)
	}
	return binary.BigEndian.Uint64(k[len(entryPrefix):]), nil
}
