package mvcc

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// The storage errors carry etcd's server-side text (server/storage/mvcc); the gRPC layer
// turns them into rpctypes.ErrGRPCCompacted / ErrGRPCFutureRev, as etcd's togRPCError does
// (GRPCError below does exactly that).
var (
	// ErrCompacted: the requested revision is below the compact revision.
	ErrCompacted = errors.New("mvcc: required revision has been compacted")
	// ErrFutureRev: the requested revision is above the current revision.
	ErrFutureRev = errors.New("mvcc: required revision is a future revision")
)

// Request validation and lease errors are etcd's own gRPC errors from api/v3, returned
// unchanged (errors.Is works on them; status.Convert(err).Message() is etcd's text):
//
//	rpctypes.ErrGRPCEmptyKey          "etcdserver: key is not provided"
//	rpctypes.ErrGRPCKeyNotFound       "etcdserver: key not found" (ignore_value/ignore_lease on a missing key, empty txn op)
//	rpctypes.ErrGRPCValueProvided     "etcdserver: value is provided"
//	rpctypes.ErrGRPCLeaseProvided     "etcdserver: lease is provided"
//	rpctypes.ErrGRPCTooManyOps        "etcdserver: too many operations in txn request"
//	rpctypes.ErrGRPCDuplicateKey      "etcdserver: duplicate key given in txn request"
//	rpctypes.ErrGRPCRequestTooLarge   "etcdserver: request is too large"
//	rpctypes.ErrGRPCLeaseNotFound     "etcdserver: requested lease not found"
//	rpctypes.ErrGRPCInvalidSortOption "etcdserver: invalid sort option"

// ErrFormat is wrapped by Open when the stored layout version is not one this code reads.
var ErrFormat = errors.New("mvcc: unsupported on-disk format")

// ErrNotIndexed is returned by write calls given a batch that cannot read its own writes.
var ErrNotIndexed = errors.New("mvcc: write calls need an indexed batch (pebble.DB.NewIndexedBatch)")

// GRPCError maps this package's errors to the gRPC errors etcd sends for them; other errors
// are returned unchanged.
func GRPCError(err error) error {
	switch {
	case errors.Is(err, ErrCompacted):
		return rpctypes.ErrGRPCCompacted
	case errors.Is(err, ErrFutureRev):
		return rpctypes.ErrGRPCFutureRev
	}
	return err
}
