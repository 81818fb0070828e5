package mvcc

import (
	"bytes"
	"hash/crc32"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// model is the reference the randomized tests compare Store with: etcd's semantics written
// the plain way, keeping every version of every key in memory and never compacting
// physically. It shares no code with the package beyond the etcd types.
type model struct {
	versions   map[string][]modelVersion // per key, in revision order
	history    [][]*mvccpb.Event         // history[rev] = events of that revision
	currentRev int64
	compactRev int64
	leases     map[int64]bool
}

type modelVersion struct {
	main, sub int64
	kv        *mvccpb.KeyValue // nil for a tombstone
}

func newModel() *model {
	return &model{versions: map[string][]modelVersion{}, history: make([][]*mvccpb.Event, 2), currentRev: 1, compactRev: -1, leases: map[int64]bool{}}
}

func (m *model) sortedKeys() []string {
	keys := make([]string, 0, len(m.versions))
	for k := range m.versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// at returns key's live KeyValue at rev, or nil.
func (m *model) at(key string, rev int64) *mvccpb.KeyValue {
	var found *mvccpb.KeyValue
	for _, v := range m.versions[key] {
		if v.main > rev {
			break
		}
		found = v.kv
	}
	return found
}

func modelInRange(k string, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return k == string(key)
	case len(end) == 1 && end[0] == 0:
		return k >= string(key)
	}
	return k >= string(key) && k < string(end)
}

func (m *model) liveInRange(key, end []byte, rev int64) []*mvccpb.KeyValue {
	var out []*mvccpb.KeyValue
	for _, k := range m.sortedKeys() {
		if !modelInRange(k, key, end) {
			continue
		}
		if kv := m.at(k, rev); kv != nil {
			out = append(out, proto.Clone(kv).(*mvccpb.KeyValue))
		}
	}
	return out
}

func (m *model) rangeAt(req *pb.RangeRequest, curRev int64) (*pb.RangeResponse, error) {
	if len(req.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	rev := req.Revision
	if rev > curRev {
		return nil, ErrFutureRev
	}
	if rev <= 0 {
		rev = curRev
	}
	if rev < m.compactRev {
		return nil, ErrCompacted
	}
	all := m.liveInRange(req.Key, req.RangeEnd, rev)
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: curRev}, Count: int64(len(all))}
	if req.CountOnly {
		return resp, nil
	}
	var kept []*mvccpb.KeyValue
	for _, kv := range all {
		if (req.MinModRevision != 0 && kv.ModRevision < req.MinModRevision) ||
			(req.MaxModRevision != 0 && kv.ModRevision > req.MaxModRevision) ||
			(req.MinCreateRevision != 0 && kv.CreateRevision < req.MinCreateRevision) ||
			(req.MaxCreateRevision != 0 && kv.CreateRevision > req.MaxCreateRevision) {
			continue
		}
		kept = append(kept, kv)
	}
	// etcd fetches only limit+1 keys (in key order) when the request neither sorts by an
	// explicit order nor filters; a sort target with order NONE then sorts just those.
	if req.SortOrder == pb.RangeRequest_NONE && req.MinModRevision == 0 && req.MaxModRevision == 0 &&
		req.MinCreateRevision == 0 && req.MaxCreateRevision == 0 && req.Limit > 0 && int64(len(kept)) > req.Limit+1 {
		kept = kept[:req.Limit+1]
	}
	order := req.SortOrder
	if order == pb.RangeRequest_NONE && req.SortTarget != pb.RangeRequest_KEY {
		order = pb.RangeRequest_ASCEND
	}
	if order != pb.RangeRequest_NONE {
		field := func(kv *mvccpb.KeyValue) []byte {
			switch req.SortTarget {
			case pb.RangeRequest_VERSION:
				return be(kv.Version)
			case pb.RangeRequest_CREATE:
				return be(kv.CreateRevision)
			case pb.RangeRequest_MOD:
				return be(kv.ModRevision)
			case pb.RangeRequest_VALUE:
				return kv.Value
			}
			return kv.Key
		}
		sort.SliceStable(kept, func(i, j int) bool {
			c := bytes.Compare(field(kept[i]), field(kept[j]))
			if order == pb.RangeRequest_DESCEND {
				return c > 0
			}
			return c < 0
		})
	}
	if req.Limit > 0 && int64(len(kept)) > req.Limit {
		kept = kept[:req.Limit]
		resp.More = true
	}
	if req.KeysOnly {
		for _, kv := range kept {
			kv.Value = nil
			if req.SortTarget != pb.RangeRequest_VALUE {
				kv.Lease = 0 // etcd v3.7 answers keys_only from its key index, which has no lease
			}
		}
	}
	resp.Kvs = kept
	return resp, nil
}

// be encodes a non-negative int64 so byte order is numeric order.
func be(v int64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// modelTxn is one write transaction on the model.
type modelTxn struct {
	m       *model
	rev     int64
	changes int64
	events  []*mvccpb.Event
}

func (t *modelTxn) readRev() int64 {
	if t.changes > 0 {
		return t.rev
	}
	return t.rev - 1
}

func (t *modelTxn) put(req *pb.PutRequest) *pb.PutResponse {
	prev := t.m.at(string(req.Key), t.readRev())
	kv := &mvccpb.KeyValue{Key: req.Key, Value: req.Value, Lease: req.Lease, CreateRevision: t.rev, ModRevision: t.rev, Version: 1}
	if req.IgnoreValue {
		kv.Value = prev.Value
	}
	if req.IgnoreLease {
		kv.Lease = prev.Lease
	}
	if prev != nil {
		kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
	}
	t.m.versions[string(req.Key)] = append(t.m.versions[string(req.Key)], modelVersion{main: t.rev, sub: t.changes, kv: kv})
	t.changes++
	t.events = append(t.events, &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv, PrevKv: prev})
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: t.rev}}
	if req.PrevKv && prev != nil {
		resp.PrevKv = prev
	}
	return resp
}

func (t *modelTxn) del(req *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	live := t.m.liveInRange(req.Key, req.RangeEnd, t.readRev())
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}, Deleted: int64(len(live))}
	if req.PrevKv {
		resp.PrevKvs = live
	}
	for _, kv := range live {
		t.m.versions[string(kv.Key)] = append(t.m.versions[string(kv.Key)], modelVersion{main: t.rev, sub: t.changes})
		t.changes++
		t.events = append(t.events, &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: kv.Key, ModRevision: t.rev}, PrevKv: kv})
	}
	resp.Header.Revision = t.readRev()
	return resp
}

func (t *modelTxn) finish() []*mvccpb.Event {
	// Events carry etcd's watch prev_kv: a read of the key at the revision before, none for a
	// create event (prev.go), however often the revision wrote the key.
	for _, ev := range t.events {
		ev.PrevKv = t.m.at(string(ev.Kv.Key), t.rev-1)
		if ev.Type == mvccpb.Event_PUT && ev.Kv.CreateRevision == ev.Kv.ModRevision {
			ev.PrevKv = nil
		}
	}
	if t.changes > 0 {
		t.m.currentRev = t.rev
		t.m.history = append(t.m.history, t.events)
	}
	return t.events
}

func (m *model) begin() *modelTxn { return &modelTxn{m: m, rev: m.currentRev + 1} }

func (m *model) put(req *pb.PutRequest) (*pb.PutResponse, []*mvccpb.Event, error) {
	if req.Lease != 0 && !m.leases[req.Lease] {
		return nil, nil, rpctypes.ErrGRPCLeaseNotFound
	}
	if (req.IgnoreLease || req.IgnoreValue) && m.at(string(req.Key), m.currentRev) == nil {
		return nil, nil, rpctypes.ErrGRPCKeyNotFound
	}
	t := m.begin()
	resp := t.put(req)
	return resp, t.finish(), nil
}

func (m *model) deleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, []*mvccpb.Event) {
	t := m.begin()
	resp := t.del(req)
	return resp, t.finish()
}

func (m *model) compare(c *pb.Compare) bool {
	kvs := m.liveInRange(c.Key, c.RangeEnd, m.currentRev)
	if len(kvs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		kvs = []*mvccpb.KeyValue{{}}
	}
	for _, kv := range kvs {
		var r int
		switch c.Target {
		case pb.Compare_VALUE:
			r = bytes.Compare(kv.Value, c.GetValue())
		case pb.Compare_VERSION:
			r = bytes.Compare(be(kv.Version), be(c.GetVersion()))
		case pb.Compare_CREATE:
			r = bytes.Compare(be(kv.CreateRevision), be(c.GetCreateRevision()))
		case pb.Compare_MOD:
			r = bytes.Compare(be(kv.ModRevision), be(c.GetModRevision()))
		case pb.Compare_LEASE:
			r = bytes.Compare(be(kv.Lease), be(c.GetLease()))
		}
		ok := map[pb.Compare_CompareResult]bool{pb.Compare_EQUAL: r == 0, pb.Compare_NOT_EQUAL: r != 0,
			pb.Compare_GREATER: r > 0, pb.Compare_LESS: r < 0}[c.Result]
		if !ok {
			return false
		}
	}
	return true
}

// decide evaluates every compare of the txn tree on the state before the txn and returns,
// per TxnRequest, whether it succeeds.
func (m *model) decide(req *pb.TxnRequest, out map[*pb.TxnRequest]bool) {
	ok := true
	for _, c := range req.Compare {
		if !m.compare(c) {
			ok = false
			break
		}
	}
	out[req] = ok
	ops := req.Success
	if !ok {
		ops = req.Failure
	}
	for _, op := range ops {
		if n := op.GetRequestTxn(); n != nil {
			m.decide(n, out)
		}
	}
}

func (m *model) check(req *pb.TxnRequest, path map[*pb.TxnRequest]bool) error {
	ops := req.Success
	if !path[req] {
		ops = req.Failure
	}
	for _, op := range ops {
		switch {
		case op.GetRequestRange() != nil:
			r := op.GetRequestRange()
			if r.Revision > m.currentRev {
				return ErrFutureRev
			}
			if r.Revision != 0 && r.Revision < m.compactRev {
				return ErrCompacted
			}
		case op.GetRequestPut() != nil:
			p := op.GetRequestPut()
			if p.Lease != 0 && !m.leases[p.Lease] {
				return rpctypes.ErrGRPCLeaseNotFound
			}
			if (p.IgnoreValue || p.IgnoreLease) && m.at(string(p.Key), m.currentRev) == nil {
				return rpctypes.ErrGRPCKeyNotFound
			}
		case op.GetRequestTxn() != nil:
			if err := m.check(op.GetRequestTxn(), path); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *model) txn(req *pb.TxnRequest) (*pb.TxnResponse, []*mvccpb.Event, error) {
	path := map[*pb.TxnRequest]bool{}
	m.decide(req, path)
	if err := m.check(req, path); err != nil {
		return nil, nil, err
	}
	t := m.begin()
	resp := t.exec(req, path)
	resp.Header.Revision = t.readRev()
	return resp, t.finish(), nil
}

func (t *modelTxn) exec(req *pb.TxnRequest, path map[*pb.TxnRequest]bool) *pb.TxnResponse {
	ok := path[req]
	ops := req.Success
	if !ok {
		ops = req.Failure
	}
	resp := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: ok, Responses: make([]*pb.ResponseOp, len(ops))}
	for i, op := range ops {
		switch {
		case op.GetRequestRange() != nil:
			r, err := t.m.rangeAt(op.GetRequestRange(), t.readRev())
			if err != nil {
				panic(err)
			}
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: r}}
		case op.GetRequestPut() != nil:
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: t.put(op.GetRequestPut())}}
		case op.GetRequestDeleteRange() != nil:
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: t.del(op.GetRequestDeleteRange())}}
		case op.GetRequestTxn() != nil:
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: t.exec(op.GetRequestTxn(), path)}}
		}
	}
	return resp
}

func (m *model) compact(rev int64) error {
	if rev <= m.compactRev {
		return ErrCompacted
	}
	if rev > m.currentRev {
		return ErrFutureRev
	}
	m.compactRev = rev
	return nil
}

func (m *model) eventsBetween(key, end []byte, from, to int64) ([]*mvccpb.Event, error) {
	if from <= m.compactRev {
		return nil, ErrCompacted
	}
	if to > m.currentRev {
		return nil, ErrFutureRev
	}
	var out []*mvccpb.Event
	for rev := from; rev <= to; rev++ {
		if rev < int64(len(m.history)) {
			for _, ev := range m.history[rev] {
				if modelInRange(string(ev.Kv.Key), key, end) {
					out = append(out, ev)
				}
			}
		}
	}
	return out, nil
}

// hashKV is etcd's HashKV rule on the full history: versions above the compact revision,
// plus those at or below it that are their key's newest version <= rev and live.
func (m *model) hashKV(rev int64) (uint32, error) {
	if rev > 0 && rev < m.compactRev {
		return 0, ErrCompacted
	}
	if rev > m.currentRev {
		return 0, ErrFutureRev
	}
	if rev <= 0 {
		rev = m.currentRev
	}
	type entry struct {
		main, sub int64
		kv        *mvccpb.KeyValue
		key       string
	}
	var all []entry
	for k, vs := range m.versions {
		for _, v := range vs {
			all = append(all, entry{v.main, v.sub, v.kv, k})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		return all[i].main < all[j].main || (all[i].main == all[j].main && all[i].sub < all[j].sub)
	})
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write([]byte("key"))
	for _, e := range all {
		if e.main > rev {
			continue
		}
		if e.main <= m.compactRev {
			vs := m.versions[e.key]
			var newest modelVersion
			for _, v := range vs {
				if v.main <= rev {
					newest = v
				}
			}
			if newest.main != e.main || newest.sub != e.sub || e.kv == nil {
				continue
			}
		}
		revBytes := append(append(be(e.main), '_'), be(e.sub)...)
		kv := e.kv
		if kv == nil {
			revBytes = append(revBytes, 't')
			kv = &mvccpb.KeyValue{Key: []byte(e.key)}
		}
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(kv)
		if err != nil {
			return 0, err
		}
		h.Write(revBytes)
		h.Write(data)
	}
	return h.Sum32(), nil
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }
