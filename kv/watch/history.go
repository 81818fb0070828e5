package watch

import (
	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// History is what catch-up reads from: the committed event history up to at least the hub's
// revision. The caller passes one to Stream.Pending, typically StoreHistory over the DB or a
// snapshot taken after the last Notify.
type History interface {
	// EventsBetween has the contract of mvcc.Store.EventsBetween: events of [key, rangeEnd)
	// (etcd's range_end convention) with revisions fromRev..toRev, whole revisions only, soft
	// limit, mvcc.ErrCompacted when fromRev is at or below the compact revision.
	EventsBetween(key, rangeEnd []byte, fromRev, toRev int64, limit int) ([]*mvccpb.Event, error)
	// Revisions returns the current and compact revisions the reader holds.
	Revisions() (currentRev, compactRev int64, err error)
}

// StoreHistory reads history from an mvcc store through reader r (the DB or a snapshot).
func StoreHistory(s *mvcc.Store, r pebble.Reader) History {
	return storeHistory{store: s, reader: r}
}

type storeHistory struct {
	store  *mvcc.Store
	reader pebble.Reader
}

func (h storeHistory) EventsBetween(key, rangeEnd []byte, fromRev, toRev int64, limit int) ([]*mvccpb.Event, error) {
	return h.store.EventsBetween(h.reader, key, rangeEnd, fromRev, toRev, limit)
}

func (h storeHistory) Revisions() (int64, int64, error) {
	return h.store.Revisions(h.reader)
}
