package rpc

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/rpc/peer"
)

// Forwarded method names (the peer transport's calls).
const (
	forwardMemberAdd     = "Cluster.MemberAdd"
	forwardMemberRemove  = "Cluster.MemberRemove"
	forwardMemberUpdate  = "Cluster.MemberUpdate"
	forwardMemberPromote = "Cluster.MemberPromote"
)

// forwardedKey marks a call that came from a peer: it is never forwarded again.
type forwardedKey struct{}

// MemberID computes a member's ID as etcd does: the first 8 bytes (big-endian) of the SHA-1
// of its sorted peer URLs joined, the cluster token, and, when now is given (etcd's
// member add), now's Unix seconds, so a member removed and added back gets a new ID.
func MemberID(peerURLs []string, token string, now *time.Time) uint64 {
	urls := append([]string(nil), peerURLs...)
	sort.Strings(urls)
	b := []byte(strings.Join(urls, "") + token)
	if now != nil {
		b = fmt.Appendf(b, "%d", now.Unix())
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// members reads the member table, after a linearizable barrier when asked (etcd's
// MemberList with linearizable set confirms it reads the current configuration).
func (s *Services) members(ctx context.Context, linearizable bool) ([]*pb.Member, error) {
	if linearizable {
		if err := s.barrier(ctx); err != nil {
			return nil, err
		}
	}
	var attrs []node.MemberAttrs
	if err := s.d.Inspect(ctx, func(m *node.Member) { attrs = m.Members() }); err != nil {
		return nil, toGRPCError(err)
	}
	out := make([]*pb.Member, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, &pb.Member{ID: a.ID, Name: a.Name, PeerURLs: a.PeerURLs, ClientURLs: a.ClientURLs, IsLearner: a.IsLearner})
	}
	return out, nil
}

// barrier returns once this member has applied everything committed when it was called
// (a linearizable read completes only then), membership and alarm entries included.
func (s *Services) barrier(ctx context.Context) error {
	// Straight to the driver, without the caller's identity: kv/node checks no permission
	// of a read without a header (the barrier reads nothing the caller sees).
	_, err := s.d.Submit(ctx, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte{0}, CountOnly: true}})
	return toGRPCError(err)
}

// clusterHeader is the header of the Cluster service's answers: etcd's ClusterServer sets
// cluster ID, member ID and raft term, and no revision (membership is not in the key space).
func (s *Services) clusterHeader() *pb.ResponseHeader {
	v := s.status()
	return &pb.ResponseHeader{ClusterId: v.clusterID, MemberId: v.memberID, RaftTerm: v.term}
}

// MemberList answers etcd's Cluster.MemberList.
func (s *Services) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	ms, err := s.members(ctx, r.Linearizable)
	if err != nil {
		return nil, err
	}
	// etcd's requireAuthInfo, after the linearizable read as in etcd.
	if err := s.requireUser(ctx); err != nil {
		return nil, err
	}
	return &pb.MemberListResponse{Header: s.clusterHeader(), Members: ms}, nil
}

// MemberAdd answers etcd's Cluster.MemberAdd: the new member's ID is computed from its peer
// URLs and the time, as etcd computes it; on a follower the call goes to the leader.
func (s *Services) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	urls, err := types.NewURLs(r.PeerURLs)
	if err != nil {
		return nil, rpctypes.ErrGRPCMemberBadURLs
	}
	now := time.Now()
	attrs := node.MemberAttrs{ID: MemberID(urls.StringSlice(), "", &now), PeerURLs: urls.StringSlice(), IsLearner: r.IsLearner}
	out := &pb.MemberAddResponse{}
	ms, forwarded, err := s.changeMembers(ctx, forwardMemberAdd, r, out, func() error {
		_, err := s.d.AddMember(ctx, attrs)
		return err
	})
	if err != nil || forwarded {
		return answered(out, err)
	}
	out.Header = s.clusterHeader()
	out.Member = &pb.Member{ID: attrs.ID, PeerURLs: attrs.PeerURLs, IsLearner: attrs.IsLearner}
	out.Members = ms
	return out, nil
}

// MemberRemove answers etcd's Cluster.MemberRemove.
func (s *Services) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	out := &pb.MemberRemoveResponse{}
	ms, forwarded, err := s.changeMembers(ctx, forwardMemberRemove, r, out, func() error {
		_, err := s.d.RemoveMember(ctx, r.ID)
		return err
	})
	if err != nil || forwarded {
		return answered(out, err)
	}
	out.Header, out.Members = s.clusterHeader(), ms
	return out, nil
}

// MemberUpdate answers etcd's Cluster.MemberUpdate (new peer URLs).
func (s *Services) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	urls, err := types.NewURLs(r.PeerURLs)
	if err != nil {
		return nil, rpctypes.ErrGRPCMemberBadURLs
	}
	out := &pb.MemberUpdateResponse{}
	ms, forwarded, err := s.changeMembers(ctx, forwardMemberUpdate, r, out, func() error {
		_, err := s.d.UpdateMember(ctx, r.ID, urls.StringSlice())
		return err
	})
	if err != nil || forwarded {
		return answered(out, err)
	}
	out.Header, out.Members = s.clusterHeader(), ms
	return out, nil
}

// MemberPromote answers etcd's Cluster.MemberPromote (a learner that caught up becomes a
// voter; etcd's "learner not ready" until it has).
func (s *Services) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	out := &pb.MemberPromoteResponse{}
	ms, forwarded, err := s.changeMembers(ctx, forwardMemberPromote, r, out, func() error {
		_, err := s.d.PromoteMember(ctx, r.ID)
		return err
	})
	if err != nil || forwarded {
		return answered(out, err)
	}
	out.Header, out.Members = s.clusterHeader(), ms
	return out, nil
}

// answered is a handler's answer: out, or nil and the error.
func answered[T proto.Message](out T, err error) (T, error) {
	if err != nil {
		var none T
		return none, err
	}
	return out, nil
}

// changeMembers runs local, a membership change only the leader can make, and returns the
// member table after it. When this member turns out not to lead it forwards req to the
// leader it names (unless the call was itself forwarded) and decodes the leader's whole
// answer into out, reporting forwarded = true.
func (s *Services) changeMembers(ctx context.Context, method string, req, out proto.Message, local func() error) (_ []*pb.Member, forwarded bool, err error) {
	if ctx.Value(forwardedKey{}) == nil { // a forwarded call was checked where it came in
		if err := s.checkAdmin(ctx); err != nil {
			return nil, false, err
		}
	}
	err = local()
	var notLeader *node.NotLeaderError
	if err == nil {
		ms, err := s.members(ctx, false)
		return ms, false, err
	}
	if !errors.As(err, &notLeader) {
		return nil, false, toGRPCError(err)
	}
	if notLeader.Leader == 0 {
		return nil, false, rpctypes.ErrGRPCNoLeader
	}
	if ctx.Value(forwardedKey{}) != nil || s.cfg.Forward == nil {
		return nil, false, toGRPCError(err)
	}
	body, err := proto.Marshal(req)
	if err != nil {
		return nil, false, toGRPCError(err)
	}
	answer, err := s.cfg.Forward.Call(ctx, notLeader.Leader, method, body)
	if err != nil {
		return nil, true, remoteError(err)
	}
	if err := proto.Unmarshal(answer, out); err != nil {
		return nil, true, status.Errorf(codes.Internal, "rpc: the leader's answer to %s does not decode: %v", method, err)
	}
	return nil, true, nil
}

// remoteError re-raises the leader's error as the leader sent it.
func remoteError(err error) error {
	var re *peer.RemoteError
	if errors.As(err, &re) {
		return status.Error(re.Code, re.Message)
	}
	return toGRPCError(err)
}

// HandleForward serves a membership call a follower forwarded (the peer transport's
// handler): the same handler as the client's call, marked so it is not forwarded again.
// The error it returns is a gRPC status error, whose code and message the transport carries
// back.
func (s *Services) HandleForward(ctx context.Context, from uint64, method string, body []byte) ([]byte, error) {
	ctx = context.WithValue(ctx, forwardedKey{}, from)
	var (
		resp proto.Message
		err  error
	)
	switch method {
	case forwardMemberAdd:
		r := &pb.MemberAddRequest{}
		if err = proto.Unmarshal(body, r); err == nil {
			resp, err = s.MemberAdd(ctx, r)
		}
	case forwardMemberRemove:
		r := &pb.MemberRemoveRequest{}
		if err = proto.Unmarshal(body, r); err == nil {
			resp, err = s.MemberRemove(ctx, r)
		}
	case forwardMemberUpdate:
		r := &pb.MemberUpdateRequest{}
		if err = proto.Unmarshal(body, r); err == nil {
			resp, err = s.MemberUpdate(ctx, r)
		}
	case forwardMemberPromote:
		r := &pb.MemberPromoteRequest{}
		if err = proto.Unmarshal(body, r); err == nil {
			resp, err = s.MemberPromote(ctx, r)
		}
	default:
		return nil, fmt.Errorf("rpc: member %d forwarded unknown method %q", from, method)
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	return proto.Marshal(resp)
}
