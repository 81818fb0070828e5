package history

import (
	"fmt"
	"io"
	"sync"
)

// Recorder records a run's history while it goes. Clients call it from any goroutine: every
// method is safe for concurrent use. Misuse (returning an operation twice, a return before
// its call, an unknown or duplicate watch id, time going backwards on one watch) is a bug in
// the recording code, and the Recorder panics naming it rather than write a history that
// lies.
//
// The Recorder keeps the requests and responses it is given: callers must not modify them
// afterwards.
type Recorder struct {
	mu      sync.Mutex
	header  Header
	ops     []Operation
	done    []bool
	watches watchBuilder
	expiry  []LeaseExpiry
	faults  []Fault
}

// NewRecorder starts a history with the given header. Its Version is set to FormatVersion;
// it panics when the header is invalid (see Header).
func NewRecorder(hdr Header) *Recorder {
	hdr.Version = FormatVersion
	if err := hdr.validate(); err != nil {
		panic(fmt.Sprintf("history.NewRecorder: header: %v", err))
	}
	return &Recorder{header: hdr}
}

// OpHandle is one operation in flight; finish it with exactly one of Return, Fail, FailWith
// or Unknown. An operation never finished is written as an unknown outcome.
type OpHandle struct {
	r     *Recorder
	index int
}

// Call records that client sent req at callNs and returns the handle to finish it with.
func (r *Recorder) Call(client string, req Request, callNs int64) *OpHandle {
	return r.CallAs(client, "", 0, req, callNs)
}

// CallAs is Call for a request made as user with credentials at authRevision (the
// operation's user and auth_revision).
func (r *Recorder) CallAs(client, user string, authRevision int64, req Request, callNs int64) *OpHandle {
	op := Operation{Client: client, User: user, AuthRevision: authRevision, CallNs: callNs, Request: req}
	if err := op.validate(); err != nil {
		panic(fmt.Sprintf("history.Recorder.Call: %v", err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	r.done = append(r.done, false)
	return &OpHandle{r: r, index: len(r.ops) - 1}
}

// Return records the response the client got at returnNs.
func (h *OpHandle) Return(resp Response, returnNs int64) {
	h.finish("Return", &resp, nil, &returnNs)
}

// Fail records the error the client got at returnNs, classified by Classify(err.Error()).
func (h *OpHandle) Fail(err error, returnNs int64) {
	h.FailWith(Error{Message: err.Error(), Class: Classify(err.Error())}, returnNs)
}

// FailWith records an error whose class the caller knows better than Classify (a client
// that knows its request never left, for example, may mark it definite).
func (h *OpHandle) FailWith(e Error, returnNs int64) {
	h.finish("Fail", nil, &e, &returnNs)
}

// Unknown records that the client never learnt the outcome (its connection broke, it
// crashed, it gave up without an error). The same as never finishing the operation, but
// explicit.
func (h *OpHandle) Unknown() {
	h.finish("Unknown", nil, nil, nil)
}

func (h *OpHandle) finish(method string, resp *Response, e *Error, returnNs *int64) {
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done[h.index] {
		panic(fmt.Sprintf("history.OpHandle.%s: operation %d of client %q already finished", method, h.index, r.ops[h.index].Client))
	}
	op := r.ops[h.index]
	op.Response, op.Error, op.ReturnNs = resp, e, returnNs
	if err := op.validate(); err != nil {
		panic(fmt.Sprintf("history.OpHandle.%s: operation %d of client %q: %v", method, h.index, op.Client, err))
	}
	r.ops[h.index] = op
	r.done[h.index] = true
}

// WatchHandle is one watcher; its id stays the same across resumes.
type WatchHandle struct {
	r  *Recorder
	id string
}

// ID returns the watcher's id.
func (w *WatchHandle) ID() string { return w.id }

// Watch records that client created a watch with the given id (unique in the history) at
// timeNs.
func (r *Recorder) Watch(id, client string, req WatchRequest, timeNs int64) *WatchHandle {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.watches.create(id, client, timeNs, req, 0); err != nil {
		panic(fmt.Sprintf("history.Recorder.Watch: %v", err))
	}
	return &WatchHandle{r: r, id: id}
}

// Receive records a response that arrived at resp.TimeNs (not earlier than the watch's
// previous record).
func (w *WatchHandle) Receive(resp WatchResponse) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	if err := w.r.watches.respond(w.id, resp); err != nil {
		panic(fmt.Sprintf("history.WatchHandle.Receive: %v", err))
	}
}

// Resume records that the client re-created the watch at timeNs from startRevision
// (normally the last revision it saw + 1).
func (w *WatchHandle) Resume(startRevision, timeNs int64) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	if err := w.r.watches.resume(w.id, timeNs, startRevision, 0); err != nil {
		panic(fmt.Sprintf("history.WatchHandle.Resume: %v", err))
	}
}

// LeaseExpired records that the cluster revoked leaseID because it expired, the revoke
// applying at revision, at timeNs.
func (r *Recorder) LeaseExpired(leaseID, revision, timeNs int64) {
	le := LeaseExpiry{Client: ClusterClient, LeaseID: leaseID, Revision: revision, TimeNs: timeNs}
	if err := le.validate(); err != nil {
		panic(fmt.Sprintf("history.Recorder.LeaseExpired: %v", err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expiry = append(r.expiry, le)
}

// Fault records a fault whose start (and, when EndNs is set, end) is known.
func (r *Recorder) Fault(f Fault) {
	if err := f.validate(&r.header); err != nil {
		panic(fmt.Sprintf("history.Recorder.Fault: %v", err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, f)
}

// FaultHandle is a fault that has started; End records its end.
type FaultHandle struct {
	r     *Recorder
	index int
}

// StartFault records that a fault began at startNs; call End on the handle when it ends (a
// fault never ended lasts to the end of the run).
func (r *Recorder) StartFault(kind string, members []string, detail string, startNs int64) *FaultHandle {
	f := Fault{Kind: kind, Members: members, StartNs: startNs, Detail: detail}
	if err := f.validate(&r.header); err != nil {
		panic(fmt.Sprintf("history.Recorder.Fault: %v", err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// append and take the index under one lock: another goroutine may record a fault too
	r.faults = append(r.faults, f)
	return &FaultHandle{r: r, index: len(r.faults) - 1}
}

// End records that the fault ended at endNs.
func (fh *FaultHandle) End(endNs int64) {
	r := fh.r
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.faults[fh.index]
	if f.EndNs != nil {
		panic(fmt.Sprintf("history.FaultHandle.End: fault %d (%s) already ended", fh.index, f.Kind))
	}
	f.EndNs = &endNs
	if err := f.validate(&r.header); err != nil {
		panic(fmt.Sprintf("history.FaultHandle.End: %v", err))
	}
	r.faults[fh.index] = f
}

// History returns a copy of what has been recorded so far; operations still in flight
// appear with an unknown outcome.
func (r *Recorder) History() *History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &History{
		Header:        r.header,
		Operations:    append([]Operation(nil), r.ops...),
		LeaseExpiries: append([]LeaseExpiry(nil), r.expiry...),
		Faults:        append([]Fault(nil), r.faults...),
	}
	for _, w := range r.watches.watches {
		w.Streams = append([]WatchStream(nil), w.Streams...)
		for i := range w.Streams {
			w.Streams[i].Responses = append([]WatchResponse(nil), w.Streams[i].Responses...)
		}
		h.Watches = append(h.Watches, w)
	}
	return h
}

// WriteTo writes what has been recorded so far (see History.WriteTo).
func (r *Recorder) WriteTo(w io.Writer) (int64, error) {
	return r.History().WriteTo(w)
}
