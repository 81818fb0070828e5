package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/scenarios"
)

// supported lists the fault kinds this simulator injects; any other kind fails the run
// before it starts (never silently skipped).
var supported = []scenarios.FaultKind{
	scenarios.Crash, scenarios.Restart, scenarios.Partition, scenarios.Isolate, scenarios.OneWay,
	scenarios.Loss, scenarios.Duplicate, scenarios.Reorder, scenarios.Latency,
	scenarios.SlowDisk, scenarios.ClockSkew, scenarios.TransferLeader, scenarios.Bridge, scenarios.SyncFail,
	scenarios.Corrupt, scenarios.AddMember, scenarios.RemoveMember, scenarios.ReplaceMember,
}

func checkSupported(fs []scenarios.Fault) error {
	for _, f := range fs {
		if !slices.Contains(supported, f.Kind) {
			return fmt.Errorf("fault kind %q is not supported by the simulator yet", f.Kind)
		}
	}
	return nil
}

// drawRandomFaults draws the scenario's random faults from the faults stream: each kind is
// enabled with probability one half, then Count faults are drawn among the enabled kinds.
func drawRandomFaults(s *sim, sc scenarios.Scenario) []scenarios.Fault {
	rf := sc.RandomFaults
	if rf == nil || rf.Count == 0 || len(rf.Kinds) == 0 {
		return nil
	}
	r := s.w.faults
	var kinds []scenarios.FaultKind
	for _, k := range rf.Kinds {
		if r.IntN(2) == 0 {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		kinds = append(kinds, rf.Kinds[r.IntN(len(rf.Kinds))])
	}
	var out []scenarios.Fault
	for range rf.Count {
		k := kinds[r.IntN(len(kinds))]
		at := uniform(r, sc.Duration/10, sc.Duration*7/10)
		dur := uniform(r, 500*time.Millisecond, sc.Duration/4)
		f := scenarios.Fault{Kind: k, At: at, Duration: dur}
		switch k {
		case scenarios.Crash, scenarios.Isolate, scenarios.SlowDisk, scenarios.ClockSkew, scenarios.Bridge, scenarios.SyncFail,
			scenarios.Corrupt, scenarios.RemoveMember, scenarios.ReplaceMember:
			f.Targets = []scenarios.Target{scenarios.Member(r.IntN(sc.Members))}
		case scenarios.Partition:
			f.Targets = []scenarios.Target{scenarios.Minority}
		case scenarios.OneWay:
			a := r.IntN(sc.Members)
			b := (a + 1 + r.IntN(max(sc.Members-1, 1))) % sc.Members
			f.Targets = []scenarios.Target{scenarios.Member(a), scenarios.Member(b)}
		case scenarios.TransferLeader, scenarios.AddMember:
			f.Duration = 0
		}
		switch k {
		case scenarios.Loss, scenarios.Duplicate, scenarios.Reorder:
			f.Rate = 0.05 + r.Float64()*0.25
		case scenarios.ClockSkew:
			f.Rate = (r.Float64()*2 - 1) * 0.009 // within the members' ρ of 1%
		case scenarios.Latency, scenarios.SlowDisk:
			f.Delay = uniform(r, 20*time.Millisecond, 300*time.Millisecond)
		}
		out = append(out, f)
	}
	return out
}

// resolve turns targets into member slots; role targets draw from the faults stream.
func (s *sim) resolve(ts []scenarios.Target) ([]*simMember, error) {
	var out []*simMember
	add := func(sm *simMember) {
		if sm != nil && !slices.Contains(out, sm) {
			out = append(out, sm)
		}
	}
	for _, t := range ts {
		switch t {
		case scenarios.Leader:
			add(s.c.leader())
		case scenarios.Follower:
			ld := s.c.leader()
			var fs []*simMember
			for _, sm := range s.c.live() {
				if sm != ld {
					fs = append(fs, sm)
				}
			}
			if len(fs) > 0 {
				add(fs[s.w.faults.IntN(len(fs))])
			}
		case scenarios.Minority:
			perm := s.w.faults.Perm(len(s.c.members))
			for _, i := range perm[:(len(s.c.members)-1)/2] {
				add(s.c.members[i])
			}
		default:
			name := string(t)
			i, err := strconv.Atoi(strings.TrimPrefix(name, "m"))
			if !strings.HasPrefix(name, "m") || err != nil || i < 0 || i >= len(s.c.slots) {
				return nil, fmt.Errorf("fault target %q names no member (m0..m%d, leader, follower, minority)", t, len(s.c.slots)-1)
			}
			add(s.c.slots[i])
		}
	}
	return out, nil
}

func names(ms []*simMember) []string {
	var out []string
	for _, sm := range ms {
		out = append(out, sm.name)
	}
	return out
}

// schedule puts every fault on the event queue.
func (s *sim) schedule(fs []scenarios.Fault) {
	s.c.onRefuse = s.recordRefusal
	for _, f := range fs {
		s.w.after(f.At, func() { s.inject(f) })
	}
}

// inject starts one fault and schedules its end.
func (s *sim) inject(f scenarios.Fault) {
	if s.healing {
		return
	}
	targets, err := s.resolve(f.Targets)
	if err != nil {
		s.fail(err.Error())
		return
	}
	s.faultsInjected++
	detail := fmt.Sprintf("dur=%v rate=%g delay=%v", f.Duration, f.Rate, f.Delay)
	s.w.tracef("fault %s start %v %s", f.Kind, names(targets), detail)
	now := int64(s.w.now)
	var undo func()
	switch f.Kind {
	case scenarios.Crash:
		for _, sm := range targets {
			s.c.crash(sm, "fault")
		}
		if f.Duration > 0 {
			undo = func() {
				for _, sm := range targets {
					s.c.restart(sm)
				}
			}
		} else {
			s.down = append(s.down, targets...)
		}
	case scenarios.Restart:
		for _, sm := range targets {
			s.c.restart(sm)
		}
	case scenarios.Partition, scenarios.Isolate:
		var links [][2]int
		for _, a := range targets {
			for _, b := range s.c.members {
				if !slices.Contains(targets, b) {
					ai, bi := s.c.index(a.id), s.c.index(b.id)
					links = append(links, [2]int{ai, bi}, [2]int{bi, ai})
				}
			}
		}
		undo = s.cutLinks(links)
	case scenarios.OneWay:
		var links [][2]int
		if len(targets) > 1 {
			for _, b := range targets[1:] {
				links = append(links, [2]int{s.c.index(targets[0].id), s.c.index(b.id)})
			}
		}
		undo = s.cutLinks(links)
	case scenarios.Bridge:
		// the others split into two halves (by index) that only the first target connects
		var others []*simMember
		for _, sm := range s.c.members {
			if len(targets) == 0 || sm != targets[0] {
				others = append(others, sm)
			}
		}
		half := len(others) / 2
		var links [][2]int
		for _, a := range others[:half] {
			for _, b := range others[half:] {
				ai, bi := s.c.index(a.id), s.c.index(b.id)
				links = append(links, [2]int{ai, bi}, [2]int{bi, ai})
			}
		}
		detail += fmt.Sprintf(" sides=%v|%v", names(others[:half]), names(others[half:]))
		undo = s.cutLinks(links)
	case scenarios.SyncFail:
		// only the first target's next sync fails (the member then stops); it restarts
		// after Duration
		if len(targets) > 0 {
			targets = targets[:1]
			targets[0].failSync = true
		}
		undo = func() {
			for _, sm := range targets {
				sm.failSync = false
				s.c.restart(sm)
			}
		}
	case scenarios.Loss:
		undo = setUntilUndone(&s.c.lossRate, f.Rate)
	case scenarios.Duplicate:
		undo = setUntilUndone(&s.c.dupRate, f.Rate)
	case scenarios.Reorder:
		undo = setUntilUndone(&s.c.reorder, f.Rate)
	case scenarios.Latency:
		undo = setUntilUndone(&s.c.spike, f.Delay)
	case scenarios.SlowDisk:
		for _, sm := range targets {
			sm.extraSync += f.Delay
		}
		undo = func() {
			for _, sm := range targets {
				sm.extraSync -= f.Delay
			}
		}
	case scenarios.ClockSkew:
		for _, sm := range targets {
			sm.clock.setRate(f.Rate)
		}
		undo = func() {
			for _, sm := range targets {
				sm.clock.setRate(0)
			}
		}
	case scenarios.TransferLeader:
		s.transferLeader(targets)
	case scenarios.AddMember:
		if sm := s.addMember(nil); sm != nil {
			targets = []*simMember{sm}
		}
	case scenarios.RemoveMember:
		if len(targets) > 0 {
			targets = targets[:1]
			s.removeMember(targets[0])
		}
	case scenarios.ReplaceMember:
		// Add first, then remove: the configuration never has fewer voters than before, so a
		// replacement under other faults never costs the quorum; removing first would leave
		// a 3-member cluster on 2 voters (no fault tolerance) until the new one caught up.
		if len(targets) > 0 {
			old := targets[0]
			if sm := s.addMember(func() { s.removeMember(old) }); sm != nil {
				targets = []*simMember{old, sm}
			}
		}
	case scenarios.Corrupt:
		// Only the first target; the detail (file, offset) goes into the history record, not
		// the trace: which file Pebble's layout offered is not part of the logical run.
		if len(targets) > 0 {
			targets = targets[:1]
			detail += " " + s.corrupt(targets[0], f.Duration)
		}
	}
	if undo == nil {
		s.rec.Fault(history.Fault{Kind: string(f.Kind), Members: names(targets), StartNs: now, EndNs: &now, Detail: detail})
		return
	}
	fh := s.rec.StartFault(string(f.Kind), names(targets), detail, now)
	ended := false
	end := func() {
		if ended {
			return
		}
		ended = true
		undo()
		fh.End(int64(s.w.now))
		s.lastHeal = s.w.now
		s.w.tracef("fault %s end %v", f.Kind, names(targets))
	}
	s.heals = append(s.heals, end)
	if f.Duration > 0 {
		s.w.after(f.Duration, end)
	}
}

// setUntilUndone sets *p to v and returns the undo that puts back the value it replaced.
func setUntilUndone[T any](p *T, v T) func() {
	old := *p
	*p = v
	return func() { *p = old }
}

func (s *sim) cutLinks(links [][2]int) func() {
	for _, l := range links {
		s.c.cut[l]++
	}
	return func() {
		for _, l := range links {
			s.c.cut[l]--
		}
	}
}

// transferLeader asks the leader to hand over to the target (or to a live follower).
func (s *sim) transferLeader(targets []*simMember) {
	ld := s.c.leader()
	if ld == nil {
		s.w.tracef("transfer-leader: no leader")
		return
	}
	var to *simMember
	for _, sm := range targets {
		if sm != ld && sm.m != nil {
			to = sm
			break
		}
	}
	if to == nil {
		for _, sm := range s.c.live() {
			if sm != ld {
				to = sm
				break
			}
		}
	}
	if to == nil {
		return
	}
	ld.m.TransferLeader(to.id, func(err error) { s.w.tracef("transfer-leader %s->%s: %v", ld.name, to.name, err) })
	s.c.kick(ld)
}
