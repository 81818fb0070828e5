package peer

import "sync"

// queue is one stream's bounded send queue: Send pushes without blocking, the stream's writer
// takes batches. Beyond maxMessages or maxBytes a push is refused (the caller counts the
// drop), except that an empty queue always takes one message, so a frame larger than
// maxBytes (a big forwarded proposal) can still go when the link is idle.
type queue struct {
	maxMessages int
	maxBytes    int64

	mu    sync.Mutex
	items [][]byte
	bytes int64
	// ready has capacity 1: a push signals it without blocking, the writer waits on it.
	ready chan struct{}
}

func newQueue(maxMessages int, maxBytes int64) *queue {
	return &queue{maxMessages: maxMessages, maxBytes: maxBytes, ready: make(chan struct{}, 1)}
}

// push queues data and reports whether it fit.
func (q *queue) push(data []byte) bool {
	q.mu.Lock()
	n := int64(len(data))
	fits := len(q.items) == 0 || (len(q.items) < q.maxMessages && q.bytes+n <= q.maxBytes)
	if fits {
		q.items = append(q.items, data)
		q.bytes += n
	}
	q.mu.Unlock()
	if fits {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return fits
}

// take removes up to maxFrames messages from the head, stopping before the one that would
// pass maxBytes (but taking at least one), and appends them to dst.
func (q *queue) take(dst [][]byte, maxFrames int, maxBytes int64) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := 0
	var taken int64
	for k < len(q.items) && k < maxFrames {
		n := int64(len(q.items[k]))
		if k > 0 && taken+n > maxBytes {
			break
		}
		taken += n
		k++
	}
	dst = append(dst, q.items[:k]...)
	rest := copy(q.items, q.items[k:])
	clear(q.items[rest:])
	q.items = q.items[:rest]
	q.bytes -= taken
	return dst
}

// drain drops everything queued and returns how many messages it dropped.
func (q *queue) drain() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	clear(q.items)
	q.items = q.items[:0]
	q.bytes = 0
	return n
}

func (q *queue) len() (messages int, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items), q.bytes
}
