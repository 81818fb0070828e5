package sim

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/linearizability/history"
)

// The simulator's requests are built as history requests (what the checker reads) and
// converted to etcd's protobufs (what kv/node takes); answers go the other way.

func toPB(r history.Request) *pb.InternalRaftRequest {
	switch {
	case r.Put != nil:
		return &pb.InternalRaftRequest{Put: putPB(r.Put)}
	case r.Range != nil:
		return &pb.InternalRaftRequest{Range: rangePB(r.Range)}
	case r.DeleteRange != nil:
		return &pb.InternalRaftRequest{DeleteRange: deletePB(r.DeleteRange)}
	case r.Txn != nil:
		return &pb.InternalRaftRequest{Txn: txnPB(r.Txn)}
	case r.LeaseGrant != nil:
		return &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{TTL: r.LeaseGrant.TTLSeconds, ID: r.LeaseGrant.ID}}
	case r.LeaseRevoke != nil:
		return &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: r.LeaseRevoke.ID}}
	case r.Compact != nil:
		return &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: r.Compact.Revision, Physical: r.Compact.Physical}}
	case r.Auth != nil:
		return authPB(r.Auth)
	}
	panic("sim: request kind not supported by toPB")
}

func putPB(p *history.PutRequest) *pb.PutRequest {
	return &pb.PutRequest{Key: p.Key, Value: p.Value, Lease: p.Lease, PrevKv: p.PrevKV}
}

func rangePB(r *history.RangeRequest) *pb.RangeRequest {
	return &pb.RangeRequest{Key: r.Key, RangeEnd: r.RangeEnd, Limit: r.Limit, Revision: r.Revision,
		Serializable: r.Serializable, CountOnly: r.CountOnly, KeysOnly: r.KeysOnly}
}

func deletePB(d *history.DeleteRangeRequest) *pb.DeleteRangeRequest {
	return &pb.DeleteRangeRequest{Key: d.Key, RangeEnd: d.RangeEnd, PrevKv: d.PrevKV}
}

func txnPB(t *history.TxnRequest) *pb.TxnRequest {
	out := &pb.TxnRequest{}
	for _, c := range t.Compare {
		cmp := &pb.Compare{Key: c.Key, RangeEnd: c.RangeEnd}
		switch c.Result {
		case history.ResultEqual:
			cmp.Result = pb.Compare_EQUAL
		case history.ResultNotEqual:
			cmp.Result = pb.Compare_NOT_EQUAL
		case history.ResultLess:
			cmp.Result = pb.Compare_LESS
		case history.ResultGreater:
			cmp.Result = pb.Compare_GREATER
		}
		switch c.Target {
		case history.TargetValue:
			cmp.Target, cmp.TargetUnion = pb.Compare_VALUE, &pb.Compare_Value{Value: c.Value}
		case history.TargetVersion:
			cmp.Target, cmp.TargetUnion = pb.Compare_VERSION, &pb.Compare_Version{Version: c.Version}
		case history.TargetCreate:
			cmp.Target, cmp.TargetUnion = pb.Compare_CREATE, &pb.Compare_CreateRevision{CreateRevision: c.CreateRevision}
		case history.TargetMod:
			cmp.Target, cmp.TargetUnion = pb.Compare_MOD, &pb.Compare_ModRevision{ModRevision: c.ModRevision}
		case history.TargetLease:
			cmp.Target, cmp.TargetUnion = pb.Compare_LEASE, &pb.Compare_Lease{Lease: c.Lease}
		}
		out.Compare = append(out.Compare, cmp)
	}
	ops := func(rs []history.Request) []*pb.RequestOp {
		var o []*pb.RequestOp
		for _, r := range rs {
			switch {
			case r.Put != nil:
				o = append(o, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: putPB(r.Put)}})
			case r.Range != nil:
				o = append(o, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: rangePB(r.Range)}})
			case r.DeleteRange != nil:
				o = append(o, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: deletePB(r.DeleteRange)}})
			case r.Txn != nil:
				o = append(o, &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: txnPB(r.Txn)}})
			}
		}
		return o
	}
	out.Success, out.Failure = ops(t.Success), ops(t.Failure)
	return out
}

func kvFromPB(kv *mvccpb.KeyValue) history.KeyValue {
	return history.KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision,
		ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
}

func kvsFromPB(kvs []*mvccpb.KeyValue) []history.KeyValue {
	var out []history.KeyValue
	for _, kv := range kvs {
		out = append(out, kvFromPB(kv))
	}
	return out
}

func headerFromPB(h *pb.ResponseHeader) history.ResponseHeader {
	if h == nil {
		return history.ResponseHeader{}
	}
	return history.ResponseHeader{Revision: h.Revision, MemberID: h.MemberId}
}

func fromNode(r node.Response) history.Response {
	switch {
	case r.Put != nil:
		out := history.Response{Header: headerFromPB(r.Put.Header), Put: &history.PutResponse{}}
		if r.Put.PrevKv != nil {
			kv := kvFromPB(r.Put.PrevKv)
			out.Put.PrevKV = &kv
		}
		return out
	case r.Range != nil:
		return history.Response{Header: headerFromPB(r.Range.Header), Range: rangeFromPB(r.Range)}
	case r.DeleteRange != nil:
		return history.Response{Header: headerFromPB(r.DeleteRange.Header), DeleteRange: deleteFromPB(r.DeleteRange)}
	case r.Txn != nil:
		return history.Response{Header: headerFromPB(r.Txn.Header), Txn: txnFromPB(r.Txn)}
	case r.LeaseGrant != nil:
		return history.Response{Header: headerFromPB(r.LeaseGrant.Header),
			LeaseGrant: &history.LeaseGrantResponse{ID: r.LeaseGrant.ID, TTLSeconds: r.LeaseGrant.TTL}}
	case r.LeaseRevoke != nil:
		return history.Response{Header: headerFromPB(r.LeaseRevoke.Header), LeaseRevoke: &history.LeaseRevokeResponse{}}
	case r.LeaseKeepAlive != nil:
		return history.Response{Header: headerFromPB(r.LeaseKeepAlive.Header),
			LeaseKeepAlive: &history.LeaseKeepAliveResponse{ID: r.LeaseKeepAlive.ID, TTLSeconds: r.LeaseKeepAlive.TTL}}
	case r.Compaction != nil:
		return history.Response{Header: headerFromPB(r.Compaction.Header), Compact: &history.CompactResponse{}}
	case r.Auth != nil:
		// etcd's auth answers carry the KV revision in their header, which kv/node leaves unset
		return history.Response{Auth: &history.AuthResponse{AuthRevision: int64(r.AuthRevision)}}
	}
	return history.Response{}
}

func rangeFromPB(r *pb.RangeResponse) *history.RangeResponse {
	return &history.RangeResponse{KVs: kvsFromPB(r.Kvs), Count: r.Count, More: r.More}
}

func deleteFromPB(d *pb.DeleteRangeResponse) *history.DeleteRangeResponse {
	return &history.DeleteRangeResponse{Deleted: d.Deleted, PrevKVs: kvsFromPB(d.PrevKvs)}
}

func txnFromPB(t *pb.TxnResponse) *history.TxnResponse {
	out := &history.TxnResponse{Succeeded: t.Succeeded}
	for _, r := range t.Responses {
		switch {
		case r.GetResponsePut() != nil:
			out.Responses = append(out.Responses, history.Response{Put: &history.PutResponse{}})
		case r.GetResponseRange() != nil:
			out.Responses = append(out.Responses, history.Response{Range: rangeFromPB(r.GetResponseRange())})
		case r.GetResponseDeleteRange() != nil:
			out.Responses = append(out.Responses, history.Response{DeleteRange: deleteFromPB(r.GetResponseDeleteRange())})
		case r.GetResponseTxn() != nil:
			out.Responses = append(out.Responses, history.Response{Txn: txnFromPB(r.GetResponseTxn())})
		}
	}
	return out
}
