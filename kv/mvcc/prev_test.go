package mvcc

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// TestEventPrevIsBeforeTheRevision: sibling nested txns may put a key and then delete it in
// one revision (etcd's duplicate-key check allows it); the delete event's PrevKv is the
// key's version before the revision, as etcd's watch reads it at ModRevision-1 (absent when
// the key did not exist then), not the version the first sibling wrote. Live events and
// catch-up from history agree. The write responses still answer the version replaced.
func TestEventPrevIsBeforeTheRevision(t *testing.T) {
	e := newEnv(t)
	e.mustPut("k", "before") // revision 2
	siblings := &pb.TxnRequest{Success: []*pb.RequestOp{
		txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{putOp("k", "inside"), putOp("new", "inside")}}),
		txnOp(&pb.TxnRequest{Success: []*pb.RequestOp{
			{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("k"), RangeEnd: []byte("z"), PrevKv: true}}},
		}}),
	}}
	resp, evs, err := e.txn(siblings) // revision 3
	require.NoError(t, err)
	del := resp.Responses[1].GetResponseTxn().Responses[0].GetResponseDeleteRange()
	require.Len(t, del.PrevKvs, 2)
	require.Equal(t, "inside", string(del.PrevKvs[0].Value), "the response answers the version the delete replaced")
	hist, err := e.s.EventsBetween(e.db, []byte{0}, []byte{0}, 3, 3, 0)
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		got  []*mvccpb.Event
	}{{"live", evs}, {"history", hist}} {
		name, got := c.name, c.got
		require.Len(t, got, 4, name)
		require.Equal(t, "k", string(got[0].Kv.Key), name)
		require.Equal(t, "before", string(got[0].PrevKv.Value), name)
		require.Nil(t, got[1].PrevKv, "%s: a create event has no prev", name)
		require.Equal(t, mvccpb.Event_DELETE, got[2].Type, name)
		require.Equal(t, "k", string(got[2].Kv.Key), name)
		require.NotNil(t, got[2].PrevKv, "%s: k existed before revision 3", name)
		require.Equal(t, "before", string(got[2].PrevKv.Value), "%s: the version before the revision, not the sibling's", name)
		require.EqualValues(t, 2, got[2].PrevKv.ModRevision, name)
		require.Equal(t, "new", string(got[3].Kv.Key), name)
		require.Nil(t, got[3].PrevKv, "%s: new did not exist before revision 3 (put and deleted in it)", name)
	}
}

// TestSettlePrev covers the cases the txn check refuses today but the rule defines: a put
// after a put of one key in one revision gets the version before the revision, a put that
// recreates a key deleted earlier in the revision is a create event (no prev, as etcd).
func TestSettlePrev(t *testing.T) {
	before := &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("before"), CreateRevision: 2, ModRevision: 2, Version: 1}
	first := &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("1"), CreateRevision: 2, ModRevision: 5, Version: 2}
	second := &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("2"), CreateRevision: 2, ModRevision: 5, Version: 3}
	evs := []*mvccpb.Event{
		{Type: mvccpb.Event_PUT, Kv: first, PrevKv: before},
		{Type: mvccpb.Event_PUT, Kv: second, PrevKv: first},
		{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: []byte("k"), ModRevision: 5}, PrevKv: second},
		{Type: mvccpb.Event_PUT, Kv: &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("3"), CreateRevision: 5, ModRevision: 5, Version: 1}},
	}
	settlePrev(evs)
	require.Same(t, before, evs[0].PrevKv)
	require.Same(t, before, evs[1].PrevKv, "put after put: the version before the revision")
	require.Same(t, before, evs[2].PrevKv, "delete after puts: the version before the revision")
	require.Nil(t, evs[3].PrevKv, "a create event")
}
