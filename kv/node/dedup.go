package node

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// dedupWindowEntries bounds how many applied request IDs a member remembers. A request is
// proposed more than once only when its forwarded proposal is duplicated or re-sent, which
// happens within its timeout, thousands of entries fewer than this.
const dedupWindowEntries = 4096

type appliedRequest struct{ index, id uint64 }

// dedupWindow remembers the IDs of the last dedupWindowEntries applied requests, durably (in
// the same batch as each request's effects), so that a request applied once is never applied
// again, before or after a restart.
type dedupWindow struct {
	ids   map[uint64]struct{}
	order []appliedRequest // oldest first
}

func requestKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, len(nodeRequestPrefix)+8), nodeRequestPrefix...), index)
}

func loadDedupWindow(r pebble.Reader) (dedupWindow, error) {
	w := dedupWindow{ids: make(map[uint64]struct{})}
	upper := append(append([]byte(nil), nodeRequestPrefix[:len(nodeRequestPrefix)-1]...), nodeRequestPrefix[len(nodeRequestPrefix)-1]+1)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: nodeRequestPrefix, UpperBound: upper})
	if err != nil {
		return w, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(nodeRequestPrefix)+8 || len(v) != 8 {
			return w, fmt.Errorf("corrupt applied-request record %q", k)
		}
		w.ids[binary.BigEndian.Uint64(v)] = struct{}{}
		w.order = append(w.order, appliedRequest{index: binary.BigEndian.Uint64(k[len(nodeRequestPrefix):]), id: binary.BigEndian.Uint64(v)})
	}
	return w, it.Error()
}

func (w *dedupWindow) contains(id uint64) bool { _, ok := w.ids[id]; return ok }

// add records request id as applied at index, in b, forgetting the oldest beyond the window.
func (w *dedupWindow) add(b *pebble.Batch, index, id uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], id)
	if err := b.Set(requestKey(index), v[:], nil); err != nil {
		return err
	}
	w.ids[id] = struct{}{}
	w.order = append(w.order, appliedRequest{index: index, id: id})
	for len(w.order) > dedupWindowEntries {
		old := w.order[0]
		w.order = w.order[1:]
		delete(w.ids, old.id)
		if err := b.Delete(requestKey(old.index), nil); err != nil {
			return err
		}
	}
	return nil
}
