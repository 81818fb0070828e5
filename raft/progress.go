package raft

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ballastdb/ballast/raft/quorum"
)

// progressState is how the leader currently replicates to one follower.
type progressState uint8

const (
	// progressProbe: the follower's match is unknown; send one append per heartbeat interval
	// and wait for its answer before the next.
	progressProbe progressState = iota
	// progressReplicate: the follower is in step; stream appends optimistically, bounded by
	// the in-flight window.
	progressReplicate
	// progressSnapshot: the follower needs a snapshot; send nothing until it is installed.
	progressSnapshot
)

var progressStateNames = [...]string{"StateProbe", "StateReplicate", "StateSnapshot"}

// String names the state.
func (s progressState) String() string { return progressStateNames[s] }

// progress is the leader's view of one member's log.
type progress struct {
	id uint64
	// match is the highest index known to be in the member's log; next is the next index to
	// send.
	match, next uint64
	state       progressState
	// pendingSnapshot is the index of the snapshot being sent (progressSnapshot).
	pendingSnapshot uint64
	// snapshotRounds counts the election-timeout rounds a snapshot has been in flight; after
	// two the leader assumes it was lost and probes again (ReportSnapshot says so sooner).
	snapshotRounds int
	// recentActive: the member answered since the last check-quorum round.
	recentActive bool
	// probeSent: in progressProbe, an append is outstanding; wait for an answer.
	probeSent bool
	inflights inflights
	isLearner bool
	// readRoundAcked is the highest read-index round the member acknowledged this term.
	readRoundAcked uint64
	// sentCommit is the highest commit index the member has been told (as far as the
	// messages carrying it let the member apply it).
	sentCommit uint64
}

// String renders the progress, for traces and test failures.
func (p *progress) String() string {
	return fmt.Sprintf("%d: %s match=%d next=%d inflight=%d", p.id, p.state, p.match, p.next, p.inflights.count)
}

func (p *progress) resetState(state progressState) {
	p.probeSent = false
	p.pendingSnapshot = 0
	p.snapshotRounds = 0
	p.state = state
	p.inflights.reset()
}

func (p *progress) becomeProbe() {
	if p.state == progressSnapshot {
		// Continue after the snapshot it was sent (or where it was already).
		pending := p.pendingSnapshot
		p.resetState(progressProbe)
		p.next = max(p.match+1, pending+1)
		return
	}
	p.resetState(progressProbe)
	p.next = p.match + 1
}

func (p *progress) becomeReplicate() {
	p.resetState(progressReplicate)
	p.next = p.match + 1
}

func (p *progress) becomeSnapshot(snapshotIndex uint64) {
	p.resetState(progressSnapshot)
	p.pendingSnapshot = snapshotIndex
}

// maybeUpdate records that the member holds the log up to n. It reports whether match moved.
func (p *progress) maybeUpdate(n uint64) bool {
	updated := false
	if p.match < n {
		p.match = n
		updated = true
		p.probeSent = false
	}
	p.next = max(p.next, n+1)
	return updated
}

// maybeDecrTo handles a rejection of the append after index rejected, with the member's hint
// that its log may match up to matchHint. It reports whether the rejection was news (not
// stale), in which case next moved back.
func (p *progress) maybeDecrTo(rejected, matchHint uint64) bool {
	if p.state == progressReplicate {
		if rejected <= p.match {
			return false // stale: it already acknowledged beyond this
		}
		p.next = p.match + 1
		return true
	}
	if p.next-1 != rejected {
		return false // stale: not the probe we are waiting for
	}
	p.next = max(min(rejected, matchHint+1), p.match+1)
	p.probeSent = false
	return true
}

// isPaused reports whether the leader must not send appends to the member now.
func (p *progress) isPaused() bool {
	switch p.state {
	case progressProbe:
		return p.probeSent
	case progressReplicate:
		return p.inflights.full()
	default:
		return true
	}
}

// sentEntries records that an append of count entries (bytes in total) ending at lastIndex
// went out.
func (p *progress) sentEntries(count int, bytes, lastIndex uint64) {
	switch p.state {
	case progressReplicate:
		if count > 0 {
			p.next = lastIndex + 1
			p.inflights.add(lastIndex, bytes)
		}
	case progressProbe:
		p.probeSent = true
	}
}

// inflights is a bounded ring of the appends sent but not acknowledged, by last index and
// size, so that a member in progressReplicate never has more than maxCount messages or
// maxBytes of entries outstanding.
type inflights struct {
	start, count int
	bytes        uint64
	maxBytes     uint64
	lastIndexes  []uint64
	sizes        []uint64
}

func newInflights(maxCount int, maxBytes uint64) inflights {
	return inflights{maxBytes: maxBytes, lastIndexes: make([]uint64, maxCount), sizes: make([]uint64, maxCount)}
}

func (in *inflights) full() bool {
	return in.count == len(in.lastIndexes) || (in.maxBytes != 0 && in.bytes >= in.maxBytes)
}

func (in *inflights) add(lastIndex, bytes uint64) {
	if in.count == len(in.lastIndexes) {
		panic("raft: in-flight window overflow")
	}
	i := (in.start + in.count) % len(in.lastIndexes)
	in.lastIndexes[i] = lastIndex
	in.sizes[i] = bytes
	in.count++
	in.bytes += bytes
}

// freeLE forgets the appends whose entries are all at or below index.
func (in *inflights) freeLE(index uint64) {
	for in.count > 0 && in.lastIndexes[in.start] <= index {
		in.freeFirst()
	}
}

func (in *inflights) freeFirst() {
	if in.count == 0 {
		return
	}
	in.bytes -= in.sizes[in.start]
	in.start = (in.start + 1) % len(in.lastIndexes)
	in.count--
}

func (in *inflights) reset() {
	in.start, in.count, in.bytes = 0, 0, 0
}

// tracker holds the configuration and, on a leader, every member's progress. Members are
// kept sorted by ID so that every walk over them is deterministic; groups are small, so a
// slice beats a map and allocates nothing per lookup.
type tracker struct {
	conf     ConfState
	progress []*progress
	// scratch is reused for quorum computations.
	scratch []uint64
	// maxInflightMsgs and maxInflightBytes size each member's window.
	maxInflightMsgs  int
	maxInflightBytes uint64
}

func (t *tracker) get(id uint64) *progress {
	for _, p := range t.progress {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (t *tracker) isVoter(id uint64) bool { return slices.Contains(t.conf.Voters, id) }

// setConf installs a configuration, keeping the progress of members that stay and creating
// fresh progress (next = nextIndex) for new ones.
func (t *tracker) setConf(conf ConfState, nextIndex uint64) {
	conf = cloneConfState(conf)
	slices.Sort(conf.Voters)
	slices.Sort(conf.Learners)
	t.conf = conf
	kept := t.progress[:0:0]
	add := func(id uint64, learner bool) {
		p := t.get(id)
		if p == nil {
			p = &progress{id: id, next: nextIndex, inflights: newInflights(t.maxInflightMsgs, t.maxInflightBytes)}
		}
		p.isLearner = learner
		kept = append(kept, p)
	}
	for _, id := range conf.Voters {
		add(id, false)
	}
	for _, id := range conf.Learners {
		add(id, true)
	}
	slices.SortFunc(kept, func(a, b *progress) int { return cmp.Compare(a.id, b.id) })
	t.progress = kept
}

// resetAll prepares every member's progress for a new leader term.
func (t *tracker) resetAll(lastIndex uint64) {
	for _, p := range t.progress {
		*p = progress{id: p.id, next: lastIndex + 1, isLearner: p.isLearner, inflights: p.inflights}
		p.inflights.reset()
	}
}

// committed is the highest index a quorum of voters holds.
func (t *tracker) committed() uint64 {
	return t.quorumOf(func(p *progress) uint64 { return p.match })
}

// quorumOf is the highest value that a quorum of voters has reached, for a per-member value.
func (t *tracker) quorumOf(value func(*progress) uint64) uint64 {
	t.scratch = t.scratch[:0]
	for _, p := range t.progress {
		if !p.isLearner {
			t.scratch = append(t.scratch, value(p))
		}
	}
	return quorum.CommittedIndex(t.scratch)
}

// quorumActive reports whether a quorum of voters (counting self) was recently active, and
// clears the activity marks for the next round.
func (t *tracker) quorumActive(self uint64) bool {
	active, voters := 0, 0
	for _, p := range t.progress {
		if p.isLearner {
			continue
		}
		voters++
		if p.recentActive || p.id == self {
			active++
		}
	}
	return voters > 0 && active >= quorum.Majority(voters)
}

func (t *tracker) clearRecentActive(self uint64) {
	for _, p := range t.progress {
		p.recentActive = p.id == self
	}
}

// expireSnapshots ends snapshots that have been in flight for two election-timeout rounds
// without an answer: the message was probably lost, and a follower must never wait forever.
func (t *tracker) expireSnapshots() {
	for _, p := range t.progress {
		if p.state != progressSnapshot {
			continue
		}
		p.snapshotRounds++
		if p.snapshotRounds >= 2 {
			p.becomeProbe()
		}
	}
}
