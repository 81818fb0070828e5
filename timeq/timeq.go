// Package timeq is a queue of values ordered by time, ties broken by the order they were
// pushed in: the event queue of the simulator (sim) and of the history generator
// (linearizability/gen). Both need runs that depend on nothing but their inputs, so two
// events at the same time always come out in the order they were scheduled.
//
// It is a four-ary heap written for the one element type it holds (no container/heap: its
// interface boxes every element in an any, an allocation per event on the simulator's
// hottest path).
//
// Imports: nothing of ours. Like canary, it is a leaf every package may import.
package timeq

// Queue is a min-queue by (time, push order). The zero value is an empty queue.
type Queue[T any] struct {
	items []item[T]
	seq   uint64
}

type item[T any] struct {
	at  int64
	seq uint64
	v   T
}

func (a item[T]) before(b item[T]) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// Len is the number of values queued.
func (q *Queue[T]) Len() int { return len(q.items) }

// Push queues v at time at.
func (q *Queue[T]) Push(at int64, v T) {
	q.seq++
	q.items = append(q.items, item[T]{at: at, seq: q.seq, v: v})
	q.up(len(q.items) - 1)
}

// Next returns the time of the first value; ok is false when the queue is empty.
func (q *Queue[T]) Next() (at int64, ok bool) {
	if len(q.items) == 0 {
		return 0, false
	}
	return q.items[0].at, true
}

// Pop removes and returns the first value and its time. It panics on an empty queue.
func (q *Queue[T]) Pop() (int64, T) {
	if len(q.items) == 0 {
		panic("timeq: Pop of an empty queue")
	}
	first := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items[last] = item[T]{} // drop the reference for the garbage collector
	q.items = q.items[:last]
	if last > 0 {
		q.down(0)
	}
	return first.at, first.v
}

// arity is the heap's fan-out. Four children to a node halve the levels a Pop sifts
// through (the simulator's queue holds thousands of pending timeouts), and the four sit
// side by side in memory; up and down move a hole instead of swapping at each level.
const arity = 4

func (q *Queue[T]) up(i int) {
	items := q.items
	x := items[i]
	for i > 0 {
		parent := (i - 1) / arity
		if !x.before(items[parent]) {
			break
		}
		items[i] = items[parent]
		i = parent
	}
	items[i] = x
}

func (q *Queue[T]) down(i int) {
	items := q.items
	n := len(items)
	x := items[i]
	for {
		first := arity*i + 1
		if first >= n {
			break
		}
		least := first
		for c := first + 1; c < min(first+arity, n); c++ {
			if items[c].before(items[least]) {
				least = c
			}
		}
		if !items[least].before(x) {
			break
		}
		items[i] = items[least]
		i = least
	}
	items[i] = x
}
