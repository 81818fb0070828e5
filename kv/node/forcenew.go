package node

import (
	"fmt"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ballastdb/ballast/raft"
)

// Config.ForceNewCluster is etcd's --force-new-cluster (etcdserver's bootstrapWALFromSnapshot
// with ForceNewCluster, and storage.CreateConfigChangeEnts): at Open, before raft starts,
// a member with data makes itself a one-member cluster, keeping everything it committed:
//
//   - its commit index becomes max(the stored commit, its applied index) (etcd: the
//     consistent index), and the log entries beyond it, which may never have committed, are
//     discarded;
//   - the configuration at that index is computed (the snapshot's, then every conf change
//     entry up to it), and one ConfChangeRemoveNode entry per other member, voter or learner,
//     in ID order, is appended in the current term and committed at once;
//   - applied as any entry, they remove the others from raft's configuration and from the
//     member table (member list shows this member only; they are recorded as removed, so
//     they cannot rejoin with their old IDs, as in etcd); raft then elects this member
//     alone, and new members can be added (etcd's runbook: member add, then start them with
//     --initial-cluster-state existing).
//
// The log and hard state change durably, so a later restart without the flag finds the
// one-member cluster. A member that is not in the configuration, or is a learner, is
// refused (etcd would add itself with a placeholder peer URL: Ballast says why instead). A
// member with no data has nothing to recover: the flag changes nothing.

// forceNewCluster rewrites the log as above into b.
func (m *Member) forceNewCluster(b *pebble.Batch) error {
	hs := m.log.HardState()
	last, err := m.log.LastIndex()
	if err != nil {
		return err
	}
	snap, err := m.log.Snapshot()
	if err != nil {
		return err
	}
	if last == 0 && snap.IsEmpty() {
		return nil // a new member: nothing to recover
	}
	commit := max(hs.Commit, m.applied)
	if commit > last {
		return fmt.Errorf("force-new-cluster: applied index %d beyond the log's last index %d", commit, last)
	}
	voters := slices.Clone(snap.Metadata.ConfState.Voters)
	learners := slices.Clone(snap.Metadata.ConfState.Learners)
	if commit > snap.Metadata.Index {
		ents, err := m.log.Entries(snap.Metadata.Index+1, commit+1, math.MaxUint64)
		if err != nil {
			return fmt.Errorf("force-new-cluster: read the log: %w", err)
		}
		for _, e := range ents {
			if e.Type != raft.EntryConfChange {
				continue
			}
			cc, err := raft.UnmarshalConfChange(e.Data)
			if err != nil {
				return fmt.Errorf("force-new-cluster: entry %d: %w", e.Index, err)
			}
			del := func(ids []uint64) []uint64 {
				return slices.DeleteFunc(ids, func(id uint64) bool { return id == cc.NodeID })
			}
			switch cc.Type {
			case raft.ConfChangeAddVoter:
				learners = del(learners)
				if !slices.Contains(voters, cc.NodeID) {
					voters = append(voters, cc.NodeID)
				}
			case raft.ConfChangeAddLearner:
				voters = del(voters)
				if !slices.Contains(learners, cc.NodeID) {
					learners = append(learners, cc.NodeID)
				}
			case raft.ConfChangeRemoveNode:
				voters, learners = del(voters), del(learners)
			}
		}
	}
	switch {
	case slices.Contains(learners, m.cfg.ID):
		return fmt.Errorf("force-new-cluster: member %x is a learner at index %d: a learner cannot be the cluster alone", m.cfg.ID, commit)
	case !slices.Contains(voters, m.cfg.ID):
		return fmt.Errorf("force-new-cluster: member %x is not in the configuration at index %d (voters %x)", m.cfg.ID, commit, voters)
	}
	others := slices.DeleteFunc(append(voters, learners...), func(id uint64) bool { return id == m.cfg.ID })
	slices.Sort(others)
	var ents []raft.Entry
	for i, id := range others {
		ents = append(ents, raft.Entry{Type: raft.EntryConfChange, Term: hs.Term, Index: commit + 1 + uint64(i),
			Data: raft.ConfChange{Type: raft.ConfChangeRemoveNode, NodeID: id}.Marshal()})
	}
	if len(ents) == 0 && last > commit {
		// Already alone, but the uncommitted suffix goes all the same: one empty entry (a
		// no-op, as a new leader's) replaces it.
		ents = append(ents, raft.Entry{Type: raft.EntryNormal, Term: hs.Term, Index: commit + 1})
	}
	if len(ents) > 0 {
		if err := m.log.Append(b, ents); err != nil {
			return fmt.Errorf("force-new-cluster: %w", err)
		}
	}
	walCommit := hs.Commit
	hs.Commit = commit + uint64(len(ents))
	if err := m.log.SetHardState(b, hs); err != nil {
		return err
	}
	if m.cfg.Logger != nil {
		m.cfg.Logger.Logf("forcing restart member %x: wal-commit-index %d, commit-index %d, removed members %x", m.cfg.ID, walCommit, hs.Commit, others)
	}
	return nil
}
