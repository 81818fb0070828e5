package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// The checks etcd's gRPC layer (server/etcdserver/api/v3rpc/key.go) makes before a request
// is proposed, with its errors. They run before anything is read or written, so a rejected
// request changes nothing.

func validateRange(r *pb.RangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.GetSortOrder())]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.GetSortTarget())]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

func validatePut(r *pb.PutRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if r.GetIgnoreValue() && len(r.GetValue()) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if r.GetIgnoreLease() && r.GetLease() != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

func validateDeleteRange(r *pb.DeleteRangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return nil
}

// validateTxn is etcd's checkTxnRequest followed by checkIntervals on both branches.
func validateTxn(r *pb.TxnRequest, maxTxnOps int) error {
	if err := validateTxnOps(r, maxTxnOps); err != nil {
		return err
	}
	if _, _, err := checkIntervals(r.GetSuccess()); err != nil {
		return err
	}
	_, _, err := checkIntervals(r.GetFailure())
	return err
}

// validateTxnOps bounds the compares and each branch by maxTxnOps; a nested txn gets what
// its parent's largest list left over, as in etcd.
func validateTxnOps(r *pb.TxnRequest, maxTxnOps int) error {
	opCount := max(len(r.GetCompare()), len(r.GetSuccess()), len(r.GetFailure()))
	if opCount > maxTxnOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.GetCompare() {
		if len(c.GetKey()) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		for _, op := range ops {
			if err := validateRequestOp(op, maxTxnOps-opCount); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateRequestOp(op *pb.RequestOp, maxTxnOps int) error {
	switch v := op.GetRequest().(type) {
	case *pb.RequestOp_RequestRange:
		return validateRange(v.RequestRange)
	case *pb.RequestOp_RequestPut:
		return validatePut(v.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		return validateDeleteRange(v.RequestDeleteRange)
	case *pb.RequestOp_RequestTxn:
		return validateTxnOps(v.RequestTxn, maxTxnOps)
	}
	// An empty op: etcd answers it with "key not found".
	return rpctypes.ErrGRPCKeyNotFound
}

// keyInterval is a deleted range: end nil is the single key start, end empty is every key
// >= start.
type keyInterval struct{ start, end []byte }

func (iv keyInterval) contains(k []byte) bool { return inRange(k, iv.start, iv.end) }

func anyContains(ivs []keyInterval, k []byte) bool {
	for _, iv := range ivs {
		if iv.contains(k) {
			return true
		}
	}
	return false
}

// putSet is an insertion-ordered set of put keys, so the checks never depend on Go's map
// iteration order.
type putSet struct {
	keys  []string
	index map[string]struct{}
}

func (p *putSet) has(k string) bool { _, ok := p.index[k]; return ok }

func (p *putSet) add(k string) {
	if p.index == nil {
		p.index = map[string]struct{}{}
	}
	if !p.has(k) {
		p.index[k] = struct{}{}
		p.keys = append(p.keys, k)
	}
}

// checkIntervals is etcd's rule against a txn writing one key twice: within one list of ops
// (and the nested txns it runs) no key may be put twice, nor put and deleted; the success
// and failure branches of a nested txn are exclusive, so they may put the same key. A range
// end of "\x00" (every key >= key) counts as open-ended here, where etcd's interval tree
// takes it literally and misses the overlap. etcd v3.7.3 then applies a txn that deletes
// from a key on and puts a key after it, and a later range at that revision ends the member
// with the fatal "range failed to find revision pair" (compat/, seed 1796643361073254147
// with the refusal switched off), so Ballast refuses such a txn with the duplicate-key error.
func checkIntervals(reqs []*pb.RequestOp) (*putSet, []keyInterval, error) {
	var dels []keyInterval
	for _, req := range reqs {
		d := req.GetRequestDeleteRange()
		if d == nil {
			continue
		}
		dels = append(dels, keyInterval{start: d.Key, end: normalizeRangeEnd(d.RangeEnd)})
	}
	puts := &putSet{}
	for _, req := range reqs {
		t := req.GetRequestTxn()
		if t == nil {
			continue
		}
		putsThen, delsThen, err := checkIntervals(t.GetSuccess())
		if err != nil {
			return nil, nil, err
		}
		putsElse, delsElse, err := checkIntervals(t.GetFailure())
		if err != nil {
			return nil, nil, err
		}
		for _, k := range putsThen.keys {
			if puts.has(k) || anyContains(dels, []byte(k)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts.add(k)
		}
		for _, k := range putsElse.keys {
			if puts.has(k) && !putsThen.has(k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			if anyContains(dels, []byte(k)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts.add(k)
		}
		dels = append(dels, delsThen...)
		dels = append(dels, delsElse...)
	}
	for _, req := range reqs {
		p := req.GetRequestPut()
		if p == nil {
			continue
		}
		k := string(p.Key)
		if puts.has(k) || anyContains(dels, p.Key) {
			return nil, nil, rpctypes.ErrGRPCDuplicateKey
		}
		puts.add(k)
	}
	return puts, dels, nil
}

// checkSize rejects a request whose encoding is over MaxRequestBytes. etcd measures the raft
// entry that wraps the request, a few bytes more; Ballast measures the request itself.
func (s *Store) checkSize(m proto.Message) error {
	if proto.Size(m) > s.cfg.MaxRequestBytes {
		return rpctypes.ErrGRPCRequestTooLarge
	}
	return nil
}

// IsTxnReadOnly reports whether a txn only reads (both branches hold only ranges), as
// etcd's IsTxnReadonly: such a txn creates no revision.
func IsTxnReadOnly(r *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		for _, op := range ops {
			if op.GetRequestRange() == nil {
				return false
			}
		}
	}
	return true
}

// Validate makes the checks etcd's gRPC layer makes before a Range, Put, DeleteRange or Txn
// is proposed or served (nil for any other request): as they come first in etcd, a request
// that fails them gets their error before any permission check (kv/node checks permissions
// after calling it).
func (s *Store) Validate(req *pb.InternalRaftRequest) error {
	switch {
	case req.Range != nil:
		return validateRange(req.Range)
	case req.Put != nil:
		return validatePut(req.Put)
	case req.DeleteRange != nil:
		return validateDeleteRange(req.DeleteRange)
	case req.Txn != nil:
		return validateTxn(req.Txn, s.cfg.MaxTxnOps)
	}
	return nil
}
