package rpc

import (
	"context"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/kv/snapshot"
)

// Status answers etcd's Maintenance.Status: every column `etcdctl endpoint status` prints.
// RaftIndex is the commit index and RaftAppliedIndex the applied index, as etcd reports
// them; Errors lists "etcdserver: no leader" when none is known, then the active alarms.
func (s *Services) Status(ctx context.Context, r *pb.StatusRequest) (*pb.StatusResponse, error) {
	if err := s.requireUser(ctx); err != nil {
		return nil, err
	}
	var out *pb.StatusResponse
	err := s.d.Inspect(ctx, func(m *node.Member) {
		st := m.Status()
		total, inUse := m.DBSize()
		out = &pb.StatusResponse{
			Header:           &pb.ResponseHeader{ClusterId: m.ClusterID(), MemberId: m.ID(), RaftTerm: st.Term, Revision: m.CurrentRevision()},
			Version:          s.cfg.Version,
			StorageVersion:   s.cfg.StorageVersion,
			DbSize:           total,
			DbSizeInUse:      inUse,
			DbSizeQuota:      s.cfg.QuotaBackendBytes,
			Leader:           st.Lead,
			RaftIndex:        st.Commit,
			RaftTerm:         st.Term,
			RaftAppliedIndex: m.AppliedIndex(),
			IsLearner:        slices.Contains(st.Config.Learners, m.ID()),
			DowngradeInfo:    &pb.DowngradeInfo{},
		}
		if st.Lead == 0 {
			out.Errors = append(out.Errors, rpctypes.ErrorDesc(rpctypes.ErrGRPCNoLeader))
		}
		for _, a := range m.Alarms() {
			out.Errors = append(out.Errors, a.String())
		}
	})
	if err != nil {
		return nil, toGRPCError(err)
	}
	return out, nil
}

// HashKV answers etcd's Maintenance.HashKV: the hash of the keys' history up to the
// revision (0: the current one), comparable across members.
func (s *Services) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	return s.hashKV(ctx, r)
}

func (s *Services) hashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	var (
		out     *pb.HashKVResponse
		hashErr error
	)
	if err := s.d.Inspect(ctx, func(m *node.Member) { out, hashErr = m.HashKV(r.Revision) }); err != nil {
		return nil, toGRPCError(err)
	}
	if hashErr != nil {
		return nil, toGRPCError(hashErr)
	}
	out.Header = s.fill(out.Header)
	return out, nil
}

// Hash answers etcd's Maintenance.Hash. etcd hashes its whole backend file, which no other
// store can reproduce; Ballast answers the hash of the key-value history at the current
// revision (HashKV's), which agrees across members exactly when their stores do, the use
// the call has.
func (s *Services) Hash(ctx context.Context, r *pb.HashRequest) (*pb.HashResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	kv, err := s.hashKV(ctx, &pb.HashKVRequest{})
	if err != nil {
		return nil, err
	}
	return &pb.HashResponse{Header: kv.Header, Hash: kv.Hash}, nil
}

// MoveLeader answers etcd's Maintenance.MoveLeader: only the leader may hand leadership on
// (etcd's "not leader" elsewhere; etcdctl move-leader sends it to the leader).
func (s *Services) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	if err := s.d.TransferLeader(ctx, r.TargetID); err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MoveLeaderResponse{}, nil // etcd's answer carries no header
}

// Alarm answers etcd's Maintenance.Alarm: ACTIVATE and DEACTIVATE through the log; GET from
// this member after a linearizable barrier (etcd sends GET through the log too), so a list
// taken after an acknowledged change, on any member, shows it.
func (s *Services) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	check := s.checkAdmin
	if r.Action == pb.AlarmRequest_GET {
		check = s.requireUser
	}
	if err := check(ctx); err != nil {
		return nil, err
	}
	if r.Action == pb.AlarmRequest_GET {
		if err := s.barrier(ctx); err != nil {
			return nil, err
		}
	}
	resp, err := s.submit(ctx, &pb.InternalRaftRequest{Alarm: r})
	if err != nil {
		return nil, err
	}
	out := resp.Alarm
	out.Header = s.fill(out.Header)
	return out, nil
}

// Defragment answers etcd's Maintenance.Defragment: a manual compaction of the member's
// whole Pebble key space, answered when it is done.
func (s *Services) Defragment(ctx context.Context, r *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	if err := s.d.Defragment(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.DefragmentResponse{}, nil // etcd's answer carries no header
}

// Snapshot answers etcd's Maintenance.Snapshot: the store in etcd's own bbolt format
// (kv/snapshot), so `etcdctl snapshot save` saves a file `etcdutl snapshot restore` restores.
// The view is taken on the driver goroutine at one applied index (a Pebble snapshot and the
// member table); the file is then built from it in the snapshot directory while the member
// goes on serving, streamed as etcd streams its own (blobs of 32 KiB, then the sha256), and
// removed.
func (s *Services) Snapshot(r *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	ctx := stream.Context()
	if err := s.checkAdmin(ctx); err != nil {
		return err
	}
	var (
		view    *node.StoreView
		viewErr error
	)
	if err := s.d.Inspect(ctx, func(m *node.Member) { view, viewErr = m.View() }); err != nil {
		return toGRPCError(err)
	}
	if viewErr != nil {
		return toGRPCError(viewErr)
	}
	src := snapshot.Source{
		Reader: view.Reader, ConsistentIndex: view.AppliedIndex, Term: view.Term,
		Removed: view.Removed, Alarms: view.Alarms, Voters: view.Voters, Learners: view.Learners,
	}
	for _, m := range view.Members {
		src.Members = append(src.Members, snapshot.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner})
	}
	f, err := snapshot.Write(ctx, s.cfg.SnapshotDir, src)
	_ = view.Close()
	if err != nil {
		s.cfg.Logger.Warn("failed to build database snapshot", "error", err.Error())
		return status.Error(codes.Internal, err.Error())
	}
	defer func() { _ = f.Remove() }()
	s.cfg.Logger.Info("sending database snapshot to client", "total-bytes", f.DBSize, "revision", f.Revision, "storage-version", snapshot.StorageVersion)
	return f.Stream(ctx, func(blob []byte, remaining uint64) error {
		return stream.Send(&pb.SnapshotResponse{RemainingBytes: remaining, Blob: blob, Version: snapshot.StorageVersion})
	})
}

// Downgrade is not served: Ballast has one storage format and no downgrade path.
func (s *Services) Downgrade(ctx context.Context, r *pb.DowngradeRequest) (*pb.DowngradeResponse, error) {
	return nil, status.Error(codes.Unimplemented, "ballast: Maintenance.Downgrade is not supported: Ballast has no earlier storage version to downgrade to")
}
