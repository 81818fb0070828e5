package watch

import (
	"bytes"
	"fmt"
	"sort"
)

// syncedIndex finds the synced watchers whose range holds a key. Single-key watchers are
// found by an exact lookup; range watchers sit in a slice sorted by start key, so a lookup
// binary-searches the candidates whose start is at or below the key and checks their ends.
// Lookups never iterate the map, so the order in which watchers are visited is fixed by the
// order of creation (single keys) and by (start key, stream, watch ID) for ranges.
type syncedIndex struct {
	points map[string][]*watcher
	ranges []*watcher
	count  int
}

func newSyncedIndex() *syncedIndex {
	return &syncedIndex{points: make(map[string][]*watcher)}
}

func rangeLess(a, b *watcher) bool {
	if c := bytes.Compare(a.rng.key, b.rng.key); c != 0 {
		return c < 0
	}
	if a.stream.id != b.stream.id {
		return a.stream.id < b.stream.id
	}
	return a.id < b.id
}

func (x *syncedIndex) add(w *watcher) {
	if w.rng.single() {
		k := string(w.rng.key)
		x.points[k] = append(x.points[k], w)
	} else {
		i := sort.Search(len(x.ranges), func(i int) bool { return rangeLess(w, x.ranges[i]) })
		x.ranges = append(x.ranges, nil)
		copy(x.ranges[i+1:], x.ranges[i:])
		x.ranges[i] = w
	}
	x.count++
}

func (x *syncedIndex) remove(w *watcher) {
	if w.rng.single() {
		k := string(w.rng.key)
		list := x.points[k]
		for i, v := range list {
			if v == w {
				list = append(list[:i], list[i+1:]...)
				if len(list) == 0 {
					delete(x.points, k)
				} else {
					x.points[k] = list
				}
				x.count--
				return
			}
		}
	} else {
		i := sort.Search(len(x.ranges), func(i int) bool { return !rangeLess(x.ranges[i], w) })
		if i < len(x.ranges) && x.ranges[i] == w {
			x.ranges = append(x.ranges[:i], x.ranges[i+1:]...)
			x.count--
			return
		}
	}
	panic(fmt.Sprintf("watch: removing watcher %d of stream %d that is not in the synced index", w.id, w.stream.id))
}

// visit calls fn for every watcher in the index whose range holds key.
func (x *syncedIndex) visit(key []byte, fn func(*watcher)) {
	for _, w := range x.points[string(key)] {
		fn(w)
	}
	n := sort.Search(len(x.ranges), func(i int) bool { return bytes.Compare(x.ranges[i].rng.key, key) > 0 })
	for _, w := range x.ranges[:n] {
		if w.rng.contains(key) {
			fn(w)
		}
	}
}
