package mvcc

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// EventsBetween reads from r the events of keys in [key, rangeEnd) (etcd's range_end
// convention: empty = the one key, "\x00" = every key >= key) with revisions fromRev through
// toRev inclusive, in (revision, sub-revision) order, each with PrevKv as prev.go defines it
// (the version before the revision; nil when there was none, and for a create event). These
// are the events the write calls returned, as watch needs them for catch-up.
//
// limit > 0 bounds the answer softly: reading stops once limit events are collected and the
// revision of the last one is complete, so all events of a revision always come together; the
// caller resumes from the last event's ModRevision+1. limit <= 0 reads everything.
//
// fromRev <= the compact revision stored in r fails with ErrCompacted (those events may be
// gone); toRev above the current revision fails with ErrFutureRev.
func (s *Store) EventsBetween(r pebble.Reader, key, rangeEnd []byte, fromRev, toRev int64, limit int) ([]*mvccpb.Event, error) {
	revs, st, err := openView(r)
	if err != nil {
		return nil, err
	}
	defer revs.Close()
	if fromRev <= st.compactRev {
		return nil, ErrCompacted
	}
	if toRev > st.currentRev {
		return nil, ErrFutureRev
	}
	if fromRev > toRev {
		return nil, nil
	}
	end := normalizeRangeEnd(rangeEnd)
	versions, err := revs.Clone(pebble.CloneOptions{})
	if err != nil {
		return nil, err
	}
	defer versions.Close()
	revs.SetBounds(revisionKey(nil, revision{main: fromRev}), revisionKey(nil, revision{main: toRev + 1}))
	versions.SetBounds(versionPrefix, versionPrefixEnd)
	return collectEvents(revs, versions, key, end, limit)
}

func collectEvents(revs, versions *pebble.Iterator, key, end []byte, limit int) ([]*mvccpb.Event, error) {
	var events []*mvccpb.Event
	var seekBuf []byte
	for valid := revs.First(); valid; valid = revs.Next() {
		rev := parseRevisionKey(revs.Key())
		if limit > 0 && len(events) >= limit && rev.main != events[len(events)-1].Kv.ModRevision {
			break
		}
		ref, err := revs.ValueAndErr()
		if err != nil {
			return nil, err
		}
		if len(ref) == 0 {
			return nil, fmt.Errorf("mvcc: empty revision entry at %v", rev)
		}
		userKey := ref[1:]
		if !inRange(userKey, key, end) {
			continue
		}
		seekBuf = versionKey(seekBuf[:0], userKey, rev)
		ev, err := eventAt(versions, seekBuf, rev)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, revs.Error()
}

// eventAt reads the version stored at versionKey k (revision rev) and the version before it.
func eventAt(versions *pebble.Iterator, k []byte, rev revision) (*mvccpb.Event, error) {
	if !versions.SeekGE(k) || !bytes.Equal(versions.Key(), k) {
		return nil, fmt.Errorf("mvcc: revision %v listed but its version %q is missing: %w", rev, k, versions.Error())
	}
	value, err := versions.ValueAndErr()
	if err != nil {
		return nil, err
	}
	kv, err := decodeRecord(value)
	if err != nil {
		return nil, err
	}
	ev := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv}
	if value[0] == kindTombstone {
		ev.Type = mvccpb.Event_DELETE
		kv.ModRevision = rev.main
	}
	if isCreate(ev) {
		return ev, nil // etcd's watch gives a create event no prev_kv (prev.go)
	}
	// The version before the revision (prev.go): older versions of the same revision, if
	// one revision wrote the key more than once, are skipped.
	keyPrefix := k[:len(k)-revisionSuffixBytes]
	for versions.Next() && bytes.HasPrefix(versions.Key(), keyPrefix) && len(versions.Key()) == len(k) {
		if _, r := splitVersionKey(versions.Key()); r.main == rev.main {
			continue
		}
		prev, err := versions.ValueAndErr()
		if err != nil {
			return nil, err
		}
		if prev[0] == kindPut {
			if ev.PrevKv, err = decodeRecord(prev); err != nil {
				return nil, err
			}
		}
		break
	}
	return ev, versions.Error()
}
