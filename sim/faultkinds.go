package sim

import (
	"fmt"
	"slices"

	"github.com/ballastdb/ballast/kv/faultfs"
	"github.com/ballastdb/ballast/scenarios"
)

// applyFunc starts one fault on the resolved targets and returns the members it hit (which
// the history record and trace name) and the undo that ends it (nil: instantaneous). It may
// append to *detail, the fault's history detail.
type applyFunc func(s *sim, f scenarios.Fault, targets []*simMember, detail *string) ([]*simMember, func())

// appliers is the simulator's half of each fault kind's descriptor: the static half (targets,
// parameters, random draws, summary) is scenarios.Descriptor, which a runner outside the
// simulator reuses with its own apply and undo. TestAppliersMatchDescriptors keeps the two
// halves in step: every kind has both.
var appliers = map[scenarios.FaultKind]applyFunc{
	scenarios.Crash:      applyCrash,
	scenarios.Restart:    applyRestart,
	scenarios.Partition:  applyPartition,
	scenarios.Isolate:    applyPartition,
	scenarios.OneWay:     applyOneWay,
	scenarios.Bridge:     applyBridge,
	scenarios.SyncFail:   diskFault(faultfs.SyncError),
	scenarios.WriteFail:  diskFault(faultfs.WriteError),
	scenarios.ShortWrite: diskFault(faultfs.ShortWrite),
	scenarios.Loss: func(s *sim, f scenarios.Fault, t []*simMember, _ *string) ([]*simMember, func()) {
		return t, setUntilUndone(&s.c.lossRate, f.Rate)
	},
	scenarios.Duplicate: func(s *sim, f scenarios.Fault, t []*simMember, _ *string) ([]*simMember, func()) {
		return t, setUntilUndone(&s.c.dupRate, f.Rate)
	},
	scenarios.Reorder: func(s *sim, f scenarios.Fault, t []*simMember, _ *string) ([]*simMember, func()) {
		return t, setUntilUndone(&s.c.reorder, f.Rate)
	},
	scenarios.Latency: func(s *sim, f scenarios.Fault, t []*simMember, _ *string) ([]*simMember, func()) {
		return t, setUntilUndone(&s.c.spike, f.Delay)
	},
	scenarios.SlowDisk:  applySlowDisk,
	scenarios.ClockSkew: applyClockSkew,
	scenarios.TransferLeader: func(s *sim, _ scenarios.Fault, t []*simMember, _ *string) ([]*simMember, func()) {
		s.transferLeader(t)
		return t, nil
	},
	scenarios.AddMember:     applyAddMember,
	scenarios.RemoveMember:  applyRemoveMember,
	scenarios.ReplaceMember: applyReplaceMember,
	scenarios.Corrupt:       applyCorrupt,
	// stepcrash.go
	scenarios.CrashBeforeSync:    applyStepCrash(stepBeforeSync, false),
	scenarios.CrashBeforeSend:    applyStepCrash(stepBeforeSend, false),
	scenarios.CrashAfterTruncate: applyStepCrash(stepBeforeSend, true),
	// pause.go, restarts.go
	scenarios.Pause:           applyPause,
	scenarios.GracefulRestart: applyGracefulRestart,
	scenarios.RollingRestart:  applyRollingRestart,
	scenarios.KillAll:         applyKillAll,
}

func applyCrash(s *sim, f scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	for _, sm := range targets {
		s.c.crash(sm, "fault")
	}
	if f.Duration <= 0 {
		s.down = append(s.down, targets...)
		return targets, nil
	}
	return targets, func() {
		for _, sm := range targets {
			s.c.restart(sm)
		}
	}
}

func applyRestart(s *sim, _ scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	for _, sm := range targets {
		s.c.restart(sm)
	}
	return targets, nil
}

// applyPartition cuts the targets from every other member, both ways (partition, isolate).
func applyPartition(s *sim, _ scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	var links [][2]int
	for _, a := range targets {
		for _, b := range s.c.members {
			if !slices.Contains(targets, b) {
				ai, bi := s.c.index(a.id), s.c.index(b.id)
				links = append(links, [2]int{ai, bi}, [2]int{bi, ai})
			}
		}
	}
	return targets, s.cutLinks(links)
}

func applyOneWay(s *sim, _ scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	var links [][2]int
	if len(targets) > 1 {
		for _, b := range targets[1:] {
			links = append(links, [2]int{s.c.index(targets[0].id), s.c.index(b.id)})
		}
	}
	return targets, s.cutLinks(links)
}

// applyBridge splits the others into two halves (by index) that only the first target
// connects.
func applyBridge(s *sim, _ scenarios.Fault, targets []*simMember, detail *string) ([]*simMember, func()) {
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
	*detail += fmt.Sprintf(" sides=%v|%v", names(others[:half]), names(others[half:]))
	return targets, s.cutLinks(links)
}

// diskFault arms k on the first target's disk (kv/faultfs): it fires in the member's next
// Synced, on the WAL write or sync Pebble does for it, and the member stops (cluster.diskFault
// crashes it). The undo disarms a fault that never fired and restarts the member.
func diskFault(k faultfs.Fault) applyFunc {
	return func(s *sim, _ scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
		if len(targets) > 0 {
			targets = targets[:1]
			targets[0].disk.Arm(k)
		}
		return targets, func() {
			for _, sm := range targets {
				if sm.disk.Armed() == k {
					sm.disk.Arm(faultfs.None)
				}
				s.c.restart(sm)
			}
		}
	}
}

func applySlowDisk(_ *sim, f scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	for _, sm := range targets {
		sm.extraSync += f.Delay
	}
	return targets, func() {
		for _, sm := range targets {
			sm.extraSync -= f.Delay
		}
	}
}

func applyClockSkew(_ *sim, f scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	for _, sm := range targets {
		sm.clock.setRate(f.Rate)
	}
	return targets, func() {
		for _, sm := range targets {
			sm.clock.setRate(0)
		}
	}
}

func applyAddMember(s *sim, _ scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	if sm := s.addMember(nil); sm != nil {
		targets = []*simMember{sm}
	}
	return targets, nil
}

func applyRemoveMember(s *sim, _ scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	if len(targets) > 0 {
		targets = targets[:1]
		s.removeMember(targets[0])
	}
	return targets, nil
}

// applyReplaceMember adds first, then removes: the configuration never has fewer voters than
// before, so a replacement under other faults never costs the quorum; removing first would
// leave a 3-member cluster on 2 voters (no fault tolerance) until the new one caught up.
func applyReplaceMember(s *sim, _ scenarios.Fault, targets []*simMember, _ *string) ([]*simMember, func()) {
	if len(targets) > 0 {
		old := targets[0]
		if sm := s.addMember(func() { s.removeMember(old) }); sm != nil {
			targets = []*simMember{old, sm}
		}
	}
	return targets, nil
}

// applyCorrupt hits only the first target; the detail (file, offset) goes into the history
// record, not the trace: which file Pebble's layout offered is not part of the logical run.
func applyCorrupt(s *sim, f scenarios.Fault, targets []*simMember, detail *string) ([]*simMember, func()) {
	if len(targets) > 0 {
		targets = targets[:1]
		*detail += " " + s.corrupt(targets[0], f.Duration)
	}
	return targets, nil
}
