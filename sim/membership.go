package sim

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/raft"
	"github.com/ballastdb/ballast/scenarios"
)

// add-member opens a new member (next ID, empty disk, founding members it is not among) and
// adds it as a learner, then promotes it once it caught up (etcd's learner-not-ready until
// its log reaches 90% of the leader's), so an empty member never counts towards a quorum it
// would slow down; it catches up from the leader's log or, when that was compacted, from a
// streamed snapshot. remove-member removes Targets[0]: once the removal applied on the
// leader the member leaves cluster.members at once and its process stops 500 ms later (a
// removed leader hands leadership over first); a removal waits while it would leave fewer
// than 3 voters or voters that serve no majority. replace-member adds a new member, then
// removes Targets[0]: adding first keeps the number of voters at least what it was, so a
// replacement under other faults never costs the quorum (removing first would leave a
// 3-member cluster on 2 voters while the new one catches up). Each call goes to whichever
// member leads when it is tried and is retried every 250 ms (no leader, leader changed,
// timeout, learner not ready) for up to 20 s; an answer lost after the change applied makes
// the retry's refusal (member exists, not found, not a learner) count as done. The header
// of the history names every member a run may have: the founding ones, then one per
// add-member and replace-member fault.

// Membership churn (virtual time).
const (
	// confRetryInterval separates attempts of a membership call that failed (no leader,
	// leader changed, learner not ready) or must wait (see canRemove).
	confRetryInterval = 250 * time.Millisecond
	// confOpMax bounds one membership operation; after it the operation is given up (traced).
	confOpMax = 20 * time.Second
	// removeGrace is how long a removed member's process runs on after its removal applied
	// on the leader, so a removed leader can hand leadership over before it stops.
	removeGrace = 500 * time.Millisecond
	// minVoters: a removal never leaves fewer voters than this (nor a configuration whose
	// serving voters are not a majority), so churn alone never costs the cluster its quorum.
	minVoters = 3
)

// memberNames are the names every member of a run may have: the n founding members, then
// one per member the faults may add (add-member, replace-member), in the order new IDs are
// handed out. The history's header must list them all.
func memberNames(n int, faults []scenarios.Fault) []string {
	for _, f := range faults {
		if f.Kind == scenarios.AddMember || f.Kind == scenarios.ReplaceMember {
			n++
		}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i)
	}
	return names
}

// confStep is one membership call, made on whichever member leads when it is attempted.
type confStep struct {
	what string
	call func(ld *node.Member, done node.ConfDone)
	// moot errors say the change is already in effect: an earlier attempt applied but its
	// answer was lost (leader changed, timeout), so the retry is refused.
	moot []error
	// ready, when set, says whether the step may be attempted now; else it waits.
	ready func() bool
}

// runConf runs steps in order, each retried every confRetryInterval until it succeeds, and
// then calls done(true); done(false) when deadline passes first (the rest is given up).
// Member callbacks only schedule: the next attempt never runs inside a member's call.
func (s *sim) runConf(steps []confStep, deadline time.Duration, done func(ok bool)) {
	if len(steps) == 0 {
		done(true)
		return
	}
	st := steps[0]
	retry := func() {
		if s.w.now >= deadline {
			s.w.tracef("conf %s given up", st.what)
			done(false)
			return
		}
		s.w.after(confRetryInterval, func() { s.runConf(steps, deadline, done) })
	}
	if st.ready != nil && !st.ready() {
		retry()
		return
	}
	ld := s.c.leader()
	if ld == nil {
		retry()
		return
	}
	answered := false
	st.call(ld.m, func(conf raft.ConfState, err error) {
		if answered {
			return
		}
		answered = true
		s.w.after(0, func() {
			switch {
			case err == nil:
				s.w.tracef("conf %s on %s: voters=%v learners=%v", st.what, ld.name, conf.Voters, conf.Learners)
			case isAny(err, st.moot):
				s.w.tracef("conf %s on %s: already in effect (%v)", st.what, ld.name, err)
			default:
				s.w.tracef("conf %s on %s: %v", st.what, ld.name, err)
				retry()
				return
			}
			s.runConf(steps[1:], deadline, done)
		})
	})
	s.c.kick(ld)
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// addMember opens a new member (a new ID, an empty disk, founding members it is not among)
// and adds it: as a learner first, promoted to voter once it caught up (etcd's way, so an
// empty member never counts towards a quorum it would slow down). then, when set, runs once
// the promotion applied. It returns the new member, nil when it could not be opened (the
// run fails).
func (s *sim) addMember(then func()) *simMember {
	sm, err := s.c.newSlot()
	if err != nil {
		s.fail(fmt.Sprintf("add-member: %v", err))
		return nil
	}
	id := sm.id
	steps := []confStep{
		{what: "add-learner " + sm.name, call: func(ld *node.Member, done node.ConfDone) { ld.AddLearner(id, done) },
			moot: []error{rpctypes.ErrGRPCMemberExist}},
		{what: "promote " + sm.name, call: func(ld *node.Member, done node.ConfDone) { ld.PromoteLearner(id, done) },
			moot: []error{rpctypes.ErrGRPCMemberNotLearner}},
	}
	s.runConf(steps, s.w.now+confOpMax, func(ok bool) {
		if ok && then != nil {
			then()
		}
	})
	return sm
}

// removeMember removes sm from the configuration (waiting while that would leave too few
// serving voters, see canRemove) and retires it once the removal applied on the leader.
func (s *sim) removeMember(sm *simMember) {
	if sm.removed {
		return
	}
	id := sm.id
	steps := []confStep{{what: "remove " + sm.name, ready: func() bool { return s.canRemove(sm) },
		call: func(ld *node.Member, done node.ConfDone) { ld.RemoveMember(id, done) },
		moot: []error{rpctypes.ErrGRPCMemberNotFound}}}
	s.runConf(steps, s.w.now+confOpMax, func(ok bool) {
		if ok {
			s.c.retire(sm)
		}
	})
}

// canRemove: the leader's configuration keeps at least minVoters voters without sm, and the
// voters that can serve (not refused nor corrupted) stay a majority of them.
func (s *sim) canRemove(sm *simMember) bool {
	ld := s.c.leader()
	if ld == nil {
		return false
	}
	isVoter := false
	voters, serving := 0, 0
	for _, id := range ld.m.Status().Config.Voters {
		if id == sm.id {
			isVoter = true
			continue
		}
		voters++
		if !s.c.lost(id) {
			serving++
		}
	}
	if !isVoter {
		return true // a learner, or already gone: removing it costs no quorum
	}
	return voters >= minVoters && serving >= voters/2+1
}

// lost reports whether member id can never serve again in this run: it refused to serve,
// or its disk was corrupted and it will refuse when it opens.
func (c *cluster) lost(id uint64) bool {
	i := c.index(id)
	return i >= 0 && i < len(c.slots) && (c.slots[i].refused || c.slots[i].corrupted)
}

// voters are the voters of the configuration as the leader (else the first live member)
// knows it; with no member running, every member not removed (the cautious guess).
func (c *cluster) voters() []uint64 {
	sm := c.leader()
	if sm == nil {
		if live := c.live(); len(live) > 0 {
			sm = live[0]
		}
	}
	if sm != nil {
		return sm.m.Status().Config.Voters
	}
	var ids []uint64
	for _, x := range c.slots {
		if !x.removed {
			ids = append(ids, x.id)
		}
	}
	return ids
}
