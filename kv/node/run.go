package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/raft"
)

// This file is the production driver: the one place where goroutines, channels, select and
// real time (time.NewTicker, time.Now) meet a Member. The simulator never runs it: it calls
// Receive, Tick, Work and Synced from its own event loop and decides when each happens.
// Because select picks among ready channels at random, nothing here may decide an outcome
// that the protocol does not already tolerate (raft tolerates any order of messages, ticks and
// proposals; a request's answer is whatever the member gives it).

// Driver runs a Member with goroutines, real time and a Transport; it is the only code in
// this package that starts goroutines, selects on channels or reads the wall clock
// (time.NewTicker, RealClock), and the simulator never runs it. One goroutine (Driver.Run)
// owns the member. Other goroutines reach it through bounded channels: Submit, KeepAlive,
// TimeToLive, Leases, Inspect and Call wait for the member's answer (ErrStopped if the driver
// stops first; ctx's error if ctx ends first, the outcome of a write then unknown), and so do
// the membership wrappers (AddMember, RemoveMember, PromoteMember, UpdateMember,
// TransferLeader, PublishAttrs); a
// transport hands in peer messages with Deliver, which never blocks and drops beyond
// InboxMessagesMax/InboxBytesMax (raft tolerates loss). Each round takes one event, then every
// further queued event (up to EventsPerRoundMax), then calls Work and, if it asks, Synced at
// once (Synced performs the fsync); calls that queue during an fsync go into the next Ready
// together, so under load many proposals share one sync (DriverStats.Syncs;
// BenchmarkCluster reports fsyncs per proposal). A ticker at TickInterval calls Tick. Run
// returns nil when its context ends and the storage error when Work or Synced fails; either
// way it fails the calls still waiting with ErrStopped and closes neither the member nor the
// transport; it returns ErrRemoved when the member stopped after its own removal. Watches
// from other goroutines go through Driver.Watch: a DriverWatch's Handle and Next run the
// member's WatchStream on the driver goroutine, and Next sleeps on a wake-up channel (capacity
// one, so no signal is lost) that the driver signals after every round in which the stream is
// Ready. IsBulkFrame tells a transport which frames are snapshot chunks, to carry apart from
// heartbeats and votes. DBSize reads Pebble's metrics (safe from any goroutine); Defragment
// runs Pebble's manual compaction of the whole key space on the caller's goroutine (safe
// beside the driver). HandOffLeadership, for a graceful stop, transfers leadership from a
// leader to its most up-to-date other voter and waits until it leads (again with the best
// voter then, if raft abandoned a transfer), as etcd does before it stops.
// LocalTransport connects drivers in one process (tests, benchmarks) through their bounded
// inboxes, copying each message, with links that can be cut.

// Transport carries messages from this member to its peers.
type Transport interface {
	// Send hands env to the network for member env.To. It must not block (queue with a
	// bound, or drop: raft tolerates lost messages), and it may keep env.Data: the member
	// does not touch it again.
	Send(env Envelope)
}

// RunOptions configures a Driver. Zero fields take the defaults below.
type RunOptions struct {
	// TickInterval is the real time between calls to Tick. Default: the member's
	// Config.TickInterval (which its lease TTLs assume).
	TickInterval time.Duration
	// InboxMessagesMax and InboxBytesMax bound the peer messages queued by Deliver and not
	// yet received; beyond them Deliver drops. Defaults: 4096 messages, 64 MiB.
	InboxMessagesMax int
	InboxBytesMax    int64
	// CallQueueMax bounds the calls (Submit, KeepAlive, ...) queued for the driver goroutine;
	// beyond it callers wait (back-pressure). Default 1024.
	CallQueueMax int
	// EventsPerRoundMax bounds the queued events (messages, calls, a tick) the driver takes
	// before it calls Work: everything taken goes into one raft Ready and one sync, so this is
	// the largest batch. Default 1024.
	EventsPerRoundMax int
	// OnSynced, when set, is told how long each Member.Synced took (the WAL's fsync and what
	// follows it): report-only, for the server's etcd_disk_wal_fsync_duration_seconds.
	OnSynced func(time.Duration)
}

func (o RunOptions) withDefaults(m *Member) (RunOptions, error) {
	if o.TickInterval == 0 {
		o.TickInterval = m.cfg.TickInterval
	}
	if o.InboxMessagesMax == 0 {
		o.InboxMessagesMax = 4096
	}
	if o.InboxBytesMax == 0 {
		o.InboxBytesMax = 64 << 20
	}
	if o.CallQueueMax == 0 {
		o.CallQueueMax = 1024
	}
	if o.EventsPerRoundMax == 0 {
		o.EventsPerRoundMax = 1024
	}
	if o.TickInterval < 0 || o.InboxMessagesMax < 0 || o.InboxBytesMax < 0 || o.CallQueueMax < 0 || o.EventsPerRoundMax < 0 {
		return o, fmt.Errorf("%w: RunOptions fields must not be negative: %+v", errConfig, o)
	}
	return o, nil
}

// DriverStats are a Driver's counters since it was made. They are read atomically one by
// one, so a snapshot taken while the driver runs may mix instants.
type DriverStats struct {
	// Syncs counts calls to Member.Synced, each one fsync of the member's WAL.
	Syncs uint64
	// Rounds counts calls to Member.Work.
	Rounds uint64
	// MessagesSent counts envelopes handed to the Transport.
	MessagesSent uint64
	// MessagesReceived counts peer messages handed to Member.Receive; ReceiveErrors those it
	// refused (malformed, or stale for raft: both harmless).
	MessagesReceived uint64
	ReceiveErrors    uint64
	// MessagesDropped counts messages Deliver refused because the inbox was full or the
	// driver had stopped.
	MessagesDropped uint64
}

// ErrDriverUsed: Run was called on a Driver that already ran.
var ErrDriverUsed = errors.New("node: Driver.Run called twice (a Driver runs once; make a new one to drive the member again)")

// Driver runs a Member with goroutines, real time and a Transport (production). Its Run
// goroutine is the only one that touches the Member; every other method is safe for
// concurrent use and reaches the member through bounded channels.
//
//	d, err := node.NewDriver(m, transport, node.RunOptions{})
//	go d.Run(ctx)                   // until ctx is cancelled or storage fails
//	resp, err := d.Submit(ctx, req) // from any goroutine
//	d.Deliver(bytes)                // a peer's message, from the transport's goroutine
//
// A time.Ticker calls Tick every TickInterval. Ticks that fall due while the driver is busy
// (a slow fsync) are dropped, not bunched, so under load raft's timers run slow, never fast:
// elections come later, never earlier. Leases do not count ticks: they read Config.Clock.
//
// Each round the driver waits for an event (a peer message, a call, a tick), takes every
// further event already queued (up to EventsPerRoundMax), then calls Work; if Work asks for
// a sync it calls Synced at once, which performs the fsync. Calls that arrive during the
// fsync queue up and go into the next Ready together, so under load many proposals share one
// sync (DriverStats.Syncs counts them).
//
// The driver owns neither the member nor the transport: when Run returns, the caller closes
// them. A Member is driven by one Driver at a time; to drive it again, start a new Driver
// after Run returned.
type Driver struct {
	m    *Member
	id   uint64
	t    Transport
	opts RunOptions

	inbox      chan []byte
	inboxBytes atomic.Int64
	calls      chan *call
	stopped    chan struct{} // closed when Run has returned
	ran        atomic.Bool

	// waiting holds the calls handed to the member and not yet answered; only Run's
	// goroutine touches it.
	waiting map[*call]struct{}
	// view is the member table as of the last round, for any goroutine (ClusterID, Members,
	// IsRemoved); viewVersion is the member's clusterVersion it shows (Run's goroutine only).
	view        atomic.Pointer[clusterView]
	viewVersion uint64

	// watches are the open DriverWatches, in the order they opened; only Run's goroutine
	// touches it (after each round it wakes those whose stream is Ready).
	watches []*DriverWatch

	syncs, rounds, sent, received, receiveErrors, dropped atomic.Uint64
}

// call is one request from another goroutine, run on the driver goroutine.
type call struct {
	start  func(m *Member, done Done)
	result chan callResult // capacity 1: the first answer wins, later ones are dropped
}

type callResult struct {
	resp Response
	err  error
}

// finish answers c without blocking; an answer after the first is dropped (the driver fails
// waiting calls with ErrStopped when it stops, and the member may answer them later).
func (c *call) finish(resp Response, err error) {
	select {
	case c.result <- callResult{resp, err}:
	default:
	}
}

// NewDriver makes a driver for m that sends through t. m must not be driven by anything else
// while Run runs.
func NewDriver(m *Member, t Transport, opts RunOptions) (*Driver, error) {
	if m == nil || t == nil {
		return nil, fmt.Errorf("%w: NewDriver needs a member and a transport", errConfig)
	}
	opts, err := opts.withDefaults(m)
	if err != nil {
		return nil, err
	}
	d := &Driver{
		m:       m,
		id:      m.cfg.ID,
		t:       t,
		opts:    opts,
		inbox:   make(chan []byte, opts.InboxMessagesMax),
		calls:   make(chan *call, opts.CallQueueMax),
		stopped: make(chan struct{}),
		waiting: make(map[*call]struct{}),
	}
	d.viewVersion = m.clusterVersion + 1 // publish now
	d.publishView()
	return d, nil
}

// ID is the driven member's raft ID.
func (d *Driver) ID() uint64 { return d.id }

// Stats returns the driver's counters.
func (d *Driver) Stats() DriverStats {
	return DriverStats{
		Syncs:            d.syncs.Load(),
		Rounds:           d.rounds.Load(),
		MessagesSent:     d.sent.Load(),
		MessagesReceived: d.received.Load(),
		ReceiveErrors:    d.receiveErrors.Load(),
		MessagesDropped:  d.dropped.Load(),
	}
}

// Stopped is closed once Run has returned.
func (d *Driver) Stopped() <-chan struct{} { return d.stopped }

// Deliver queues a peer's message for the member, without blocking. It reports false, and
// drops the message, when the inbox is full or the driver has stopped: raft recovers from
// lost messages. The driver keeps data; the caller must not change it afterwards.
func (d *Driver) Deliver(data []byte) bool {
	select {
	case <-d.stopped:
		d.dropped.Add(1)
		return false
	default:
	}
	n := int64(len(data))
	if d.inboxBytes.Add(n) > d.opts.InboxBytesMax {
		d.inboxBytes.Add(-n)
		d.dropped.Add(1)
		return false
	}
	select {
	case d.inbox <- data:
		return true
	default:
		d.inboxBytes.Add(-n)
		d.dropped.Add(1)
		return false
	}
}

// Submit runs a client request on the member (see Member.Submit) and waits for its answer.
// The driver takes req: the caller must not use it afterwards. It fails with ErrStopped when
// the driver stops first, and with ctx's error when ctx ends first (a write's outcome is then
// unknown: it may still apply).
func (d *Driver) Submit(ctx context.Context, req *pb.InternalRaftRequest) (Response, error) {
	return d.Call(ctx, func(m *Member, done Done) { m.Submit(req, done) })
}

// KeepAlive renews lease id (see Member.KeepAlive) and waits for the answer.
func (d *Driver) KeepAlive(ctx context.Context, id int64) (Response, error) {
	return d.Call(ctx, func(m *Member, done Done) { m.KeepAlive(id, done) })
}

// TimeToLive asks for a lease's remaining TTL (see Member.TimeToLive).
func (d *Driver) TimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (Response, error) {
	return d.Call(ctx, func(m *Member, done Done) { m.TimeToLive(req, done) })
}

// Leases lists the leases (see Member.Leases).
func (d *Driver) Leases(ctx context.Context) (Response, error) {
	return d.Call(ctx, func(m *Member, done Done) { m.Leases(done) })
}

// Inspect runs f on the driver goroutine, between events, and returns when it has run: the
// way to read member state (Status, AppliedIndex, HashKV) while the driver runs. f must not
// block or keep m.
func (d *Driver) Inspect(ctx context.Context, f func(m *Member)) error {
	_, err := d.Call(ctx, func(m *Member, done Done) {
		f(m)
		done(Response{}, nil)
	})
	return err
}

// Call runs start on the driver goroutine and waits until the done it was given runs (or the
// driver stops, or ctx ends). It is how every member call that completes through a Done
// (Submit, the lease calls, membership calls) reaches the member from other goroutines. start
// must not block.
func (d *Driver) Call(ctx context.Context, start func(m *Member, done Done)) (Response, error) {
	c := &call{start: start, result: make(chan callResult, 1)}
	select {
	case d.calls <- c:
	case <-d.stopped:
		return Response{}, ErrStopped
	case <-ctx.Done():
		return Response{}, ctx.Err()
	}
	select {
	case r := <-c.result:
		return r.resp, r.err
	case <-d.stopped:
		// The driver may have answered just before it stopped; that answer stands.
		select {
		case r := <-c.result:
			return r.resp, r.err
		default:
			return Response{}, ErrStopped
		}
	case <-ctx.Done():
		return Response{}, ctx.Err()
	}
}

// Run drives the member until ctx is cancelled (it then returns nil) or the member fails
// with a storage error from Work or Synced (returned; the member has stopped). Either way
// it fails every call still waiting with ErrStopped, stops its ticker and returns; it closes
// neither the member nor the transport. A Driver runs once.
func (d *Driver) Run(ctx context.Context) error {
	if !d.ran.CompareAndSwap(false, true) {
		return ErrDriverUsed
	}
	// this goroutine steps the member from now on: a Pebble Fatalf on it cannot park (pebble.go)
	d.m.fatal.bind()
	ticker := time.NewTicker(d.opts.TickInterval)
	defer ticker.Stop()
	err := d.loop(ctx, ticker.C)
	d.shutdown()
	return err
}

func (d *Driver) loop(ctx context.Context, ticks <-chan time.Time) error {
	for {
		if !d.hasWork() {
			// Nothing to hand out: wait for one event.
			select {
			case <-ctx.Done():
				return nil
			case <-ticks:
				d.m.Tick()
			case data := <-d.inbox:
				d.receive(data)
			case c := <-d.calls:
				d.start(c)
			}
		}
		if stop := d.takeQueued(ctx, ticks); stop {
			return nil
		}
		if err := d.round(); err != nil {
			return err
		}
		d.wakeWatches()
		d.publishView()
	}
}

// takeQueued handles the events already queued, up to EventsPerRoundMax, without waiting:
// they all go into the next Ready, hence the next sync. It reports whether ctx has ended.
func (d *Driver) takeQueued(ctx context.Context, ticks <-chan time.Time) (stop bool) {
	for range d.opts.EventsPerRoundMax {
		select {
		case <-ctx.Done():
			return true
		case <-ticks:
			d.m.Tick()
		case data := <-d.inbox:
			d.receive(data)
		case c := <-d.calls:
			d.start(c)
		default:
			return false
		}
	}
	return ctx.Err() != nil
}

// round runs one Work and, if it asks for one, the sync at once.
func (d *Driver) round() error {
	d.rounds.Add(1)
	out, err := d.m.Work()
	d.send(out.Messages)
	if err != nil {
		return err
	}
	if out.SyncToken == 0 {
		return nil
	}
	start := time.Now()
	msgs, err := d.m.Synced(out.SyncToken)
	if d.opts.OnSynced != nil {
		d.opts.OnSynced(time.Since(start))
	}
	d.syncs.Add(1)
	if err != nil {
		return err
	}
	d.send(msgs)
	return nil
}

// hasWork reports whether Work would hand out something now: forwarded proposals or lease
// calls to send, or a raft Ready, or a store compaction to advance while a physical
// compaction request waits for it (else a compaction in progress advances one step per Work,
// so on an idle member at least once per tick).
func (d *Driver) hasWork() bool {
	return len(d.m.outbox) > 0 || (d.m.inflight == nil && d.m.stopped == nil && (d.m.rn.HasReady() || len(d.m.physicalWaits) > 0))
}

func (d *Driver) receive(data []byte) {
	d.inboxBytes.Add(-int64(len(data)))
	d.received.Add(1)
	if err := d.m.Receive(data); err != nil {
		d.receiveErrors.Add(1)
	}
}

func (d *Driver) start(c *call) {
	d.waiting[c] = struct{}{}
	c.start(d.m, func(resp Response, err error) {
		delete(d.waiting, c)
		d.publishView() // a caller answered after a membership change sees the new table
		c.finish(resp, err)
	})
}

func (d *Driver) send(envs []Envelope) {
	for _, env := range envs {
		d.sent.Add(1)
		d.t.Send(env)
	}
}

// shutdown fails every call the member has not answered, and every call still queued, with
// ErrStopped. The member keeps its own record of them; if a later driver completes them,
// that answer is dropped (call.finish).
func (d *Driver) shutdown() {
	for c := range d.waiting {
		c.finish(Response{}, ErrStopped)
	}
	d.waiting = nil
	d.watches = nil
	close(d.stopped)
	for {
		select {
		case c := <-d.calls:
			c.finish(Response{}, ErrStopped)
		case data := <-d.inbox:
			d.inboxBytes.Add(-int64(len(data)))
		default:
			return
		}
	}
}

// ErrWatchClosed: Next or Handle was called on a DriverWatch after Close.
var ErrWatchClosed = errors.New("node: watch stream closed")

// DriverWatch is a WatchStream on a driven member, usable from any goroutine (one gRPC Watch
// call: one goroutine reading the client's requests calls Handle, another sending responses
// calls Next). The stream itself lives on the driver goroutine; after each round the driver
// signals wake for every stream that has responses ready, so Next sleeps without polling.
type DriverWatch struct {
	d  *Driver
	ws *WatchStream // touched only on the driver goroutine
	// wake has capacity 1: the driver's signal stays until Next takes it, so a signal sent
	// between Next's empty Pending and its wait is not lost (a stale one costs one empty pull).
	wake      chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

// Watch opens a watch stream on the member (see Member.NewWatchStream). Close it when the
// client's stream ends.
func (d *Driver) Watch() (*DriverWatch, error) {
	w := &DriverWatch{d: d, wake: make(chan struct{}, 1), closed: make(chan struct{})}
	var err error
	if ierr := d.Inspect(context.Background(), func(m *Member) {
		if w.ws, err = m.NewWatchStream(); err == nil {
			d.watches = append(d.watches, w)
		}
	}); ierr != nil {
		return nil, ierr
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Handle takes one of the client's WatchRequests (see WatchStream.Handle); its answers
// (created, canceled, progress) come from Next. It fails with ErrWatchClosed after Close and
// ErrStopped once the driver stopped.
func (w *DriverWatch) Handle(req *pb.WatchRequest) error {
	return w.HandleAs(auth.Info{}, req)
}

// Refuse answers a create request in-band with err as its cancel reason (the caller's
// credentials could not be resolved), as etcd refuses a watch of an invalid token.
func (w *DriverWatch) Refuse(err error) error {
	var cerr error
	ierr := w.d.Inspect(context.Background(), func(*Member) {
		if w.isClosed() {
			cerr = ErrWatchClosed
			return
		}
		w.ws.s.Refuse(err)
	})
	return errors.Join(ierr, cerr)
}

// HandleAs is Handle for a client acting as ai (WatchStream.HandleAs).
func (w *DriverWatch) HandleAs(ai auth.Info, req *pb.WatchRequest) error {
	var err error
	ierr := w.d.Inspect(context.Background(), func(*Member) {
		if w.isClosed() {
			err = ErrWatchClosed
			return
		}
		err = w.ws.HandleAs(ai, req)
	})
	return errors.Join(ierr, err)
}

// Next waits until the stream has responses and returns up to max of them, as
// WatchStream.Pending gives them (responses returned with an error must still be sent). It
// returns ctx's error when ctx ends, ErrWatchClosed after Close, ErrStopped once the driver
// stopped.
func (w *DriverWatch) Next(ctx context.Context, max int) ([]*pb.WatchResponse, error) {
	if max <= 0 {
		return nil, fmt.Errorf("node: DriverWatch.Next(max=%d): max must be positive", max)
	}
	for {
		var resps []*pb.WatchResponse
		var err error
		ierr := w.d.Inspect(ctx, func(*Member) {
			if w.isClosed() {
				err = ErrWatchClosed
				return
			}
			resps, err = w.ws.Pending(max)
		})
		if ierr != nil {
			return nil, ierr
		}
		if len(resps) > 0 || err != nil {
			return resps, err
		}
		select {
		case <-w.wake:
		case <-w.closed:
			return nil, ErrWatchClosed
		case <-w.d.stopped:
			return nil, ErrStopped
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close cancels the stream's watchers; a Next waiting returns ErrWatchClosed. It does not
// wait for a stopped driver and may be called more than once.
func (w *DriverWatch) Close() {
	w.closeOnce.Do(func() {
		close(w.closed)
		// Inspect fails at once with ErrStopped once the driver stopped: nothing to cancel then.
		_ = w.d.Inspect(context.Background(), func(*Member) {
			w.ws.Close()
			w.d.watches = slices.DeleteFunc(w.d.watches, func(x *DriverWatch) bool { return x == w })
		})
	})
}

func (w *DriverWatch) isClosed() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

// wakeWatches signals every open stream that has responses ready (run after each round,
// which is when entries applied, watches were created or a progress tick fired).
func (d *Driver) wakeWatches() {
	for _, w := range d.watches {
		if w.ws.Ready() {
			select {
			case w.wake <- struct{}{}:
			default: // already signalled
			}
		}
	}
}

// RealClock is the member Clock for production: monotonic time since it was made.
type RealClock struct{ start time.Time }

// NewRealClock returns a RealClock starting at zero now.
func NewRealClock() *RealClock { return &RealClock{start: time.Now()} }

// Now is the monotonic time since the clock was made.
func (c *RealClock) Now() time.Duration { return time.Since(c.start) }

// confCall runs a membership call on the driver goroutine and waits for its outcome.
func (d *Driver) confCall(ctx context.Context, start func(m *Member, done ConfDone)) (raft.ConfState, error) {
	var conf raft.ConfState // written by done on the driver goroutine, before Call's answer
	_, err := d.Call(ctx, func(m *Member, done Done) {
		start(m, func(c raft.ConfState, err error) {
			conf = c
			done(Response{}, err)
		})
	})
	if err != nil {
		return raft.ConfState{}, err
	}
	return conf, nil
}

// AddMember adds a voter or (attrs.IsLearner) a learner (see Member.AddMember) and returns
// the configuration once the change applied.
func (d *Driver) AddMember(ctx context.Context, attrs MemberAttrs) (raft.ConfState, error) {
	return d.confCall(ctx, func(m *Member, done ConfDone) { m.AddMember(attrs, done) })
}

// RemoveMember removes member id (see Member.RemoveMember).
func (d *Driver) RemoveMember(ctx context.Context, id uint64) (raft.ConfState, error) {
	return d.confCall(ctx, func(m *Member, done ConfDone) { m.RemoveMember(id, done) })
}

// PromoteMember makes learner id a voter (see Member.PromoteLearner).
func (d *Driver) PromoteMember(ctx context.Context, id uint64) (raft.ConfState, error) {
	return d.confCall(ctx, func(m *Member, done ConfDone) { m.PromoteLearner(id, done) })
}

// TransferLeader hands leadership to voter target (see Member.TransferLeader).
func (d *Driver) TransferLeader(ctx context.Context, target uint64) error {
	_, err := d.Call(ctx, func(m *Member, done Done) {
		m.TransferLeader(target, func(err error) { done(Response{}, err) })
	})
	return err
}

// DBSize is the member's Pebble disk usage and its live data estimate (see Member.DBSize). It
// reads Pebble's metrics, which are safe to read from any goroutine, so it does not wait for
// the driver; once the driver stopped it answers 0, 0 (the owner may be closing the member,
// whose closed DB has no metrics). Like Defragment, it must not overlap Member.Close.
func (d *Driver) DBSize() (total, inUse int64) {
	select {
	case <-d.stopped:
		return 0, 0
	default:
		return d.m.DBSize()
	}
}

// UpdateMember sets member id's peer URLs (see Member.UpdateMember).
func (d *Driver) UpdateMember(ctx context.Context, id uint64, peerURLs []string) (raft.ConfState, error) {
	return d.confCall(ctx, func(m *Member, done ConfDone) { m.UpdateMember(id, peerURLs, done) })
}

// PublishAttrs records this member's name and client URLs in the member table, through the
// log (see Member.PublishAttrs), and waits until that applied on this member.
func (d *Driver) PublishAttrs(ctx context.Context, name string, clientURLs []string) error {
	_, err := d.Call(ctx, func(m *Member, done Done) { m.PublishAttrs(name, clientURLs, done) })
	return err
}

// clusterView is a copy of the member table for other goroutines.
type clusterView struct {
	id      uint64
	members []MemberAttrs
	removed []uint64
	hints   []MemberAttrs // Config.InitialMemberAttrs, for members the table does not know yet
}

// publishView copies the member table for other goroutines when it changed (Run's goroutine,
// or NewDriver before Run).
func (d *Driver) publishView() {
	if d.viewVersion == d.m.clusterVersion {
		return
	}
	d.viewVersion = d.m.clusterVersion
	d.view.Store(&clusterView{id: d.m.ClusterID(), members: d.m.Members(), removed: slices.Clone(d.m.cluster.removed),
		hints: d.m.cfg.InitialMemberAttrs})
}

// ClusterID is the member's cluster ID. Safe from any goroutine.
func (d *Driver) ClusterID() uint64 { return d.view.Load().id }

// Members is the member table as of the driver's last round, sorted by ID (copies). Safe
// from any goroutine: the transport resolves peer URLs with it.
func (d *Driver) Members() []MemberAttrs {
	v := d.view.Load()
	out := make([]MemberAttrs, len(v.members))
	for i, a := range v.members {
		out[i] = a.clone()
	}
	return out
}

// Member is member id's record as of the driver's last round, or, while the table does not
// know id, its entry in Config.InitialMemberAttrs (a joining member's view of the cluster
// before it caught up). Safe from any goroutine: the transport resolves peer URLs with it.
func (d *Driver) Member(id uint64) (MemberAttrs, bool) {
	v := d.view.Load()
	for _, list := range [][]MemberAttrs{v.members, v.hints} {
		for _, a := range list {
			if a.ID == id {
				return a.clone(), true
			}
		}
	}
	return MemberAttrs{}, false
}

// IsRemoved reports whether id was removed from the cluster, as of the driver's last round.
// Safe from any goroutine: the transport refuses removed members with it.
func (d *Driver) IsRemoved(id uint64) bool {
	_, ok := slices.BinarySearch(d.view.Load().removed, id)
	return ok
}

// Defragment compacts the member's whole Pebble key space (etcd's defragment: the space of
// deleted and compacted data is given back) and returns when it is done or ctx ends. It runs
// on the caller's goroutine, beside the driver (Pebble's manual compaction is safe to run
// concurrently with reads and writes); the member must not be closed meanwhile.
func (d *Driver) Defragment(ctx context.Context) error {
	select {
	case <-d.stopped:
		return ErrStopped
	default:
	}
	if err := d.m.db.Flush(); err != nil {
		return fmt.Errorf("node %d: defragment: flush: %w", d.id, err)
	}
	// Every key of the member starts with a lowercase prefix (lease/, mvcc/, node/, raft/).
	if err := d.m.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		return fmt.Errorf("node %d: defragment: %w", d.id, err)
	}
	return nil
}

// HandOffLeadership, when this member leads a cluster with other voters, transfers
// leadership to the most up-to-date of them (the highest match index; the lowest ID among
// equals) and waits until it leads, as etcd does before a graceful stop. An abandoned
// transfer is tried again (with the voter most up to date then) until ctx ends. It returns
// nil at once when this member does not lead or is the only voter, and nil when another
// member took over meanwhile.
func (d *Driver) HandOffLeadership(ctx context.Context) error {
	for {
		var target uint64
		if err := d.Inspect(ctx, func(m *Member) { target = handOffTarget(m.Status()) }); err != nil {
			return err
		}
		if target == 0 {
			return nil
		}
		err := d.TransferLeader(ctx, target)
		var notLeader *NotLeaderError
		switch {
		case err == nil, errors.As(err, &notLeader):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, ErrTimeout):
			return err
		}
		// Abandoned (the target did not catch up or campaign in time): pick again.
	}
}

// handOffTarget is the voter other than the leader with the highest match index (lowest ID
// among equals), or 0 when st is not a leader's or names no other voter.
func handOffTarget(st raft.Status) uint64 {
	if st.RaftState != raft.StateLeader {
		return 0
	}
	var best raft.ProgressStatus
	for _, p := range st.Progress {
		if p.ID == st.ID || p.IsLearner || !slices.Contains(st.Config.Voters, p.ID) {
			continue
		}
		if best.ID == 0 || p.Match > best.Match || (p.Match == best.Match && p.ID < best.ID) {
			best = p
		}
	}
	return best.ID
}
