package timeq

import (
	"flag"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

var seedFlag = flag.Uint64("timeq.seed", 0, "seed of TestAgainstSort (0: a new one, printed)")

// TestAgainstSort pushes and pops at random and compares every pop with a reference: the
// values pushed so far, stably sorted by time (stable sort keeps push order among ties).
func TestAgainstSort(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (re-run: go test ./timeq -run TestAgainstSort -timeq.seed %d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 0))
	type pushed struct {
		at int64
		id int
	}
	var q Queue[int]
	var ref []pushed
	id := 0
	for step := 0; step < 20000; step++ {
		if len(ref) == 0 || r.IntN(3) > 0 {
			at := r.Int64N(50) // few distinct times: many ties
			q.Push(at, id)
			ref = append(ref, pushed{at, id})
			id++
			continue
		}
		sort.SliceStable(ref, func(i, j int) bool { return ref[i].at < ref[j].at })
		next, ok := q.Next()
		require.True(t, ok)
		require.Equal(t, ref[0].at, next, "step %d", step)
		at, v := q.Pop()
		require.Equal(t, ref[0], pushed{at, v}, "step %d", step)
		ref = ref[1:]
		require.Equal(t, len(ref), q.Len())
	}
}

func TestEmpty(t *testing.T) {
	var q Queue[string]
	_, ok := q.Next()
	require.False(t, ok)
	require.Zero(t, q.Len())
	require.PanicsWithValue(t, "timeq: Pop of an empty queue", func() { q.Pop() })
	q.Push(5, "a")
	q.Push(5, "b")
	q.Push(1, "c")
	var got []string
	for q.Len() > 0 {
		_, v := q.Pop()
		got = append(got, v)
	}
	require.Equal(t, []string{"c", "a", "b"}, got, "earliest first, ties in push order")
}
