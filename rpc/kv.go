package rpc

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/kv/node"
)

// submit runs one request on the member and maps its error to etcd's. A write that timed out
// while the leader changed (or was lost) is answered, as etcd answers it, "request timed
// out, possibly due to previous leader failure": its outcome is unknown either way, and the
// text tells the client why.
func (s *Services) submit(ctx context.Context, req *pb.InternalRaftRequest) (node.Response, error) {
	if err := s.withAuth(ctx, req); err != nil { // auth.go
		return node.Response{}, err
	}
	if err := s.checkSpace(ctx, req); err != nil { // quota.go
		return node.Response{}, err
	}
	before := *s.status()
	observed := s.cfg.Proposals != nil && req.Range == nil
	if observed {
		s.cfg.Proposals.Begin()
	}
	resp, err := s.d.Submit(ctx, req)
	if observed {
		s.cfg.Proposals.End(proposalFailed(err))
	}
	if err != nil {
		if isTimeout(err) {
			after := s.status()
			if before.leader == 0 || after.leader != before.leader || after.term != before.term {
				return resp, rpctypes.ErrGRPCTimeoutDueToLeaderFail
			}
		}
		return resp, toGRPCError(err)
	}
	return resp, nil
}

// Range answers etcd's KV.Range.
func (s *Services) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	resp, err := s.submit(ctx, &pb.InternalRaftRequest{Range: r})
	if err != nil {
		return nil, err
	}
	resp.Range.Header = s.fill(resp.Range.Header)
	return resp.Range, nil
}

// Put answers etcd's KV.Put.
func (s *Services) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	resp, err := s.submit(ctx, &pb.InternalRaftRequest{Put: r})
	if err != nil {
		return nil, err
	}
	resp.Put.Header = s.fill(resp.Put.Header)
	return resp.Put, nil
}

// DeleteRange answers etcd's KV.DeleteRange.
func (s *Services) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	resp, err := s.submit(ctx, &pb.InternalRaftRequest{DeleteRange: r})
	if err != nil {
		return nil, err
	}
	resp.DeleteRange.Header = s.fill(resp.DeleteRange.Header)
	return resp.DeleteRange, nil
}

// Txn answers etcd's KV.Txn. The responses of nested operations carry headers as etcd's
// do (only the outer one is filled by etcd's server as well).
func (s *Services) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	resp, err := s.submit(ctx, &pb.InternalRaftRequest{Txn: r})
	if err != nil {
		return nil, err
	}
	resp.Txn.Header = s.fill(resp.Txn.Header)
	return resp.Txn, nil
}

// Compact answers etcd's KV.Compact; with physical set it returns once this member's
// compaction has finished (kv/node completes it then).
func (s *Services) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	resp, err := s.submit(ctx, &pb.InternalRaftRequest{Compaction: r})
	if err != nil {
		return nil, err
	}
	resp.Compaction.Header = s.fill(resp.Compaction.Header)
	return resp.Compaction, nil
}
