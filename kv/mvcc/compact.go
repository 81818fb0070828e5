package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Compaction happens in two parts, so a large store never stalls the apply loop:
//
//   - Compact(b, rev) records rev as the compact revision, durably in the caller's batch, and
//     a cursor at the start of the k/ index. From then on reads below rev fail with
//     ErrCompacted, and HashKV already answers as if the compaction were done.
//   - CompactStep(b, maxEntries) examines at most maxEntries versions from the cursor and
//     deletes the superseded ones, then moves the cursor. The caller runs steps between
//     applies (each in a batch it commits) until one reports done. After a restart the
//     cursor is where the last committed step left it.
//
// For every key, compaction at rev keeps the newest version with main <= rev if it is a put
// and deletes every older version; if that newest version is a tombstone it goes too, but
// only after every older version is gone (the cursor carries it until the key is finished),
// so no committed step ever exposes an older version a tombstone used to hide. Versions
// above rev are never touched. A new Compact while one is part-way restarts the cursor with
// the new revision, which covers the old one.

// Cursor modes: what the step already knows about the key at the cursor position.
const (
	cursorFreshKey       byte = 'f' // the newest version <= target not reached yet
	cursorKeptNewest     byte = 'k' // the newest version <= target was a put, kept; older ones go
	cursorTombstoneLater byte = 'd' // it was a tombstone, to delete when the key is finished
)

type compactCursor struct {
	mode          byte
	tombstone     []byte // k/ key of the pending tombstone in mode cursorTombstoneLater
	position      []byte // k/ key to resume at
	positionValid bool
}

func encodeCursor(c compactCursor) []byte {
	buf := []byte{c.mode}
	buf = binary.AppendUvarint(buf, uint64(len(c.tombstone)))
	buf = append(buf, c.tombstone...)
	return append(buf, c.position...)
}

func decodeCursor(v []byte) (compactCursor, error) {
	if len(v) < 2 {
		return compactCursor{}, fmt.Errorf("mvcc: compaction cursor of %d bytes", len(v))
	}
	c := compactCursor{mode: v[0]}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || uint64(len(v)-1-k) < n {
		return compactCursor{}, fmt.Errorf("mvcc: corrupt compaction cursor %q", v)
	}
	rest := v[1+k:]
	c.tombstone = bytes.Clone(rest[:n])
	c.position = bytes.Clone(rest[n:])
	c.positionValid = true
	switch c.mode {
	case cursorFreshKey, cursorKeptNewest, cursorTombstoneLater:
	default:
		return compactCursor{}, fmt.Errorf("mvcc: compaction cursor mode %q", c.mode)
	}
	return c, nil
}

// Compact records rev as the compact revision in b; CompactStep then removes the superseded
// versions. rev at or below the current compact revision fails with ErrCompacted, above the
// current revision with ErrFutureRev (etcd's rules); either way b is unchanged.
func (s *Store) Compact(b *pebble.Batch, rev int64) (*pb.CompactionResponse, error) {
	st, err := s.beginWrite(b)
	if err != nil {
		return nil, err
	}
	if rev <= st.compactRev {
		return nil, ErrCompacted
	}
	if rev > st.currentRev {
		return nil, ErrFutureRev
	}
	next := st
	next.compactRev = rev
	if err := s.writeState(b, st, next); err != nil {
		return nil, err
	}
	cursor := compactCursor{mode: cursorFreshKey, position: versionPrefix}
	if err := b.Set(metaCompactCursor, encodeCursor(cursor), nil); err != nil {
		return nil, err
	}
	return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: st.currentRev}}, nil
}

// CompactPending reports whether r holds a compaction that CompactStep has not finished.
func (s *Store) CompactPending(r pebble.Reader) (bool, error) {
	_, closer, err := r.Get(metaCompactCursor)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}

// CompactStep advances the pending compaction by examining at most maxEntries versions,
// writing its deletions and the new cursor into b. It reports done when no compaction is
// pending any more (also when there was none).
func (s *Store) CompactStep(b *pebble.Batch, maxEntries int) (done bool, err error) {
	if maxEntries <= 0 {
		return false, fmt.Errorf("mvcc: CompactStep needs maxEntries > 0, got %d", maxEntries)
	}
	st, err := s.beginWrite(b)
	if err != nil {
		return false, err
	}
	v, closer, err := b.Get(metaCompactCursor)
	if errors.Is(err, pebble.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	cursor, err := decodeCursor(v)
	_ = closer.Close()
	if err != nil {
		return false, err
	}
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: versionPrefix, UpperBound: versionPrefixEnd})
	if err != nil {
		return false, err
	}
	c := compactor{b: b, target: st.compactRev}
	next, err := c.run(it, cursor, maxEntries)
	if cerr := closeIter(it); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if !next.positionValid {
		return true, b.Delete(metaCompactCursor, nil)
	}
	return false, b.Set(metaCompactCursor, encodeCursor(next), nil)
}

type compactor struct {
	b       *pebble.Batch
	target  int64
	current []byte // k/ prefix of the key being compacted
	mode    byte
	pending []byte // the pending tombstone's k/ key
	revBuf  []byte
	seekBuf []byte
}

// run compacts from cursor for at most maxEntries versions and returns the cursor to resume
// at (positionValid false: the index is finished).
func (c *compactor) run(it *pebble.Iterator, cursor compactCursor, maxEntries int) (compactCursor, error) {
	c.mode, c.pending = cursor.mode, cursor.tombstone
	if cursor.mode != cursorFreshKey {
		kp, _ := splitVersionKey(cursor.position)
		c.current = bytes.Clone(kp)
	}
	valid := it.SeekGE(cursor.position)
	for examined := 0; valid && examined < maxEntries; examined++ {
		kp, rev := splitVersionKey(it.Key())
		if !bytes.Equal(kp, c.current) {
			if err := c.finishKey(); err != nil {
				return compactCursor{}, err
			}
			c.current = append(c.current[:0], kp...)
			c.mode = cursorFreshKey
		}
		if c.mode == cursorFreshKey {
			if rev.main > c.target {
				c.seekBuf = seekAtOrBelow(c.seekBuf[:0], c.current, c.target)
				valid = it.SeekGE(c.seekBuf)
				continue
			}
			value, err := it.ValueAndErr()
			if err != nil {
				return compactCursor{}, err
			}
			if value[0] == kindPut {
				c.mode = cursorKeptNewest
			} else {
				c.mode, c.pending = cursorTombstoneLater, bytes.Clone(it.Key())
			}
		} else if err := c.deleteVersion(it.Key(), rev); err != nil {
			return compactCursor{}, err
		}
		valid = it.Next()
	}
	if err := it.Error(); err != nil {
		return compactCursor{}, err
	}
	if !valid {
		return compactCursor{}, c.finishKey()
	}
	position := bytes.Clone(it.Key())
	if kp, _ := splitVersionKey(position); !bytes.Equal(kp, c.current) {
		if err := c.finishKey(); err != nil {
			return compactCursor{}, err
		}
		c.mode = cursorFreshKey
	}
	return compactCursor{mode: c.mode, tombstone: c.pending, position: position, positionValid: true}, nil
}

// finishKey deletes the pending tombstone once every older version of its key is gone.
func (c *compactor) finishKey() error {
	if c.mode != cursorTombstoneLater {
		return nil
	}
	_, rev := splitVersionKey(c.pending)
	err := c.deleteVersion(c.pending, rev)
	c.pending = nil
	c.mode = cursorFreshKey
	return err
}

func (c *compactor) deleteVersion(k []byte, rev revision) error {
	if rev.main > c.target {
		panic(fmt.Sprintf("mvcc: compaction at %d deleting version %v above it", c.target, rev))
	}
	if err := c.b.Delete(k, nil); err != nil {
		return err
	}
	c.revBuf = revisionKey(c.revBuf[:0], rev)
	return c.b.Delete(c.revBuf, nil)
}
