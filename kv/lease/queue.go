package lease

import "time"

// slot is a lease's place in one queue: the time it is due and its index in the queue's
// slice (-1 when not queued).
type slot struct {
	at    time.Duration
	index int
}

// queue is a min-heap of leases ordered by (slot.at, lease ID). The ID breaks ties, so the
// order in which leases come out never depends on insertion order or map iteration.
type queue struct {
	leases []*lease
	slotOf func(*lease) *slot
}

func newQueue(slotOf func(*lease) *slot) queue { return queue{slotOf: slotOf} }

func (q *queue) len() int { return len(q.leases) }

func (q *queue) queued(l *lease) bool { return q.slotOf(l).index >= 0 }

// peek returns the lease due first, or nil.
func (q *queue) peek() *lease {
	if len(q.leases) == 0 {
		return nil
	}
	return q.leases[0]
}

// set queues l at time at, or moves it there if already queued.
func (q *queue) set(l *lease, at time.Duration) {
	s := q.slotOf(l)
	s.at = at
	if s.index < 0 {
		s.index = len(q.leases)
		q.leases = append(q.leases, l)
		q.up(s.index)
		return
	}
	if !q.down(s.index) {
		q.up(s.index)
	}
}

// remove takes l out of the queue if it is queued.
func (q *queue) remove(l *lease) {
	s := q.slotOf(l)
	i := s.index
	if i < 0 {
		return
	}
	last := len(q.leases) - 1
	if i != last {
		q.swap(i, last)
	}
	q.leases[last] = nil
	q.leases = q.leases[:last]
	s.index = -1
	if i != last {
		if !q.down(i) {
			q.up(i)
		}
	}
}

// clear empties the queue.
func (q *queue) clear() {
	for _, l := range q.leases {
		q.slotOf(l).index = -1
	}
	q.leases = q.leases[:0]
}

func (q *queue) less(i, j int) bool {
	a, b := q.slotOf(q.leases[i]), q.slotOf(q.leases[j])
	if a.at != b.at {
		return a.at < b.at
	}
	return q.leases[i].id < q.leases[j].id
}

func (q *queue) swap(i, j int) {
	q.leases[i], q.leases[j] = q.leases[j], q.leases[i]
	q.slotOf(q.leases[i]).index = i
	q.slotOf(q.leases[j]).index = j
}

func (q *queue) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			return
		}
		q.swap(i, parent)
		i = parent
	}
}

// down sifts i down and reports whether it moved.
func (q *queue) down(i int) bool {
	start := i
	n := len(q.leases)
	for {
		left := 2*i + 1
		if left >= n {
			break
		}
		smallest := left
		if right := left + 1; right < n && q.less(right, left) {
			smallest = right
		}
		if !q.less(smallest, i) {
			break
		}
		q.swap(i, smallest)
		i = smallest
	}
	return i > start
}

// check panics if the heap order or an index is broken (used by tests and invariant checks).
func (q *queue) check() {
	for i, l := range q.leases {
		if q.slotOf(l).index != i {
			panic("lease: queue index out of sync")
		}
		if i > 0 && q.less(i, (i-1)/2) {
			panic("lease: queue heap order broken")
		}
	}
}
