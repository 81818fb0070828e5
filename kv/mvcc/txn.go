package mvcc

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Txn applies an etcd TxnRequest into b. As in etcd, every compare (nested txns' included)
// is evaluated against the state before the txn, the ops of the chosen branches are checked
// (lease exists, ignore_* has a previous version, range revision valid) before any is run,
// and a txn that changes nothing creates no revision. Any error leaves b unchanged.
func (s *Store) Txn(b *pebble.Batch, req *pb.TxnRequest, leases LeaseChecker) (*pb.TxnResponse, []*mvccpb.Event, error) {
	validate := func(r *pb.TxnRequest) error { return validateTxn(r, s.cfg.MaxTxnOps) }
	return applyWrite(s, b, req, validate, func(w *writeTxn) (*pb.TxnResponse, error) {
		return w.txn(req, leases)
	})
}

// ReadTxn answers a txn that only reads (IsTxnReadOnly) from r without a batch, as etcd
// serves read-only txns outside the log.
func (s *Store) ReadTxn(r pebble.Reader, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if !IsTxnReadOnly(req) {
		return nil, fmt.Errorf("mvcc: ReadTxn given a txn that writes; apply it with Txn")
	}
	if err := validateTxn(req, s.cfg.MaxTxnOps); err != nil {
		return nil, err
	}
	it, st, err := openView(r)
	if err != nil {
		return nil, err
	}
	resp, err := newWriteTxn(versions{fixed: it}, nil, st).txn(req, nil)
	if cerr := it.Close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return resp, err
}

func (w *writeTxn) txn(req *pb.TxnRequest, leases LeaseChecker) (*pb.TxnResponse, error) {
	path, err := w.compareToPath(req)
	if err != nil {
		return nil, err
	}
	if _, err := w.checkTxn(req, path, leases); err != nil {
		return nil, err
	}
	resp, _, err := w.executeTxn(req, path)
	if err != nil {
		return nil, err
	}
	resp.Header.Revision = w.readRev()
	return resp, nil
}

// compareToPath evaluates the compares of req and, depth first, of every nested txn on the
// chosen branch, all against the state before the txn: the path etcd walks.
func (w *writeTxn) compareToPath(req *pb.TxnRequest) ([]bool, error) {
	ok, err := w.applyCompares(req.GetCompare())
	if err != nil {
		return nil, err
	}
	path := []bool{ok}
	for _, op := range branch(req, ok) {
		nested := op.GetRequestTxn()
		if nested == nil {
			continue
		}
		sub, err := w.compareToPath(nested)
		if err != nil {
			return nil, err
		}
		path = append(path, sub...)
	}
	return path, nil
}

func branch(req *pb.TxnRequest, succeeded bool) []*pb.RequestOp {
	if succeeded {
		return req.GetSuccess()
	}
	return req.GetFailure()
}

func (w *writeTxn) applyCompares(cmps []*pb.Compare) (bool, error) {
	for _, c := range cmps {
		ok, err := w.applyCompare(c)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// applyCompare is etcd's: every key in the compare's range must satisfy it; with no key, a
// value compare fails and the others compare against zero.
func (w *writeTxn) applyCompare(c *pb.Compare) (bool, error) {
	if w.changes != 0 {
		panic("mvcc: a compare after the txn wrote: compares see the state before the txn")
	}
	// one key at the begin revision: versions serves it from the latest-version cache
	kvs, _, err := w.r.rangeKeys(c.GetKey(), normalizeRangeEnd(c.GetRangeEnd()), w.begin.currentRev, 0, false)
	if err != nil {
		return false, err
	}
	if len(kvs) == 0 {
		if c.GetTarget() == pb.Compare_VALUE {
			return false, nil
		}
		return compareKV(c, &mvccpb.KeyValue{}), nil
	}
	for _, kv := range kvs {
		if !compareKV(c, kv) {
			return false, nil
		}
	}
	return true, nil
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var result int
	switch c.GetTarget() {
	case pb.Compare_VALUE:
		result = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_CREATE:
		result = compareInt64(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		result = compareInt64(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VERSION:
		result = compareInt64(kv.Version, c.GetVersion())
	case pb.Compare_LEASE:
		result = compareInt64(kv.Lease, c.GetLease())
	}
	switch c.GetResult() {
	case pb.Compare_EQUAL:
		return result == 0
	case pb.Compare_NOT_EQUAL:
		return result != 0
	case pb.Compare_GREATER:
		return result > 0
	case pb.Compare_LESS:
		return result < 0
	}
	return true
}

// checkTxn is etcd's checkTxn: the ops on the chosen path are checked against the state
// before the txn. It returns how many path entries the nested txns used.
func (w *writeTxn) checkTxn(req *pb.TxnRequest, path []bool, leases LeaseChecker) (int, error) {
	used := 0
	for _, op := range branch(req, path[0]) {
		switch v := op.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			rev := v.RequestRange.GetRevision()
			switch {
			case rev > w.begin.currentRev:
				return 0, ErrFutureRev
			case rev != 0 && rev < w.begin.compactRev:
				return 0, ErrCompacted
			}
		case *pb.RequestOp_RequestPut:
			p := v.RequestPut
			if p.Lease != 0 && !leaseExists(leases, p.Lease) {
				return 0, rpctypes.ErrGRPCLeaseNotFound
			}
			if p.IgnoreValue || p.IgnoreLease {
				prev, err := w.latest(p.Key)
				if err != nil {
					return 0, err
				}
				if prev == nil {
					return 0, rpctypes.ErrGRPCKeyNotFound
				}
			}
		case *pb.RequestOp_RequestTxn:
			n, err := w.checkTxn(v.RequestTxn, path[1+used:], leases)
			if err != nil {
				return 0, err
			}
			used += n + 1
		}
	}
	return used, nil
}

// executeTxn runs the chosen branch of req. It returns how many path entries the nested txns
// used. Nested txn responses carry a header without revision, as etcd's do.
func (w *writeTxn) executeTxn(req *pb.TxnRequest, path []bool) (*pb.TxnResponse, int, error) {
	ops := branch(req, path[0])
	resp := &pb.TxnResponse{
		Header:    &pb.ResponseHeader{},
		Succeeded: path[0],
		Responses: make([]*pb.ResponseOp, len(ops)),
	}
	used := 0
	for i, op := range ops {
		switch v := op.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			r, err := executeRange(w.r, w.readRev(), w.begin.compactRev, v.RequestRange)
			if err != nil {
				return nil, 0, fmt.Errorf("mvcc: txn range after checks: %w", err)
			}
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: r}}
		case *pb.RequestOp_RequestPut:
			r, err := w.put(v.RequestPut)
			if err != nil {
				// checkTxn and checkIntervals rule this out; etcd panics here too.
				panic(fmt.Sprintf("mvcc: txn put failed after its checks passed: %v", err))
			}
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: r}}
		case *pb.RequestOp_RequestDeleteRange:
			r, err := w.deleteRange(v.RequestDeleteRange)
			if err != nil {
				return nil, 0, err
			}
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: r}}
		case *pb.RequestOp_RequestTxn:
			r, n, err := w.executeTxn(v.RequestTxn, path[1+used:])
			if err != nil {
				return nil, 0, err
			}
			used += n + 1
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: r}}
		}
	}
	return resp, used, nil
}
