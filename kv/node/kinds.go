package node

import (
	"errors"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

var (
	errRequestKind     = errors.New("node: a request must set exactly one of Range, Put, DeleteRange, Txn, Compaction, LeaseGrant, LeaseRevoke, Alarm, ClusterMemberAttrSet")
	errRequestTooLarge = rpctypes.ErrRequestTooLarge
)

func checkOneKind(req *pb.InternalRaftRequest) error {
	if req == nil {
		return fmt.Errorf("%w: got nil", errRequestKind)
	}
	n := 0
	for _, set := range []bool{req.Range != nil, req.Put != nil, req.DeleteRange != nil, req.Txn != nil,
		req.Compaction != nil, req.LeaseGrant != nil, req.LeaseRevoke != nil, req.Alarm != nil, req.ClusterMemberAttrSet != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: got %d", errRequestKind, n)
	}
	return nil
}

// isReadOnly reports whether req changes nothing: a range, or a txn without writes in
// either branch (at any depth).
func isReadOnly(req *pb.InternalRaftRequest) bool {
	return req.Range != nil || (req.Txn != nil && txnReadOnly(req.Txn))
}

func txnReadOnly(t *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			switch {
			case op.GetRequestRange() != nil:
			case op.GetRequestTxn() != nil:
				if !txnReadOnly(op.GetRequestTxn()) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}
