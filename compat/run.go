package compat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// callTimeout bounds every call on either side.
const callTimeout = 15 * time.Second

// sideState is one cluster during a run: its clients, the names of its IDs and URLs, and
// its open watch streams.
type sideState struct {
	*side
	ids     map[uint64]uint64 // member ID -> member number (1..3)
	urls    map[string]string // URL -> "mN-peer" / "mN-client"
	watches map[int]*watchStream
	users   map[string][]*clientv3.Client // clientUsers' and certUsers' clients, one per member
}

// outcome is what one side answered to one call: a response or a gRPC error, or for a watch
// its transcript so far (and what did not arrive in time).
type outcome struct {
	resp     proto.Message
	err      error
	items    []proto.Message // Watch: created, each event, cancelled, in order
	progress proto.Message   // Watch(cancel): the last progress notification asked for
	// periodic: Watch(cancel) of a watch with progress_notify: the first periodic
	// notification after every event up to the current revision arrived.
	periodic proto.Message
	// fragments: Watch(cancel): how each revision too big for one response arrived
	// (bigRevision).
	fragments string
	// order: Watch: the first event at or below a revision a progress notification had
	// already reported (nothing when none).
	order string
	stall string // Watch: what did not arrive within callTimeout
	// noLiveKey: HashKV hashed a revision at which no key is live (see intendedDifferences).
	noLiveKey bool
	syncRev   int64 // the revision of the sync read before the call (0: none)
}

// conn is the connection c goes through: its member's client of c.user (none: the client
// without credentials).
func (s *sideState) conn(c *call) *grpc.ClientConn {
	if conns, ok := s.raw[c.user]; ok {
		return conns[c.member]
	}
	if c.user != "" {
		return s.users[c.user][c.member].ActiveConnection()
	}
	return s.clients[c.member].ActiveConnection()
}

// Difference is the first call whose answers differ.
type Difference struct {
	Seed           uint64
	Index          int // 0-based index of the call in the sequence
	Call           string
	Etcd, Ballast  string
	Path           string // the first differing field
	CallsCompared  int
	FailedOnEtcd   int // calls etcd answered with an error (or a refused watch)
	ExceptionsUsed map[string]int
}

func (d *Difference) Error() string {
	return fmt.Sprintf("seed %d: call %d differs (%s)\ncall: %s\netcd:    %s\nballast: %s\nre-run: cd compat && go test -run TestCompat -seed %d -calls %d",
		d.Seed, d.Index, d.Path, d.Call, d.Etcd, d.Ballast, d.Seed, d.Index+1)
}

// Stats is what a run that found no difference compared.
type Stats struct {
	Calls, FailedOnEtcd int
	PerKind             map[string]int
	ExceptionsUsed      map[string]int
	// Watch counts what the watch transcripts compared beyond events: periodic progress
	// notifications, big revisions in fragments and whole.
	Watch map[string]int
	// Auth counts the calls made while auth was on, and the refusals of auth (etcd's).
	Auth map[string]int
}

// newSideState reads the member table of s (through member 1) to name its IDs and URLs.
func newSideState(ctx context.Context, s *side) (*sideState, error) {
	st := &sideState{side: s, ids: map[uint64]uint64{}, urls: map[string]string{}, watches: map[int]*watchStream{}, users: s.users}
	resp, err := pb.NewClusterClient(s.clients[0].ActiveConnection()).MemberList(ctx, &pb.MemberListRequest{Linearizable: true})
	if err != nil {
		return nil, fmt.Errorf("%s member list: %w", s.name, err)
	}
	for _, m := range resp.Members {
		n := slices.Index(s.names, m.Name)
		if n < 0 {
			return nil, fmt.Errorf("%s: member %q not one of %v", s.name, m.Name, s.names)
		}
		st.ids[m.ID] = uint64(n + 1)
		for _, u := range m.PeerURLs {
			st.urls[u] = fmt.Sprintf("m%d-peer", n+1)
		}
		for _, u := range m.ClientURLs {
			st.urls[u] = fmt.Sprintf("m%d-client", n+1)
		}
	}
	if len(st.ids) != memberCount {
		return nil, fmt.Errorf("%s: %d members listed, want %d (a member has not published its name yet?)", s.name, len(st.ids), memberCount)
	}
	return st, nil
}

// runSequence sends the seeded sequence of n calls to both sides, one at a time, and returns
// the first difference (nil when none) with what it compared.
// logf, when not nil, gets every call and both answers (COMPAT_VERBOSE=1).
func runSequence(ctx context.Context, etcd, ballast *side, seed uint64, n int, logf func(string, ...any)) (*Stats, *Difference, error) {
	e, err := newSideState(ctx, etcd)
	if err != nil {
		return nil, nil, err
	}
	b, err := newSideState(ctx, ballast)
	if err != nil {
		return nil, nil, err
	}
	defer e.closeWatches()
	defer b.closeWatches()
	m := newModel(seed)
	m.certs = etcd.cfg.certs
	if etcd.cfg.jwt || etcd.cfg.certs {
		// a pair for its auth configuration: the first auth phase starts at once
		m.auth.nextEnable = 5
	}
	if err := m.resume(ctx, e); err != nil {
		return nil, nil, err
	}
	stats := &Stats{PerKind: map[string]int{}, ExceptionsUsed: map[string]int{}, Watch: map[string]int{}, Auth: map[string]int{}}
	compareOne := func(i int, c *call) (*Difference, error) {
		if m.auth.enabled {
			stats.Auth["calls with auth on"]++
		}
		eo, err := e.do(ctx, c, m)
		if err != nil {
			return nil, fmt.Errorf("etcd, call %d (%s): %w", i, c, err)
		}
		bo, err := b.do(ctx, c, m)
		if err != nil {
			return nil, fmt.Errorf("ballast, call %d (%s): %w", i, c, err)
		}
		stats.Calls++
		stats.PerKind[c.kind.String()]++
		if eo.periodic != nil {
			stats.Watch["periodic progress notifications"]++
		}
		if c.kind == kindWatchCancel {
			stats.Watch["big revisions in fragments"] += strings.Count(eo.fragments, "in fragments")
			stats.Watch["big revisions whole"] += strings.Count(eo.fragments, "whole")
		}
		if eo.err != nil || (len(eo.items) > 0 && c.kind == kindWatchCreate && isCanceled(eo.items[len(eo.items)-1])) {
			stats.FailedOnEtcd++
		}
		countAuthRefusals(stats.Auth, c, eo)
		et, bt, path, exception := compareOutcomes(c, e, b, eo, bo)
		if exception == exceptionWatchAtCompact {
			// Ballast cancelled the watch; etcd's goes on: both are dropped.
			if w := e.watches[c.watch]; w != nil {
				w.cancel()
				delete(e.watches, c.watch)
			}
			m.dropWatch(c.watch)
		}
		if logf != nil {
			logf("call %d: %s\n  etcd:    %s\n  ballast: %s", i, c, et, bt)
		}
		if exception != "" {
			stats.ExceptionsUsed[exception]++
		}
		if path != "" {
			return &Difference{Seed: seed, Index: i, Call: c.String(), Etcd: et, Ballast: bt, Path: path,
				CallsCompared: stats.Calls, FailedOnEtcd: stats.FailedOnEtcd, ExceptionsUsed: stats.ExceptionsUsed}, nil
		}
		m.learn(c, eo)
		return nil, nil
	}
	// The calls are drawn as the sequence goes: the model learns from etcd's answers.
	for i := range n {
		c := m.next()
		d, err := compareOne(i, c)
		if d != nil || err != nil {
			return stats, d, err
		}
	}
	// Every watch still open is cancelled at the end, and compared like any.
	for len(m.watches) > 0 {
		c := m.cancelWatch(&call{})
		d, err := compareOne(n, c)
		if d != nil || err != nil {
			return stats, d, err
		}
		n++
	}
	// Auth ends off, for what runs after the sequence (without credentials).
	if m.auth.enabled {
		c := &call{kind: kindAuthDisable, user: "root", req: &pb.AuthDisableRequest{}}
		d, err := compareOne(n, c)
		if d != nil || err != nil {
			return stats, d, err
		}
		if m.auth.enabled {
			return stats, nil, fmt.Errorf("auth is still enabled after the sequence: %s", c)
		}
	}
	return stats, nil, nil
}

// resume teaches the model the state the clusters are in when the sequence starts (fresh
// ones in TestCompat; clusters with history work too): the revision, the compact revision
// and the live leases, from etcd.
func (m *model) resume(ctx context.Context, e *sideState) error {
	conn := e.clients[0].ActiveConnection()
	h, err := pb.NewMaintenanceClient(conn).HashKV(ctx, &pb.HashKVRequest{})
	if err != nil {
		return fmt.Errorf("etcd HashKV: %w", err)
	}
	m.rev, m.compactRev = h.Header.Revision, max(0, h.CompactRevision)
	ls, err := pb.NewLeaseClient(conn).LeaseLeases(ctx, &pb.LeaseLeasesRequest{})
	if err != nil {
		return fmt.Errorf("etcd LeaseLeases: %w", err)
	}
	for _, l := range ls.Leases {
		m.leases = append(m.leases, l.ID)
		m.nextLease = max(m.nextLease, l.ID)
	}
	slices.Sort(m.leases)
	return nil
}

// learn updates the model from etcd's answer.
func (m *model) learn(c *call, o outcome) {
	if o.resp != nil {
		if h := headerOf(o.resp); h != nil && h.Revision > m.rev {
			m.rev = h.Revision
		}
	}
	if o.err != nil {
		if c.kind == kindWatchCreate {
			m.dropWatch(c.watch)
		}
		return
	}
	if c.kind >= kindAuthEnable {
		m.learnAuth(c)
		return
	}
	switch c.kind {
	case kindCompact:
		m.compactRev = c.req.(*pb.CompactionRequest).Revision
	case kindLeaseGrant:
		m.leases = append(m.leases, c.req.(*pb.LeaseGrantRequest).ID)
	case kindLeaseRevoke:
		id := c.req.(*pb.LeaseRevokeRequest).ID
		m.leases = slices.DeleteFunc(m.leases, func(l int64) bool { return l == id })
	case kindWatchCreate:
		if len(o.items) == 0 || isCanceled(o.items[len(o.items)-1]) {
			m.dropWatch(c.watch)
		}
	}
}

func (m *model) dropWatch(n int) {
	m.watches = slices.DeleteFunc(m.watches, func(w openWatch) bool { return w.n == n })
}

func headerOf(msg proto.Message) *pb.ResponseHeader {
	if h, ok := msg.(interface{ GetHeader() *pb.ResponseHeader }); ok {
		return h.GetHeader()
	}
	return nil
}

func isCanceled(msg proto.Message) bool {
	w, ok := msg.(*pb.WatchResponse)
	return ok && w.Canceled
}

// syncRead is a linearizable read on the member: once it returns, the member has applied
// every write acknowledged before it. It answers the member's current revision. While auth
// is on (asRoot), it is root's.
func (s *sideState) syncRead(ctx context.Context, member int, asRoot bool) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	client := s.clients[member]
	if asRoot {
		client = s.users["root"][member]
	}
	resp, err := pb.NewKVClient(client.ActiveConnection()).Range(ctx, &pb.RangeRequest{Key: []byte("sync"), CountOnly: true})
	if err != nil {
		return 0, fmt.Errorf("sync read on m%d: %w", member+1, err)
	}
	return resp.Header.Revision, nil
}

// authAtAPI are the calls whose credentials the member checks as the call arrives, against
// the auth state it has applied (etcd's API layer: admin checks, requireAuthInfo), not as
// the call applies: after an auth change acknowledged by another member, whether such a call
// is refused depends on how far this member is behind, so a sync read comes first (found as
// a Compact without credentials right after an AuthEnable on another member, make compat,
// seed 1796699418835759556 call 499: etcd's member had applied it, Ballast's not yet).
var authAtAPI = map[kind]bool{kindCompact: true, kindLeaseGrant: true, kindLeaseRevoke: true, kindDefragment: true}

// do runs c on s. An error returned is the harness's own failure (a sync read that failed);
// the call's own error is in the outcome.
func (s *sideState) do(ctx context.Context, c *call, m *model) (outcome, error) {
	var o outcome
	// A token user's call is checked against the member's auth revision: the member must
	// have applied every auth change acknowledged before it (else whether the token is
	// stale would depend on how far it is behind).
	if _, tok := s.raw[c.user]; c.sync || c.kind == kindWatchCancel || tok || authAtAPI[c.kind] {
		rev, err := s.syncRead(ctx, c.member, m.auth.enabled)
		if err != nil {
			return o, err
		}
		o.syncRev = rev
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	conn := s.conn(c)
	kv, lease := pb.NewKVClient(conn), pb.NewLeaseClient(conn)
	maint := pb.NewMaintenanceClient(conn)
	switch c.kind {
	case kindRange:
		o.resp, o.err = kv.Range(cctx, c.req.(*pb.RangeRequest))
	case kindPut:
		o.resp, o.err = kv.Put(cctx, c.req.(*pb.PutRequest))
	case kindDelete:
		o.resp, o.err = kv.DeleteRange(cctx, c.req.(*pb.DeleteRangeRequest))
	case kindTxn:
		o.resp, o.err = kv.Txn(cctx, c.req.(*pb.TxnRequest))
	case kindCompact:
		o.resp, o.err = kv.Compact(cctx, c.req.(*pb.CompactionRequest))
	case kindLeaseGrant:
		o.resp, o.err = lease.LeaseGrant(cctx, c.req.(*pb.LeaseGrantRequest))
	case kindLeaseRevoke:
		o.resp, o.err = lease.LeaseRevoke(cctx, c.req.(*pb.LeaseRevokeRequest))
	case kindKeepAliveOnce:
		o.resp, o.err = keepAliveOnce(cctx, lease, c.req.(*pb.LeaseKeepAliveRequest))
	case kindTimeToLive:
		o.resp, o.err = lease.LeaseTimeToLive(cctx, c.req.(*pb.LeaseTimeToLiveRequest))
	case kindLeases:
		o.resp, o.err = lease.LeaseLeases(cctx, c.req.(*pb.LeaseLeasesRequest))
	case kindMemberList:
		o.resp, o.err = pb.NewClusterClient(conn).MemberList(cctx, c.req.(*pb.MemberListRequest))
	case kindStatus:
		o.resp, o.err = maint.Status(cctx, c.req.(*pb.StatusRequest))
	case kindHashKV:
		o.resp, o.err = maint.HashKV(cctx, c.req.(*pb.HashKVRequest))
		if o.err == nil {
			// Whether any key is live at the hashed revision (see intendedDifferences): the
			// harness's own read, root's while auth is on (the caller may not read, or hold a
			// token HashKV takes and a Range refuses as stale).
			h := o.resp.(*pb.HashKVResponse)
			reader := s.clients[c.member]
			if m.auth.enabled {
				reader = s.users["root"][c.member]
			}
			live, err := pb.NewKVClient(reader.ActiveConnection()).Range(cctx, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: h.HashRevision, CountOnly: true})
			if err == nil && live.Count == 0 {
				o.noLiveKey = true
			}
		}
	case kindDefragment:
		o.resp, o.err = maint.Defragment(cctx, c.req.(*pb.DefragmentRequest))
	case kindAlarm:
		o.resp, o.err = maint.Alarm(cctx, c.req.(*pb.AlarmRequest))
	case kindSnapshot:
		o.resp, o.err = snapshotDigest(cctx, maint, snapshotDir())
	case kindWatchCreate:
		o = s.watchCreate(ctx, c, o)
	case kindWatchCancel:
		o = s.watchCancel(ctx, c, o)
	default:
		o.resp, o.err = doAuth(cctx, pb.NewAuthClient(conn), c)
		if r, ok := o.resp.(*pb.AuthenticateResponse); ok && o.err == nil {
			if h := s.tokens[tokenPrefix+c.req.(*pb.AuthenticateRequest).Name]; h != nil {
				h.set(r.Token)
			}
		}
	}
	if o.err != nil {
		o.resp = nil // a typed nil pointer
	}
	return o, nil
}

func keepAliveOnce(ctx context.Context, lease pb.LeaseClient, req *pb.LeaseKeepAliveRequest) (*pb.LeaseKeepAliveResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := lease.LeaseKeepAlive(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(req); err != nil {
		return nil, err
	}
	resp, err := stream.Recv()
	_ = stream.CloseSend()
	return resp, err
}

// watchStream is one watch on its own gRPC stream, and what arrived on it.
type watchStream struct {
	stream   pb.Watch_WatchClient
	cancel   context.CancelFunc
	startRev int64

	progressNotify, fragment bool

	mu       sync.Mutex
	items    []proto.Message
	id       int64
	created  bool
	canceled bool
	progress *pb.WatchResponse // the last notification RequestProgress asked for (watch ID -1)
	periodic []*pb.WatchResponse
	notified int64  // the highest revision a progress notification reported
	order    string // see outcome.order
	// responses and size count, per revision, the responses its events came in and their
	// encoded size (bigRevision).
	responses map[int64]int
	size      map[int64]int
	recvErr   error
	changed   chan struct{} // a signal (capacity 1) after each response
}

func (w *watchStream) read() {
	for {
		resp, err := w.stream.Recv()
		w.mu.Lock()
		if err != nil {
			w.recvErr = err
			w.mu.Unlock()
			w.signal()
			return
		}
		w.add(resp)
		w.mu.Unlock()
		w.signal()
	}
}

func (w *watchStream) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// add records resp: a progress notification apart, everything else into the transcript
// (events one by one: how they are batched into responses may differ).
func (w *watchStream) add(resp *pb.WatchResponse) {
	if !resp.Created && !resp.Canceled && len(resp.Events) == 0 && resp.CompactRevision == 0 {
		if resp.WatchId == -1 {
			w.progress = resp
		} else {
			w.periodic = append(w.periodic, resp)
		}
		w.notified = max(w.notified, resp.GetHeader().GetRevision())
		return
	}
	var seen int64
	for _, ev := range resp.Events {
		r := ev.Kv.ModRevision
		if r <= w.notified && w.order == "" {
			w.order = fmt.Sprintf("an event at revision %d after a progress notification at %d", r, w.notified)
		}
		if r != seen { // one more response holds events of r
			w.responses[r]++
			seen = r
		}
		w.size[r] += proto.Size(ev)
	}
	if resp.Created {
		w.created, w.id = true, resp.WatchId
		w.items = append(w.items, &pb.WatchResponse{Header: resp.Header, WatchId: resp.WatchId, Created: true,
			Canceled: resp.Canceled, CancelReason: resp.CancelReason, CompactRevision: resp.CompactRevision})
		w.canceled = resp.Canceled
		return
	}
	for _, ev := range resp.Events {
		w.items = append(w.items, &pb.WatchResponse{WatchId: resp.WatchId, Events: []*mvccpb.Event{ev}})
	}
	if resp.Canceled || resp.CompactRevision != 0 {
		w.canceled = true
		w.items = append(w.items, &pb.WatchResponse{Header: resp.Header, WatchId: resp.WatchId, Canceled: resp.Canceled,
			CancelReason: resp.CancelReason, CompactRevision: resp.CompactRevision})
	}
}

// await waits (at most callTimeout) until cond holds on w; false when it did not.
func (w *watchStream) await(ctx context.Context, cond func() bool) bool {
	deadline := time.After(callTimeout)
	for {
		w.mu.Lock()
		ok, done := cond(), w.recvErr != nil
		w.mu.Unlock()
		if ok {
			return true
		}
		if done {
			return false
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return false
		case <-deadline:
			return false
		}
	}
}

func (w *watchStream) snapshot(o outcome) outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	o.items = slices.Clone(w.items)
	o.order = w.order
	o.fragments = w.fragmentSummary()
	if w.recvErr != nil && !errors.Is(w.recvErr, io.EOF) && status.Code(w.recvErr) != codes.Canceled /* our own */ {
		o.err = w.recvErr
	}
	return o
}

func (s *sideState) watchCreate(ctx context.Context, c *call, o outcome) outcome {
	sctx, cancel := context.WithCancel(ctx)
	stream, err := pb.NewWatchClient(s.conn(c)).Watch(sctx)
	if err != nil {
		cancel()
		o.err = err
		return o
	}
	req := c.req.(*pb.WatchCreateRequest)
	w := &watchStream{stream: stream, cancel: cancel, startRev: req.StartRevision, changed: make(chan struct{}, 1),
		progressNotify: req.ProgressNotify, fragment: req.Fragment, responses: map[int64]int{}, size: map[int64]int{}}
	go w.read()
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: req}}); err != nil {
		cancel()
		o.err = err
		return o
	}
	if !w.await(ctx, func() bool { return w.created }) {
		o.stall = "no created response"
	}
	// A start below the compact revision is cancelled after its creation (etcd's watchable
	// store finds it out when it syncs the watcher): wait for that too.
	if strings.Contains(c.note, "compacted") && !w.await(ctx, func() bool { return w.canceled }) {
		o.stall += " no cancellation of a compacted start"
	}
	// A watch starting in the past catches up first; it is synced once a progress
	// notification at the current revision arrives. Waiting for that keeps the sequence's
	// next calls from racing the catch-up (a compaction cancels a watcher still catching up
	// below it, on either side, and not a synced one).
	w.mu.Lock()
	open := w.created && !w.canceled
	w.mu.Unlock()
	if open && req.StartRevision != 0 && req.StartRevision <= o.syncRev && !w.flush(o.syncRev) {
		o.stall += " no progress notification after the catch-up"
	}
	// Events are compared when the watch is cancelled, once all have arrived: here only
	// what the creation answered.
	o = w.snapshot(o)
	o.items = slices.DeleteFunc(o.items, func(m proto.Message) bool { return len(m.(*pb.WatchResponse).Events) > 0 })
	w.mu.Lock()
	gone := w.canceled || !w.created || w.recvErr != nil
	w.mu.Unlock()
	if gone {
		cancel()
		return o
	}
	s.watches[c.watch] = w
	return o
}

// watchCancel first makes sure every event up to the member's current revision has arrived
// (a progress request, answered once the watcher is synced; repeated, as etcd answers none
// while the watcher is still catching up), then cancels the watch and waits for the answer.
func (s *sideState) watchCancel(ctx context.Context, c *call, o outcome) outcome {
	w := s.watches[c.watch]
	delete(s.watches, c.watch)
	if w == nil {
		o.stall = "no such watch"
		return o
	}
	defer w.cancel()
	w.mu.Lock()
	canceled := w.canceled
	w.mu.Unlock()
	if !canceled && w.startRev <= o.syncRev {
		if !w.flush(o.syncRev) {
			o.stall = "no progress notification at the current revision"
		}
		w.mu.Lock()
		if w.progress != nil {
			o.progress = &pb.WatchResponse{Header: w.progress.Header, WatchId: w.progress.WatchId}
		}
		n := len(w.periodic)
		w.mu.Unlock()
		// Caught up and idle: the next periodic notification reports the current revision
		// (etcd sends one on a tick when no event went out since the tick before: within
		// two intervals).
		if w.progressNotify {
			ok := w.await(ctx, func() bool {
				return len(w.periodic) > n && w.periodic[len(w.periodic)-1].GetHeader().GetRevision() >= o.syncRev
			})
			w.mu.Lock()
			if ok {
				p := w.periodic[len(w.periodic)-1]
				o.periodic = &pb.WatchResponse{Header: p.Header, WatchId: p.WatchId}
			} else {
				o.stall += " no periodic progress notification"
			}
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	canceled, id := w.canceled, w.id
	w.mu.Unlock()
	if !canceled {
		if err := w.stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: id}}}); err == nil {
			if !w.await(ctx, func() bool { return w.canceled }) {
				o.stall += " no cancellation response"
			}
		}
	}
	return w.snapshot(o)
}

// flush waits until every event up to rev has arrived on w (or w is cancelled): it asks for
// progress until a notification at rev or later arrives, repeating, as etcd answers none
// while the watcher is still catching up. False when none came within callTimeout.
func (w *watchStream) flush(rev int64) bool {
	deadline := time.Now().Add(callTimeout)
	for time.Now().Before(deadline) {
		if err := w.stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
			return false
		}
		t := time.After(200 * time.Millisecond)
		for {
			w.mu.Lock()
			flushed := w.canceled || (w.progress != nil && w.progress.Header.GetRevision() >= rev)
			w.mu.Unlock()
			if flushed {
				return true
			}
			select {
			case <-w.changed:
				continue
			case <-t:
			}
			break
		}
	}
	return false
}

// bigRevision is the encoded size of a revision's events above which the watch transcripts
// compare how it arrived (whole, or in fragments to a watch that asked for them). etcd
// fragments a response above --max-request-bytes plus 512 KiB, which the sequence's revisions
// (at most twice --max-request-bytes, with prev_kv) never reach: they must come whole on
// both, though over the limit itself, where Ballast used to split them (see the fragments
// subtest for revisions that do go in fragments). Smaller revisions are not judged.
const bigRevision = maxRequestBytes * 5 / 4

// fragmentSummary says how each revision over bigRevision arrived, "rev R whole" or "rev R
// in fragments", in revision order. The caller holds w.mu.
func (w *watchStream) fragmentSummary() string {
	var revs []int64
	for r, size := range w.size {
		if size > bigRevision {
			revs = append(revs, r)
		}
	}
	slices.Sort(revs)
	var parts []string
	for _, r := range revs {
		split := "whole"
		if w.responses[r] > 1 {
			split = "in fragments"
		}
		parts = append(parts, fmt.Sprintf("rev %d %s", r, split))
	}
	return strings.Join(parts, ", ")
}

func (s *sideState) closeWatches() {
	for _, w := range s.watches {
		w.cancel()
	}
}

// text prints an outcome for a report.
func (o outcome) text() string {
	var parts []string
	if o.err != nil {
		st, _ := status.FromError(o.err)
		parts = append(parts, fmt.Sprintf("error code=%s message=%q", st.Code(), st.Message()))
	}
	if o.resp != nil {
		parts = append(parts, fmt.Sprintf("%T{%s}", o.resp, prototext.MarshalOptions{}.Format(o.resp)))
	}
	for i, it := range o.items {
		parts = append(parts, fmt.Sprintf("[%d] %s", i, prototext.MarshalOptions{}.Format(it)))
	}
	if o.progress != nil {
		parts = append(parts, "progress "+prototext.MarshalOptions{}.Format(o.progress))
	}
	if o.periodic != nil {
		parts = append(parts, "periodic progress "+prototext.MarshalOptions{}.Format(o.periodic))
	}
	if o.fragments != "" {
		parts = append(parts, "big revisions: "+o.fragments)
	}
	if o.order != "" {
		parts = append(parts, "order: "+o.order)
	}
	if o.stall != "" {
		parts = append(parts, "note: "+o.stall)
	}
	if len(parts) == 0 {
		return "(nothing)"
	}
	return strings.Join(parts, "\n   ")
}
