package mvcc

import "go.etcd.io/etcd/api/v3/mvccpb"

// An event's PrevKv is etcd's watch prev_kv: the key's version before the event's revision,
// what a Range at ModRevision-1 returns (etcd's v3rpc watch fills it by exactly that read),
// and none for a create event (a put whose CreateRevision is its ModRevision, which etcd's
// watch never gives a prev_kv). The two differ from "the version this write replaced" only
// when one revision writes a key twice (sibling nested txns may: etcd's duplicate-key check
// looks at one branch at a time): the second event's PrevKv is then the version before the
// revision, not the one written earlier in it. Chosen to match etcd (found by compat, seed
// 1796641592520282874): a Range at any revision sees only a revision's end state, so a
// version written and replaced inside one revision is a state no read can observe, and
// clients (Kubernetes' watch cache, etcd's mirror and proxy) take prev_kv as the state before
// the revision. The write responses' own prev_kv are unchanged: a put or delete inside a txn
// answers the version it replaced, as etcd's do.

// isCreate is etcd's IsCreateEvent.
func isCreate(ev *mvccpb.Event) bool {
	return ev.Type == mvccpb.Event_PUT && ev.Kv.CreateRevision == ev.Kv.ModRevision
}

// settlePrev rewrites the PrevKv of one revision's events, as the write produced them (each
// with the version it replaced, read through the transaction's own writes), to the version
// before the revision: for a key written earlier in the same revision, that is the PrevKv of
// the key's first event in it, which nothing earlier in the revision had touched.
func settlePrev(events []*mvccpb.Event) {
	var first map[string]*mvccpb.KeyValue // built only when a key repeats
	for i, ev := range events {
		switch {
		case isCreate(ev):
			ev.PrevKv = nil
		case ev.PrevKv != nil && ev.PrevKv.ModRevision == ev.Kv.ModRevision:
			if first == nil {
				first = map[string]*mvccpb.KeyValue{}
				for _, e := range events[:i] {
					if _, ok := first[string(e.Kv.Key)]; !ok {
						first[string(e.Kv.Key)] = e.PrevKv
					}
				}
			}
			prev, ok := first[string(ev.Kv.Key)]
			if !ok {
				panic("mvcc: an event's previous version is of its own revision, and no earlier event of the revision wrote its key")
			}
			ev.PrevKv = prev
		}
		if first != nil {
			if _, ok := first[string(ev.Kv.Key)]; !ok {
				first[string(ev.Kv.Key)] = ev.PrevKv
			}
		}
	}
}
