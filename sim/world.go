package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ballastdb/ballast/timeq"
)

// world is the virtual clock, the event queue, the random streams and the trace.
type world struct {
	now time.Duration
	// queue holds the events: functions run at a virtual time, ties in scheduling order, so
	// the order never depends on anything but the run.
	queue  timeq.Queue[func()]
	digest hash.Hash
	out    io.Writer
	line   []byte

	// Separate streams, so that changing how one is drawn from does not reshuffle the others.
	workload, network, faults, disk *rand.Rand
	seed                            int64
	// halted: the run stopped at a safety violation; no further event runs.
	halted bool
}

// Stream identifiers mixed into the run's seed.
const (
	streamWorkload = 0x776f726b6c6f6164
	streamNetwork  = 0x6e6574776f726b00
	streamFaults   = 0x6661756c74730000
	streamDisk     = 0x6469736b00000000
	streamMember   = 0x6d656d6265720000
)

func newWorld(seed int64, trace io.Writer) *world {
	s := uint64(seed)
	return &world{
		digest:   sha256.New(),
		out:      trace,
		workload: rand.New(rand.NewPCG(s, streamWorkload)),
		network:  rand.New(rand.NewPCG(s, streamNetwork)),
		faults:   rand.New(rand.NewPCG(s, streamFaults)),
		disk:     rand.New(rand.NewPCG(s, streamDisk)),
		seed:     seed,
	}
}

// after schedules fn at now+d.
func (w *world) after(d time.Duration, fn func()) {
	if d < 0 {
		d = 0
	}
	w.queue.Push(int64(w.now+d), fn)
}

// The FIFO lanes of the event queue (timeq.Queue.PushFIFO): one per constant delay the
// simulator schedules at very often. Their events come out in the same order as through
// after; they only stay out of the heap.
const (
	laneWork          = iota // a member's Work, workDelay after a kick
	laneClientTimeout        // a client giving up, clientTimeout after its call
	laneAnswerBound          // the check that a member answered, answerBound after the call
)

// afterFIFO schedules fn at now+d on a lane, for a d that is the same at every call.
func (w *world) afterFIFO(lane int, d time.Duration, fn func()) {
	w.queue.PushFIFO(lane, int64(w.now+d), fn)
}

// runUntil runs events in order until the queue is empty or the next one is after end.
func (w *world) runUntil(end time.Duration) {
	for next, ok := w.queue.Next(); ok && !w.halted && time.Duration(next) <= end; next, ok = w.queue.Next() {
		at, fn := w.queue.Pop()
		if time.Duration(at) < w.now {
			panic(fmt.Sprintf("sim: event at %v before now %v", time.Duration(at), w.now))
		}
		w.now = time.Duration(at)
		fn()
	}
	if w.now < end && !w.halted {
		w.now = end
	}
}

// tracef appends one line "t=<ns> <event>" to the trace: hashed into the digest, and written
// to the trace writer when there is one.
func (w *world) tracef(format string, args ...any) {
	w.line = fmt.Appendf(w.linePrefix(), format, args...)
	w.emit()
}

// linePrefix starts a trace line: "t=<ns> ".
func (w *world) linePrefix() []byte {
	w.line = append(w.line[:0], "t="...)
	w.line = strconv.AppendInt(w.line, int64(w.now), 10)
	return append(w.line, ' ')
}

// emit ends the line in w.line and hashes (and writes) it.
func (w *world) emit() {
	w.line = append(w.line, '\n')
	w.digest.Write(w.line)
	if w.out != nil {
		_, _ = w.out.Write(w.line)
	}
}

// traceNet traces a message put on the network, the trace's most frequent line, built
// without fmt (fmt was 5% of BenchmarkSteady1000's CPU profile here): the same text as
// tracef("net %s->%s len=%d h=%08x %s", from, to, size, sum, outcome), with lat=<ns> as
// the outcome when outcome is "".
func (w *world) traceNet(from, to string, size int, sum uint32, outcome string, lat int64) {
	b := append(w.linePrefix(), "net "...)
	b = append(append(append(b, from...), "->"...), to...)
	b = strconv.AppendInt(append(b, " len="...), int64(size), 10)
	b = append(b, " h="...)
	const hexDigits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[sum>>uint(shift)&0xf])
	}
	b = append(b, ' ')
	if outcome == "" {
		b = strconv.AppendInt(append(b, "lat="...), lat, 10)
	} else {
		b = append(b, outcome...)
	}
	w.line = b
	w.emit()
}

func (w *world) digestHex() string { return hex.EncodeToString(w.digest.Sum(nil)) }

// uniform draws a duration in [lo, hi] from r.
func uniform(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}
