package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// The transcript harness: testdata/*.txt drive a small cluster command by command and record
// every Ready, message and state change as text (see ../shared/STYLE.md, "tests as
// transcripts"). Regenerate the expected output with
//
//	go test ./raft/ -run TestInteraction -rewrite
//
// and review the diff line by line: a transcript is the specification a reviewer reads.
//
// The harness drives each member by the Ready contract in one go: process-ready persists the
// Ready (snapshot, entries, hard state) to the member's MemoryStorage, then releases both
// MessagesNow and MessagesAfterSync to the network, applies the committed entries and calls
// Advance. Messages wait in one network queue until deliver-msgs or stabilize hands them to
// their recipient (in the order they were sent); a message crossing a partition is dropped
// when it would be delivered. restart rebuilds a member from its storage alone, so it keeps
// exactly what was persisted.
//
// Commands:
//
//	add-nodes N [voters=(1,2,3)] [learners=(4)] [prevote=true] [checkquorum=true]
//	          [index=I] [max-bytes-per-msg=B]   add N members (IDs continue from the last);
//	                                            index starts them from a snapshot at I (term 1)
//	set-log ID terms=(1,1,2) term=T [commit=C]  replace ID's storage by that log, restart it
//	reset                                       forget the whole cluster
//	campaign ID | propose ID DATA | read-index ID CTX | transfer-leader FROM TO
//	propose-conf-change ID add|remove|add-learner|promote NODE
//	tick-election ID... | tick-heartbeat ID... | tick ID count=N
//	process-ready ID... | deliver-msgs [drop=true] [type=MsgApp] [from=F] ID... | stabilize [ID...]
//	ready-now ID (take a Ready, send MessagesNow, hold the write) | sync ID (the write is durable)
//	partition ID... (cut them off from the rest) | isolate ID | heal
//	restart ID | compact ID INDEX | raft-state | raft-log ID | status ID
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		env := newInteractionEnv()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := env.handle(d)
			if err != nil {
				return out + "error: " + err.Error() + "\n"
			}
			return out
		})
	})
}

const (
	interactionElectionTicks  = 10
	interactionHeartbeatTicks = 5
)

// interactionNode is one member of a transcript's cluster.
type interactionNode struct {
	id      uint64
	rn      *RawNode
	storage *MemoryStorage
	opts    interactionOpts
	// restarts numbers the incarnations, so that a restarted member draws fresh timeouts.
	restarts uint64
	// held is a Ready taken by ready-now whose write is not yet durable (sync completes it;
	// a restart loses it), and heldConf the configuration before it.
	held     *Ready
	heldConf ConfState
}

// interactionOpts are the Config knobs a transcript can set.
type interactionOpts struct {
	preVote, checkQuorum bool
	maxBytesPerMsg       uint64
}

type interactionEnv struct {
	nodes []*interactionNode
	// queue holds the messages sent and not yet delivered or dropped, in sending order.
	queue []Message
	// cut holds the ordered pairs of members that cannot reach each other.
	cut map[[2]uint64]bool
	// bootstrap is the configuration new members start from.
	bootstrap ConfState
	out       strings.Builder
}

func newInteractionEnv() *interactionEnv {
	return &interactionEnv{cut: map[[2]uint64]bool{}}
}

func (e *interactionEnv) printf(format string, args ...any) { fmt.Fprintf(&e.out, format, args...) }

func (e *interactionEnv) node(id uint64) (*interactionNode, error) {
	for _, n := range e.nodes {
		if n.id == id {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no member %d", id)
}

func (e *interactionEnv) handle(d *datadriven.TestData) (string, error) {
	e.out.Reset()
	err := e.dispatch(d)
	return e.out.String(), err
}

func (e *interactionEnv) dispatch(d *datadriven.TestData) error {
	switch d.Cmd {
	case "add-nodes":
		return e.addNodes(d)
	case "set-log":
		return e.setLog(d)
	case "reset":
		*e = *newInteractionEnv()
		return nil
	case "campaign":
		return e.onNode(d, 0, func(n *interactionNode) error { return n.rn.Campaign() })
	case "propose":
		if len(d.CmdArgs) != 2 {
			return fmt.Errorf("usage: propose ID DATA")
		}
		return e.onNode(d, 0, func(n *interactionNode) error { return n.rn.Propose([]byte(d.CmdArgs[1].Key)) })
	case "read-index":
		if len(d.CmdArgs) != 2 {
			return fmt.Errorf("usage: read-index ID CTX")
		}
		return e.onNode(d, 0, func(n *interactionNode) error { return n.rn.ReadIndex([]byte(d.CmdArgs[1].Key)) })
	case "transfer-leader":
		to, err := argID(d, 1)
		if err != nil {
			return err
		}
		return e.onNode(d, 0, func(n *interactionNode) error { return n.rn.TransferLeader(to) })
	case "propose-conf-change":
		return e.proposeConfChange(d)
	case "tick-election", "tick-heartbeat", "tick":
		return e.tick(d)
	case "process-ready":
		ids, err := e.argIDs(d)
		if err != nil {
			return err
		}
		for _, id := range ids {
			n, _ := e.node(id)
			if !e.processReady(n) {
				e.printf("> %d: no Ready\n", id)
			}
		}
		return nil
	case "ready-now":
		return e.onNode(d, 0, func(n *interactionNode) error {
			if !e.readyNow(n) {
				e.printf("> %d: no Ready (or one is held already)\n", n.id)
			}
			return nil
		})
	case "sync":
		return e.onNode(d, 0, func(n *interactionNode) error {
			if n.held == nil {
				return fmt.Errorf("member %d holds no Ready", n.id)
			}
			e.syncHeld(n)
			return nil
		})
	case "deliver-msgs":
		return e.deliverMsgs(d)
	case "stabilize":
		ids, err := e.argIDs(d)
		if err != nil {
			return err
		}
		return e.stabilize(ids)
	case "partition", "isolate":
		ids, err := e.argIDs(d)
		if err != nil {
			return err
		}
		e.partition(ids)
		return nil
	case "heal":
		e.cut = map[[2]uint64]bool{}
		return nil
	case "restart":
		return e.onNode(d, 0, func(n *interactionNode) error { return e.restart(n) })
	case "compact":
		return e.compact(d)
	case "raft-state":
		e.raftState()
		return nil
	case "raft-log":
		return e.onNode(d, 0, func(n *interactionNode) error { e.raftLog(n); return nil })
	case "status":
		return e.onNode(d, 0, func(n *interactionNode) error { e.status(n); return nil })
	}
	return fmt.Errorf("unknown command %q", d.Cmd)
}

// argID parses the i-th positional argument as a member ID.
func argID(d *datadriven.TestData, i int) (uint64, error) {
	if i >= len(d.CmdArgs) {
		return 0, fmt.Errorf("%s: missing argument %d", d.Cmd, i+1)
	}
	id, err := strconv.ParseUint(d.CmdArgs[i].Key, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: argument %q is not a member ID", d.Cmd, d.CmdArgs[i].Key)
	}
	return id, nil
}

// argIDs returns the positional (valueless) arguments as member IDs, or every member if none.
func (e *interactionEnv) argIDs(d *datadriven.TestData) ([]uint64, error) {
	var ids []uint64
	for i, a := range d.CmdArgs {
		if len(a.Vals) > 0 {
			continue
		}
		id, err := argID(d, i)
		if err != nil {
			return nil, err
		}
		if _, err := e.node(id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		for _, n := range e.nodes {
			ids = append(ids, n.id)
		}
	}
	return ids, nil
}

// onNode runs f on the member named by argument i and prints its error, if any.
func (e *interactionEnv) onNode(d *datadriven.TestData, i int, f func(*interactionNode) error) error {
	id, err := argID(d, i)
	if err != nil {
		return err
	}
	n, err := e.node(id)
	if err != nil {
		return err
	}
	return f(n)
}

func scanIDList(d *datadriven.TestData, key string) ([]uint64, error) {
	a, ok := d.Arg(key)
	if !ok {
		return nil, nil
	}
	var ids []uint64
	for _, v := range a.Vals {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a member ID", key, v)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func boolArg(d *datadriven.TestData, key string) bool {
	a, ok := d.Arg(key)
	return ok && len(a.Vals) == 1 && a.Vals[0] == "true"
}

func uintArg(d *datadriven.TestData, key string, def uint64) (uint64, error) {
	a, ok := d.Arg(key)
	if !ok {
		return def, nil
	}
	if len(a.Vals) != 1 {
		return 0, fmt.Errorf("%s wants one value", key)
	}
	return strconv.ParseUint(a.Vals[0], 10, 64)
}

func (e *interactionEnv) addNodes(d *datadriven.TestData) error {
	count, err := argID(d, 0)
	if err != nil {
		return err
	}
	voters, err := scanIDList(d, "voters")
	if err != nil {
		return err
	}
	learners, err := scanIDList(d, "learners")
	if err != nil {
		return err
	}
	snapIndex, err := uintArg(d, "index", 0)
	if err != nil {
		return err
	}
	maxBytes, err := uintArg(d, "max-bytes-per-msg", noLimit)
	if err != nil {
		return err
	}
	opts := interactionOpts{preVote: boolArg(d, "prevote"), checkQuorum: boolArg(d, "checkquorum"), maxBytesPerMsg: maxBytes}
	conf := ConfState{Voters: voters, Learners: learners}
	if len(voters) > 0 || len(learners) > 0 || e.bootstrap.Voters == nil {
		e.bootstrap = conf
	}
	for range count {
		id := uint64(len(e.nodes) + 1)
		storage := NewMemoryStorage(e.bootstrap)
		if snapIndex > 0 {
			if err := storage.ApplySnapshot(Snapshot{Data: []byte("snapshot"), Metadata: SnapshotMetadata{Index: snapIndex, Term: 1, ConfState: e.bootstrap}}); err != nil {
				return err
			}
			if err := storage.SetHardState(HardState{Term: 1, Commit: snapIndex}); err != nil {
				return err
			}
		}
		n := &interactionNode{id: id, storage: storage, opts: opts}
		if err := e.start(n); err != nil {
			return err
		}
		e.nodes = append(e.nodes, n)
		e.printf("added %d: %s (first index %d)\n", id, e.bootstrap, snapIndex+1)
	}
	return nil
}

// start (re)creates n's RawNode from its storage alone.
func (e *interactionEnv) start(n *interactionNode) error {
	n.restarts++
	rn, err := NewRawNode(&Config{
		ID: n.id, Storage: n.storage,
		ElectionTimeoutTicks: interactionElectionTicks, HeartbeatIntervalTicks: interactionHeartbeatTicks,
		Rand:    rand.New(rand.NewPCG(n.id, n.restarts)),
		PreVote: n.opts.preVote, CheckQuorum: n.opts.checkQuorum,
		MaxBytesPerMsg: n.opts.maxBytesPerMsg, MaxInflightMsgs: 256,
	})
	if err != nil {
		return err
	}
	n.rn = rn
	return nil
}

func (e *interactionEnv) setLog(d *datadriven.TestData) error {
	id, err := argID(d, 0)
	if err != nil {
		return err
	}
	n, err := e.node(id)
	if err != nil {
		return err
	}
	terms, err := scanIDList(d, "terms")
	if err != nil {
		return err
	}
	term, err := uintArg(d, "term", 0)
	if err != nil {
		return err
	}
	commit, err := uintArg(d, "commit", 0)
	if err != nil {
		return err
	}
	storage := NewMemoryStorage(e.bootstrap)
	var ents []Entry
	for i, tm := range terms {
		ents = append(ents, Entry{Term: tm, Index: uint64(i + 1)})
	}
	if err := storage.Append(ents); err != nil {
		return err
	}
	if err := storage.SetHardState(HardState{Term: term, Commit: commit}); err != nil {
		return err
	}
	n.storage = storage
	if err := e.start(n); err != nil {
		return err
	}
	e.raftLog(n)
	return nil
}

func (e *interactionEnv) proposeConfChange(d *datadriven.TestData) error {
	if len(d.CmdArgs) != 3 {
		return fmt.Errorf("usage: propose-conf-change ID add|remove|add-learner|promote NODE")
	}
	target, err := argID(d, 2)
	if err != nil {
		return err
	}
	var typ ConfChangeType
	switch d.CmdArgs[1].Key {
	case "add", "promote":
		typ = ConfChangeAddVoter
	case "remove":
		typ = ConfChangeRemoveNode
	case "add-learner":
		typ = ConfChangeAddLearner
	default:
		return fmt.Errorf("unknown change %q", d.CmdArgs[1].Key)
	}
	return e.onNode(d, 0, func(n *interactionNode) error {
		return n.rn.ProposeConfChange(ConfChange{Type: typ, NodeID: target})
	})
}

// tick advances time on members: tick-election ticks exactly until the member's election
// timeout fires (its randomized timeout as a follower, the check-quorum round as a leader),
// tick-heartbeat one heartbeat interval, tick count=N exactly N ticks.
func (e *interactionEnv) tick(d *datadriven.TestData) error {
	ids, err := e.argIDs(d)
	if err != nil {
		return err
	}
	count, err := uintArg(d, "count", 0)
	if err != nil {
		return err
	}
	for _, id := range ids {
		n, _ := e.node(id)
		r := n.rn.raft
		ticks := int(count)
		switch d.Cmd {
		case "tick-heartbeat":
			ticks = r.heartbeatIntervalTicks - r.heartbeatElapsedTicks
		case "tick-election":
			if r.state == StateLeader {
				ticks = r.electionTimeoutTicks - r.electionElapsedTicks
			} else {
				ticks = r.randomizedElectionTimeoutTicks - r.electionElapsedTicks
			}
		}
		for range ticks {
			n.rn.Tick()
		}
	}
	return nil
}

// processReady handles one Ready of n by the contract and prints it. It reports whether
// there was one.
func (e *interactionEnv) processReady(n *interactionNode) bool {
	if n.held != nil {
		e.syncHeld(n)
		return true
	}
	if !n.rn.HasReady() {
		return false
	}
	e.printf("> %d handling Ready\n", n.id)
	confBefore := n.rn.Status().Config
	rd := e.takeReady(n)
	e.finishReady(n, rd, confBefore)
	return true
}

// readyNow takes n's Ready and sends its MessagesNow, holding the write back until sync (as
// a leader may: its appends go out in parallel with its own write). It reports whether
// there was a Ready.
func (e *interactionEnv) readyNow(n *interactionNode) bool {
	if n.held != nil || !n.rn.HasReady() {
		return false
	}
	e.printf("> %d handling Ready (write not yet durable)\n", n.id)
	confBefore := n.rn.Status().Config
	rd := e.takeReady(n)
	n.held, n.heldConf = &rd, confBefore
	return true
}

// syncHeld completes the Ready that readyNow held back: the write becomes durable.
func (e *interactionEnv) syncHeld(n *interactionNode) {
	e.printf("> %d: write of its Ready durable\n", n.id)
	rd, conf := *n.held, n.heldConf
	n.held = nil
	e.finishReady(n, rd, conf)
}

// takeReady takes and prints n's Ready and sends its MessagesNow.
func (e *interactionEnv) takeReady(n *interactionNode) Ready {
	rd := n.rn.Ready()
	if rd.SoftState != nil {
		e.printf("  State:%s Lead:%d\n", rd.SoftState.RaftState, rd.SoftState.Lead)
	}
	if !rd.HardState.IsEmpty() {
		e.printf("  HardState Term:%d Vote:%d Commit:%d\n", rd.HardState.Term, rd.HardState.Vote, rd.HardState.Commit)
	}
	if !rd.Snapshot.IsEmpty() {
		e.printf("  Snapshot %s\n", rd.Snapshot.Metadata)
	}
	if len(rd.Entries) > 0 {
		e.printf("  Entries:%s\n", entriesString(rd.Entries))
	}
	if len(rd.CommittedEntries) > 0 {
		e.printf("  CommittedEntries:%s\n", entriesString(rd.CommittedEntries))
	}
	for _, rs := range rd.ReadStates {
		e.printf("  ReadState Index:%d Ctx:%q\n", rs.Index, rs.RequestCtx)
	}
	e.send("now", rd.MessagesNow)
	// Slices of a Ready are raft's again after the next Ready: keep what is still needed.
	rd.Entries = slices.Clone(rd.Entries)
	rd.CommittedEntries = slices.Clone(rd.CommittedEntries)
	rd.MessagesAfterSync = slices.Clone(rd.MessagesAfterSync)
	rd.MessagesNow = nil
	return rd
}

// finishReady persists rd, sends its MessagesAfterSync and advances.
func (e *interactionEnv) finishReady(n *interactionNode, rd Ready, confBefore ConfState) {
	if !rd.Snapshot.IsEmpty() {
		if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
			panic(err)
		}
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		panic(err)
	}
	if !rd.HardState.IsEmpty() {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			panic(err)
		}
	}
	e.send("after sync", rd.MessagesAfterSync)
	n.rn.Advance(rd)
	if after := n.rn.Status().Config; !after.Equal(confBefore) {
		e.printf("  applied: configuration now %s\n", after)
	}
}

func (e *interactionEnv) blocked(m Message) bool { return e.cut[[2]uint64{m.From, m.To}] }

// send prints msgs and queues them, except those crossing a partition: they are lost.
func (e *interactionEnv) send(label string, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	e.printf("  Messages (%s):\n", label)
	for _, m := range msgs {
		if e.blocked(m) {
			e.printf("    %s DROPPED (partition)\n", messageString(m))
			continue
		}
		e.printf("    %s\n", messageString(m))
		e.queue = append(e.queue, m)
	}
}

// deliverMsgs delivers (or with drop=true drops) the queued messages addressed to the given
// members, optionally only those of one type or sender. The others stay queued.
func (e *interactionEnv) deliverMsgs(d *datadriven.TestData) error {
	ids, err := e.argIDs(d)
	if err != nil {
		return err
	}
	drop := boolArg(d, "drop")
	var typ string
	if a, ok := d.Arg("type"); ok {
		typ = a.Vals[0]
	}
	from, err := uintArg(d, "from", 0)
	if err != nil {
		return err
	}
	for _, id := range ids {
		e.deliverTo(id, func(m Message) bool {
			return (typ == "" || m.Type.String() == typ) && (from == 0 || m.From == from)
		}, drop)
	}
	return nil
}

// deliverTo hands the queued messages for id that match to it, in order. It reports whether
// any were taken from the queue.
func (e *interactionEnv) deliverTo(id uint64, match func(Message) bool, drop bool) bool {
	var mine []Message
	kept := e.queue[:0:0]
	for _, m := range e.queue {
		if m.To == id && match(m) {
			mine = append(mine, m)
		} else {
			kept = append(kept, m)
		}
	}
	e.queue = kept
	if len(mine) == 0 {
		return false
	}
	n, err := e.node(id)
	e.printf("> %d receiving messages\n", id)
	for _, m := range mine {
		switch {
		case drop:
			e.printf("  %s DROPPED\n", messageString(m))
			continue
		case e.blocked(m):
			e.printf("  %s DROPPED (partition)\n", messageString(m))
			continue
		case err != nil:
			e.printf("  %s DROPPED (no such member)\n", messageString(m))
			continue
		}
		e.printf("  %s\n", messageString(m))
		if err := n.rn.Step(m); err != nil {
			e.printf("  error: %v\n", err)
		}
	}
	return true
}

// stabilize processes Readies and delivers messages among ids until there is nothing left.
func (e *interactionEnv) stabilize(ids []uint64) error {
	for range 1000 {
		progressed := false
		for _, id := range ids {
			n, _ := e.node(id)
			if e.processReady(n) {
				progressed = true
			}
		}
		for _, id := range ids {
			if e.deliverTo(id, func(Message) bool { return true }, false) {
				progressed = true
			}
		}
		if !progressed {
			return nil
		}
	}
	return fmt.Errorf("did not stabilize after 1000 rounds")
}

// partition cuts ids off from every other member (both directions).
func (e *interactionEnv) partition(ids []uint64) {
	for _, a := range ids {
		for _, n := range e.nodes {
			if !slices.Contains(ids, n.id) {
				e.cut[[2]uint64{a, n.id}] = true
				e.cut[[2]uint64{n.id, a}] = true
			}
		}
	}
}

func (e *interactionEnv) restart(n *interactionNode) error {
	if n.held != nil {
		e.printf("%d crashes before its Ready's write is durable: the write is lost\n", n.id)
		n.held = nil
	}
	if err := e.start(n); err != nil {
		return err
	}
	st := n.rn.Status()
	first, _ := n.storage.FirstIndex()
	e.printf("restarted %d: Term:%d Vote:%d Commit:%d, log [%d, %d], applied %d\n", n.id, st.Term, st.Vote, st.Commit, first, st.LastIndex, st.Applied)
	return nil
}

func (e *interactionEnv) compact(d *datadriven.TestData) error {
	index, err := argID(d, 1)
	if err != nil {
		return err
	}
	return e.onNode(d, 0, func(n *interactionNode) error {
		st := n.rn.Status()
		if index > st.Applied {
			return fmt.Errorf("compact %d: member %d applied only %d", index, n.id, st.Applied)
		}
		if _, err := n.storage.CreateSnapshot(index, st.Config, []byte("snapshot")); err != nil {
			return err
		}
		if err := n.storage.Compact(index); err != nil {
			return err
		}
		e.raftLog(n)
		return nil
	})
}

func (e *interactionEnv) raftState() {
	for _, n := range e.nodes {
		st := n.rn.Status()
		role := "Voter"
		switch {
		case slices.Contains(st.Config.Learners, n.id):
			role = "Learner"
		case !slices.Contains(st.Config.Voters, n.id):
			role = "Non-member"
		}
		e.printf("%d: %s (%s) Term:%d Lead:%d\n", n.id, st.RaftState, role, st.Term, st.Lead)
	}
}

func (e *interactionEnv) raftLog(n *interactionNode) {
	l := n.rn.raft.log
	first := l.firstIndex()
	if first > 1 {
		e.printf("snapshot Index:%d Term:%d\n", first-1, l.termOrZero(first-1))
	}
	last := l.lastIndex()
	if last < first {
		e.printf("log is empty\n")
	} else {
		ents, err := l.slice(first, last+1, noLimit)
		if err != nil {
			e.printf("error: %v\n", err)
		}
		for _, en := range ents {
			e.printf("%s\n", en)
		}
	}
	e.printf("commit:%d applied:%d\n", l.committed, l.applied)
}

func (e *interactionEnv) status(n *interactionNode) {
	st := n.rn.Status()
	e.printf("%d: %s Term:%d Vote:%d Lead:%d Commit:%d Applied:%d LastIndex:%d %s\n",
		n.id, st.RaftState, st.Term, st.Vote, st.Lead, st.Commit, st.Applied, st.LastIndex, st.Config)
	if st.LeadTransferee != None {
		e.printf("  transferring leadership to %d\n", st.LeadTransferee)
	}
	for _, p := range st.Progress {
		e.printf("  %d: %s match=%d next=%d", p.ID, p.State, p.Match, p.Next)
		if p.IsLearner {
			e.printf(" learner")
		}
		if p.PendingSnapshot != 0 {
			e.printf(" pending-snapshot=%d", p.PendingSnapshot)
		}
		e.printf("\n")
	}
}

// messageString renders a message like Message.String, with entries separated by commas.
func messageString(m Message) string {
	s := fmt.Sprintf("%d->%d %s Term:%d Log:%d/%d", m.From, m.To, m.Type, m.Term, m.LogTerm, m.Index)
	if m.Commit != 0 {
		s += fmt.Sprintf(" Commit:%d", m.Commit)
	}
	if len(m.Entries) > 0 {
		s += " Entries:" + entriesString(m.Entries)
	}
	switch {
	case m.Reject && m.Type == MsgAppResp:
		s += fmt.Sprintf(" Rejected (Hint: %d)", m.RejectHint)
	case m.Reject:
		s += " Rejected"
	}
	if m.LeaderTransfer {
		s += " LeaderTransfer"
	}
	if m.ReadRound != 0 {
		s += fmt.Sprintf(" ReadRound:%d", m.ReadRound)
	}
	if m.Context != nil {
		s += fmt.Sprintf(" Context:%q", m.Context)
	}
	if m.Snapshot != nil {
		s += " Snapshot:" + m.Snapshot.Metadata.String()
	}
	return s
}

func entriesString(ents []Entry) string {
	parts := make([]string, len(ents))
	for i, en := range ents {
		parts[i] = en.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
