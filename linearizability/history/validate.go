package history

import (
	"fmt"
)

// The checks a record must pass to be part of a History. Read applies them line by line and
// History.Validate applies the same ones to a History built in memory.

const (
	maxTxnDepth = 64 // etcd bounds txn nesting far lower; this only stops runaway recursion.
)

func (hdr *Header) validate() error {
	if hdr.Version != FormatVersion {
		return fmt.Errorf("unknown format version %d (this reader knows version %d)", hdr.Version, FormatVersion)
	}
	if hdr.ClusterSize < 1 {
		return fmt.Errorf("cluster_size %d: must be at least 1", hdr.ClusterSize)
	}
	if len(hdr.Members) > 0 {
		if len(hdr.Members) != hdr.ClusterSize {
			return fmt.Errorf("members lists %d names but cluster_size is %d", len(hdr.Members), hdr.ClusterSize)
		}
		seen := make(map[string]bool, len(hdr.Members))
		for _, name := range hdr.Members {
			if name == "" {
				return fmt.Errorf("members: empty member name")
			}
			if seen[name] {
				return fmt.Errorf("members: duplicate member name %q", name)
			}
			seen[name] = true
		}
	}
	if hdr.Clock != ClockVirtual && hdr.Clock != ClockWall {
		return fmt.Errorf("clock %q: must be %q or %q", hdr.Clock, ClockVirtual, ClockWall)
	}
	if hdr.ClockErrorNs < 0 {
		return fmt.Errorf("clock_error_ns %d: must not be negative", hdr.ClockErrorNs)
	}
	return nil
}

func (op *Operation) validate() error {
	if op.Client == "" {
		return fmt.Errorf("empty client")
	}
	if op.Client == ClusterClient {
		return fmt.Errorf("client %q is reserved for lease expiry records", ClusterClient)
	}
	if op.CallNs < 0 {
		return fmt.Errorf("call_ns %d: must not be negative", op.CallNs)
	}
	if op.AuthRevision < 0 {
		return fmt.Errorf("auth_revision %d: must not be negative", op.AuthRevision)
	}
	if err := op.Request.validate(false, 0); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if op.ReturnNs == nil {
		if op.Response != nil || op.Error != nil {
			return fmt.Errorf("response or error without return_ns (an unknown outcome has neither)")
		}
		return nil
	}
	if *op.ReturnNs < op.CallNs {
		return fmt.Errorf("return before call: return_ns %d < call_ns %d", *op.ReturnNs, op.CallNs)
	}
	switch {
	case op.Response != nil && op.Error != nil:
		return fmt.Errorf("both response and error")
	case op.Response == nil && op.Error == nil:
		return fmt.Errorf("return_ns without response or error")
	case op.Error != nil:
		if op.Error.Message == "" {
			return fmt.Errorf("error: empty message")
		}
		switch op.Error.Class {
		case "":
			op.Error.Class = Classify(op.Error.Message)
		case ErrorDefinite, ErrorIndeterminate:
		default:
			return fmt.Errorf("error: class %q: must be %q or %q", op.Error.Class, ErrorDefinite, ErrorIndeterminate)
		}
		return nil
	}
	if op.Response.Header.Revision < 0 {
		return fmt.Errorf("response: header revision %d: must not be negative", op.Response.Header.Revision)
	}
	if err := op.Response.matches(&op.Request, 0); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	return nil
}

func (r *Request) validate(inTxn bool, depth int) error {
	if depth > maxTxnDepth {
		return fmt.Errorf("txns nested deeper than %d", maxTxnDepth)
	}
	kind := r.Kind()
	if kind == "" {
		return fmt.Errorf("must set exactly one of put, range, delete_range, txn, lease_grant, lease_revoke, lease_keep_alive, compact, auth")
	}
	switch kind {
	case KindRange:
		if r.Range.Limit < 0 {
			return fmt.Errorf("range: limit %d: must not be negative", r.Range.Limit)
		}
		if r.Range.Revision < 0 {
			return fmt.Errorf("range: revision %d: must not be negative", r.Range.Revision)
		}
	case KindTxn:
		for i := range r.Txn.Compare {
			if err := r.Txn.Compare[i].validate(); err != nil {
				return fmt.Errorf("txn: compare[%d]: %w", i, err)
			}
		}
		for _, branch := range []struct {
			name string
			ops  []Request
		}{{"success", r.Txn.Success}, {"failure", r.Txn.Failure}} {
			for i := range branch.ops {
				if err := branch.ops[i].validate(true, depth+1); err != nil {
					return fmt.Errorf("txn: %s[%d]: %w", branch.name, i, err)
				}
			}
		}
	case KindCompact:
		if inTxn {
			return fmt.Errorf("%s is not allowed inside a txn", kind)
		}
		if r.Compact.Revision < 1 {
			return fmt.Errorf("compact: revision %d: must be at least 1", r.Compact.Revision)
		}
	case KindAuth:
		if inTxn {
			return fmt.Errorf("%s is not allowed inside a txn", kind)
		}
		if err := r.Auth.validate(); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	case KindLeaseGrant, KindLeaseRevoke, KindLeaseKeepAlive:
		if inTxn {
			return fmt.Errorf("%s is not allowed inside a txn", kind)
		}
		if kind == KindLeaseGrant && r.LeaseGrant.TTLSeconds < 0 {
			return fmt.Errorf("lease_grant: ttl_seconds %d: must not be negative", r.LeaseGrant.TTLSeconds)
		}
	}
	return nil
}

func (c *Compare) validate() error {
	switch c.Target {
	case TargetValue, TargetVersion, TargetCreate, TargetMod, TargetLease:
	default:
		return fmt.Errorf("target %q: must be one of value, version, create, mod, lease", c.Target)
	}
	switch c.Result {
	case ResultEqual, ResultNotEqual, ResultLess, ResultGreater:
	default:
		return fmt.Errorf("result %q: must be one of =, !=, <, >", c.Result)
	}
	return nil
}

// matches checks that a response answers its request: the same kind, and for a txn one
// response per request of the branch its Succeeded names, each matching.
func (resp *Response) matches(req *Request, depth int) error {
	if depth > maxTxnDepth {
		return fmt.Errorf("txns nested deeper than %d", maxTxnDepth)
	}
	kind := resp.Kind()
	if kind == "" {
		return fmt.Errorf("must set exactly one of put, range, delete_range, txn, lease_grant, lease_revoke, lease_keep_alive, compact, auth")
	}
	if want := req.Kind(); kind != want {
		return fmt.Errorf("a %s response to a %s request", kind, want)
	}
	switch kind {
	case KindRange:
		if resp.Range.Count < 0 {
			return fmt.Errorf("range: count %d: must not be negative", resp.Range.Count)
		}
	case KindDeleteRange:
		if resp.DeleteRange.Deleted < 0 {
			return fmt.Errorf("delete_range: deleted %d: must not be negative", resp.DeleteRange.Deleted)
		}
	case KindTxn:
		branch, name := req.Txn.Failure, "failure"
		if resp.Txn.Succeeded {
			branch, name = req.Txn.Success, "success"
		}
		if len(resp.Txn.Responses) != len(branch) {
			return fmt.Errorf("txn: %d responses but the %s branch has %d requests", len(resp.Txn.Responses), name, len(branch))
		}
		for i := range branch {
			if err := resp.Txn.Responses[i].matches(&branch[i], depth+1); err != nil {
				return fmt.Errorf("txn: responses[%d]: %w", i, err)
			}
		}
	}
	return nil
}

func (wr *WatchRequest) validate() error {
	if wr.StartRevision < 0 {
		return fmt.Errorf("start_revision %d: must not be negative", wr.StartRevision)
	}
	for _, f := range wr.Filters {
		if f != FilterNoPut && f != FilterNoDelete {
			return fmt.Errorf("filter %q: must be %q or %q", f, FilterNoPut, FilterNoDelete)
		}
	}
	return nil
}

func (resp *WatchResponse) validate() error {
	if resp.TimeNs < 0 {
		return fmt.Errorf("time_ns %d: must not be negative", resp.TimeNs)
	}
	if resp.Revision < 0 {
		return fmt.Errorf("revision %d: must not be negative", resp.Revision)
	}
	if resp.ProgressNotify && len(resp.Events) > 0 {
		return fmt.Errorf("a progress notification with %d events", len(resp.Events))
	}
	for i, ev := range resp.Events {
		if ev.Type != EventPut && ev.Type != EventDelete {
			return fmt.Errorf("events[%d]: type %q: must be %q or %q", i, ev.Type, EventPut, EventDelete)
		}
	}
	return nil
}

func (le *LeaseExpiry) validate() error {
	if le.Client != ClusterClient {
		return fmt.Errorf("lease expiry of client %q: must be %q", le.Client, ClusterClient)
	}
	if le.Revision < 0 {
		return fmt.Errorf("revision %d: must not be negative", le.Revision)
	}
	if le.TimeNs < 0 {
		return fmt.Errorf("time_ns %d: must not be negative", le.TimeNs)
	}
	return nil
}

func (f *Fault) validate(hdr *Header) error {
	if f.Kind == "" {
		return fmt.Errorf("empty fault kind")
	}
	if f.StartNs < 0 {
		return fmt.Errorf("start_ns %d: must not be negative", f.StartNs)
	}
	if f.EndNs != nil && *f.EndNs < f.StartNs {
		return fmt.Errorf("fault ends before it starts: end_ns %d < start_ns %d", *f.EndNs, f.StartNs)
	}
	if len(hdr.Members) > 0 {
		for _, m := range f.Members {
			if !contains(hdr.Members, m) {
				return fmt.Errorf("unknown member %q (the header lists %v)", m, hdr.Members)
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// watchBuilder assembles watches record by record and checks their order.
type watchBuilder struct {
	watches []Watch
	index   map[string]int
}

func (b *watchBuilder) create(id, client string, timeNs int64, req WatchRequest, line int) error {
	if id == "" {
		return fmt.Errorf("empty watch id")
	}
	if client == "" {
		return fmt.Errorf("empty client")
	}
	if timeNs < 0 {
		return fmt.Errorf("time_ns %d: must not be negative", timeNs)
	}
	if _, dup := b.index[id]; dup {
		return fmt.Errorf("duplicate watch id %q (a resume is a watch_resume record)", id)
	}
	if err := req.validate(); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if b.index == nil {
		b.index = make(map[string]int)
	}
	b.index[id] = len(b.watches)
	b.watches = append(b.watches, Watch{ID: id, Client: client, Request: req,
		Streams: []WatchStream{{TimeNs: timeNs, StartRevision: req.StartRevision, Line: line}}})
	return nil
}

func (b *watchBuilder) lastTime(w *Watch) int64 {
	s := &w.Streams[len(w.Streams)-1]
	if n := len(s.Responses); n > 0 {
		return s.Responses[n-1].TimeNs
	}
	return s.TimeNs
}

func (b *watchBuilder) find(id string) (*Watch, error) {
	i, ok := b.index[id]
	if !ok {
		return nil, fmt.Errorf("watch %q was never created (its watch record must come first)", id)
	}
	return &b.watches[i], nil
}

func (b *watchBuilder) respond(id string, resp WatchResponse) error {
	w, err := b.find(id)
	if err != nil {
		return err
	}
	if err := resp.validate(); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	if last := b.lastTime(w); resp.TimeNs < last {
		return fmt.Errorf("watch %q: response arrives at %d, before the watch's previous record at %d", id, resp.TimeNs, last)
	}
	s := &w.Streams[len(w.Streams)-1]
	s.Responses = append(s.Responses, resp)
	return nil
}

func (b *watchBuilder) resume(id string, timeNs, startRevision int64, line int) error {
	w, err := b.find(id)
	if err != nil {
		return err
	}
	if startRevision < 0 {
		return fmt.Errorf("start_revision %d: must not be negative", startRevision)
	}
	if last := b.lastTime(w); timeNs < last {
		return fmt.Errorf("watch %q: resumed at %d, before the watch's previous record at %d", id, timeNs, last)
	}
	w.Streams = append(w.Streams, WatchStream{TimeNs: timeNs, StartRevision: startRevision, Line: line})
	return nil
}

// Validate checks a History built in memory with the checks Read applies to a file, and
// fills in what Read fills in (an error's class when empty). It names the first bad record.
func (h *History) Validate() error {
	if err := h.Header.validate(); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	for i := range h.Operations {
		if err := h.Operations[i].validate(); err != nil {
			return fmt.Errorf("operation %d: %w", i, err)
		}
	}
	var b watchBuilder
	for _, w := range h.Watches {
		if len(w.Streams) == 0 {
			return fmt.Errorf("watch %q: no streams (Streams[0] is its creation)", w.ID)
		}
		if w.Request.StartRevision != w.Streams[0].StartRevision {
			return fmt.Errorf("watch %q: request start_revision %d differs from Streams[0].StartRevision %d",
				w.ID, w.Request.StartRevision, w.Streams[0].StartRevision)
		}
		if err := b.create(w.ID, w.Client, w.Streams[0].TimeNs, w.Request, 0); err != nil {
			return fmt.Errorf("watch %q: %w", w.ID, err)
		}
		for si, s := range w.Streams {
			if si > 0 {
				if err := b.resume(w.ID, s.TimeNs, s.StartRevision, 0); err != nil {
					return err
				}
			}
			for _, resp := range s.Responses {
				if err := b.respond(w.ID, resp); err != nil {
					return err
				}
			}
		}
	}
	for i := range h.LeaseExpiries {
		if err := h.LeaseExpiries[i].validate(); err != nil {
			return fmt.Errorf("lease expiry %d: %w", i, err)
		}
	}
	for i := range h.Faults {
		if err := h.Faults[i].validate(&h.Header); err != nil {
			return fmt.Errorf("fault %d: %w", i, err)
		}
	}
	return nil
}
