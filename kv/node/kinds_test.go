package node

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Txns of ranges only are served by ReadIndex; a write, or a nested txn (etcd's rule), makes
// it a write.
func TestIsReadOnly(t *testing.T) {
	rng := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("k")}}}
	putOp := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("k")}}}
	nested := func(ops ...*pb.RequestOp) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Failure: ops}}}
	}
	for _, tc := range []struct {
		name string
		req  *pb.InternalRaftRequest
		want bool
	}{
		{"range", &pb.InternalRaftRequest{Range: &pb.RangeRequest{}}, true},
		{"put", put("k", "v"), false},
		{"empty txn", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{}}, true},
		{"txn of ranges", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{rng}, Failure: []*pb.RequestOp{rng}}}, true},
		{"txn with a put on failure", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{rng}, Failure: []*pb.RequestOp{putOp}}}, false},
		{"nested read-only txn", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{nested(rng, nested(rng))}}}, false},
		{"put nested two deep", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{nested(rng, nested(putOp))}}}, false},
	} {
		require.Equal(t, tc.want, isReadOnly(tc.req), tc.name)
	}
}
