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
	return applyWrite(s, b, req, validatePut, func(w *writeTxn) (*pb.PutResponse, error) {
		if req.Lease != 0 && !leaseExists(leases, req.Lease) {
			return nil, rpctypes.ErrGRPCLeaseNotFound
		}
		return w.put(req)
	})
}

// DeleteRange applies an etcd DeleteRangeRequest into b. Deleting nothing creates no
// revision and writes nothing.
func (s *Store) DeleteRange(b *pebble.Batch, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, []*mvccpb.Event, error) {
	return applyWrite(s, b, req, validateDeleteRange, func(w *writeTxn) (*pb.DeleteRangeResponse, error) {
		return w.deleteRange(req)
	})
}

// applyWrite is what every write request shares: validate it, bound its size, begin a write
// transaction on the indexed batch b, run op in it and finish (one new revision if op
// changed anything). Any error leaves b unchanged: op writes into b only after its own
// checks pass, and finish writes the state last.
func applyWrite[Req proto.Message, Resp any](s *Store, b *pebble.Batch, req Req, validate func(Req) error, op func(*writeTxn) (Resp, error)) (Resp, []*mvccpb.Event, error) {
	var zero Resp
	if err := validate(req); err != nil {
		return zero, nil, err
	}
	if err := s.checkSize(req); err != nil {
		return zero, nil, err
	}
	st, err := s.beginWrite(b)
	if err != nil {
		return zero, nil, err
	}
	w := newWriteTxn(versions{r: b}, b, st)
	w.latestCache = &s.latest
	w.r.txn = w
	resp, err := op(w)
	if err != nil {
		return zero, nil, err
	}
	if err := w.finish(s); err != nil {
		return zero, nil, err
	}
	settlePrev(w.events)
	s.latest.record(w.events)
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
	valBuf  []byte
	// latestCache is the store's, in a transaction applyWrite runs (latest.go); nil in
	// read-only transactions.
	latestCache *latestCache
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

// latest returns the live version of key as the transaction sees it, or nil (from the
// latest-version cache until the transaction has written something itself: versions).
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
	// Set copies key and value into the batch: the buffers are the transaction's, reused
	w.keyBuf = versionKey(w.keyBuf[:0], kv.Key, rev)
	w.valBuf = appendRecord(w.valBuf[:0], kind, kv)
	if err := w.b.Set(w.keyBuf, w.valBuf, nil); err != nil {
		return err
	}
	w.revBuf = revisionKey(w.revBuf[:0], rev)
	w.valBuf = append(append(w.valBuf[:0], kind), kv.Key...)
	if err := w.b.Set(w.revBuf, w.valBuf, nil); err != nil {
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
	if err := s.writeState(w.b, w.begin, next); err != nil {
		return err
	}
	return s.addKeys(w.b, liveKeysDelta(w.events))
}

// liveKeysDelta is how many live keys a transaction's events made or removed: a put of a
// key that had no live version (its first version, Version 1) makes one, a delete (only
// ever of a live key) removes one.
func liveKeysDelta(events []*mvccpb.Event) int64 {
	var d int64
	for _, ev := range events {
		switch {
		case ev.Type == mvccpb.Event_DELETE:
			d--
		case ev.Kv.Version == 1:
			d++
		}
	}
	return d
}
