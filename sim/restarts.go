package sim

import (
	"slices"
	"time"

	"github.com/ballastdb/ballast/scenarios"
)

// Restarts of whole processes, as an operator makes them. graceful-restart stops the target
// cleanly: its process closes (its waiting requests fail with ErrStopped, its events are
// voided), nothing it wrote is lost (its disk is synced whole, as the kernel writes the page
// cache of a process that exited; a crash is what loses unsynced writes), and it starts again
// on its disk gracefulDown later. A paused target's stop waits for it to resume, as a SIGTERM
// waits for the thaw. rolling-restart restarts every member so, one at a time: each step takes
// the first member of the cluster (slot order) that does not lead, the leader only when it is
// the last left, and the next step begins once the restarted member serves again (it runs,
// knows a leader and applied what the cluster had committed when it stopped), or after
// rollStepMax, traced. kill-all crashes every running member at the same instant (each losing
// what it had not synced) and restarts them all after Duration (at healing when 0).

// Restart timing (virtual time).
const (
	// gracefulDown is how long a gracefully stopped member stays down: a process exiting
	// and its supervisor starting it again.
	gracefulDown = 500 * time.Millisecond
	// rollPoll is how often a rolling restart checks whether the member it restarted serves
	// again; rollStepMax bounds the wait.
	rollPoll    = 100 * time.Millisecond
	rollStepMax = 5 * time.Second
)

// gracefulStop closes sm's process cleanly and syncs its disk whole. A member that stopped
// serving on its own (a storage error, its removal) cannot shut down cleanly: it is crashed.
func (c *cluster) gracefulStop(sm *simMember) {
	if sm.m == nil {
		return
	}
	if err := sm.m.Stopped(); err != nil {
		c.crash(sm, "graceful stop of a stopped member")
		return
	}
	stopProcess(sm, c.w.now)
	sm.fs.syncAll()
	c.w.tracef("%s stops gracefully", sm.name)
}

// gracefulRestart stops sm cleanly (once it resumes, if paused) and starts it again
// gracefulDown later.
func (s *sim) gracefulRestart(sm *simMember) {
	if sm.m == nil {
		s.w.tracef("%s is not running: no graceful restart", sm.name)
		return
	}
	if sm.paused() {
		gen := sm.gen
		s.w.tracef("%s is paused: its stop waits for it to resume", sm.name)
		s.c.hold(sm, func() {
			if sm.gen == gen {
				s.gracefulRestart(sm)
			}
		})
		return
	}
	s.c.gracefulStop(sm)
	s.w.after(gracefulDown, func() { s.c.restart(sm) })
}

func applyGracefulRestart(s *sim, _ scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	if len(targets) > 0 {
		targets = targets[:1]
		s.gracefulRestart(targets[0])
	}
	return targets, nil
}

// applyRollingRestart starts a roll over the current members; the targets it returns (and
// the history names) are all of them, in slot order.
func applyRollingRestart(s *sim, _ scenarios.Fault, _ []*simMember, _ *string) ([]*simMember, func()) {
	all := slices.Clone(s.c.members)
	s.roll(all)
	return all, nil
}

// roll restarts the next member of left and schedules the rest once it serves again. Healing
// ends a roll: it restarts every member itself.
func (s *sim) roll(left []*simMember) {
	left = slices.DeleteFunc(slices.Clone(left), func(sm *simMember) bool { return sm.removed || sm.refused })
	if s.healing {
		return
	}
	if len(left) == 0 {
		s.w.tracef("rolling-restart done")
		return
	}
	next := left[0]
	if ld := s.c.leader(); ld != nil {
		for _, sm := range left {
			if sm != ld {
				next = sm
				break
			}
		}
	}
	rest := without(left, next)
	// what the cluster committed when next stops: it must have applied as much to serve again
	var committed uint64
	for _, sm := range s.c.live() {
		hs, _ := sm.m.States()
		committed = max(committed, hs.Commit)
	}
	s.w.tracef("rolling-restart: %s (committed %d), %d left after it", next.name, committed, len(rest))
	s.gracefulRestart(next)
	deadline := s.w.now + rollStepMax
	var wait func()
	wait = func() {
		if s.healing {
			return
		}
		serving := false
		if sm := next; sm.m != nil && !sm.paused() {
			_, ss := sm.m.States()
			serving = ss.Lead != 0 && sm.m.AppliedIndex() >= committed
		}
		switch {
		case serving:
			s.roll(rest)
		case s.w.now >= deadline || next.removed || next.refused:
			s.w.tracef("rolling-restart: %s not serving again after %v, going on", next.name, rollStepMax)
			s.roll(rest)
		default:
			s.w.after(rollPoll, wait)
		}
	}
	s.w.after(gracefulDown+rollPoll, wait)
}

// applyKillAll crashes every running member at once: a crash fault on all of them.
func applyKillAll(s *sim, f scenarios.Fault, _ []*simMember, detail *string) ([]*simMember, func()) {
	return applyCrash(s, f, s.c.live(), detail)
}
