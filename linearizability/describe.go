package linearizability

import (
	"fmt"
	"strings"

	"github.com/ballastdb/ballast/linearizability/history"
)

// describeRequest renders a request in a few words: "put k1=v3", "get k1", "range [a, b)".
func describeRequest(r *history.Request) string {
	switch {
	case r.Put != nil:
		s := fmt.Sprintf("put %s=%s", r.Put.Key, r.Put.Value)
		if r.Put.Lease != 0 {
			s += fmt.Sprintf(" lease %d", r.Put.Lease)
		}
		return s
	case r.Range != nil:
		s := "get " + describeRange(r.Range.Key, r.Range.RangeEnd)
		if r.Range.Revision != 0 {
			s += fmt.Sprintf(" at rev %d", r.Range.Revision)
		}
		if r.Range.Limit != 0 {
			s += fmt.Sprintf(" limit %d", r.Range.Limit)
		}
		if r.Range.Serializable {
			s += " serializable"
		}
		if r.Range.CountOnly {
			s += " count-only"
		}
		return s
	case r.DeleteRange != nil:
		return "delete " + describeRange(r.DeleteRange.Key, r.DeleteRange.RangeEnd)
	case r.Txn != nil:
		var cmps []string
		for _, c := range r.Txn.Compare {
			cmps = append(cmps, describeCompare(&c))
		}
		return fmt.Sprintf("txn if %s then %s else %s", strings.Join(cmps, " && "),
			describeRequests(r.Txn.Success), describeRequests(r.Txn.Failure))
	case r.LeaseGrant != nil:
		return fmt.Sprintf("lease grant ttl %ds", r.LeaseGrant.TTLSeconds)
	case r.LeaseRevoke != nil:
		return fmt.Sprintf("lease revoke %d", r.LeaseRevoke.ID)
	case r.LeaseKeepAlive != nil:
		return fmt.Sprintf("lease keep-alive %d", r.LeaseKeepAlive.ID)
	case r.Compact != nil:
		return fmt.Sprintf("compact %d", r.Compact.Revision)
	case r.Auth != nil:
		a := r.Auth
		s := "auth " + string(a.Action)
		for _, f := range []struct{ name, v string }{{"user", a.User}, {"role", a.Role}, {"perm", string(a.Perm)}} {
			if f.v != "" {
				s += " " + f.name + " " + f.v
			}
		}
		if len(a.Key) > 0 {
			s += " on " + describeRange(a.Key, a.RangeEnd)
		}
		return s
	}
	return "malformed request"
}

func describeRequests(rs []history.Request) string {
	var parts []string
	for i := range rs {
		parts = append(parts, describeRequest(&rs[i]))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func describeRange(key, end []byte) string {
	switch {
	case len(end) == 0:
		return history.Bytes(key).String()
	case len(end) == 1 && end[0] == 0:
		return fmt.Sprintf("[%s, end)", history.Bytes(key))
	}
	return fmt.Sprintf("[%s, %s)", history.Bytes(key), history.Bytes(end))
}

func describeCompare(c *history.Compare) string {
	var operand string
	switch c.Target {
	case history.TargetValue:
		operand = c.Value.String()
	case history.TargetVersion:
		operand = fmt.Sprint(c.Version)
	case history.TargetCreate:
		operand = fmt.Sprint(c.CreateRevision)
	case history.TargetMod:
		operand = fmt.Sprint(c.ModRevision)
	case history.TargetLease:
		operand = fmt.Sprint(c.Lease)
	}
	return fmt.Sprintf("%s(%s) %s %s", c.Target, describeRange(c.Key, c.RangeEnd), c.Result, operand)
}

// describeResponse renders a response briefly: "rev 12", "rev 12: k1=v3@12".
func describeResponse(r *history.Response) string {
	s := fmt.Sprintf("rev %d", r.Header.Revision)
	switch {
	case r.Range != nil:
		var kvs []string
		for _, kv := range r.Range.KVs {
			kvs = append(kvs, fmt.Sprintf("%s=%s@%d", kv.Key, kv.Value, kv.ModRevision))
		}
		s += fmt.Sprintf(": [%s] count %d", strings.Join(kvs, " "), r.Range.Count)
		if r.Range.More {
			s += " more"
		}
	case r.DeleteRange != nil:
		s += fmt.Sprintf(": deleted %d", r.DeleteRange.Deleted)
	case r.Txn != nil:
		s += fmt.Sprintf(": succeeded=%t", r.Txn.Succeeded)
	case r.LeaseGrant != nil:
		s += fmt.Sprintf(": lease %d ttl %ds", r.LeaseGrant.ID, r.LeaseGrant.TTLSeconds)
	case r.LeaseKeepAlive != nil:
		s += fmt.Sprintf(": ttl %ds", r.LeaseKeepAlive.TTLSeconds)
	}
	return s
}

// describeOp renders an operation and its outcome: "put k1=v3 -> rev 12".
func describeOp(o *op) string {
	if o.expiry != nil {
		return fmt.Sprintf("lease %d expired at rev %d", o.expiry.LeaseID, o.expiry.Revision)
	}
	switch o.outcome {
	case history.OutcomeOK:
		return describeRequest(o.req) + " -> " + describeResponse(o.resp)
	case history.OutcomeFailed:
		return describeRequest(o.req) + " -> failed"
	}
	return describeRequest(o.req) + " -> unknown"
}

// where names an operation's place in the file, for messages.
func (o *op) where() string {
	if o.line > 0 {
		return fmt.Sprintf("line %d", o.line)
	}
	return fmt.Sprintf("operation %d", o.id)
}
