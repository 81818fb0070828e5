package node

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestNOSPACECapsWrites: while a NOSPACE alarm is raised (any member's), every member
// refuses at apply what etcd's capped applier refuses (puts, txns whose costlier branch
// puts, lease grants) with etcd's error and changes nothing, and applies the rest (reads,
// deletes, txns without puts, compactions, revokes); once it is deactivated puts apply again.
func TestNOSPACECapsWrites(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	follower := c.followers(leader)[0]
	_, err := c.do(leader, put("k", "v"))
	require.NoError(t, err)
	g, err := c.do(leader, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 60}})
	require.NoError(t, err)
	_, err = c.do(follower, alarmReq(pb.AlarmRequest_ACTIVATE, follower, pb.AlarmType_NOSPACE))
	require.NoError(t, err)
	rev := c.members[leader].CurrentRevision()

	putOp := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("t"), Value: []byte("x")}}}
	delOp := &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("nothing")}}}
	for _, tc := range []struct {
		name    string
		req     *pb.InternalRaftRequest
		refused bool
	}{
		{"put", put("k", "w"), true},
		{"txn putting on failure", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{delOp}, Failure: []*pb.RequestOp{putOp}}}, true},
		{"lease grant", &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 60}}, true},
		{"range", &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("k")}}, false},
		{"txn without puts", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{delOp}}}, false},
		{"delete", &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}}, false},
		{"compaction", &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}}, false},
		{"lease revoke", &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: g.LeaseGrant.ID}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.refused {
				_, err := c.do(follower, tc.req)
				require.NoError(t, err)
				return
			}
			for _, via := range []uint64{leader, follower} {
				before := c.members[via].CurrentRevision()
				_, err := c.do(via, tc.req)
				require.ErrorIs(t, err, rpctypes.ErrGRPCNoSpace)
				c.stabilize()
				require.Equal(t, before, c.members[via].CurrentRevision(), "a refused write changes nothing")
			}
		})
	}
	_, err = c.do(leader, alarmReq(pb.AlarmRequest_DEACTIVATE, follower, pb.AlarmType_NOSPACE))
	require.NoError(t, err)
	_, err = c.do(follower, put("k", "again"))
	require.NoError(t, err)
}

// TestRequestCost is etcd's quota cost: puts count, a txn its costlier branch's top-level
// puts, a lease grant its record, everything else nothing.
func TestRequestCost(t *testing.T) {
	p := &pb.PutRequest{Key: []byte("key"), Value: []byte("value")}
	putOp := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: p}}
	nested := &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{putOp}}}}
	for _, tc := range []struct {
		name string
		req  *pb.InternalRaftRequest
		want int
	}{
		{"put", &pb.InternalRaftRequest{Put: p}, 8 + putCostOverheadBytes},
		{"txn, two puts on failure", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{putOp}, Failure: []*pb.RequestOp{putOp, putOp}}}, 2 * (8 + putCostOverheadBytes)},
		{"nested txn counts nothing (etcd's costTxn)", &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{nested}}}, 0},
		{"lease grant", &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: 5}}, leaseGrantCostBytes},
		{"delete", &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}}, 0},
		{"range", &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("k")}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, RequestCost(tc.req)) })
	}
}
