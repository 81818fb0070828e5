package rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/ballastdb/ballast/kv/node"
)

// TestToGRPCError: whatever wraps an etcd error, the client gets etcd's exact code and
// message, since clientv3 recognises errors by them (rpctypes.Error maps the message back).
func TestToGRPCError(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   error
		code codes.Code
		msg  string
	}{
		{"not leader naming the leader", &node.NotLeaderError{Leader: 3}, codes.FailedPrecondition, "etcdserver: not leader"},
		{"wrapped lease not found", fmt.Errorf("lease 7: %w", rpctypes.ErrGRPCLeaseNotFound), codes.NotFound, "etcdserver: requested lease not found"},
		{"member timeout", node.ErrTimeout, codes.Unavailable, "etcdserver: request timed out"},
		{"member no leader", node.ErrNoLeader, codes.Unavailable, "etcdserver: no leader"},
		{"member stopped", node.ErrStopped, codes.Unavailable, "etcdserver: server stopped"},
		{"store compacted", fmt.Errorf("range: %w", mvcc.ErrCompacted), codes.OutOfRange, "etcdserver: mvcc: required revision has been compacted"},
		{"store future revision", mvcc.ErrFutureRev, codes.OutOfRange, "etcdserver: mvcc: required revision is a future revision"},
		{"anything else", errors.New("disk on fire"), codes.Unknown, "disk on fire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := status.Convert(toGRPCError(tc.in))
			require.Equal(t, tc.code, got.Code())
			require.Equal(t, tc.msg, got.Message())
			// What clientv3 makes of an etcd error is the client-side error of the same text
			// (any other stays a status error).
			if tc.code != codes.Unknown {
				require.Equal(t, tc.msg, rpctypes.Error(toGRPCError(tc.in)).Error())
			}
		})
	}
	require.ErrorIs(t, toGRPCError(context.Canceled), context.Canceled)
	require.NoError(t, toGRPCError(nil))
}
