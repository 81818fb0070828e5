package linearizability

import (
	"bytes"
	"fmt"

	"github.com/ballastdb/ballast/linearizability/history"
)

// diffResponse returns "" when the observed response is what etcd answers (expected), else
// the first difference in words, for explanations. Header revisions are compared on top-level
// responses only (responses inside a txn carry none).
func diffResponse(expected, observed *history.Response, top bool) string {
	if top && expected.Header.Revision != observed.Header.Revision {
		return fmt.Sprintf("header revision %d, but the state gives %d", observed.Header.Revision, expected.Header.Revision)
	}
	if ek, ok := expected.Kind(), observed.Kind(); ek != ok {
		return fmt.Sprintf("a %s response to a %s request", orNone(ok), ek)
	}
	switch {
	case expected.Put != nil:
		return diffPrevKV("prev_kv", expected.Put.PrevKV, observed.Put.PrevKV)
	case expected.Range != nil:
		e, o := expected.Range, observed.Range
		if e.Count != o.Count {
			return fmt.Sprintf("count %d, but the state holds %d", o.Count, e.Count)
		}
		if e.More != o.More {
			return fmt.Sprintf("more=%t, but the state gives more=%t", o.More, e.More)
		}
		return diffKVs("kvs", e.KVs, o.KVs)
	case expected.DeleteRange != nil:
		e, o := expected.DeleteRange, observed.DeleteRange
		if e.Deleted != o.Deleted {
			return fmt.Sprintf("deleted %d, but the state held %d keys in the range", o.Deleted, e.Deleted)
		}
		if len(o.PrevKVs) > 0 || len(e.PrevKVs) > 0 {
			return diffKVs("prev_kvs", e.PrevKVs, o.PrevKVs)
		}
	case expected.Txn != nil:
		e, o := expected.Txn, observed.Txn
		if e.Succeeded != o.Succeeded {
			return fmt.Sprintf("succeeded=%t, but the compares evaluate to %t", o.Succeeded, e.Succeeded)
		}
		if len(e.Responses) != len(o.Responses) {
			return fmt.Sprintf("%d responses in the txn, but the branch has %d requests", len(o.Responses), len(e.Responses))
		}
		for i := range e.Responses {
			if d := diffResponse(&e.Responses[i], &o.Responses[i], false); d != "" {
				return fmt.Sprintf("txn response %d: %s", i, d)
			}
		}
	case expected.LeaseGrant != nil:
		if expected.LeaseGrant.ID != observed.LeaseGrant.ID {
			return fmt.Sprintf("lease id %d, expected %d", observed.LeaseGrant.ID, expected.LeaseGrant.ID)
		}
	case expected.LeaseKeepAlive != nil:
		alive := expected.LeaseKeepAlive.TTLSeconds > 0
		if alive != (observed.LeaseKeepAlive.TTLSeconds > 0) {
			if alive {
				return fmt.Sprintf("lease %d not found (ttl 0), but it is alive", expected.LeaseKeepAlive.ID)
			}
			return fmt.Sprintf("lease %d kept alive (ttl %d), but it no longer exists", expected.LeaseKeepAlive.ID, observed.LeaseKeepAlive.TTLSeconds)
		}
	}
	return ""
}

func orNone(k history.RequestKind) string {
	if k == "" {
		return "malformed"
	}
	return string(k)
}

func diffPrevKV(what string, e, o *history.KeyValue) string {
	switch {
	case e == nil && o == nil:
		return ""
	case e == nil:
		return fmt.Sprintf("%s %s, but the key did not exist", what, describeKV(*o))
	case o == nil:
		return fmt.Sprintf("no %s, but the key held %s", what, describeKV(*e))
	}
	return diffKV(what, *e, *o)
}

func diffKVs(what string, e, o []history.KeyValue) string {
	for i := 0; i < len(e) && i < len(o); i++ {
		if d := diffKV(fmt.Sprintf("%s[%d]", what, i), e[i], o[i]); d != "" {
			return d
		}
	}
	if len(o) > len(e) {
		return fmt.Sprintf("%s has %s, a key the state does not hold", what, describeKV(o[len(e)]))
	}
	if len(e) > len(o) {
		return fmt.Sprintf("%s misses %s", what, describeKV(e[len(o)]))
	}
	return ""
}

func diffKV(what string, e, o history.KeyValue) string {
	switch {
	case !bytes.Equal(e.Key, o.Key):
		return fmt.Sprintf("%s key %s, but the state gives key %s", what, o.Key, e.Key)
	case !bytes.Equal(e.Value, o.Value):
		return fmt.Sprintf("%s %s=%s, but the state holds %s", what, o.Key, o.Value, describeKV(e))
	case e.ModRevision != o.ModRevision:
		return fmt.Sprintf("%s %s with mod revision %d, but the state gives %d", what, o.Key, o.ModRevision, e.ModRevision)
	case e.CreateRevision != o.CreateRevision:
		return fmt.Sprintf("%s %s with create revision %d, but the state gives %d", what, o.Key, o.CreateRevision, e.CreateRevision)
	case e.Version != o.Version:
		return fmt.Sprintf("%s %s with version %d, but the state gives %d", what, o.Key, o.Version, e.Version)
	case e.Lease != o.Lease:
		return fmt.Sprintf("%s %s with lease %d, but the state gives lease %d", what, o.Key, o.Lease, e.Lease)
	}
	return ""
}

// describeKV renders a key-value for messages: k1=v3 (mod 12, create 4, version 3).
func describeKV(kv history.KeyValue) string {
	s := fmt.Sprintf("%s=%s (mod %d, create %d, version %d", kv.Key, kv.Value, kv.ModRevision, kv.CreateRevision, kv.Version)
	if kv.Lease != 0 {
		s += fmt.Sprintf(", lease %d", kv.Lease)
	}
	return s + ")"
}
