package rpc

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/node"
)

// statusView is what the services know of the member between calls: enough to fill response
// headers and to decide leader requirements without a round trip to the member.
type statusView struct {
	clusterID, memberID uint64
	term, leader        uint64
	revision            int64
	at                  time.Time
}

// refresh reads the member's status through the driver (a no-op when ctx ends first).
func (s *Services) refresh(ctx context.Context) {
	var v statusView
	err := s.d.Inspect(ctx, func(m *node.Member) {
		st := m.Status()
		v = statusView{
			clusterID: m.ClusterID(),
			memberID:  m.ID(),
			term:      st.Term,
			leader:    st.Lead,
			revision:  m.CurrentRevision(),
		}
	})
	if err == nil {
		v.at = time.Now()
		s.view.Store(&v)
	}
}

// watchStatus refreshes the view every StatusInterval, and cancels streams that require a
// leader once the member had none for three election timeouts.
func (s *Services) watchStatus() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.d.Stopped():
			return
		case <-t.C:
			s.refresh(s.ctx)
		}
	}
}

func (s *Services) status() *statusView { return s.view.Load() }

// fill completes a response header as etcd's do: cluster ID, member ID and raft term; the
// revision when the answer carried none.
func (s *Services) fill(h *pb.ResponseHeader) *pb.ResponseHeader {
	if h == nil {
		h = &pb.ResponseHeader{}
	}
	v := s.status()
	h.ClusterId, h.MemberId, h.RaftTerm = v.clusterID, v.memberID, v.term
	if h.Revision == 0 {
		h.Revision = v.revision
	}
	return h
}

// currentHeader is a header with the member's revision as of now (a round trip to the
// driver), for answers that carry no revision of their own (keep-alives, an unknown lease's
// TTL): etcd fills those from its store's current revision, and the polled view can be a
// StatusInterval old, so a client that just wrote would see a revision before its write
// (found by the compat harness: a keep-alive after a put answered the put's revision - 1).
func (s *Services) currentHeader(ctx context.Context) (*pb.ResponseHeader, error) {
	var rev int64
	if err := s.d.Inspect(ctx, func(m *node.Member) { rev = m.CurrentRevision() }); err != nil {
		return nil, err
	}
	return s.fill(&pb.ResponseHeader{Revision: rev}), nil
}

// isLearner reports whether this member is a learner, from the driver's member table (as of
// its last round), which is fresher than the polled view: a learner that just started must
// refuse writes from its first call.
func (s *Services) isLearner() bool {
	a, ok := s.d.Member(s.d.ID())
	return ok && a.IsLearner
}
