package mvcc

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// Put applies an etcd PutRequest: its effects go into b (an indexed batch the caller
// commits), the events it produced are returned for watch and lease. A put naming a lease
// that leases does not know fails with rpctypes.ErrGRPCLeaseNotFound; any error leaves b
// unchanged.
func (s *Store) Put(b *pebble.Batch, req *pb.PutRequest, leases LeaseChecker) (*pb.PutResponse, []*mvccpb.Event, error) {
	if err := validatePut(req); err != nil {
		return nil, nil, err
	}
	if err := s.checkSize(req); err != nil {
		return nil, nil, err
	}
	st, err := beginWrite(b)
	if err != nil {
		return nil, nil, err
	}
	if req.Lease != 0 && !leaseExists(leases, req.Lease) {
		return nil, nil, rpctypes.ErrGRPCLeaseNotFound
	}
	w := newWriteTxn(versions{r: b}, b, st)
	resp, err := w.put(req)
	if err != nil {
		return nil, nil, err
	}
	if err := w.finish(s); err != nil {
		return nil, nil, err
	}
	return resp, w.events, nil
}

// DeleteRange applies an etcd DeleteRangeRequest into b. Deleting nothing creates no
// revision and writes nothing.
func (s *Store) DeleteRange(b *pebble.Batch, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, []*mvccpb.Event, error) {
	if err := validateDeleteRange(req); err != nil {
		return nil, nil, err
	}
	if err := s.checkSize(req); err != nil {
		return nil, nil, err
	}
	st, err := beginWrite(b)
	if err != nil {
		return nil, nil, err
	}
	w := newWriteTxn(versions{r: b}, b, st)
	resp, err := w.deleteRange(req)
	if err != nil {
		return nil, nil, err
	}
	if err := w.finish(s); err != nil {
		return nil, nil, err
	}
	return resp, w.events, nil
}

// writeTxn is one write transaction: every change it makes has main revision
// begin.currentRev+1 and the next sub revision. b is nil for a read-only transaction.
type writeTxn struct {
	r       versions
	b       *pebble.Batch
	begin   state
	changes int64
	events  []*mvccpb.Event
	keyBuf  []byte
	revBuf  []byte
}

func newWriteTxn(r versions, b *pebble.Batch, begin state) *writeTxn {
	return &writeTxn{r: r, b: b, begin: begin}
}

// readRev is the revision reads inside the transaction see: its own changes once it has any.
func (w *writeTxn) readRev() int64 {
	if w.changes > 0 {
		return w.begin.currentRev + 1
	}
	return w.begin.currentRev
}

// latest returns the live version of key as the transaction sees it, or nil.
func (w *writeTxn) latest(key []byte) (*mvccpb.KeyValue, error) {
	kvs, _, err := w.r.rangeKeys(key, nil, w.readRev(), 0, false)
	if err != nil || len(kvs) == 0 {
		return nil, err
	}
	return kvs[0], nil
}

// put is etcd's put (server/etcdserver/txn): ignore_value and ignore_lease take the previous
// version's value and lease, and need one.
func (w *writeTxn) put(req *pb.PutRequest) (*pb.PutResponse, error) {
	prev, err := w.latest(req.Key)
	if err != nil {
		return nil, err
	}
	if (req.IgnoreValue || req.IgnoreLease) && prev == nil {
		return nil, rpctypes.ErrGRPCKeyNotFound
	}
	value, lease := req.Value, req.Lease
	if req.IgnoreValue {
		value = prev.Value
	}
	if req.IgnoreLease {
		lease = prev.Lease
	}
	rev := revision{main: w.begin.currentRev + 1, sub: w.changes}
	kv := &mvccpb.KeyValue{
		Key:            cloneBytes(req.Key),
		Value:          cloneBytes(value),
		CreateRevision: rev.main,
		ModRevision:    rev.main,
		Version:        1,
		Lease:          lease,
	}
	if prev != nil {
		kv.CreateRevision = prev.CreateRevision
		kv.Version = prev.Version + 1
	}
	if err := w.write(kindPut, kv, rev); err != nil {
		return nil, err
	}
	w.events = append(w.events, &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv, PrevKv: prev})
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: rev.main}}
	if req.PrevKv && prev != nil {
		resp.PrevKv = proto.Clone(prev).(*mvccpb.KeyValue)
	}
	return resp, nil
}

// deleteRange is etcd's deleteRange: one tombstone per live key in the range.
func (w *writeTxn) deleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	kvs, _, err := w.r.rangeKeys(req.Key, normalizeRangeEnd(req.RangeEnd), w.readRev(), 0, false)
	if err != nil {
		return nil, err
	}
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}, Deleted: int64(len(kvs))}
	if req.PrevKv {
		resp.PrevKvs = make([]*mvccpb.KeyValue, len(kvs))
		for i, kv := range kvs {
			resp.PrevKvs[i] = proto.Clone(kv).(*mvccpb.KeyValue)
		}
	}
	for _, prev := range kvs {
		rev := revision{main: w.begin.currentRev + 1, sub: w.changes}
		tomb := &mvccpb.KeyValue{Key: prev.Key}
		if err := w.write(kindTombstone, tomb, rev); err != nil {
			return nil, err
		}
		w.events = append(w.events, &mvccpb.Event{
			Type:   mvccpb.Event_DELETE,
			Kv:     &mvccpb.KeyValue{Key: prev.Key, ModRevision: rev.main},
			PrevKv: prev,
		})
	}
	resp.Header.Revision = w.readRev()
	return resp, nil
}

// write stores one version in both indexes. The stored record of a tombstone is etcd's
// (KeyValue{Key}), so HashKV hashes the same bytes etcd does.
func (w *writeTxn) write(kind byte, kv *mvccpb.KeyValue, rev revision) error {
	if w.b == nil {
		panic("mvcc: write in a read-only transaction")
	}
	if rev.main != w.begin.currentRev+1 || rev.sub != w.changes {
		panic(fmt.Sprintf("mvcc: write at revision %v, want (%d, %d)", rev, w.begin.currentRev+1, w.changes))
	}
	w.keyBuf = versionKey(w.keyBuf[:0], kv.Key, rev)
	if err := w.b.Set(w.keyBuf, encodeRecord(kind, kv), nil); err != nil {
		return err
	}
	w.revBuf = revisionKey(w.revBuf[:0], rev)
	ref := make([]byte, 0, 1+len(kv.Key))
	ref = append(append(ref, kind), kv.Key...)
	if err := w.b.Set(w.revBuf, ref, nil); err != nil {
		return err
	}
	w.changes++
	return nil
}

// finish records the new current revision when the transaction changed something.
func (w *writeTxn) finish(s *Store) error {
	if w.changes == 0 {
		return nil
	}
	next := w.begin
	next.currentRev++
	return s.writeState(w.b, w.begin, next)
}
