package node

import (
	"errors"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/kv/mvcc"
)

var (
	errRequestKind     = errors.New("node: a request must set exactly one of Range, Put, DeleteRange, Txn, Compaction, LeaseGrant, LeaseRevoke, Alarm, ClusterMemberAttrSet or an auth request")
	errRequestTooLarge = rpctypes.ErrRequestTooLarge
)

func checkOneKind(req *pb.InternalRaftRequest) error {
	if req == nil {
		return fmt.Errorf("%w: got nil", errRequestKind)
	}
	n := 0
	for _, set := range []bool{req.Range != nil, req.Put != nil, req.DeleteRange != nil, req.Txn != nil,
		req.Compaction != nil, req.LeaseGrant != nil, req.LeaseRevoke != nil, req.Alarm != nil, req.ClusterMemberAttrSet != nil,
		req.AuthEnable != nil, req.AuthDisable != nil, req.AuthStatus != nil, req.Authenticate != nil,
		req.AuthUserAdd != nil, req.AuthUserDelete != nil, req.AuthUserGet != nil, req.AuthUserChangePassword != nil,
		req.AuthUserGrantRole != nil, req.AuthUserRevokeRole != nil, req.AuthUserList != nil, req.AuthRoleList != nil,
		req.AuthRoleAdd != nil, req.AuthRoleDelete != nil, req.AuthRoleGet != nil, req.AuthRoleGrantPermission != nil,
		req.AuthRoleRevokePermission != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: got %d", errRequestKind, n)
	}
	return nil
}

// isReadOnly reports whether req is served by ReadIndex without a log entry: a range, or a
// txn whose branches hold only ranges (etcd's IsTxnReadonly, mvcc.IsTxnReadOnly). A nested
// txn counts as a write even when it only reads, as in etcd, which sends such a txn through
// raft: mvcc.ReadTxn refuses it, and counting it read-only here answered clients with
// "ReadTxn given a txn that writes" (found by the compat harness).
func isReadOnly(req *pb.InternalRaftRequest) bool {
	return req.Range != nil || (req.Txn != nil && mvcc.IsTxnReadOnly(req.Txn))
}
