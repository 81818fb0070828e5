package embed

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/node"
)

// The periodic corruption check between members (etcd's --corrupt-check-time and its
// corruptionChecker.PeriodicCheck): every CorruptCheckTime the leader hashes its key-value
// history at its current revision (HashKV), asks every other voter for its hash at that
// revision over the peer transport, hashes itself again, and raises the CORRUPT alarm for a
// member whose store cannot be the leader's: its hash differs at the same compact revision,
// or its revision or compact revision is ahead of the leader's (the leader's own, when its
// two hashes of one revision differ). The alarm goes through the log like any other; while
// it is raised every member refuses writes with etcd's "etcdserver: corrupt cluster"
// (kv/node's quota.go), until an operator repairs the member and disarms it. A peer that
// does not answer, or has not applied the revision yet, is skipped this round, as in etcd.
// The peer call is corrupt.go's methodHashKV, which the initial check uses too.

// corruptCheckLoop runs checkCorruption every interval until ctx ends.
func (s *Server) corruptCheckLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.checkCorruption(ctx); err != nil && ctx.Err() == nil {
			s.lg.Warn("failed to check for corruption between members", "error", err.Error())
		}
	}
}

// checkCorruption is one pass (on the leader; a no-op elsewhere).
func (s *Server) checkCorruption(ctx context.Context) error {
	local := func() (*pb.HashKVResponse, bool, error) {
		var h *pb.HashKVResponse
		var herr error
		var leads bool
		err := s.driver.Inspect(ctx, func(m *node.Member) {
			leads = m.Status().Lead == m.ID()
			if leads {
				h, herr = m.HashKV(0)
			}
		})
		if err == nil {
			err = herr
		}
		return h, leads, err
	}
	h, leads, err := local()
	if err != nil || !leads {
		return err
	}
	var peers []peerHash // the voters that answered (one that cannot is left out this round)
	body, err := proto.Marshal(&pb.HashKVRequest{Revision: h.HashRevision})
	if err != nil {
		return err
	}
	for _, a := range s.driver.Members() {
		if a.ID == s.id || a.IsLearner {
			continue
		}
		p := s.fetchPeerHash(ctx, a.ID, body, 5*s.cfg.ElectionTimeout) // corrupt.go
		if p.err != nil {
			s.lg.Warn("failed hash kv request", "local-member-id", hexID(s.id), "requested-revision", h.HashRevision, "remote-peer-id", hexID(a.ID), "error", p.err.Error())
			continue
		}
		peers = append(peers, p)
	}
	h2, leads, err := local()
	if err != nil || !leads {
		return err
	}
	var suspect uint64
	mismatch := func(id uint64, msg string, args ...any) {
		s.lg.Warn(msg, args...)
		if suspect == 0 {
			suspect = id
		}
	}
	if h2.Hash != h.Hash && h2.HashRevision == h.HashRevision && h2.CompactRevision == h.CompactRevision {
		mismatch(s.id, "found hash mismatch", "revision-1", h.HashRevision, "compact-revision-1", h.CompactRevision, "hash-1", h.Hash,
			"revision-2", h2.HashRevision, "compact-revision-2", h2.CompactRevision, "hash-2", h2.Hash)
	}
	leaderRev := h2.GetHeader().GetRevision()
	for _, p := range peers {
		switch {
		case p.resp.GetHeader().GetRevision() > leaderRev:
			mismatch(p.id, "revision from follower must be less than or equal to leader's",
				"leader-revision", leaderRev, "follower-revision", p.resp.GetHeader().GetRevision(), "follower-peer-id", hexID(p.id))
		case p.resp.CompactRevision > h2.CompactRevision:
			mismatch(p.id, "compact revision from follower must be less than or equal to leader's",
				"leader-compact-revision", h2.CompactRevision, "follower-compact-revision", p.resp.CompactRevision, "follower-peer-id", hexID(p.id))
		case p.resp.CompactRevision == h.CompactRevision && p.resp.Hash != h.Hash:
			mismatch(p.id, "same compact revision then hashes must match",
				"leader-compact-revision", h2.CompactRevision, "leader-hash", h.Hash, "follower-compact-revision", p.resp.CompactRevision,
				"follower-hash", p.resp.Hash, "follower-peer-id", hexID(p.id))
		}
	}
	s.lg.Info("finished peer corruption check", "number-of-peers-checked", len(peers))
	if suspect == 0 {
		return nil
	}
	_, err = s.driver.Submit(ctx, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: suspect, Alarm: pb.AlarmType_CORRUPT}})
	if err != nil {
		return err
	}
	s.lg.Error("raised CORRUPT alarm", "member-id", hexID(suspect))
	return nil
}
