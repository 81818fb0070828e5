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

import "fmt"

// Queue is a min-queue by (time, push order). The zero value is an empty queue.
//
// Besides the heap it has FIFO lanes (PushFIFO) for values pushed at non-decreasing times,
// such as timeouts a constant delay after the current time: a lane is ordered by (time,
// push order) already, so it costs no sifting, and its values stay out of the heap. The
// simulator's queue holds a client timeout and an answer deadline for every request in the
// last seconds (thousands), nearly all of which fire as no-ops: in the heap they made every
// Pop sift through twice as many levels. Lanes and heap share one push counter, so the
// order out is the same wherever a value was pushed.
type Queue[T any] struct {
	items []item[T]
	seq   uint64
	lanes []lane[T]
}

// lane is a FIFO of items in (time, push order) order: items[head:] are queued.
type lane[T any] struct {
	items []item[T]
	head  int
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
func (q *Queue[T]) Len() int {
	n := len(q.items)
	for i := range q.lanes {
		n += len(q.lanes[i].items) - q.lanes[i].head
	}
	return n
}

// Push queues v at time at.
func (q *Queue[T]) Push(at int64, v T) {
	q.seq++
	q.items = append(q.items, item[T]{at: at, seq: q.seq, v: v})
	q.up(len(q.items) - 1)
}

// PushFIFO queues v at time at in FIFO lane n (0, 1, ...: the caller numbers its lanes),
// where every value must come at or after the one pushed before it; it panics otherwise.
// The value comes out in the same order as if Push had queued it.
func (q *Queue[T]) PushFIFO(n int, at int64, v T) {
	for len(q.lanes) <= n {
		q.lanes = append(q.lanes, lane[T]{})
	}
	l := &q.lanes[n]
	if len(l.items) > l.head && at < l.items[len(l.items)-1].at {
		panic(fmt.Sprintf("timeq: PushFIFO at %d on lane %d after a value at %d", at, n, l.items[len(l.items)-1].at))
	}
	if l.head > 0 && l.head == len(l.items) {
		l.items, l.head = l.items[:0], 0 // empty: start over at the front
	} else if l.head >= 1024 && l.head*2 >= len(l.items) {
		// the popped front is at least half: move the queued ones down
		kept := copy(l.items, l.items[l.head:])
		clear(l.items[kept:])
		l.items, l.head = l.items[:kept], 0
	}
	q.seq++
	l.items = append(l.items, item[T]{at: at, seq: q.seq, v: v})
}

// first finds the first value: the heap's top (lane -1) or a lane's head; ok is false
// when the queue is empty.
func (q *Queue[T]) first() (it item[T], from int, ok bool) {
	from = -1
	if len(q.items) > 0 {
		it, ok = q.items[0], true
	}
	for i := range q.lanes {
		l := &q.lanes[i]
		if l.head < len(l.items) && (!ok || l.items[l.head].before(it)) {
			it, from, ok = l.items[l.head], i, true
		}
	}
	return it, from, ok
}

// Next returns the time of the first value; ok is false when the queue is empty.
func (q *Queue[T]) Next() (at int64, ok bool) {
	it, _, ok := q.first()
	return it.at, ok
}

// Pop removes and returns the first value and its time. It panics on an empty queue.
func (q *Queue[T]) Pop() (int64, T) {
	first, from, ok := q.first()
	if !ok {
		panic("timeq: Pop of an empty queue")
	}
	if from >= 0 {
		l := &q.lanes[from]
		l.items[l.head] = item[T]{} // drop the reference for the garbage collector
		l.head++
		return first.at, first.v
	}
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
