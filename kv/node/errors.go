package node

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"

	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/ballastdb/ballast/raft"
)

// Errors a request may fail with, as etcd's server reports them. Each leaves the outcome of
// a write unknown (it may still apply), except ErrStopped for requests never proposed.
var (
	// ErrTimeout: the request did not apply (or the read was not confirmed) in time.
	ErrTimeout = rpctypes.ErrTimeout
	// ErrNoLeader: no leader is known, so a write cannot be forwarded and a read not confirmed.
	ErrNoLeader = rpctypes.ErrNoLeader
	// ErrStopped: the member was closed or stopped after a storage failure.
	ErrStopped = rpctypes.ErrStopped
	// ErrTooManyRequests: the member's table of waiting requests was full
	// (Config.MaxWaitingRequests); the request was refused before it was proposed, so it
	// certainly did not take effect.
	ErrTooManyRequests = rpctypes.ErrTooManyRequests
)

// ErrStorage wraps a storage failure; the member stops serving after one.
var ErrStorage = errors.New("node: storage failure, member stopped")

// isRequestError reports whether err is an answer a request may end with while the store is
// sound: etcd's client-facing errors (gRPC statuses and rpctypes' EtcdErrors, e.g. an
// unknown lease, a duplicate key in a txn), a compacted or future revision, and this
// package's refusals of malformed requests. Any other error from applying or reading is the
// disk's (a failed read of Pebble) or a bug, and stops the member as a storage failure: an
// entry that failed to apply on one member only would leave its store behind the others'
// with an applied index that says otherwise, and a read that failed may as well have
// returned damaged data. The list is closed on purpose; an error missing from it stops
// members loudly rather than diverging them silently.
func isRequestError(err error) bool {
	if _, ok := status.FromError(err); ok {
		return true
	}
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		return true
	}
	for _, known := range []error{mvcc.ErrCompacted, mvcc.ErrFutureRev, errRequestKind, raft.ErrConfChangeInvalid,
		lease.ErrNoIDSource, lease.ErrNotPrimary} {
		if errors.Is(err, known) {
			return true
		}
	}
	return false
}
