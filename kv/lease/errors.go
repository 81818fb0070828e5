package lease

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// etcd's errors: rpctypes' gRPC status values, with etcd's codes and exact messages
// ("etcdserver: requested lease not found", ...), the same values kv/mvcc returns for an
// unknown lease, so the gRPC layer passes them through unchanged and errors.Is matches them.
var (
	ErrLeaseNotFound    = rpctypes.ErrGRPCLeaseNotFound
	ErrLeaseExist       = rpctypes.ErrGRPCLeaseExist
	ErrLeaseTTLTooLarge = rpctypes.ErrGRPCLeaseTTLTooLarge
)

// Errors of our own (etcd has no client-visible equivalent).
var (
	// ErrNotPrimary: the call needs the primary lessor (the leader's). etcd's lessor has the
	// same error; its server forwards the request to the leader, and so should the caller.
	ErrNotPrimary = errors.New("lease: not the primary lessor")
	// ErrNoIDSource: a grant asked for a generated ID but the Config has no IDSource.
	ErrNoIDSource = errors.New("lease: grant with ID 0 needs a generated ID, but the config has no IDSource")
)
