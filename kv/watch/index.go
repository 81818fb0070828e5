package watch

import (
	"bytes"
	"fmt"
	"sort"
)

// syncedIndex finds the synced watchers whose range holds a key. Single-key watchers are
// found by an exact lookup; range watchers sit in a slice sorted by start key, with a
// segment tree over it holding, per node, the watcher with the highest end below it. A
// lookup binary-searches the candidates whose start is at or below the key and descends
// only into subtrees whose highest end is above the key: O(log R + matches), where a plain
// scan would be O(R) for R range watchers (10,000 per-client prefixes would all be
// candidates of a key near the end). Adds and removes mark the tree stale; the next lookup
// rebuilds it in O(R), so creating many watchers in a row costs one rebuild.
// Lookups never iterate the map, so the order in which watchers are visited is fixed by the
// order of creation (single keys) and by (start key, stream, watch ID) for ranges.
type syncedIndex struct {
	points map[string][]*watcher
	ranges []*watcher
	count  int

	tree       []*watcher // tree[1] is the root; leaves at tree[treeLeaves+i]
	treeLeaves int
	treeStale  bool
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
		x.treeStale = true
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
			copy(x.ranges[i:], x.ranges[i+1:])
			x.ranges[len(x.ranges)-1] = nil // let the removed watcher be collected
			x.ranges = x.ranges[:len(x.ranges)-1]
			x.count--
			x.treeStale = true
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
	if n == 0 {
		return
	}
	if x.treeStale {
		x.rebuild()
	}
	x.descend(1, 0, x.treeLeaves, n, key, fn)
}

// endAbove reports whether w's range reaches past key (its start is known to be <= key).
func endAbove(w *watcher, key []byte) bool {
	return w.rng.open || bytes.Compare(w.rng.end, key) > 0
}

// higherEnd returns whichever of a and b has the higher range end (nil counts lowest).
func higherEnd(a, b *watcher) *watcher {
	switch {
	case a == nil:
		return b
	case b == nil || a.rng.open:
		return a
	case b.rng.open:
		return b
	case bytes.Compare(a.rng.end, b.rng.end) >= 0:
		return a
	default:
		return b
	}
}

func (x *syncedIndex) rebuild() {
	leaves := 1
	for leaves < len(x.ranges) {
		leaves *= 2
	}
	if cap(x.tree) >= 2*leaves {
		x.tree = x.tree[:2*leaves]
		clear(x.tree)
	} else {
		x.tree = make([]*watcher, 2*leaves)
	}
	x.treeLeaves = leaves
	copy(x.tree[leaves:], x.ranges)
	for i := leaves - 1; i >= 1; i-- {
		x.tree[i] = higherEnd(x.tree[2*i], x.tree[2*i+1])
	}
	x.treeStale = false
}

// descend visits, in index order, the ranges below node (covering [lo, hi)) with index < n
// whose end is above key.
func (x *syncedIndex) descend(node, lo, hi, n int, key []byte, fn func(*watcher)) {
	if lo >= n || x.tree[node] == nil || !endAbove(x.tree[node], key) {
		return
	}
	if node >= x.treeLeaves {
		fn(x.ranges[lo])
		return
	}
	mid := (lo + hi) / 2
	x.descend(2*node, lo, mid, n, key, fn)
	x.descend(2*node+1, mid, hi, n, key, fn)
}
