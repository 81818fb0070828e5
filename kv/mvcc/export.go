package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// Export and import in etcd's layout: the versions a finished compaction keeps, each under
// the key etcd's bolt backend stores it at (8-byte big-endian main revision, '_', 8-byte
// big-endian sub-revision, 't' for a tombstone) with its stored KeyValue as the value; this
// is the "key" bucket of an etcd snapshot file (kv/snapshot writes and reads those files).

// ExportState is the store's revisions as of the reader an export read.
type ExportState struct {
	CurrentRevision int64
	// CompactRevision is the last compaction's revision, -1 if none.
	CompactRevision int64
}

// Export calls visit, in revision order, with every version of the store in r that a
// finished compaction at the compact revision keeps: every version above it, and at or
// below it each key's newest version <= it unless that is a tombstone (etcd's Keep). etcdKey
// is etcd's bolt key of the version and value its marshaled KeyValue; both are valid only
// during the call. The versions a part-way compaction has not removed yet are skipped, so
// the export does not depend on compaction progress. Memory is bounded by a window of
// revisions (hashWindow), whatever the store's size.
func Export(r pebble.Reader, visit func(etcdKey, value []byte) error) (ExportState, error) {
	revs, st, err := openView(r)
	if err != nil {
		return ExportState{}, err
	}
	defer revs.Close()
	versions, err := revs.Clone(pebble.CloneOptions{})
	if err != nil {
		return ExportState{}, err
	}
	defer versions.Close()
	revs.SetBounds(revisionPrefix, revisionKey(nil, revision{main: st.currentRev + 1}))
	versions.SetBounds(versionPrefix, versionPrefixEnd)
	h := hasher{revs: revs, versions: versions, keepRev: st.compactRev, compactRev: st.compactRev}
	var keyBuf []byte
	err = h.walk(func(rev revision, tombstone bool, value []byte) error {
		keyBuf = etcdRevisionBytes(keyBuf[:0], rev, tombstone)
		return visit(keyBuf, value)
	})
	if err != nil {
		return ExportState{}, err
	}
	return ExportState{CurrentRevision: st.currentRev, CompactRevision: st.compactRev}, nil
}

// ParseEtcdRevision parses an etcd bolt key (17 bytes, or 18 with the 't' of a tombstone).
func ParseEtcdRevision(k []byte) (main, sub int64, tombstone bool, err error) {
	switch {
	case len(k) == 18 && k[17] == 't':
		tombstone = true
	case len(k) == 17:
	default:
		return 0, 0, false, fmt.Errorf("mvcc: etcd revision key %x is not 8 bytes, '_', 8 bytes and an optional 't'", k)
	}
	if k[8] != '_' {
		return 0, 0, false, fmt.Errorf("mvcc: etcd revision key %x lacks the '_' separator", k)
	}
	main, sub = int64(binary.BigEndian.Uint64(k)), int64(binary.BigEndian.Uint64(k[9:17]))
	if main < 1 || sub < 0 {
		return 0, 0, false, fmt.Errorf("mvcc: etcd revision key %x names revision (%d, %d)", k, main, sub)
	}
	return main, sub, tombstone, nil
}

// Importer writes versions given in etcd's layout, in revision order, into a new store: the
// restore of an etcd snapshot's key bucket. Add each version, then Finish with the compact
// revision. It checks every version (revision order, key, revisions inside the KeyValue) and
// refuses the first bad one with an error naming it; the caller writes into a store that
// holds nothing yet, and discards it on an error.
type Importer struct {
	last    revision
	started bool
	kv      mvccpb.KeyValue
	buf     []byte
}

// Add writes the version stored under etcd's bolt key etcdKey with the marshaled KeyValue
// value into w. An empty value (the marker etcdutl's --bump-revision writes) only moves the
// revision on.
func (im *Importer) Add(w pebble.Writer, etcdKey, value []byte) error {
	main, sub, tombstone, err := ParseEtcdRevision(etcdKey)
	if err != nil {
		return err
	}
	rev := revision{main: main, sub: sub}
	if im.started && (rev.main < im.last.main || (rev.main == im.last.main && rev.sub <= im.last.sub)) {
		return fmt.Errorf("mvcc: import: revision (%d, %d) after (%d, %d): not in revision order", main, sub, im.last.main, im.last.sub)
	}
	im.last, im.started = rev, true
	if len(value) == 0 {
		return nil
	}
	im.kv.Reset()
	if err := proto.Unmarshal(value, &im.kv); err != nil {
		return fmt.Errorf("mvcc: import: revision (%d, %d): malformed KeyValue: %w", main, sub, err)
	}
	kv := &im.kv
	if len(kv.Key) == 0 {
		return fmt.Errorf("mvcc: import: revision (%d, %d): empty key", main, sub)
	}
	if !tombstone && (kv.ModRevision != main || kv.CreateRevision < 1 || kv.CreateRevision > main || kv.Version < 1) {
		return fmt.Errorf("mvcc: import: revision (%d, %d) of key %q: KeyValue names create %d, mod %d, version %d",
			main, sub, kv.Key, kv.CreateRevision, kv.ModRevision, kv.Version)
	}
	kind := kindPut
	if tombstone {
		kind = kindTombstone
	}
	im.buf = append(append(im.buf[:0], kind), value...)
	if err := w.Set(versionKey(nil, kv.Key, rev), im.buf, nil); err != nil {
		return err
	}
	im.buf = append(append(im.buf[:0], kind), kv.Key...)
	return w.Set(revisionKey(nil, rev), im.buf, nil)
}

// LastRevision is the main revision of the last version added (0 before any): the latest
// revision of the snapshot's key bucket, tombstones included.
func (im *Importer) LastRevision() int64 { return im.last.main }

// Finish writes the store's format and state into w: the current revision is the last
// version's (at least compactRev, and at least 1, as etcd restores it); compactRev is -1 or
// 0 when nothing was compacted.
func (im *Importer) Finish(w pebble.Writer, compactRev int64) (ExportState, error) {
	if compactRev < 1 {
		compactRev = -1
	}
	current := max(im.last.main, compactRev, 1)
	if err := w.Set(metaFormatKey, []byte(formatVersion), nil); err != nil {
		return ExportState{}, err
	}
	var v [16]byte
	binary.BigEndian.PutUint64(v[:], uint64(current))
	binary.BigEndian.PutUint64(v[8:], uint64(compactRev))
	if err := w.Set(metaStateKey, v[:], nil); err != nil {
		return ExportState{}, err
	}
	return ExportState{CurrentRevision: current, CompactRevision: compactRev}, nil
}

// IsEmpty reports whether r holds no mvcc key at all (a store a restore may write into).
func IsEmpty(r pebble.Reader) (bool, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: keyPrefix, UpperBound: prefixSuccessor(keyPrefix)})
	if err != nil {
		return false, err
	}
	empty := !it.First()
	if err := it.Close(); err != nil {
		return false, err
	}
	return empty, nil
}

func prefixSuccessor(p []byte) []byte {
	out := bytes.Clone(p)
	out[len(out)-1]++
	return out
}
