package mvcc

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/kv/kvtest"
)

// TestSeekGEForwardIsSeekGE: seekGEForward lands where SeekGE does, for targets in key
// order (its Next steps), out of order (its fall-back seeks), present and absent, before
// the first key and past the last, within bounds.
func TestSeekGEForwardIsSeekGE(t *testing.T) {
	db := kvtest.MustOpenMem(t)
	b := db.NewBatch()
	for i := 0; i < 300; i += 3 {
		require.NoError(t, b.Set(fmt.Appendf(nil, "k%04d", i), []byte("v"), nil))
	}
	require.NoError(t, b.Commit(pebble.NoSync))
	const seed = 7
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	bounds := &pebble.IterOptions{LowerBound: []byte("k0010"), UpperBound: []byte("k0290")}
	for round := 0; round < 20; round++ {
		var targets [][]byte
		for range 200 {
			targets = append(targets, fmt.Appendf(nil, "k%04d", r.IntN(310)))
		}
		if round%2 == 0 {
			slices.SortFunc(targets, bytes.Compare)
		}
		it, err := db.NewIter(bounds)
		require.NoError(t, err)
		for _, key := range targets {
			ref, err := db.NewIter(bounds)
			require.NoError(t, err)
			want := ref.SeekGE(key)
			got := seekGEForward(it, key)
			require.Equal(t, want, got, "round %d: found at or after %s", round, key)
			if want {
				require.Equal(t, string(ref.Key()), string(it.Key()), "round %d: target %s", round, key)
			}
			require.NoError(t, ref.Close())
		}
		require.NoError(t, it.Close())
	}
}

// TestSortWindowIsVersionKeyOrder: sortWindow orders a window (revisions ascending, keys
// repeating, keys with zero bytes and keys that are prefixes of others) as sorting its
// version keys does.
func TestSortWindowIsVersionKeyOrder(t *testing.T) {
	const seed = 11
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	keys := [][]byte{[]byte("a"), []byte("a\x00"), []byte("a\x00b"), []byte("ab"), []byte("b"), {0}, {0, 0}, []byte("k12"), []byte("k1")}
	for round := 0; round < 50; round++ {
		var h hasher
		main := int64(1 + r.IntN(1000))
		for n := 1 + r.IntN(300); n > 0; n-- {
			rev := revision{main: main, sub: int64(r.IntN(3))}
			if r.IntN(2) == 0 {
				main++
				rev.sub = 0
			} else {
				main++
			}
			start := len(h.keys)
			h.keys = versionKey(h.keys, keys[r.IntN(len(keys))], rev)
			h.window = append(h.window, hashEntry{rev: rev, keyStart: start, keyEnd: len(h.keys)})
		}
		h.sortWindow()
		want := make([]int, len(h.window))
		for i := range want {
			want[i] = i
		}
		slices.SortFunc(want, func(a, b int) int { return bytes.Compare(h.key(&h.window[a]), h.key(&h.window[b])) })
		require.Equal(t, want, h.order, "round %d", round)
	}
}
