package node

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
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
