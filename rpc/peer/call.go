package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RemoteError is an error the callee's Config.Handle returned, as its gRPC code and message,
// so the caller can re-raise etcd's exact error: it implements GRPCStatus (status.FromError
// and a gRPC handler returning it give the same code and message) and matches, with
// errors.Is, any gRPC status error of the same code and message (etcd's rpctypes errors).
type RemoteError struct {
	Code    codes.Code
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("peer: remote error: code = %s desc = %s", e.Code, e.Message)
}

// GRPCStatus is the error as a gRPC status, code and message unchanged.
func (e *RemoteError) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// Is reports whether target is a RemoteError or a gRPC status error with the same code and
// message.
func (e *RemoteError) Is(target error) bool {
	if t, ok := target.(*RemoteError); ok {
		return t.Code == e.Code && t.Message == e.Message
	}
	if t, ok := target.(interface{ GRPCStatus() *status.Status }); ok {
		s := t.GRPCStatus()
		return s.Code() == e.Code && s.Message() == e.Message
	}
	return false
}

// toRemoteError turns what a handler returned into what travels back.
func toRemoteError(err error) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		return re
	}
	if s, ok := status.FromError(err); ok {
		return &RemoteError{Code: s.Code(), Message: s.Message()}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s := status.FromContextError(err)
		return &RemoteError{Code: s.Code(), Message: err.Error()}
	}
	return &RemoteError{Code: codes.Unknown, Message: err.Error()}
}

// Call sends a request to member to (method name, protobuf body) and returns the answer of
// its Config.Handle, or the error that handler returned as a *RemoteError. Other errors are
// the transport's (no address, unreachable, refused, ctx ended): the call may or may not
// have run then. Each call has a connection of its own (calls are rare: membership changes
// forwarded to the leader), so a call is never retried once its request was written.
func (t *Transport) Call(ctx context.Context, to uint64, method string, body []byte) ([]byte, error) {
	ctx, stop := mergeContext(ctx, t.ctx)
	defer stop()
	conn, err := t.dialMember(ctx, to, classCall, nil)
	if err != nil {
		return nil, fmt.Errorf("peer: call %s to member %x: %w", method, to, err)
	}
	defer t.untrack(conn)
	resp, err := roundTrip(ctx, conn, method, body)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, fmt.Errorf("peer: call %s to member %x: %w", method, to, err)
	}
	return resp, nil
}

// probeMethod is the call Probe makes: the transport answers it itself, at once and with an
// empty body, without Config.Handle (which never sees it). A member of an older version
// hands it to its Handle, which answers an error just as fast: the round trip is the same.
const probeMethod = "peer.Probe"

// Probe measures one round trip to member to, as etcd's peer prober does for
// etcd_network_peer_round_trip_time_seconds: it opens a call connection (dial and
// handshake, not timed), then times one request and its answer on it. Errors are Call's.
func (t *Transport) Probe(ctx context.Context, to uint64) (time.Duration, error) {
	ctx, stop := mergeContext(ctx, t.ctx)
	defer stop()
	conn, err := t.dialMember(ctx, to, classCall, nil)
	if err != nil {
		return 0, fmt.Errorf("peer: probe member %x: %w", to, err)
	}
	defer t.untrack(conn)
	start := time.Now()
	_, err = roundTrip(ctx, conn, probeMethod, nil)
	rtt := time.Since(start)
	var re *RemoteError
	if err != nil && !errors.As(err, &re) {
		return 0, fmt.Errorf("peer: probe member %x: %w", to, err)
	}
	return rtt, nil
}

// Fetch makes one call as a guest (no member ID, no cluster ID) to the member listening at
// a peer URL: how a member joining an existing cluster (--initial-cluster-state existing)
// asks for the cluster ID and the member list before it knows its own ID. tlsCfg is needed
// for https:// URLs. Errors are as Call's.
func Fetch(ctx context.Context, url string, tlsCfg *tls.Config, method string, body []byte) ([]byte, error) {
	hello := handshake{Version: ProtocolVersion, Class: classCall}
	conn, _, err := dialHandshake(ctx, url, tlsCfg, hello)
	if err != nil {
		return nil, fmt.Errorf("peer: fetch %s from %s: %w", method, url, err)
	}
	defer conn.Close()
	resp, err := roundTrip(ctx, conn, method, body)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, fmt.Errorf("peer: fetch %s from %s: %w", method, url, err)
	}
	return resp, nil
}

// roundTrip writes one call request on an accepted call connection and reads the answer;
// ctx ending interrupts both.
func roundTrip(ctx context.Context, conn net.Conn, method string, body []byte) ([]byte, error) {
	var budgetMs uint32
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ctx.Err()
		}
		// The callee's handler gets a little more than the caller waits: the caller's own
		// deadline is the one that decides (and its close ends the handler anyway).
		budgetMs = uint32(min((left + callBudgetMargin).Milliseconds(), math.MaxUint32))
	}
	req, err := encodeCallRequest(budgetMs, method, body)
	if err != nil {
		return nil, err
	}
	if err := checkFrameSize(len(req)); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	w := bufio.NewWriterSize(conn, bufferBytes)
	if err := writeFrame(w, req); err != nil {
		return nil, ctxOr(ctx, err)
	}
	if err := w.Flush(); err != nil {
		return nil, ctxOr(ctx, err)
	}
	payload, err := readFrame(bufio.NewReaderSize(conn, bufferBytes))
	if err != nil {
		return nil, ctxOr(ctx, fmt.Errorf("reading the answer: %w", err))
	}
	resp, rerr, err := decodeCallResponse(payload)
	if err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	return resp, nil
}

// ctxOr prefers ctx's error: a deadline that interrupted I/O is the cause, not the I/O.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// mergeContext is ctx, also cancelled when other ends.
func mergeContext(ctx, other context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(other, cancel)
	return ctx, func() { stop(); cancel() }
}
