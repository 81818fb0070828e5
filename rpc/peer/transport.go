package peer

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ballastdb/ballast/kv/node"
)

// Config configures a Transport. Only Resolve and Deliver are needed to carry raft
// messages; every nil func has a harmless default (named on the field).
type Config struct {
	// LocalID is this member's ID, 0 before it knows it (a guest: it may only make calls).
	// Default: 0.
	LocalID func() uint64
	// ClusterID is this member's cluster ID, checked in every handshake. Default: 0.
	ClusterID func() uint64
	// Resolve gives the peer URLs (http://host:port or unix://path, or https:// and
	// unixs:// with ClientTLS: TLS over TCP or over the unix socket) of member
	// id, asked at each connection attempt (the member table changes with membership).
	// Default: no address for anyone.
	Resolve func(id uint64) []string
	// Deliver hands a peer's frame to the member (node.Driver.Deliver); false means the
	// member's inbox refused it (counted). It must not block. Default: frames are counted
	// and dropped.
	Deliver func(data []byte) bool
	// IsBulk tells snapshot chunks (node.IsBulkFrame) from everything else: they go on the
	// bulk stream, so they never delay heartbeats and votes. Default: nothing is bulk.
	IsBulk func(data []byte) bool
	// IsRemoved tells whether id was a member and was removed: its handshakes are refused
	// and it is told so. Default: nobody is.
	IsRemoved func(id uint64) bool
	// OnRemoved runs (once, on a transport goroutine) when a peer tells this member it was
	// removed from the cluster. It must not block. Default: nothing.
	OnRemoved func()
	// Handle serves a call from a peer (from is 0 for a guest): method name and protobuf
	// bytes in, protobuf bytes or an error out (a gRPC status error keeps its code and
	// message; any other error travels as codes.Unknown with its text). ctx ends when the
	// caller's deadline passes, the caller hangs up, or the transport closes (Close waits for
	// running handlers, so Handle must return once ctx ends). Default: every call is
	// answered Unimplemented.
	Handle func(ctx context.Context, from uint64, method string, body []byte) ([]byte, error)
	// ServerTLS, when set, makes Serve speak TLS on every accepted connection. ClientTLS is
	// used to dial https:// peer URLs (an https URL without it is an error).
	ServerTLS *tls.Config
	ClientTLS *tls.Config
	// Logger hears of connections, refusals and garbage. Default: discard.
	Logger *slog.Logger
	// QueueMessages and QueueBytes bound each peer's send queue, per stream class (control
	// and bulk have one each, so snapshot chunks never crowd out heartbeats). Beyond them
	// Send drops and counts. Defaults: 4096 messages, 64 MiB.
	QueueMessages int
	QueueBytes    int64
}

const (
	defaultQueueMessages = 4096
	defaultQueueBytes    = 64 << 20

	// Batching: a writer takes at most this many queued frames (and about this many bytes)
	// per flush.
	batchFramesMax = 256
	batchBytesMax  = 4 << 20

	dialTimeout      = 2 * time.Second
	handshakeTimeout = 5 * time.Second
	tcpKeepAlive     = 15 * time.Second
	// writeTimeoutBase plus writeTimeoutPerMiB for each MiB of a batch bounds its write: a
	// peer that stops reading is found and the stream reconnects.
	writeTimeoutBase   = 5 * time.Second
	writeTimeoutPerMiB = time.Second
	// Reconnect backoff: from backoffMin, doubling up to backoffMax, each wait drawn in
	// [d/2, d); a refused handshake waits backoffMax (it will not change soon).
	backoffMin = 100 * time.Millisecond
	backoffMax = 3 * time.Second
	// removedCheckInterval is how often an established stream asks IsRemoved of its sender.
	removedCheckInterval = time.Second
	// callRequestTimeout bounds how long a call connection may take to send its request;
	// callDefaultBudget is the handler's deadline when the caller gave none, callBudgetMax
	// caps the one it gave.
	callRequestTimeout = 10 * time.Second
	callDefaultBudget  = 30 * time.Second
	callBudgetMax      = 10 * time.Minute
	callBudgetMargin   = 100 * time.Millisecond
	// inboundConnsMax bounds the connections Serve holds at once (beyond it new ones are
	// closed at once): garbage cannot exhaust the process.
	inboundConnsMax = 1024
	// logEvery rate-limits repeated log lines about the same peer and cause.
	logEvery    = 10 * time.Second
	bufferBytes = 64 << 10
)

// Transport carries kv/node envelopes between members over TCP (or TLS), serves and makes
// calls. It is safe for concurrent use. See the package doc for the protocol.
type Transport struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	peers     map[uint64]*peer
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}   // every open connection, inbound and outbound
	inbound   map[inboundKey]net.Conn // the current inbound stream per sender and class
	logged    map[string]time.Time    // rate limiter of repeated log lines

	toldRemoved       atomic.Bool
	handshakesRefused atomic.Uint64
	badConnections    atomic.Uint64
	connsRejected     atomic.Uint64
	callsServed       atomic.Uint64
	probesServed      atomic.Uint64
}

type inboundKey struct {
	from  uint64
	class byte
}

// peer is one remote member: its two outbound streams and its inbound counters.
type peer struct {
	id      uint64
	control *stream
	bulk    *stream

	received, receivedDropped, receivedBytes, handshakesRefused atomic.Uint64
}

// New makes a transport; it sends once Send is called and receives once Serve runs.
func New(cfg Config) *Transport {
	if cfg.LocalID == nil {
		cfg.LocalID = func() uint64 { return 0 }
	}
	if cfg.ClusterID == nil {
		cfg.ClusterID = func() uint64 { return 0 }
	}
	if cfg.Resolve == nil {
		cfg.Resolve = func(uint64) []string { return nil }
	}
	if cfg.IsBulk == nil {
		cfg.IsBulk = func([]byte) bool { return false }
	}
	if cfg.IsRemoved == nil {
		cfg.IsRemoved = func(uint64) bool { return false }
	}
	if cfg.OnRemoved == nil {
		cfg.OnRemoved = func() {}
	}
	if cfg.QueueMessages <= 0 {
		cfg.QueueMessages = defaultQueueMessages
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = defaultQueueBytes
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		cfg:       cfg,
		log:       lg.With("component", "peer"),
		ctx:       ctx,
		cancel:    cancel,
		peers:     map[uint64]*peer{},
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
		inbound:   map[inboundKey]net.Conn{},
		logged:    map[string]time.Time{},
	}
}

// Send queues env for member env.To on its control or bulk stream and returns at once
// (node.Transport). It drops, and counts, what cannot go: the queue is full, the frame is
// larger than MaxFrameBytes, the transport is closed, or env.To is this member.
func (t *Transport) Send(env node.Envelope) {
	if env.To == 0 || env.To == t.cfg.LocalID() {
		return
	}
	p := t.peer(env.To)
	if p == nil {
		return // closed
	}
	s := p.control
	if t.cfg.IsBulk(env.Data) {
		s = p.bulk
	}
	s.send(env.Data)
}

// peer returns the state of member id, making it on first use; nil once closed.
func (t *Transport) peer(id uint64) *peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	p := t.peers[id]
	if p == nil {
		p = &peer{id: id}
		p.control = newStream(t, p, classControl)
		p.bulk = newStream(t, p, classBulk)
		t.peers[id] = p
	}
	return p
}

// Close stops every stream, listener and connection and waits for the transport's
// goroutines. Queued messages are dropped. Serve returns nil. Close is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	t.cancel()
	for ln := range t.listeners {
		ln.Close()
	}
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

// track registers an open connection so Close can close it; false (and the connection
// closed) once the transport is closed.
func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *Transport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

// go runs f on a goroutine Close waits for; false if the transport is closed.
func (t *Transport) goTracked(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

// markRemoved is called when a peer told this member it was removed.
func (t *Transport) markRemoved(by uint64) {
	if t.toldRemoved.CompareAndSwap(false, true) {
		t.log.Warn("peer told this member it was removed from the cluster",
			"local-member-id", hexID(t.cfg.LocalID()), "remote-member-id", hexID(by))
		t.cfg.OnRemoved()
	}
}

// shouldLog rate-limits a repeated log line: true once per logEvery per key.
func (t *Transport) shouldLog(key string) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.logged[key]; ok && now.Sub(last) < logEvery {
		return false
	}
	if len(t.logged) >= 4096 {
		clear(t.logged) // bounded: garbage from many addresses cannot grow it
	}
	t.logged[key] = now
	return true
}

func hexID(id uint64) string { return fmt.Sprintf("%x", id) }

// Stats are a transport's counters since New. Each is read atomically on its own, so a
// snapshot taken under traffic may mix instants.
type Stats struct {
	// Peers holds each member this transport sent to or accepted a stream from.
	Peers map[uint64]PeerStats
	// HandshakesRefused counts inbound handshakes this transport refused (another cluster,
	// a removed member, a guest asking for a stream, ...), from any sender, and established
	// streams it ended (a removed sender).
	HandshakesRefused uint64
	// BadConnections counts inbound connections closed for garbage: a malformed handshake
	// or frame (bad magic, checksum or length, a cut mid-frame).
	BadConnections uint64
	// ConnectionsRejected counts inbound connections closed at once because Serve already
	// held its maximum.
	ConnectionsRejected uint64
	// CallsServed counts calls answered by Config.Handle; ProbesServed the probes answered
	// (Probe).
	CallsServed, ProbesServed uint64
}

// PeerStats are the counters of one peer.
type PeerStats struct {
	// Control and Bulk are the two outbound streams.
	Control, Bulk StreamStats
	// Received counts frames from this peer handed to Deliver and taken; ReceivedDropped
	// those Deliver refused (the member's inbox was full).
	Received, ReceivedDropped uint64
	// ReceivedBytes counts the bytes of every frame read from this peer's streams (header
	// and payload, delivered or not): etcd's etcd_network_peer_received_bytes_total.
	ReceivedBytes uint64
	// HandshakesRefused counts this peer's inbound handshakes this transport refused, once
	// the transport knows the peer (sent to it or accepted from it): an unknown sender
	// counts only in Stats.HandshakesRefused, so refused strangers cannot grow Peers.
	HandshakesRefused uint64
}

// StreamStats are the counters of one outbound stream (one peer, one class).
type StreamStats struct {
	// Sent counts frames written and flushed to a connection; SentBytes their bytes on the
	// wire (header and payload): etcd's etcd_network_peer_sent_bytes_total.
	Sent, SentBytes uint64
	// DroppedQueueFull: Send found the queue at its bound. DroppedNoAddress: Resolve gave no
	// URL when the writer needed to connect. DroppedUnreachable: queued while the peer
	// could not be reached (dial or handshake failed, or its connection broke mid-write).
	// DroppedTooLarge: longer than MaxFrameBytes.
	DroppedQueueFull, DroppedNoAddress, DroppedUnreachable, DroppedTooLarge uint64
	// Connects counts connections established; Reconnects those after the first.
	Connects, Reconnects uint64
	// RefusedByPeer counts our handshakes the peer refused (or we refused its reply: another
	// cluster or member answered at its URL), and streams it ended with a notice.
	RefusedByPeer uint64
	// Flushes counts batches written (one flush each): Sent / Flushes is the batching.
	Flushes uint64
	// QueuedMessages and QueuedBytes are what waits in the queue now.
	QueuedMessages int
	QueuedBytes    int64
}

// Dropped is the sum of the drop counters.
func (s StreamStats) Dropped() uint64 {
	return s.DroppedQueueFull + s.DroppedNoAddress + s.DroppedUnreachable + s.DroppedTooLarge
}

// Sent is the frames sent to the peer on both streams.
func (p PeerStats) Sent() uint64 { return p.Control.Sent + p.Bulk.Sent }

// SentBytes is the bytes sent to the peer on both streams.
func (p PeerStats) SentBytes() uint64 { return p.Control.SentBytes + p.Bulk.SentBytes }

// Dropped is the frames for the peer dropped on both streams.
func (p PeerStats) Dropped() uint64 { return p.Control.Dropped() + p.Bulk.Dropped() }

// Reconnects is the reconnections of both streams.
func (p PeerStats) Reconnects() uint64 { return p.Control.Reconnects + p.Bulk.Reconnects }

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	ps := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		ps = append(ps, p)
	}
	t.mu.Unlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].id < ps[j].id })
	st := Stats{
		Peers:               make(map[uint64]PeerStats, len(ps)),
		HandshakesRefused:   t.handshakesRefused.Load(),
		BadConnections:      t.badConnections.Load(),
		ConnectionsRejected: t.connsRejected.Load(),
		CallsServed:         t.callsServed.Load(),
		ProbesServed:        t.probesServed.Load(),
	}
	for _, p := range ps {
		st.Peers[p.id] = PeerStats{
			Control:           p.control.stats(),
			Bulk:              p.bulk.stats(),
			Received:          p.received.Load(),
			ReceivedDropped:   p.receivedDropped.Load(),
			ReceivedBytes:     p.receivedBytes.Load(),
			HandshakesRefused: p.handshakesRefused.Load(),
		}
	}
	return st
}
