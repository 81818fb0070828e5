package raft

import "github.com/ballastdb/ballast/canary"

// Snapshots. The application makes a snapshot of its state machine at an applied index and
// compacts its log (see MemoryStorage.CreateSnapshot and Compact); raft is not involved until
// a follower needs entries that are gone: then the leader sends the storage's snapshot
// (MsgSnap, progressSnapshot) and waits for the follower to acknowledge it before resuming
// appends. A follower installs a snapshot by handing it out in Ready: its log is replaced, its
// commit index and, on Advance, its applied index jump to the snapshot's index, and the
// snapshot's configuration is adopted at once.

// handleSnapshot is a follower receiving a snapshot from the leader.
func (r *raft) handleSnapshot(m Message) {
	snap := *m.Snapshot
	if r.restore(snap) {
		index := r.log.lastIndex()
		if canary.On(canary.SnapshotDropsNext) {
			index++ // broken on purpose: the answer names the next index, not the last one held
		}
		r.send(Message{To: m.From, Type: MsgAppResp, Index: index})
		return
	}
	r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
}

// restore installs snap if it brings news. It reports whether it did.
func (r *raft) restore(snap Snapshot) bool {
	meta := snap.Metadata
	if meta.Index <= r.log.committed {
		return false
	}
	if r.log.matchTerm(meta.Index, meta.Term) ||
		canary.On(canary.SnapshotKeepsCovered) && meta.Index <= r.log.lastIndex() { // broken on purpose: by index alone
		// The log already holds the snapshot's last entry: everything up to it is committed,
		// and the entries after it may stay.
		r.log.commitTo(meta.Index)
		return false
	}
	r.log.restore(snap)
	r.trk.setConf(meta.ConfState, r.log.lastIndex()+1)
	return true
}

// reportSnapshot is the application telling the leader how sending a snapshot to id ended.
func (r *raft) reportSnapshot(id uint64, failed bool) {
	if r.state != StateLeader {
		return
	}
	pr := r.trk.get(id)
	if pr == nil || pr.state != progressSnapshot {
		return
	}
	if failed {
		pr.pendingSnapshot = 0
	}
	// Wait in probe for the follower's answer (or the next heartbeat) before sending more.
	pr.becomeProbe()
	pr.probeSent = true
}

// reportUnreachable is the application telling the leader a message to id was not delivered:
// stop streaming to it and probe.
func (r *raft) reportUnreachable(id uint64) {
	if r.state != StateLeader {
		return
	}
	if pr := r.trk.get(id); pr != nil && pr.state == progressReplicate {
		pr.becomeProbe()
	}
}
