package watch

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIndexAgainstScan: random adds, removes and lookups on the synced index give exactly
// the watchers a plain scan finds, in the index's documented order.
func TestIndexAgainstScan(t *testing.T) {
	seed := int64(1)
	if v := os.Getenv("SEED"); v != "" {
		var err error
		seed, err = strconv.ParseInt(v, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (re-run with SEED=%d)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	keys := []string{"", "a", "a0", "a1", "ab", "b", "b\x00", "ba", "c", "cz", "d"}
	x := newSyncedIndex()
	var live []*watcher
	stream := &Stream{id: 3}
	for step := 0; step < 3000; step++ {
		switch p := rng.Intn(10); {
		case p < 4 || len(live) == 0:
			key := keys[1+rng.Intn(len(keys)-1)]
			end := ""
			switch rng.Intn(3) {
			case 1:
				end = "\x00"
			case 2:
				end = keys[rng.Intn(len(keys))]
			}
			rg, err := newKeyRange([]byte(key), []byte(end))
			if err != nil {
				continue
			}
			w := &watcher{stream: stream, id: int64(step), rng: rg}
			x.add(w)
			live = append(live, w)
		case p < 6:
			i := rng.Intn(len(live))
			x.remove(live[i])
			live = append(live[:i], live[i+1:]...)
		default:
			key := []byte(keys[rng.Intn(len(keys))] + fmt.Sprint(rng.Intn(3))[:rng.Intn(2)])
			var got []int64
			x.visit(key, func(w *watcher) { got = append(got, w.id) })
			var points, ranges []*watcher
			for _, w := range live {
				if w.rng.contains(key) {
					if w.rng.single() {
						points = append(points, w)
					} else {
						ranges = append(ranges, w)
					}
				}
			}
			// Points in creation order, then ranges in (start, stream, ID) order.
			var want []int64
			for _, w := range points {
				want = append(want, w.id)
			}
			sortWatchers(ranges)
			for _, w := range ranges {
				want = append(want, w.id)
			}
			require.Equal(t, want, got, "step %d key %q", step, key)
		}
		require.Equal(t, len(live), x.count)
	}
}

func sortWatchers(ws []*watcher) {
	for i := 1; i < len(ws); i++ {
		for j := i; j > 0 && rangeLess(ws[j], ws[j-1]); j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
}

// BenchmarkIndexManyPrefixes: 10,000 range watchers on distinct prefixes; one lookup for
// a key that matches one of them.
func BenchmarkIndexManyPrefixes(b *testing.B) {
	x := newSyncedIndex()
	s := &Stream{}
	for i := 0; i < 10000; i++ {
		rg, err := newKeyRange([]byte(fmt.Sprintf("user/%05d/", i)), []byte(fmt.Sprintf("user/%05d0", i)))
		if err != nil {
			b.Fatal(err)
		}
		x.add(&watcher{stream: s, id: int64(i), rng: rg})
	}
	key := []byte("user/09999/x")
	x.visit(key, func(*watcher) {}) // builds the tree once, as the first Notify after creates does
	b.ReportAllocs()
	b.ResetTimer()
	matches := 0
	for i := 0; i < b.N; i++ {
		x.visit(key, func(*watcher) { matches++ })
	}
	if matches != b.N {
		b.Fatalf("%d matches in %d lookups", matches, b.N)
	}
}
