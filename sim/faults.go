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

func checkSupported(fs []scenarios.Fault) error {
	for _, f := range fs {
		if _, ok := appliers[f.Kind]; !ok {
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
		d, _ := scenarios.Describe(k)
		switch d.Random {
		case scenarios.RandomMember:
			f.Targets = []scenarios.Target{scenarios.Member(r.IntN(sc.Members))}
		case scenarios.RandomMinority:
			f.Targets = []scenarios.Target{scenarios.Minority}
		case scenarios.RandomPair:
			a := r.IntN(sc.Members)
			b := (a + 1 + r.IntN(max(sc.Members-1, 1))) % sc.Members
			f.Targets = []scenarios.Target{scenarios.Member(a), scenarios.Member(b)}
		}
		if d.Instant {
			f.Duration = 0
		}
		switch d.Rate {
		case scenarios.RateProbability:
			f.Rate = 0.05 + r.Float64()*0.25
		case scenarios.RateSkew:
			f.Rate = (r.Float64()*2 - 1) * 0.009 // within the members' ρ of 1%
		}
		if d.Delay {
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
	targets, undo := appliers[f.Kind](s, f, targets, &detail)
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
