package sim

import (
	"time"

	"github.com/ballastdb/ballast/scenarios"
)

// A paused member is a process frozen in place (docker pause, SIGSTOP): it keeps its memory
// and its connections and notices nothing. While it is paused the tick loop skips its Tick,
// a kick or a Work that comes due is deferred, and everything that reaches it waits in
// sm.held in arrival order: the messages delivered to it, the completions of its disk syncs,
// the client requests sent to it (clients cannot tell a frozen member from a slow one, so
// pickLive still draws it and its clients wait, giving up after clientTimeout as usual), and
// a graceful stop (a SIGTERM waits for the thaw). Its clock runs on: on resume it sees the
// time jump, as a thawed process does. Resuming runs the held events in order (each still of
// the same process; a step that crashes the member voids the rest) and then one Work. A
// crash of a paused member is a crash (SIGKILL reaches a frozen process): what was held is
// gone with its memory, and the new process is not paused. Pauses of one process nest: it
// resumes when the last ends. The simulator's own reads of a member's state (HashKV checks,
// the leader a fault targets) are not the process acting; membership calls and leader
// transfers go to the leader among the members not paused (cluster.leader).

// paused reports whether sm's process is frozen.
func (sm *simMember) paused() bool { return sm.pauses > 0 }

// pausedFor is how long sm's processes have been paused in all, up to now: a request's
// answer bound is pushed back by the time its member spent paused (its request timeout
// counts ticks, and a paused member does not tick).
func (sm *simMember) pausedFor(now time.Duration) time.Duration {
	if sm.paused() {
		return sm.pausedTotal + now - sm.pausedSince
	}
	return sm.pausedTotal
}

// hold defers fn until sm resumes, when sm is paused, and reports whether it did.
func (c *cluster) hold(sm *simMember, fn func()) bool {
	if !sm.paused() {
		return false
	}
	sm.held = append(sm.held, fn)
	return true
}

// holdDelivery keeps a message that reached a paused member, to be received when it resumes
// (in the kernel's socket buffer, for a real frozen process). Both lines name the message by
// its sender and FNV-32 sum, so a trace shows the order kept.
func (c *cluster) holdDelivery(fi int, to *simMember, data []byte) {
	from, gen, sum := c.slots[fi].name, to.gen, fnv32a(data)
	c.w.tracef("%s holds %s h=%08x", to.name, from, sum)
	c.hold(to, func() {
		if to.m == nil || to.gen != gen {
			return
		}
		c.w.tracef("%s receives held %s h=%08x", to.name, from, sum)
		c.delivered++
		_ = to.m.Receive(data)
		c.kick(to)
	})
}

// pause freezes sm's running process (a stopped member has nothing to freeze: false).
func (c *cluster) pause(sm *simMember) bool {
	if sm.m == nil {
		return false
	}
	if sm.pauses == 0 {
		sm.pausedSince = c.w.now
		c.w.tracef("%s pauses", sm.name)
	}
	sm.pauses++
	return true
}

// resume ends one pause of the process of generation gen (nothing, if that process is gone);
// the last one thaws it: the held events run in arrival order, then its Work.
func (c *cluster) resume(sm *simMember, gen int) {
	if sm.gen != gen || sm.m == nil || sm.pauses == 0 {
		return
	}
	sm.pauses--
	if sm.pauses > 0 {
		return
	}
	sm.pausedTotal += c.w.now - sm.pausedSince
	held := sm.held
	sm.held = nil
	c.w.tracef("%s resumes after %v: %d held events", sm.name, c.w.now-sm.pausedSince, len(held))
	for _, fn := range held {
		if sm.m == nil || sm.gen != gen {
			break // a held step crashed it: the rest died with the process
		}
		fn()
	}
	if sm.m != nil && sm.gen == gen && sm.kickHeld {
		sm.kickHeld = false
		c.kick(sm)
	}
}

// forgetPause clears the pause state of a process that stops (crash, graceful stop).
func (sm *simMember) forgetPause(now time.Duration) {
	if sm.paused() {
		sm.pausedTotal += now - sm.pausedSince
	}
	sm.pauses, sm.held, sm.kickHeld = 0, nil, false
}

// applyPause freezes the first target for the fault's Duration (until healing when 0).
func applyPause(s *sim, _ scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	if len(targets) == 0 {
		return targets, func() {}
	}
	targets = targets[:1]
	sm := targets[0]
	gen := sm.gen
	if !s.c.pause(sm) {
		s.w.tracef("%s is not running: nothing to pause", sm.name)
		return targets, func() {}
	}
	return targets, func() { s.c.resume(sm, gen) }
}
