package embed

import (
	"context"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/node"
)

// The compaction hash check (etcd's --feature-gates=CompactHashCheck=true with
// --compact-hash-check-time, its corruptionChecker.CompactHashCheck): every
// CompactHashCheckTime the leader takes its store's compact revision, if it has one it has
// not checked yet, hashes its store at that revision (HashKV) and asks every other voter for
// its hash at the same revision over the peer transport (fetchPeerHash, the call of the
// periodic and initial checks). A peer that does not answer, or whose compact revision is
// another, is skipped. The answers are grouped by hash: all equal, the revision is checked
// (once every peer answered); otherwise the members outside a quorum holding one hash get the
// CORRUPT alarm, or, when no hash has a quorum, the alarm is raised for member 0 (the whole
// cluster), as etcd does. Differences: etcd keeps the hashes it computed at each compaction
// and tries older ones when a peer is skipped; Ballast hashes at the latest compact revision
// only (HashKV at the compact revision is what etcd's hash of that compaction covers).

// compactHashLoop runs checkCompactHash every interval until ctx ends.
func (s *Server) compactHashLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var checked int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rev, err := s.checkCompactHash(ctx, checked)
		if err != nil && ctx.Err() == nil {
			s.lg.Warn("failed to check compaction hashes between members", "error", err.Error())
		}
		checked = max(checked, rev)
	}
}

// checkCompactHash is one pass (on the leader; a no-op elsewhere or when the compact
// revision is not newer than checked). It returns the revision it checked on every peer.
func (s *Server) checkCompactHash(ctx context.Context, checked int64) (int64, error) {
	var h *pb.HashKVResponse
	var herr error
	var leads bool
	err := s.driver.Inspect(ctx, func(m *node.Member) {
		if leads = m.Status().Lead == m.ID(); !leads {
			return
		}
		if h, herr = m.HashKV(0); herr == nil && h.CompactRevision > checked {
			h, herr = m.HashKV(h.CompactRevision)
		}
	})
	if err == nil {
		err = herr
	}
	if err != nil || !leads || h.CompactRevision <= checked {
		return 0, err
	}
	rev := h.CompactRevision
	s.lg.Info("starting compact hash check", "local-member-id", hexID(s.id), "revision", rev)
	body, err := proto.Marshal(&pb.HashKVRequest{Revision: rev})
	if err != nil {
		return 0, err
	}
	groups := map[uint32][]uint64{h.Hash: {s.id}}
	peers, checkedPeers := 0, 0
	for _, a := range s.driver.Members() {
		if a.ID == s.id || a.IsLearner {
			continue
		}
		peers++
		p := s.fetchPeerHash(ctx, a.ID, body, 5*s.cfg.ElectionTimeout)
		if p.err == nil && s.cfg.compactHashHook != nil {
			s.cfg.compactHashHook(a.ID, p.resp)
		}
		switch {
		case p.err != nil:
			s.lg.Warn("Skipped peer's hash", "leader-id", hexID(s.id), "peer-id", hexID(a.ID), "reason", p.err.Error())
			continue
		case p.resp.CompactRevision != rev:
			s.lg.Warn("Skipped peer's hash", "leader-id", hexID(s.id), "peer-id", hexID(a.ID),
				"reason", "the peer's CompactRevision doesn't match leader's CompactRevision", "peer-compact-revision", p.resp.CompactRevision, "leader-compact-revision", rev)
			continue
		}
		checkedPeers++
		groups[p.resp.Hash] = append(groups[p.resp.Hash], a.ID)
	}
	if len(groups) == 1 {
		if checkedPeers < peers {
			s.lg.Warn("skipped revision in compaction hash check; was not able to check all peers",
				"number-of-peers-checked", checkedPeers, "number-of-peers", peers, "revision", rev)
			return 0, nil
		}
		s.lg.Info("successfully checked hash on whole cluster", "number-of-peers-checked", checkedPeers, "revision", rev)
		return rev, nil
	}
	quorum := (peers+1)/2 + 1
	var suspects []uint64
	majority := false
	for hash, ids := range groups {
		if len(ids) >= quorum {
			majority = true
			delete(groups, hash)
			break
		}
	}
	for hash, ids := range groups {
		s.lg.Error("Detected compaction hash mismatch", "leader-id", hexID(s.id), "leader-compact-revision", rev,
			"leader-hash", h.Hash, "peer-hash", hash, "peer-ids", ids, "quorum-exist", majority)
		if majority {
			suspects = append(suspects, ids...)
		}
	}
	if !majority {
		suspects = []uint64{0} // etcd: the corrupted members cannot be told, the whole cluster
	}
	slices.Sort(suspects)
	for _, id := range suspects {
		if _, err := s.driver.Submit(ctx, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: id, Alarm: pb.AlarmType_CORRUPT}}); err != nil {
			return 0, err
		}
		s.lg.Error("raised CORRUPT alarm", "member-id", hexID(id))
	}
	return rev, nil
}
