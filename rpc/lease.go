package rpc

import (
	"context"
	"errors"
	"io"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/node"
)

// LeaseGrant answers etcd's Lease.LeaseGrant (through the log; the ID the client chose, or
// one the member draws). With auth enabled it needs a user (etcd's requireAuthInfo).
func (s *Services) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if err := s.requireUser(ctx); err != nil {
		return nil, err
	}
	resp, err := s.submit(ctx, &pb.InternalRaftRequest{LeaseGrant: r})
	if err != nil {
		return nil, err
	}
	resp.LeaseGrant.Header = s.fill(resp.LeaseGrant.Header)
	return resp.LeaseGrant, nil
}

// LeaseRevoke answers etcd's Lease.LeaseRevoke: the lease and its keys go in one revision.
// With auth enabled it needs a user (etcd's requireAuthInfo) and write on every attached key
// (kv/node checks that when it applies).
func (s *Services) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	if err := s.requireUser(ctx); err != nil {
		return nil, err
	}
	resp, err := s.submit(ctx, &pb.InternalRaftRequest{LeaseRevoke: r})
	if err != nil {
		return nil, err
	}
	resp.LeaseRevoke.Header = s.fill(resp.LeaseRevoke.Header)
	return resp.LeaseRevoke, nil
}

// LeaseTimeToLive answers etcd's Lease.LeaseTimeToLive from the leader's lessor; an unknown
// lease is TTL -1, not an error, as etcd answers it.
func (s *Services) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	if err := s.requireUser(ctx); err != nil {
		return nil, err
	}
	if r.Keys { // read on every attached key (etcd's checkLeaseTimeToLive)
		if err := s.checkMember(ctx, func(m *node.Member, ai auth.Info) error { return m.CheckLeaseKeys(ai, r.ID, authpb.READ) }); err != nil {
			return nil, err
		}
	}
	resp, err := s.d.TimeToLive(ctx, r)
	if errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
		h, err := s.currentHeader(ctx)
		if err != nil {
			return nil, toGRPCError(err)
		}
		return &pb.LeaseTimeToLiveResponse{Header: h, ID: r.ID, TTL: -1}, nil
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	out := resp.LeaseTimeToLive
	out.Header = s.fill(out.Header)
	return out, nil
}

// LeaseLeases answers etcd's Lease.LeaseLeases.
func (s *Services) LeaseLeases(ctx context.Context, r *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	if err := s.checkMember(ctx, func(m *node.Member, ai auth.Info) error { return m.CheckLeasesRead(ai) }); err != nil {
		return nil, err
	}
	resp, err := s.d.Leases(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	out := resp.LeaseLeases
	if out.Leases == nil {
		out.Leases = []*pb.LeaseStatus{}
	}
	out.Header = s.fill(out.Header)
	return out, nil
}

// LeaseKeepAlive serves etcd's keep-alive stream: one answer per request, in order. An
// unknown (expired, revoked) lease is answered with TTL 0, which tells clientv3 the lease is
// gone; any other failure ends the stream with etcd's error, and clientv3 opens a new one.
// The header is taken before the renewal, as etcd takes it, so its revision is never later
// than the renewal's, and with the member's current revision, as etcd's.
func (s *Services) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		// write on every attached key (etcd's checkLeaseRenew); a refusal ends the stream
		if err := s.checkMember(ctx, func(m *node.Member, ai auth.Info) error { return m.CheckLeaseKeys(ai, req.ID, authpb.WRITE) }); err != nil {
			return err
		}
		h, err := s.currentHeader(ctx)
		if err != nil {
			return toGRPCError(err)
		}
		out := &pb.LeaseKeepAliveResponse{ID: req.ID, Header: h}
		resp, err := s.d.KeepAlive(ctx, req.ID)
		switch {
		case errors.Is(err, rpctypes.ErrGRPCLeaseNotFound):
			out.TTL = 0
		case err != nil:
			return toGRPCError(err)
		default:
			out.TTL = resp.LeaseKeepAlive.TTL
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
}
