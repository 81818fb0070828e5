package timeq

import (
	"flag"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

var seedFlag = flag.Uint64("timeq.seed", 0, "seed of TestAgainstSort (0: a new one, printed)")

// TestAgainstSort pushes (to the heap and to FIFO lanes) and pops at random and compares
// every pop with a reference: the values pushed so far, stably sorted by time (stable sort
// keeps push order among ties).
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
	// As the simulator uses it: values at random delays after the time last popped go to the
	// heap, values at a lane's constant delay after it to that lane (so each lane's times
	// never go back); few distinct times, so many ties between heap and lanes.
	now := int64(0)
	laneDelays := []int64{0, 7, 30}
	for step := 0; step < 20000; step++ {
		if len(ref) == 0 || r.IntN(3) > 0 {
			var at int64
			if lane := r.IntN(len(laneDelays) + 2); lane < len(laneDelays) {
				at = now + laneDelays[lane]
				q.PushFIFO(lane, at, id)
			} else {
				at = now + r.Int64N(50)
				q.Push(at, id)
			}
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
		now = at
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

// A FIFO lane refuses a value earlier than the one pushed before it, by name; an emptied
// lane takes any time again.
func TestFIFOTimeGoesBack(t *testing.T) {
	var q Queue[string]
	q.PushFIFO(1, 10, "a")
	require.PanicsWithValue(t, "timeq: PushFIFO at 9 on lane 1 after a value at 10", func() { q.PushFIFO(1, 9, "b") })
	q.PushFIFO(0, 3, "c") // another lane is another order
	q.Push(10, "d")
	var got []string
	for q.Len() > 0 {
		_, v := q.Pop()
		got = append(got, v)
	}
	require.Equal(t, []string{"c", "a", "d"}, got)
	q.PushFIFO(1, 2, "e")
	at, v := q.Pop()
	require.Equal(t, int64(2), at)
	require.Equal(t, "e", v)
}
