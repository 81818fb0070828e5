package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ballastdb/ballast/kv/faultfs"
	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/raft"
)

// Each member runs on its own crash-tracking in-memory FS (memfs.go), seen by Pebble through a kv/faultfs
// wrapper (disk faults: faultkinds.go), with the run's knobs (knobs.go: the
// scenario's settings, and per seed, from their own stream, small snapshot thresholds,
// small appends, short election timeouts, tiny Pebble memtables and caches and a tiny raft
// log cache; Pebble's sizes are otherwise 4 MiB and 1 MiB so many members fit), a Clock that follows
// virtual time at its own rate (ClockSkew changes the rate, never the reading at once) and a
// Logger into the trace. After any event that touches a member (a tick, a message, a
// request, a sync) its Work runs as an event 50µs later; a Work output with a SyncToken
// schedules Synced after a disk latency (0.5–3 ms, plus any SlowDisk delay), so a crash can
// land between the write and its sync. A crash closes the member after
// crashClone of its FS (power loss: only what was synced); a restart reopens it on the
// clone. A generation number per member voids every event of a crashed process. Members are
// slots: member mI has raft ID I+1 (cluster.index), IDs are never reused, and a member added
// by churn takes the next slot; cluster.members are the current ones (founding and added,
// less the removed and those that refused to serve), the only ones clients, watchers,
// healing and the HashKV and convergence checks consider. Messages
// cross the network as the bytes Work/Synced produced, each with a latency drawn from its
// link's own distribution (uniform in [lo, hi] within 1–10 ms, drawn per directed link from
// the seed and the link's ends; links.go), so links differ and messages reorder; loss,
// duplication and extra reordering at the fault's rate,
// a latency spike, and partitions as a counted cut set of directed links (a message in
// flight when its link is cut is dropped). A paused member (pause.go) skips its ticks and
// Work and holds what reaches it until it resumes.

// Disk and network models (virtual time).
const (
	syncLatencyMin = 500 * time.Microsecond
	syncLatencyMax = 3 * time.Millisecond
	linkLatencyMin = 1 * time.Millisecond
	linkLatencyMax = 10 * time.Millisecond
	// workDelay separates a member's successive Work calls, so a busy member never spins at
	// one virtual instant.
	workDelay = 50 * time.Microsecond
)

// memberClock is a member's Clock: virtual time, running at 1+rate since it was last rebased.
type memberClock struct {
	w        *world
	baseReal time.Duration
	baseSeen time.Duration
	rate     float64
}

func (c *memberClock) Now() time.Duration {
	return c.baseSeen + time.Duration(float64(c.w.now-c.baseReal)*(1+c.rate))
}

// setRate changes the clock's speed from now on; its reading never jumps.
func (c *memberClock) setRate(rate float64) {
	c.baseSeen, c.baseReal, c.rate = c.Now(), c.w.now, rate
}

// traceLogger writes a member's log lines into the trace.
type traceLogger struct {
	w    *world
	name string
}

func (l traceLogger) Logf(format string, args ...any) {
	l.w.tracef("%s log %s", l.name, fmt.Sprintf(format, args...))
}

// simMember is one member slot: its disk survives crashes, its process does not.
type simMember struct {
	id   uint64
	name string
	fs   *memFS
	// disk is fs as the member's Pebble sees it: the disk faults armed on it fire on the WAL
	// within the member's Synced (a new wrapper over each restart's clone keeps what is armed).
	disk  *faultfs.FS
	m     *node.Member // nil while down
	clock *memberClock
	rand  *rand.Rand
	gen   int // incremented at each open and crash: stale events of an old process do nothing

	workQueued bool
	// workFn is kick's event for the process of generation workFnGen
	workFn    func()
	workFnGen int
	syncing   bool
	extraSync time.Duration // slow-disk delay
	crashes   int
	// removed: taken out of the configuration (its process stops removeGrace later); refused:
	// it found its disk corrupt and refuses to serve, for good. Either way it is no longer
	// one of cluster.members, never restarted, and never picked by clients or watchers.
	removed, refused bool
	// corrupted: its disk was damaged (corrupt.go); it will refuse to serve when it opens.
	corrupted bool
	// stepCrash, when set, crashes the member at a step of a coming persist cycle; cycle is
	// the one in flight; truncations counts its truncated suffixes (stepcrash.go).
	stepCrash   *stepCrash
	cycle       persistCycle
	truncations int
	// pauses counts the pause faults freezing the process (pause.go); held are the events
	// that reached it meanwhile, in arrival order, and kickHeld a Work deferred. pausedSince
	// is when the current pause began, pausedTotal the time paused before it.
	pauses                   int
	held                     []func()
	kickHeld                 bool
	pausedSince, pausedTotal time.Duration
}

// cluster is the members and the network between them.
type cluster struct {
	w *world
	// refusedFull counts the requests members refused with ErrTooManyRequests.
	refusedFull int
	// refusedCompacted counts the reads at a past revision refused as compacted.
	refusedCompacted int
	// knobs are every member's settings (knobs.go).
	knobs Knobs
	// wrapConfig, when set (tests only, through Options.wrapConfig), adjusts every member's
	// Config before it opens, e.g. to wrap its Observer.
	wrapConfig func(*node.Config)
	// links holds each directed link's latency distribution, drawn on first use (links.go).
	links map[[2]uint64]linkLatency
	// slots holds every member the run ever had, at index(id) = id-1: ids are never reused,
	// so messages and cut links address slots. members are the current ones (the founding
	// members and those added, less the removed and the refused), in slot order: the ones
	// clients, watchers, healing and the HashKV and convergence checks consider.
	slots   []*simMember
	members []*simMember
	ids     []uint64 // the founding members' IDs (Config.InitialMembers)
	// cut counts the faults cutting each directed link (from index, to index).
	cut       map[[2]int]int
	lossRate  float64
	dupRate   float64
	reorder   float64
	spike     time.Duration
	delivered int
	// freeDeliveries are deliveries done, for send to reuse
	freeDeliveries []*delivery
	fail           string // set when a member failed in a way the run cannot go on from
	// expiries records every lease expiry once (leases.go); set by the workload.
	expiries *expiryLog
	// onRefuse, when set, hears of a member that refused to serve (corruption.go).
	onRefuse func(sm *simMember, err error)
	// safety is the online safety checker every member reports to (safety.go).
	safety *safetyChecker
	// diskFaultStops counts the disk faults that reached Pebble in a member's Synced and
	// stopped the member (purpose.go).
	diskFaultStops int
	// stepCrashes counts step crashes, voteCrashes those in a cycle that wrote a vote, and
	// truncationCrashes those right after a truncation (stepcrash.go, purpose.go).
	stepCrashes, voteCrashes, truncationCrashes int
}

func newCluster(w *world, n int, knobs Knobs, wrapConfig func(*node.Config)) (*cluster, error) {
	c := &cluster{w: w, cut: map[[2]int]int{}, knobs: knobs, wrapConfig: wrapConfig,
		links: map[[2]uint64]linkLatency{}}
	c.safety = newSafetyChecker(func(id uint64) string {
		if i := c.index(id); i >= 0 && i < len(c.slots) {
			return c.slots[i].name
		}
		return fmt.Sprintf("member %d", id)
	})
	c.safety.onEvent = c.noteEvent
	c.safety.skewed = func() bool {
		for _, sm := range c.members {
			if sm.m != nil && sm.clock.rate != 0 {
				return true
			}
		}
		return false
	}
	// the member's clock runs at the lease drift bound ρ exactly (purpose.go)
	c.safety.atDriftBound = func(id uint64) bool {
		i := c.index(id)
		return i >= 0 && i < len(c.slots) && math.Abs(c.slots[i].clock.rate) == node.DefaultMaxLeaseDriftRate
	}
	for i := range n {
		c.ids = append(c.ids, uint64(i+1))
	}
	for range c.ids {
		if _, err := c.newSlot(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// newSlot creates the next member (ID len(slots)+1, named m<index>) on an empty disk and
// opens it: a founding member bootstraps the cluster, a later one waits, empty, to be added.
func (c *cluster) newSlot() (*simMember, error) {
	id := uint64(len(c.slots) + 1)
	sm := &simMember{id: id, name: fmt.Sprintf("m%d", id-1), fs: newCrashableMem(),
		clock: &memberClock{w: c.w},
		rand:  rand.New(rand.NewPCG(uint64(c.w.seed), streamMember+id))}
	c.slots = append(c.slots, sm)
	c.members = append(c.members, sm)
	if err := c.open(sm); err != nil {
		return nil, err
	}
	return sm, nil
}

func (c *cluster) index(id uint64) int { return int(id) - 1 }

func (c *cluster) open(sm *simMember) error {
	armed := faultfs.None
	if sm.disk != nil {
		armed = sm.disk.Armed()
	}
	sm.disk = faultfs.New(sm.fs)
	sm.disk.Arm(armed)
	cfg := node.Config{ID: sm.id, InitialMembers: c.ids, FS: sm.disk, Dir: memberDir,
		Clock: sm.clock, Rand: sm.rand, Logger: traceLogger{w: c.w, name: sm.name},
		OnLeaseExpired: func(e node.LeaseExpiry) { c.leaseExpired(sm, e) },
		Observer:       c.safety.observer()}
	c.knobs.apply(&cfg)
	if c.wrapConfig != nil {
		c.wrapConfig(&cfg)
	}
	m, err := node.Open(cfg)
	if err != nil {
		return fmt.Errorf("open %s: %w", sm.name, err)
	}
	sm.m = m
	sm.gen++
	sm.syncing = false
	sm.workQueued = false
	c.w.tracef("%s open", sm.name)
	gen := sm.gen
	// ticks at the member's own pace, with a phase drawn per member so members do not tick
	// in lockstep
	c.w.after(uniform(c.w.disk, 0, node.DefaultTickInterval), func() { c.tick(sm, gen) })
	return nil
}

func (c *cluster) tick(sm *simMember, gen int) {
	if sm.m == nil || sm.gen != gen {
		return
	}
	if !sm.paused() { // a frozen process does not tick (pause.go)
		sm.m.Tick()
		c.kick(sm)
	}
	next := time.Duration(float64(node.DefaultTickInterval) / (1 + sm.clock.rate))
	c.w.after(next, func() { c.tick(sm, gen) })
}

// kick schedules Work on sm soon, once.
func (c *cluster) kick(sm *simMember) {
	if sm.m == nil || sm.workQueued {
		return
	}
	if sm.paused() {
		sm.kickHeld = true
		return
	}
	sm.workQueued = true
	if sm.workFn == nil || sm.workFnGen != sm.gen {
		// one closure per process, not one per kick (a kick follows every delivery)
		gen := sm.gen
		sm.workFn, sm.workFnGen = func() {
			if sm.m == nil || sm.gen != gen {
				return
			}
			sm.workQueued = false
			if sm.paused() {
				sm.kickHeld = true
				return
			}
			c.work(sm)
		}, gen
	}
	c.w.afterFIFO(laneWork, workDelay, sm.workFn)
}

func (c *cluster) work(sm *simMember) {
	if sm.m.Stopped() != nil {
		return
	}
	truncations := sm.truncations
	out, err := sm.m.Work()
	if errors.Is(err, node.ErrCorruption) {
		c.refuse(sm, err)
		return
	}
	if err != nil {
		c.w.tracef("%s work error: %v", sm.name, err)
		c.crash(sm, "work error")
		return
	}
	c.send(sm, out.Messages)
	if out.SyncToken != 0 {
		c.beginCycle(sm, truncations)
		if c.crashAtStep(sm, stepBeforeSync) {
			return
		}
		sm.syncing = true
		gen, tok := sm.gen, out.SyncToken
		lat := uniform(c.w.disk, syncLatencyMin, syncLatencyMax) + sm.extraSync
		var synced func()
		synced = func() {
			if sm.m == nil || sm.gen != gen || c.hold(sm, synced) {
				return
			}
			sm.syncing = false
			// the member's own step: an armed disk fault fires on the WAL writes and sync
			// Pebble does for it now (kv/faultfs)
			sm.disk.BeginStep()
			msgs, err := sm.m.Synced(tok)
			fired := sm.disk.EndStep()
			if fired != faultfs.None {
				c.diskFault(sm, fired, err, msgs)
				return
			}
			if err != nil {
				c.w.tracef("%s sync error: %v", sm.name, err)
				c.crash(sm, "sync error")
				return
			}
			if c.crashAtStep(sm, stepBeforeSend) {
				return
			}
			c.send(sm, msgs)
			c.kick(sm)
		}
		c.w.after(lat, synced)
	}
	if len(out.Messages) > 0 || out.SyncToken != 0 {
		c.kick(sm)
	}
}

// diskFault handles a Synced in which an armed disk fault reached Pebble's WAL. The member
// must have stopped with a storage error (counted for the purpose) and is crashed: a power
// loss, so it restarts from what its last good sync made durable. A member that went on as
// if the sync had succeeded (the sync-error-ignored canary) has its messages sent, as it
// asked, and loses power all the same, as a machine whose disk failed does: what it
// acknowledged from the failed sync on is gone, which the safety checker sees at its restart.
// The trace names the fault, not the error (whose text names Pebble's WAL file).
func (c *cluster) diskFault(sm *simMember, fired faultfs.Fault, err error, msgs []node.Envelope) {
	if err != nil && errors.Is(err, node.ErrStorage) {
		c.diskFaultStops++
		c.w.tracef("%s sync fails: %s reached Pebble, the member stopped", sm.name, fired)
		c.crash(sm, "disk fault")
		return
	}
	c.w.tracef("%s sync fails: %s reached Pebble, the member went on (err=%v)", sm.name, fired, err != nil)
	c.send(sm, msgs)
	c.crash(sm, "disk failed")
}

// send puts messages on the network: each is traced, then lost, duplicated or delivered
// after the link's latency.
func (c *cluster) send(from *simMember, msgs []node.Envelope) {
	fi := c.index(from.id)
	for _, e := range msgs {
		ti := c.index(e.To)
		if ti < 0 || ti >= len(c.slots) {
			continue
		}
		sum := fnv32a(e.Data)
		if c.cut[[2]int{fi, ti}] > 0 {
			c.w.traceNet(from.name, c.slots[ti].name, len(e.Data), sum, "cut", 0)
			continue
		}
		if c.lossRate > 0 && c.w.network.Float64() < c.lossRate {
			c.w.traceNet(from.name, c.slots[ti].name, len(e.Data), sum, "lost", 0)
			continue
		}
		copies := 1
		if c.dupRate > 0 && c.w.network.Float64() < c.dupRate {
			copies = 2
		}
		for range copies {
			ll := c.link(from.id, e.To)
			lat := uniform(c.w.network, ll.lo, ll.hi) + c.spike
			if c.reorder > 0 && c.w.network.Float64() < c.reorder {
				lat += uniform(c.w.network, 0, 5*linkLatencyMax)
			}
			c.w.traceNet(from.name, c.slots[ti].name, len(e.Data), sum, "", int64(lat))
			c.w.after(lat, c.newDelivery(fi, ti, c.slots[ti], e.Data).run)
		}
	}
}

// delivery is a message in flight. Deliveries are reused (cluster.freeDeliveries): a
// message is the most frequent event, and a closure for each was 5% of a run's allocations.
type delivery struct {
	c      *cluster
	fi, ti int
	to     *simMember
	data   []byte
	run    func() // deliver, bound once per delivery
}

func (c *cluster) newDelivery(fi, ti int, to *simMember, data []byte) *delivery {
	var d *delivery
	if n := len(c.freeDeliveries); n > 0 {
		d, c.freeDeliveries = c.freeDeliveries[n-1], c.freeDeliveries[:n-1]
	} else {
		d = &delivery{c: c}
		d.run = d.deliver
	}
	d.fi, d.ti, d.to, d.data = fi, ti, to, data
	return d
}

func (d *delivery) deliver() {
	c, fi, ti, to, data := d.c, d.fi, d.ti, d.to, d.data
	d.to, d.data = nil, nil
	c.freeDeliveries = append(c.freeDeliveries, d)
	// a partition that began while the message was in flight drops it too
	if to.m == nil || c.cut[[2]int{fi, ti}] > 0 {
		return
	}
	if to.paused() {
		c.holdDelivery(fi, to, data)
		return
	}
	c.delivered++
	_ = to.m.Receive(data) // stale or refused messages are raft's business
	c.kick(to)
}

// crash stops sm at once: its memory and every unsynced write are gone.
func (c *cluster) crash(sm *simMember, why string) {
	if sm.m == nil {
		return
	}
	// the clone is taken before Close, which may write: power loss keeps only what was synced
	clone := sm.fs.crashClone()
	stopProcess(sm, c.w.now) // Close fails its waiting requests with ErrStopped
	sm.crashes++
	sm.fs = clone
	c.w.tracef("%s crash (%s)", sm.name, why)
}

// restart reopens a crashed member from what it synced; a member that finds its disk
// corrupt refuses to serve (refuse). Removed and refused members stay down.
func (c *cluster) restart(sm *simMember) {
	if sm.m != nil || sm.removed || sm.refused {
		return
	}
	if err := c.open(sm); errors.Is(err, node.ErrCorruption) {
		c.refuse(sm, err)
	} else if err != nil {
		c.fail = err.Error()
	}
}

// refuse takes sm out of the cluster for good: it detected corruption (at open or while it
// ran) and must not serve. Its process, if any, is closed. The trace names no file: which
// file held the damage depends on Pebble's layout, not on the run (onRefuse gets the error).
func (c *cluster) refuse(sm *simMember, err error) {
	if sm.refused {
		return
	}
	sm.refused = true
	stopProcess(sm, c.w.now)
	c.members = without(c.members, sm)
	c.w.tracef("%s refuses to serve: corruption detected", sm.name)
	if c.onRefuse != nil {
		c.onRefuse(sm, err)
	}
}

// stopProcess closes sm's running process, if any, and voids its pending events; its disk
// stays as it is. It reports whether a process was running.
func stopProcess(sm *simMember, now time.Duration) bool {
	if sm.m == nil {
		return false
	}
	m := sm.m
	sm.m = nil
	sm.gen++
	sm.syncing, sm.workQueued = false, false
	sm.forgetPause(now)
	_ = m.Close()
	return true
}

// retire takes a member whose removal applied out of the cluster; its process runs on for
// removeGrace (a removed leader hands leadership over first), then stops.
func (c *cluster) retire(sm *simMember) {
	if sm.removed {
		return
	}
	sm.removed = true
	c.members = without(c.members, sm)
	c.w.tracef("%s removed", sm.name)
	c.w.after(removeGrace, func() {
		if stopProcess(sm, c.w.now) {
			c.w.tracef("%s stops (removed)", sm.name)
		}
	})
}

// without returns a new slice: callers may be ranging over the old one (healing restarts
// every member, and a restart may refuse).
func without(ms []*simMember, sm *simMember) []*simMember {
	return slices.DeleteFunc(slices.Clone(ms), func(x *simMember) bool { return x == sm })
}

func (c *cluster) live() []*simMember {
	var out []*simMember
	for _, sm := range c.members {
		if sm.m != nil {
			out = append(out, sm)
		}
	}
	return out
}

// pickLive is a live member drawn from r as live()[r.IntN(len(live()))] would be (nil, and
// no draw, when none is live), without building the list: the workload picks one per request.
// A paused member is live (its clients cannot tell it from a slow one): requests to it wait
// in it (pause.go).
func (c *cluster) pickLive(r *rand.Rand) *simMember {
	n := 0
	for _, sm := range c.members {
		if sm.m != nil {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	i := r.IntN(n)
	for _, sm := range c.members {
		if sm.m != nil {
			if i == 0 {
				return sm
			}
			i--
		}
	}
	panic("sim: pickLive lost a live member")
}

// leader is the live member that leads in the highest term, nil when none. A paused member
// is passed over: the calls made of the leader (membership, leader transfer) need a process
// that answers.
func (c *cluster) leader() *simMember {
	var best *simMember
	var term uint64
	for _, sm := range c.live() {
		if sm.paused() {
			continue
		}
		hs, ss := sm.m.States()
		if ss.RaftState == raft.StateLeader && (best == nil || hs.Term > term) {
			best, term = sm, hs.Term
		}
	}
	return best
}

func (c *cluster) close() {
	for _, sm := range c.slots {
		if sm.m != nil {
			_ = sm.m.Close()
			sm.m = nil
		}
	}
}

// fnv32a is hash/fnv's FNV-1a 32-bit sum of b, without New32a's allocation per message.
func fnv32a(b []byte) uint32 {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for _, c := range b {
		h ^= uint32(c)
		h *= prime
	}
	return h
}
