package sim

import (
	"time"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/scenarios"
)

// Step crashes: power loss at one step of a member's persist cycle. The simulator drives the
// cycle itself (cluster.work): Work writes a Ready unsynced and hands out the messages that
// may go now, the disk syncs after a virtual delay, Synced releases the messages that waited
// for it, and they are sent. A step-crash fault arms its member; the member's next cycle
// (for crash-after-truncate, the next one that truncated a conflicting suffix) crashes at
// the fault's step, and the member restarts stepCrashRestart later. Where a random crash
// lands between a write and its sync once in a thousand, these land there every time: the
// vote and append paths' durability promises are tested at the exact step they are made.

// stepCrashRestart is how long a step-crashed member stays down: long enough that messages
// in flight to it are lost, short enough that it returns into the same election or the same
// leader's appends.
const stepCrashRestart = 50 * time.Millisecond

// crashStep is the step of a persist cycle at which an armed member crashes.
type crashStep int

const (
	stepBeforeSync crashStep = iota + 1 // the Ready is written, not synced
	stepBeforeSend                      // synced; the messages it released are not sent
)

// stepCrash is an armed step-crash fault.
type stepCrash struct {
	kind      scenarios.FaultKind
	step      crashStep
	truncated bool // fires only at a cycle that truncated a conflicting suffix
}

// persistCycle is what the simulator knows of a member's persist cycle in flight.
type persistCycle struct {
	truncated bool // its Ready truncated a conflicting suffix
	vote      bool // its Ready wrote a vote for another member
}

func applyStepCrash(step crashStep, truncated bool) applyFunc {
	return func(s *sim, f scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
		if len(targets) == 0 {
			return targets, func() {}
		}
		targets = targets[:1]
		sm := targets[0]
		armed := &stepCrash{kind: f.Kind, step: step, truncated: truncated}
		sm.stepCrash = armed
		return targets, func() {
			if sm.stepCrash == armed {
				sm.stepCrash = nil // the step did not come while armed
			}
		}
	}
}

// beginCycle records, after Work wrote a Ready that needs a sync, what the cycle holds.
func (c *cluster) beginCycle(sm *simMember, truncationsBefore int) {
	st, _ := sm.m.States()
	d := c.safety.member(sm.id).durable
	sm.cycle = persistCycle{
		truncated: sm.truncations > truncationsBefore,
		vote:      st.Vote != 0 && st.Vote != sm.id && (st.Term != d.Term || st.Vote != d.Vote),
	}
}

// crashAtStep crashes sm if it is armed for this step of its cycle in flight, and schedules
// its restart; it reports whether it did.
func (c *cluster) crashAtStep(sm *simMember, step crashStep) bool {
	a := sm.stepCrash
	if a == nil || a.step != step || a.truncated && !sm.cycle.truncated {
		return false
	}
	sm.stepCrash = nil
	c.stepCrashes++
	if sm.cycle.vote {
		c.voteCrashes++
	}
	if a.truncated {
		c.truncationCrashes++
	}
	c.crash(sm, string(a.kind))
	c.w.after(stepCrashRestart, func() { c.restart(sm) })
	return true
}

// noteEvent hears every member event after the safety checker: truncations are counted per
// member for the step crashes.
func (c *cluster) noteEvent(e node.Event) {
	if e.Kind != node.EventSuffixTruncated {
		return
	}
	if i := c.index(e.Member); i >= 0 && i < len(c.slots) {
		c.slots[i].truncations++
	}
}
