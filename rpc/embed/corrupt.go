package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/node"
)

// This file is etcd's initial corruption check (--feature-gates=InitialCorruptCheck=true,
// which kubeadm's manifests pass; etcd's corruptionChecker.InitialCheck): before the member
// serves clients, it hashes its store (HashKV at its current revision) and asks every other
// member for its hash at that revision over the peer transport ("embed.HashKV", answered
// from the local store, as etcd's /members/hashkv). A peer whose hash differs at the same
// compact revision is a data inconsistency: the member refuses to start, with etcd's
// message. A peer that cannot answer (down, behind, compacted past the revision) is a
// warning, as in etcd: the check cannot prove anything with it.

// methodHashKV is the peer call the check makes: a pb.HashKVRequest, answered with a
// pb.HashKVResponse whose header names the answering member.
const methodHashKV = "embed.HashKV"

// peerHash is one peer's answer to the check.
type peerHash struct {
	id   uint64
	urls []string
	resp *pb.HashKVResponse
	err  error
}

// initialCorruptCheck runs the check against the members known at start.
func (s *Server) initialCorruptCheck(ctx context.Context, ident identity) error {
	timeout := 5*time.Second + 2*s.cfg.ElectionTimeout // etcd's ReqTimeout
	s.lg.Info("starting initial corruption check", "local-member-id", hexID(s.id), "timeout", timeout.String())
	local, err := s.localHashKV(ctx, 0)
	if err != nil {
		return fmt.Errorf("%s failed to fetch hash (%v)", hexID(s.id), err)
	}
	var ids []uint64
	for _, a := range s.driver.Members() {
		ids = append(ids, a.ID)
	}
	for _, f := range ident.founders {
		ids = append(ids, f.ID)
	}
	for _, r := range ident.remotes {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	body, err := proto.Marshal(&pb.HashKVRequest{Revision: local.HashRevision})
	if err != nil {
		return err
	}
	var peers []peerHash
	for _, id := range ids {
		if id == s.id {
			continue
		}
		p := s.fetchPeerHash(ctx, id, body, timeout)
		if a, ok := s.driver.Member(id); ok {
			p.urls = a.PeerURLs
		}
		peers = append(peers, p)
	}
	return compareHashes(s.lg, s.id, local, peers)
}

// fetchPeerHash asks peer id for its HashKV (body: a marshalled pb.HashKVRequest) over the
// peer transport, within timeout; the initial and the periodic checks both ask this way.
func (s *Server) fetchPeerHash(ctx context.Context, id uint64, body []byte, timeout time.Duration) peerHash {
	p := peerHash{id: id}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	out, err := s.transport.Call(cctx, id, methodHashKV, body)
	cancel()
	if err == nil {
		resp := &pb.HashKVResponse{}
		if err = proto.Unmarshal(out, resp); err == nil {
			p.resp = resp
		}
	}
	p.err = err
	return p
}

// compareHashes is InitialCheck's verdict on the peers' answers, with etcd's log lines.
func compareHashes(lg *slog.Logger, self uint64, local *pb.HashKVResponse, peers []peerHash) error {
	mismatch := 0
	for _, p := range peers {
		if p.resp != nil && p.err == nil {
			fields := []any{"local-member-id", hexID(self), "local-member-revision", local.HashRevision,
				"local-member-compact-revision", local.CompactRevision, "local-member-hash", local.Hash,
				"remote-peer-id", hexID(p.id), "remote-peer-endpoints", p.urls,
				"remote-peer-revision", p.resp.GetHeader().GetRevision(), "remote-peer-compact-revision", p.resp.CompactRevision,
				"remote-peer-hash", p.resp.Hash}
			if local.Hash != p.resp.Hash {
				if local.CompactRevision == p.resp.CompactRevision {
					lg.Warn("found different hash values from remote peer", fields...)
					mismatch++
				} else {
					lg.Warn("found different compact revision values from remote peer", fields...)
				}
			}
			continue
		}
		fields := []any{"local-member-id", hexID(self), "local-member-revision", local.HashRevision,
			"remote-peer-id", hexID(p.id), "remote-peer-endpoints", p.urls, "error", fmt.Sprint(p.err)}
		switch msg := fmt.Sprint(p.err); {
		case strings.Contains(msg, "required revision is a future revision"):
			lg.Warn("cannot fetch hash from slow remote peer", fields...)
		case strings.Contains(msg, "required revision has been compacted"):
			lg.Warn("cannot fetch hash from remote peer; local member is behind", fields...)
		default:
			lg.Warn("cannot fetch hash from remote peer", fields...)
		}
	}
	if mismatch > 0 {
		return fmt.Errorf("%s found data inconsistency with peers", hexID(self))
	}
	lg.Info("initial corruption checking passed; no corruption", "local-member-id", hexID(self))
	return nil
}

// localHashKV is the member's own HashKV at rev (0: its current revision).
func (s *Server) localHashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error) {
	var (
		out     *pb.HashKVResponse
		hashErr error
	)
	if err := s.driver.Inspect(ctx, func(m *node.Member) { out, hashErr = m.HashKV(rev) }); err != nil {
		return nil, err
	}
	if hashErr != nil {
		return nil, hashErr
	}
	if out.Header == nil {
		out.Header = &pb.ResponseHeader{}
	}
	out.Header.ClusterId, out.Header.MemberId = s.cid, s.id
	return out, nil
}

// answerHashKV serves a peer's methodHashKV call.
func (s *Server) answerHashKV(ctx context.Context, body []byte) ([]byte, error) {
	req := &pb.HashKVRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		return nil, errors.New("embed: malformed HashKV request")
	}
	resp, err := s.localHashKV(ctx, req.Revision)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(resp)
}
