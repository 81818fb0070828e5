package watch

import (
	"fmt"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// refModel is the reference the randomized test compares watchers against: the key-value
// state and every event ever produced, computed here from the requests alone (not from
// mvcc's answers), in (revision, sub-revision) order.
type refModel struct {
	rev        int64
	compactRev int64
	kvs        map[string]*mvccpb.KeyValue
	events     []*mvccpb.Event
}

func newRefModel() *refModel {
	return &refModel{rev: 1, compactRev: -1, kvs: map[string]*mvccpb.KeyValue{}}
}

// op is one change inside a write: a put of key=value, or a delete of [key, end).
type refOp struct {
	del      bool
	key, end string
	value    string
}

// apply runs the ops of one write and returns the events it produced (none: no revision).
func (m *refModel) apply(ops []refOp) []*mvccpb.Event {
	rev := m.rev + 1
	var evs []*mvccpb.Event
	for _, op := range ops {
		if !op.del {
			prev := m.kvs[op.key]
			kv := &mvccpb.KeyValue{Key: []byte(op.key), Value: []byte(op.value), CreateRevision: rev, ModRevision: rev, Version: 1}
			if prev != nil {
				kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
			}
			m.kvs[op.key] = kv
			evs = append(evs, &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv, PrevKv: prev})
			continue
		}
		var keys []string
		for k := range m.kvs {
			if inRefRange(k, op.key, op.end) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			evs = append(evs, &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: []byte(k), ModRevision: rev}, PrevKv: m.kvs[k]})
			delete(m.kvs, k)
		}
	}
	if len(evs) > 0 {
		m.rev = rev
		m.events = append(m.events, evs...)
	}
	return evs
}

func inRefRange(k, key, end string) bool {
	switch {
	case end == "":
		return k == key
	case end == "\x00":
		return k >= key
	default:
		return k >= key && k < end
	}
}

// expected is what a watcher of req starting at startRev must receive, through revision
// throughRev.
func (m *refModel) expected(req *pb.WatchCreateRequest, startRev, throughRev int64) []string {
	rng, err := newKeyRange(req.Key, req.RangeEnd)
	if err != nil {
		panic(err)
	}
	noPut, noDelete := filtersFromRequest(req)
	var out []string
	for _, ev := range m.events {
		r := ev.Kv.ModRevision
		if r < startRev || r > throughRev || !rng.contains(ev.Kv.Key) {
			continue
		}
		if (ev.Type == mvccpb.Event_PUT && noPut) || (ev.Type == mvccpb.Event_DELETE && noDelete) {
			continue
		}
		if !req.PrevKv {
			ev = withoutPrev(ev)
		}
		out = append(out, fullEvent(ev, req.PrevKv))
	}
	return out
}

// fullEvent renders every field a client sees.
func fullEvent(ev *mvccpb.Event, withPrev bool) string {
	kvString := func(kv *mvccpb.KeyValue) string {
		if kv == nil {
			return "-"
		}
		return fmt.Sprintf("%q=%q c%d m%d v%d l%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
	}
	s := fmt.Sprintf("%s %s", ev.Type, kvString(ev.Kv))
	if withPrev {
		s += " prev " + kvString(ev.PrevKv)
	} else if ev.PrevKv != nil {
		s += " UNASKED-PREV"
	}
	return s
}
