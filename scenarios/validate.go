package scenarios

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MemberIndex returns i for a target written as Member(i), and false for roles and anything
// else.
func (t Target) MemberIndex() (int, bool) {
	s, ok := strings.CutPrefix(string(t), "m")
	if !ok || s == "" {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || strconv.Itoa(i) != s {
		return 0, false
	}
	return i, true
}

// Validate says what is wrong with the scenario, naming the field, or returns nil. Runners
// call it before starting a run, so a bad schedule is refused rather than half-applied.
func (s Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("scenario %q: "+format, append([]any{s.Name}, args...)...))
	}
	if s.Name == "" {
		bad("Name is empty")
	}
	if s.Members <= 0 {
		bad("Members = %d, want > 0", s.Members)
	}
	if s.Clients <= 0 {
		bad("Clients = %d, want > 0", s.Clients)
	}
	if s.Duration <= 0 {
		bad("Duration = %v, want > 0", s.Duration)
	}
	if s.OpsPerSecond <= 0 {
		bad("OpsPerSecond = %d, want > 0", s.OpsPerSecond)
	}
	if s.Keys <= 0 {
		bad("Keys = %d, want > 0", s.Keys)
	}
	if s.LateWatchers < 0 || s.LateWatchersAt < 0 || s.LateWatchers > 0 && s.LateWatchersAt >= s.Duration {
		bad("LateWatchers = %d at %v, want >= 0 at a time within [0, Duration)", s.LateWatchers, s.LateWatchersAt)
	}
	if a := s.Auth; a != nil {
		if a.ChangeEvery <= 0 {
			bad("Auth.ChangeEvery = %v, want > 0", a.ChangeEvery)
		}
		if m := s.Mix; m.LeaseGrant+m.LeaseKeepAlive+m.LeaseRevoke+m.PutWithLease+m.Compact > 0 {
			bad("Auth: the mix may not hold lease calls or compactions (they need permissions the auth workload does not judge)")
		}
	}
	if s.Watchers < 0 {
		bad("Watchers = %d, want >= 0", s.Watchers)
	}
	if s.MaxWaitingRequests < 0 {
		bad("MaxWaitingRequests = %d, want >= 0 (0: the default)", s.MaxWaitingRequests)
	}
	if s.MaxAppendBytes < 0 {
		bad("MaxAppendBytes = %d, want >= 0 (0: the default)", s.MaxAppendBytes)
	}
	if s.SnapshotEntries < 0 || s.SnapshotCatchUpEntries < 0 {
		bad("SnapshotEntries = %d, SnapshotCatchUpEntries = %d, want >= 0 (0: the default)", s.SnapshotEntries, s.SnapshotCatchUpEntries)
	}
	// raft needs an election timeout above the one-tick heartbeat; below 3 ticks a single
	// late heartbeat starts an election
	if s.ElectionTimeoutTicks != 0 && s.ElectionTimeoutTicks < MinElectionTimeoutTicks {
		bad("ElectionTimeoutTicks = %d, want 0 (the default) or >= %d", s.ElectionTimeoutTicks, MinElectionTimeoutTicks)
	}
	for _, p := range s.Purposes {
		if err := p.validate(); err != nil {
			bad("%v", err)
		}
	}
	if err := s.Mix.validate(); err != nil {
		bad("%v", err)
	}
	for i, f := range s.Faults {
		if err := f.validate(s); err != nil {
			bad("Faults[%d] (%s at %v): %v", i, f.Kind, f.At, err)
		}
	}
	if rf := s.RandomFaults; rf != nil {
		if len(rf.Kinds) == 0 {
			bad("RandomFaults.Kinds is empty")
		}
		for _, k := range rf.Kinds {
			if !k.Known() {
				bad("RandomFaults.Kinds: unknown fault kind %q", k)
			}
		}
		if rf.Count <= 0 {
			bad("RandomFaults.Count = %d, want > 0", rf.Count)
		}
	}
	if l := s.Liveness; l.MinAckShare < 0 || l.MinAckShare > 1 {
		bad("Liveness.MinAckShare = %v, want within [0,1]", l.MinAckShare)
	}
	if s.Liveness.MaxRecovery < 0 {
		bad("Liveness.MaxRecovery = %v, want >= 0", s.Liveness.MaxRecovery)
	}
	return errors.Join(errs...)
}

func (m Mix) validate() error {
	weights := []struct {
		name string
		w    int
	}{
		{"Put", m.Put}, {"Get", m.Get}, {"SerializableGet", m.SerializableGet}, {"Range", m.Range},
		{"Delete", m.Delete}, {"Txn", m.Txn}, {"LeaseGrant", m.LeaseGrant},
		{"LeaseKeepAlive", m.LeaseKeepAlive}, {"LeaseRevoke", m.LeaseRevoke},
		{"PutWithLease", m.PutWithLease}, {"RangeAtRevision", m.RangeAtRevision}, {"Compact", m.Compact},
	}
	total := 0
	for _, w := range weights {
		if w.w < 0 {
			return fmt.Errorf("weight Mix.%s = %d, want >= 0", w.name, w.w)
		}
		total += w.w
	}
	if total == 0 {
		return errors.New("the Mix has no positive weight")
	}
	return nil
}

func (f Fault) validate(s Scenario) error {
	d, ok := Describe(f.Kind)
	if !ok {
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if f.At < 0 || f.Duration < 0 || f.Delay < 0 {
		return fmt.Errorf("negative time (At %v, Duration %v, Delay %v)", f.At, f.Duration, f.Delay)
	}
	if f.At+f.Duration > s.Duration {
		return fmt.Errorf("ends at %v, after the scenario's Duration %v", f.At+f.Duration, s.Duration)
	}
	if n := [2]int{d.MinTargets, d.MaxTargets}; len(f.Targets) < n[0] || (n[1] >= 0 && len(f.Targets) > n[1]) {
		return fmt.Errorf("%d targets, want %s", len(f.Targets), targetCount(n))
	}
	seen := map[Target]bool{}
	for _, t := range f.Targets {
		if seen[t] {
			return fmt.Errorf("target %q named twice", t)
		}
		seen[t] = true
		switch t {
		case Leader, Follower, Minority:
			continue
		}
		i, ok := t.MemberIndex()
		if !ok {
			return fmt.Errorf("target %q is neither a role nor m<index>", t)
		}
		if i >= s.Members {
			return fmt.Errorf("target %q out of range: the cluster starts with %d members", t, s.Members)
		}
	}
	switch d.Rate {
	case RateProbability:
		if f.Rate < 0 || f.Rate > 1 {
			return fmt.Errorf("rate = %v, want within [0,1]", f.Rate)
		}
	case RateSkew:
		if f.Rate <= -1 || f.Rate >= 1 {
			return fmt.Errorf("rate = %v, want within (-1,1)", f.Rate)
		}
	default:
		if f.Rate != 0 {
			return fmt.Errorf("rate = %v set on a fault that has no rate", f.Rate)
		}
	}
	if d.Delay && f.Delay <= 0 {
		return fmt.Errorf("delay = %v, want > 0", f.Delay)
	}
	if !d.Delay && f.Delay != 0 {
		return fmt.Errorf("delay = %v set on a fault that has no delay", f.Delay)
	}
	return nil
}

func targetCount(n [2]int) string {
	switch {
	case n[1] < 0:
		return fmt.Sprintf("at least %d", n[0])
	case n[0] == n[1]:
		return strconv.Itoa(n[0])
	default:
		return fmt.Sprintf("%d to %d", n[0], n[1])
	}
}

// MinElectionTimeoutTicks is the shortest election timeout a scenario may set.
const MinElectionTimeoutTicks = 3
