package rpc

import (
	"context"
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// watchBatch is how many responses one wake-up of a stream's sender takes from the member.
const watchBatch = 64

// Watch serves etcd's bidirectional watch stream on this member, leader or follower: one
// goroutine hands the client's requests (create, cancel, progress) to the member's watch
// stream, another sends what the member has ready, in order. Refusals (a duplicate watch ID,
// an empty range) and compactions are answered in-band, as etcd answers them. The stream
// ends when the client goes, with etcd's "watch canceled" (or "no leader" when it required a
// leader and the member lost it).
func (s *Services) Watch(stream pb.Watch_WatchServer) error {
	w, err := s.d.Watch()
	if err != nil {
		return toGRPCError(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()

	errc := make(chan error, 2)
	go func() {
		for {
			req, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return // the client sends no more; its watches go on until it leaves
			}
			if err != nil {
				errc <- err
				return
			}
			if req.GetCreateRequest() != nil {
				ai, aerr := s.authInfo(stream.Context())
				if aerr != nil {
					err = w.Refuse(aerr)
				} else {
					err = w.HandleAs(ai, req)
				}
			} else {
				err = w.Handle(req)
			}
			if err != nil {
				errc <- toGRPCError(err)
				return
			}
		}
	}()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for {
			resps, err := w.Next(ctx, watchBatch)
			for _, r := range resps {
				r.Header = s.fillWatchHeader(r.Header)
				if err := stream.Send(r); err != nil {
					errc <- err
					return
				}
			}
			if err != nil {
				errc <- toGRPCError(err)
				return
			}
		}
	}()

	select {
	case err = <-errc:
	case <-stream.Context().Done():
		err = stream.Context().Err()
	}
	cancel()
	<-sent // never Send after the handler returned
	if errors.Is(err, context.Canceled) {
		err = rpctypes.ErrGRPCWatchCanceled
	}
	return err
}

// fillWatchHeader completes a watch response's header without replacing its revision: the
// member's watch stream sets the revision it may claim (never more than it delivered).
func (s *Services) fillWatchHeader(h *pb.ResponseHeader) *pb.ResponseHeader {
	if h == nil {
		h = &pb.ResponseHeader{}
	}
	v := s.status()
	h.ClusterId, h.MemberId, h.RaftTerm = v.clusterID, v.memberID, v.term
	return h
}
