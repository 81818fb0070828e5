package lease

import (
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// ApplyEvents updates which keys are attached to which lease from the events of one applied
// write, as kv/mvcc returns them: a put attaches its key to Kv.Lease (detaching it from any
// earlier lease), a delete detaches it. The lessor keeps its own key index, so PrevKv is not
// needed. A put naming a lease that does not exist is an error (kv/mvcc should have refused
// it through LeaseExists) and then nothing changes.
func (l *Lessor) ApplyEvents(events []*mvccpb.Event) error {
	for i := range events {
		ev := events[i]
		if ev == nil || ev.Kv == nil {
			return fmt.Errorf("lease: event %d has no key-value", i)
		}
		switch ev.Type {
		case mvccpb.Event_PUT:
			if id := ev.Kv.Lease; id != 0 && !l.LeaseExists(id) {
				return fmt.Errorf("lease: put of key %q with lease %d: %w", ev.Kv.Key, id, ErrLeaseNotFound)
			}
		case mvccpb.Event_DELETE:
		default:
			return fmt.Errorf("lease: event %d has unknown type %v", i, ev.Type)
		}
	}
	for i := range events {
		ev := events[i]
		key := string(ev.Kv.Key)
		l.detach(key)
		if ev.Type == mvccpb.Event_PUT && ev.Kv.Lease != 0 {
			l.attach(ev.Kv.Lease, key)
		}
	}
	return nil
}

// Attach attaches key to lease id; the caller uses it to rebuild attachments after Open by
// scanning the live keys. A key attached elsewhere moves.
func (l *Lessor) Attach(id int64, key []byte) error {
	if !l.LeaseExists(id) {
		return fmt.Errorf("lease: attach key %q to lease %d: %w", key, id, ErrLeaseNotFound)
	}
	l.detach(string(key))
	l.attach(id, string(key))
	return nil
}

// LeaseOf returns the lease key is attached to, 0 if none (etcd's GetLease).
func (l *Lessor) LeaseOf(key []byte) int64 { return l.keyLease[string(key)] }

func (l *Lessor) attach(id int64, key string) {
	l.leases[id].keys[key] = struct{}{}
	l.keyLease[key] = id
}

func (l *Lessor) detach(key string) {
	id, ok := l.keyLease[key]
	if !ok {
		return
	}
	delete(l.leases[id].keys, key)
	delete(l.keyLease, key)
}
