package rpc

import (
	"context"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// noLeaderTimeouts is how many election timeouts without a leader cancel the streams that
// require one (etcd's maxNoLeaderCnt): reconnecting streams costs more than refusing new
// calls, so streams get longer than calls.
const noLeaderTimeouts = 3

// requiresLeader reports whether the call's metadata carry clientv3.WithRequireLeader's
// hasleader=true.
func requiresLeader(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	for _, v := range md.Get(rpctypes.MetadataRequireLeaderKey) {
		if v == rpctypes.MetadataHasLeader {
			return true
		}
	}
	return false
}

// supportedOnLearner: a learner serves serializable reads and Status only, as in etcd.
func supportedOnLearner(req any) bool {
	switch r := req.(type) {
	case *pb.StatusRequest:
		return true
	case *pb.RangeRequest:
		return r.Serializable
	}
	return false
}

func (s *Services) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.cfg.Auth != nil {
		if err := s.cfg.Auth(ctx, info.FullMethod); err != nil {
			return nil, err
		}
	}
	v := s.status()
	if s.isLearner() && !supportedOnLearner(req) {
		return nil, rpctypes.ErrGRPCNotSupportedForLearner
	}
	if requiresLeader(ctx) && v.leader == 0 {
		return nil, rpctypes.ErrGRPCNoLeader
	}
	return handler(ctx, req)
}

func (s *Services) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	if s.cfg.Auth != nil {
		if err := s.cfg.Auth(ctx, info.FullMethod); err != nil {
			return err
		}
	}
	v := s.status()
	if s.isLearner() {
		return rpctypes.ErrGRPCNotSupportedForLearner
	}
	if !requiresLeader(ctx) {
		return handler(srv, ss)
	}
	if v.leader == 0 {
		return rpctypes.ErrGRPCNoLeader
	}
	lc := newLeaderContext(ctx)
	defer lc.cancel(nil)
	stop := s.monitorLeader(lc)
	defer stop()
	return handler(srv, &streamWithContext{ServerStream: ss, ctx: lc})
}

// leaderContext is a stream's context that the leader monitor can cancel with a reason: its
// Err is then etcd's "no leader", which the handler returns to the client.
type leaderContext struct {
	context.Context
	stop   context.CancelFunc
	mu     sync.Mutex
	reason error
}

func newLeaderContext(parent context.Context) *leaderContext {
	ctx, stop := context.WithCancel(parent)
	return &leaderContext{Context: ctx, stop: stop}
}

func (c *leaderContext) cancel(reason error) {
	c.mu.Lock()
	if c.reason == nil {
		c.reason = reason
	}
	c.mu.Unlock()
	c.stop()
}

func (c *leaderContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != nil {
		return c.reason
	}
	return c.Context.Err()
}

type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *streamWithContext) Context() context.Context { return s.ctx }

// monitorLeader cancels lc with "no leader" once the member has known no leader at
// noLeaderTimeouts consecutive checks, one per election timeout. It returns the function
// that stops the monitor.
func (s *Services) monitorLeader(lc *leaderContext) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(s.cfg.ElectionTimeout)
		defer t.Stop()
		missing := 0
		for {
			select {
			case <-done:
				return
			case <-lc.Done():
				return
			case <-t.C:
				if s.status().leader == 0 {
					missing++
				} else {
					missing = 0
				}
				if missing >= noLeaderTimeouts {
					lc.cancel(rpctypes.ErrGRPCNoLeader)
					return
				}
			}
		}
	}()
	return func() { close(done) }
}
