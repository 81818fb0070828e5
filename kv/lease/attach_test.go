package lease

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// puts returns put events of keys with lease id, as kv/mvcc reports them.
func puts(id int64, keys ...string) []*mvccpb.Event {
	events := make([]*mvccpb.Event, len(keys))
	for i, k := range keys {
		events[i] = &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: &mvccpb.KeyValue{Key: []byte(k), Value: []byte("v"), Lease: id}}
	}
	return events
}

// deletes returns delete events of keys that were attached to lease id.
func deletes(id int64, keys ...string) []*mvccpb.Event {
	events := make([]*mvccpb.Event, len(keys))
	for i, k := range keys {
		events[i] = &mvccpb.Event{
			Type:   mvccpb.Event_DELETE,
			Kv:     &mvccpb.KeyValue{Key: []byte(k)},
			PrevKv: &mvccpb.KeyValue{Key: []byte(k), Lease: id},
		}
	}
	return events
}

func keysOf(t *testing.T, l *Lessor, id int64) []string {
	t.Helper()
	ttl, err := l.TimeToLive(id, true)
	require.NoError(t, err)
	out := []string{}
	for _, k := range ttl.Keys {
		out = append(out, string(k))
	}
	return out
}

func TestApplyEvents(t *testing.T) {
	for _, tc := range []struct {
		name    string
		events  [][]*mvccpb.Event // applied in order
		want    map[int64][]string
		wantErr string // of the last batch of events
	}{
		{name: "put attaches", events: [][]*mvccpb.Event{puts(1, "a", "b")}, want: map[int64][]string{1: {"a", "b"}, 2: {}}},
		{name: "put without lease attaches nothing", events: [][]*mvccpb.Event{puts(0, "a")}, want: map[int64][]string{1: {}, 2: {}}},
		{name: "put with another lease moves the key", events: [][]*mvccpb.Event{puts(1, "a", "b"), puts(2, "a")},
			want: map[int64][]string{1: {"b"}, 2: {"a"}}},
		{name: "put without lease detaches", events: [][]*mvccpb.Event{puts(1, "a", "b"), puts(0, "a")},
			want: map[int64][]string{1: {"b"}, 2: {}}},
		{name: "delete detaches", events: [][]*mvccpb.Event{puts(1, "a", "b"), deletes(1, "b")},
			want: map[int64][]string{1: {"a"}, 2: {}}},
		{name: "delete of an unattached key is harmless", events: [][]*mvccpb.Event{deletes(0, "x")},
			want: map[int64][]string{1: {}, 2: {}}},
		{name: "put with an unknown lease changes nothing", events: [][]*mvccpb.Event{puts(1, "a"), append(puts(2, "a"), puts(9, "b")...)},
			want: map[int64][]string{1: {"a"}, 2: {}}, wantErr: `lease: put of key "b" with lease 9: ` + ErrLeaseNotFound.Error()},
		{name: "event without kv", events: [][]*mvccpb.Event{{{Type: mvccpb.Event_PUT}}},
			want: map[int64][]string{1: {}, 2: {}}, wantErr: "lease: event 0 has no key-value"},
		{name: "nil event", events: [][]*mvccpb.Event{{nil}},
			want: map[int64][]string{1: {}, 2: {}}, wantErr: "lease: event 0 has no key-value"},
		{name: "event of unknown type", events: [][]*mvccpb.Event{{{Type: 7, Kv: &mvccpb.KeyValue{Key: []byte("a")}}}},
			want: map[int64][]string{1: {}, 2: {}}, wantErr: "lease: event 0 has unknown type 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMember(t, testConfig(&manualClock{}))
			m.mustGrant(1, 60)
			m.mustGrant(2, 60)
			var err error
			for _, evs := range tc.events {
				err = m.l.ApplyEvents(evs)
			}
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			for id, want := range tc.want {
				require.Equal(t, want, keysOf(t, m.l, id), "lease %d", id)
			}
			m.check()
		})
	}
}

func TestAttachRebuildsAfterRestart(t *testing.T) {
	m := newMember(t, testConfig(&manualClock{}))
	m.mustGrant(1, 60)
	m.mustGrant(2, 60)
	require.NoError(t, m.l.ApplyEvents(puts(1, "a", "b")))
	m.restart()
	require.Equal(t, []string{}, keysOf(t, m.l, 1), "attachments are rebuilt by the caller")
	require.NoError(t, m.l.Attach(1, []byte("a")))
	require.NoError(t, m.l.Attach(1, []byte("b")))
	require.NoError(t, m.l.Attach(2, []byte("b")), "a key attached elsewhere moves")
	require.EqualError(t, m.l.Attach(3, []byte("c")), `lease: attach key "c" to lease 3: `+ErrLeaseNotFound.Error())
	require.Equal(t, []string{"a"}, keysOf(t, m.l, 1))
	require.Equal(t, []string{"b"}, keysOf(t, m.l, 2))
	require.Equal(t, int64(2), m.l.LeaseOf([]byte("b")))
	require.Equal(t, int64(0), m.l.LeaseOf([]byte("c")))
	m.check()
}
