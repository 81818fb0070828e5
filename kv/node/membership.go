package node

import (
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/raft"
)

// AddMember (a voter or learner with its record; AddVoter and AddLearner add one by ID
// only), PromoteLearner (refused with etcd's learner-not-ready until the learner's log
// reaches 90% of the leader's commit index), UpdateMember, RemoveMember and TransferLeader
// are calls on the leader, refused up front with etcd's errors (member exists, peer URL
// exists, not found, not a learner, bad transferee). On any other member they fail at once with a
// *NotLeaderError naming the leader (etcd's "etcdserver: not leader"): not forwarded,
// because the leader's refusals would need a second answer path and a caller that can
// reach the leader gets them directly; membership calls are rare. A change completes when
// its entry applies and raft took it into effect (Advance), with the configuration then;
// if the entry at the index it was proposed at turns out to be another (leadership changed
// before it committed), with etcd's "leader changed". A transfer completes when this
// member sees the target lead, or fails with ErrTimeout once raft abandoned it. A new
// member opens empty with InitialMembers not naming it and learns the configuration and
// the data from the leader's log (or a snapshot) once added.

// ConfDone receives a membership call's outcome: the configuration in effect after the change
// applied (voters and learners), or the error.
type ConfDone func(conf raft.ConfState, err error)

// NotLeaderError: a membership call or a leadership transfer was made on a member that does
// not lead. Leader is the leader it knows (0: none). It unwraps to etcd's not-leader error.
type NotLeaderError struct{ Leader uint64 }

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return rpctypes.ErrorDesc(rpctypes.ErrGRPCNotLeader) + " (no leader known)"
	}
	return fmt.Sprintf("%s (leader is member %d)", rpctypes.ErrorDesc(rpctypes.ErrGRPCNotLeader), e.Leader)
}

// Unwrap makes errors.Is(err, rpctypes.ErrGRPCNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return rpctypes.ErrGRPCNotLeader }

// confCall is a membership change waiting for its entry to apply.
type confCall struct {
	id           uint64 // request ID (its pendingRequest holds the deadline)
	index, term  uint64 // where the change was proposed
	applied      bool   // the entry at index applied
	lost         bool   // ... and it was not this change
	done         ConfDone
	transferTo   uint64 // a leadership transfer to this member (index, term unused)
	transferFrom uint64 // tick the transfer started
}

// AddVoter adds member id as a voter.
func (m *Member) AddVoter(id uint64, done ConfDone) {
	m.changeConf(raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: id}, done)
}

// AddLearner adds member id as a learner: it receives the log but does not vote.
func (m *Member) AddLearner(id uint64, done ConfDone) {
	m.changeConf(raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: id}, done)
}

// PromoteLearner makes learner id a voter, once it is in sync with the leader (as etcd: its
// log reaches 90% of the leader's).
func (m *Member) PromoteLearner(id uint64, done ConfDone) {
	m.changeConf(raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: id}, done, promote)
}

// RemoveMember removes voter or learner id. Removing the leader: it keeps leading until the
// change applies, then hands leadership to the most up-to-date voter and steps down.
func (m *Member) RemoveMember(id uint64, done ConfDone) {
	m.changeConf(raft.ConfChange{Type: raft.ConfChangeRemoveNode, NodeID: id}, done)
}

type confOption int

const promote confOption = 1

// learnerReadyPercent is how far (in percent of the leader's log) a learner must have caught
// up before it may be promoted (etcd's readyPercentThreshold).
const learnerReadyPercent = 90

func (m *Member) changeConf(cc raft.ConfChange, done ConfDone, opts ...confOption) {
	m.changeConfChecked(cc, nil, done, opts...)
}

// changeConfChecked is changeConf with check (the member table's refusals, nil: none) run
// on the leader before raft's configuration is checked.
func (m *Member) changeConfChecked(cc raft.ConfChange, check func() error, done ConfDone, opts ...confOption) {
	defer m.recoverStop()
	if m.stopped != nil {
		done(raft.ConfState{}, ErrStopped)
		return
	}
	st := m.rn.Status()
	if st.RaftState != raft.StateLeader {
		done(raft.ConfState{}, &NotLeaderError{Leader: st.Lead})
		return
	}
	promoting := slices.Contains(opts, promote)
	// etcd checks quorum safety before anything else for an add or a removal, and after the
	// learner-ready check for a promotion (reconfig.go).
	if m.cfg.StrictReconfigCheck && !promoting {
		if err := strictReconfigCheck(m.reconfigView(), cc, false); err != nil {
			done(raft.ConfState{}, err)
			return
		}
	}
	if check != nil {
		if err := check(); err != nil {
			done(raft.ConfState{}, err)
			return
		}
	}
	if err := checkMembership(st, cc, promoting); err != nil {
		done(raft.ConfState{}, err)
		return
	}
	if m.cfg.StrictReconfigCheck && promoting {
		if err := strictReconfigCheck(m.reconfigView(), cc, true); err != nil {
			done(raft.ConfState{}, err)
			return
		}
	}
	if err := m.rn.ProposeConfChange(cc); err != nil {
		done(raft.ConfState{}, fmt.Errorf("%s: %w", cc, err))
		return
	}
	after := m.rn.Status()
	m.addConfCall(&confCall{index: after.LastIndex, term: after.Term, done: done})
}

// checkMembership refuses, with etcd's errors, a change that does not fit the configuration.
func checkMembership(st raft.Status, cc raft.ConfChange, promoting bool) error {
	voter, learner := slices.Contains(st.Config.Voters, cc.NodeID), slices.Contains(st.Config.Learners, cc.NodeID)
	switch {
	case cc.NodeID == 0:
		return fmt.Errorf("%w: %s: member ID 0", raft.ErrConfChangeInvalid, cc)
	case promoting && voter:
		return rpctypes.ErrGRPCMemberNotLearner
	case promoting && !learner:
		return rpctypes.ErrGRPCMemberNotFound
	case promoting:
		var match uint64
		for _, p := range st.Progress {
			if p.ID == cc.NodeID {
				match = p.Match
			}
		}
		if match*100 < st.Commit*learnerReadyPercent {
			return rpctypes.ErrGRPCLearnerNotReady
		}
	case (cc.Type == raft.ConfChangeRemoveNode || cc.Type == raft.ConfChangeUpdateNode) && !voter && !learner:
		return rpctypes.ErrGRPCMemberNotFound
	case cc.Type == raft.ConfChangeUpdateNode:
	case cc.Type != raft.ConfChangeRemoveNode && (voter || learner):
		return rpctypes.ErrGRPCMemberExist
	}
	return nil
}

// TransferLeader hands leadership to voter target; done runs once this member sees target
// lead, or with ErrTimeout if the transfer was abandoned (raft gives up after an election
// timeout).
func (m *Member) TransferLeader(target uint64, done func(error)) {
	defer m.recoverStop()
	if m.stopped != nil {
		done(ErrStopped)
		return
	}
	st := m.rn.Status()
	switch {
	case st.RaftState != raft.StateLeader:
		done(&NotLeaderError{Leader: st.Lead})
		return
	case target == m.cfg.ID:
		done(nil) // already leads
		return
	}
	if err := m.rn.TransferLeader(target); err != nil {
		if errors.Is(err, raft.ErrInvalidTransfer) {
			err = fmt.Errorf("%w: %v", rpctypes.ErrGRPCBadLeaderTransferee, err)
		}
		done(err)
		return
	}
	m.addConfCall(&confCall{transferTo: target, transferFrom: m.ticks, done: func(_ raft.ConfState, err error) { done(err) }})
}

func (m *Member) addConfCall(c *confCall) {
	c.id = m.newRequestID()
	userDone := c.done
	m.requests.add(&pendingRequest{id: c.id, deadline: m.ticks + uint64(m.cfg.RequestTimeoutTicks),
		done: func(_ Response, err error) { userDone(raft.ConfState{}, err) }})
	m.confCalls = append(m.confCalls, c)
}

// confEntryApplied notes that the entry at e.Index applied: a change proposed there
// completes (after Advance takes it into effect), unless the entry is another one.
func (m *Member) confEntryApplied(e raft.Entry) {
	for _, c := range m.confCalls {
		if c.transferTo == 0 && c.index == e.Index {
			c.applied = true
			c.lost = e.Type != raft.EntryConfChange || e.Term != c.term
		}
	}
}

// finishConfCalls completes the changes whose entry applied and was taken into effect, the
// transfers whose target leads, and forgets calls that timed out. It runs after Advance.
func (m *Member) finishConfCalls() {
	if len(m.confCalls) == 0 {
		return
	}
	st := m.rn.Status()
	type outcome struct {
		c   *confCall
		err error
	}
	var finished []outcome
	m.confCalls = slices.DeleteFunc(m.confCalls, func(c *confCall) bool {
		if !m.requests.contains(c.id) {
			return true // timed out, or failed on Close
		}
		var err error
		switch {
		case c.transferTo != 0 && st.Lead == c.transferTo:
		case c.transferTo != 0 && st.LeadTransferee != c.transferTo && m.ticks-c.transferFrom > uint64(m.cfg.ElectionTimeoutTicks):
			err = fmt.Errorf("%w: leadership transfer to member %d was abandoned", ErrTimeout, c.transferTo)
		case c.transferTo != 0, !c.applied || st.Applied < c.index:
			return false
		case c.lost:
			err = rpctypes.ErrGRPCLeaderChanged
		}
		finished = append(finished, outcome{c, err})
		return true
	})
	// Callbacks run after the table is consistent: they may make new calls.
	for _, f := range finished {
		m.requests.take(f.c.id)
		if f.err != nil {
			f.c.done(raft.ConfState{}, f.err)
		} else {
			f.c.done(st.Config, nil)
		}
	}
}
