package rpc

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/ballastdb/ballast/kv/node"
)

// knownErrors are etcd's server-side gRPC errors that may reach a client. toGRPCError looks
// for them in an error's chain, so a member error that wraps one (a NotLeaderError naming
// the leader, say) leaves with etcd's exact code and message.
var knownErrors = []error{
	rpctypes.ErrGRPCEmptyKey, rpctypes.ErrGRPCKeyNotFound, rpctypes.ErrGRPCValueProvided,
	rpctypes.ErrGRPCLeaseProvided, rpctypes.ErrGRPCTooManyOps, rpctypes.ErrGRPCDuplicateKey,
	rpctypes.ErrGRPCInvalidClientAPIVersion, rpctypes.ErrGRPCInvalidSortOption,
	rpctypes.ErrGRPCCompacted, rpctypes.ErrGRPCFutureRev, rpctypes.ErrGRPCNoSpace,
	rpctypes.ErrGRPCLeaseNotFound, rpctypes.ErrGRPCLeaseExist, rpctypes.ErrGRPCLeaseTTLTooLarge,
	rpctypes.ErrGRPCWatchCanceled, rpctypes.ErrGRPCMemberExist, rpctypes.ErrGRPCPeerURLExist,
	rpctypes.ErrGRPCMemberNotEnoughStarted, rpctypes.ErrGRPCMemberBadURLs,
	rpctypes.ErrGRPCMemberNotFound, rpctypes.ErrGRPCMemberNotLearner,
	rpctypes.ErrGRPCLearnerNotReady, rpctypes.ErrGRPCTooManyLearners,
	rpctypes.ErrGRPCClusterIDMismatch, rpctypes.ErrGRPCRequestTooLarge,
	rpctypes.ErrGRPCRequestTooManyRequests, rpctypes.ErrGRPCNoLeader, rpctypes.ErrGRPCNotLeader,
	rpctypes.ErrGRPCLeaderChanged, rpctypes.ErrGRPCNotCapable, rpctypes.ErrGRPCStopped,
	rpctypes.ErrGRPCTimeout, rpctypes.ErrGRPCTimeoutDueToLeaderFail,
	rpctypes.ErrGRPCTimeoutDueToConnectionLost, rpctypes.ErrGRPCTimeoutWaitAppliedIndex,
	rpctypes.ErrGRPCUnhealthy, rpctypes.ErrGRPCCorrupt, rpctypes.ErrGRPCNotSupportedForLearner,
	rpctypes.ErrGRPCBadLeaderTransferee, rpctypes.ErrGRPCCanceled, rpctypes.ErrGRPCDeadlineExceeded,
	rpctypes.ErrGRPCRootUserNotExist, rpctypes.ErrGRPCRootRoleNotExist, rpctypes.ErrGRPCUserAlreadyExist,
	rpctypes.ErrGRPCUserEmpty, rpctypes.ErrGRPCUserNotFound, rpctypes.ErrGRPCRoleAlreadyExist,
	rpctypes.ErrGRPCRoleNotFound, rpctypes.ErrGRPCRoleEmpty, rpctypes.ErrGRPCAuthFailed,
	rpctypes.ErrGRPCPermissionNotGiven, rpctypes.ErrGRPCPermissionDenied, rpctypes.ErrGRPCRoleNotGranted,
	rpctypes.ErrGRPCPermissionNotGranted, rpctypes.ErrGRPCAuthNotEnabled, rpctypes.ErrGRPCInvalidAuthToken,
	rpctypes.ErrGRPCInvalidAuthMgmt, rpctypes.ErrGRPCAuthOldRevision,
}

// toGRPCError turns an error from the member into what etcd's server sends for it.
func toGRPCError(err error) error {
	if err == nil {
		return nil
	}
	// The client's own cancellation: gRPC turns these into Canceled / DeadlineExceeded.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	err = mvcc.GRPCError(err)
	for _, known := range knownErrors {
		if errors.Is(err, known) {
			return known
		}
	}
	// rpctypes' client-side errors (kv/node's ErrTimeout, ErrNoLeader, ErrStopped are these)
	// carry etcd's code and text.
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		return status.Error(etcdErr.Code(), etcdErr.Error())
	}
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	return status.Error(codes.Unknown, err.Error())
}

// isTimeout reports whether err is etcd's request timeout (kv/node's ErrTimeout).
func isTimeout(err error) bool {
	return errors.Is(err, rpctypes.ErrTimeout) || errors.Is(err, rpctypes.ErrGRPCTimeout)
}

// proposalFailed reports whether a write's error is a failed proposal in etcd's sense (the
// request got no answer from the store: a timeout, no leader, the member stopping or
// overloaded), not an answer such as a compacted revision or a request refused as invalid.
func proposalFailed(err error) bool {
	switch {
	case err == nil:
		return false
	case isTimeout(err), errors.Is(err, node.ErrStopped), errors.Is(err, node.ErrNoLeader), errors.Is(err, node.ErrTooManyRequests),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	}
	return false
}
