package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// stream is one outbound stream: one peer, one class (control or bulk), one queue, one
// writer goroutine (started by the first message), at most one connection at a time.
type stream struct {
	t     *Transport
	peer  *peer
	class byte
	q     *queue
	start sync.Once

	sent, sentBytes, droppedQueueFull, droppedNoAddress, droppedUnreachable, droppedTooLarge atomic.Uint64
	connects, reconnects, refusedByPeer, flushes                                             atomic.Uint64
	// nextURL is the index, in Resolve's answer, of the URL to dial first: the one that
	// worked last (a dead first URL must not cost a dial timeout on every reconnect). Only
	// the writer goroutine writes it (atomic for Stats-like reads in tests).
	nextURL atomic.Int64
}

func newStream(t *Transport, p *peer, class byte) *stream {
	return &stream{t: t, peer: p, class: class, q: newQueue(t.cfg.QueueMessages, t.cfg.QueueBytes)}
}

func (s *stream) send(data []byte) {
	if len(data) > MaxFrameBytes || len(data) == 0 {
		s.droppedTooLarge.Add(1)
		if s.t.shouldLog(fmt.Sprintf("size %d", s.peer.id)) {
			s.t.log.Error("dropped a message the peer transport cannot carry", "remote-member-id", hexID(s.peer.id),
				"stream", className(s.class), "bytes", len(data), "error", checkFrameSize(len(data)))
		}
		return
	}
	if !s.q.push(data) {
		s.droppedQueueFull.Add(1)
		return
	}
	s.start.Do(func() { s.t.goTracked(s.run) })
}

func (s *stream) stats() StreamStats {
	n, b := s.q.len()
	return StreamStats{
		Sent:               s.sent.Load(),
		SentBytes:          s.sentBytes.Load(),
		DroppedQueueFull:   s.droppedQueueFull.Load(),
		DroppedNoAddress:   s.droppedNoAddress.Load(),
		DroppedUnreachable: s.droppedUnreachable.Load(),
		DroppedTooLarge:    s.droppedTooLarge.Load(),
		Connects:           s.connects.Load(),
		Reconnects:         s.reconnects.Load(),
		RefusedByPeer:      s.refusedByPeer.Load(),
		Flushes:            s.flushes.Load(),
		QueuedMessages:     n,
		QueuedBytes:        b,
	}
}

// outConn is an established outbound stream connection. Its reader goroutine waits for the
// peer to close it or to send a notice (a removal); either way it closes dead.
type outConn struct {
	conn net.Conn
	w    *bufio.Writer
	dead chan struct{}
}

var errNoAddress = errors.New("peer: no address for the member")

// run is the writer: wait for queued frames, connect if needed, write them in batches.
func (s *stream) run() {
	var c *outConn
	defer func() {
		if c != nil {
			s.t.untrack(c.conn)
		}
	}()
	backoff := backoffMin
	var batch [][]byte
	for {
		select {
		case <-s.t.ctx.Done():
			return
		case <-s.q.ready:
		}
		for {
			if n, _ := s.q.len(); n == 0 {
				break
			}
			if c != nil {
				select {
				case <-c.dead:
					s.t.untrack(c.conn)
					c = nil
				default:
				}
			}
			if c == nil {
				var err error
				c, err = s.connect()
				if err != nil {
					wait := s.failed(err, &backoff)
					select {
					case <-s.t.ctx.Done():
						return
					case <-time.After(wait):
					}
					continue
				}
				backoff = backoffMin
			}
			batch = s.q.take(batch[:0], batchFramesMax, batchBytesMax)
			if err := s.write(c, batch); err != nil {
				s.droppedUnreachable.Add(uint64(len(batch)))
				if s.t.ctx.Err() == nil && s.t.shouldLog(fmt.Sprintf("write %d %d", s.peer.id, s.class)) {
					s.t.log.Warn("peer stream broke while writing; reconnecting", "remote-member-id", hexID(s.peer.id),
						"stream", className(s.class), "error", err)
				}
				s.t.untrack(c.conn)
				c = nil
			} else {
				s.sent.Add(uint64(len(batch)))
				s.sentBytes.Add(framesBytes(batch))
			}
			clear(batch)
		}
	}
}

// failed handles a failed connection attempt: it drops what is queued (stale by the time the
// peer is back; raft sends again), counts, logs (rate-limited) and returns how long to wait.
func (s *stream) failed(err error, backoff *time.Duration) time.Duration {
	n := uint64(s.q.drain())
	var refused *refusedError
	switch {
	case errors.Is(err, errNoAddress):
		s.droppedNoAddress.Add(n)
	default:
		s.droppedUnreachable.Add(n)
	}
	if errors.As(err, &refused) {
		s.refusedByPeer.Add(1)
		*backoff = backoffMax
	}
	if s.t.ctx.Err() == nil && s.t.shouldLog(fmt.Sprintf("connect %d %d", s.peer.id, s.class)) {
		s.t.log.Warn("cannot connect to peer", "local-member-id", hexID(s.t.cfg.LocalID()), "remote-member-id", hexID(s.peer.id),
			"stream", className(s.class), "dropped", n, "error", err)
	}
	wait, next := backoffStep(*backoff)
	*backoff = next
	return wait
}

// backoffStep returns how long to wait after a failure at backoff d, drawn in [d/2, d), and
// the backoff for the next failure (doubled, at most backoffMax). The jitter keeps the
// members that lost a peer together from redialling it in step.
func backoffStep(d time.Duration) (wait, next time.Duration) {
	return d/2 + rand.N(d/2), min(2*d, backoffMax)
}

// framesBytes is the bytes the frames of batch take on the wire (header and payload).
func framesBytes(batch [][]byte) uint64 {
	var n uint64
	for _, f := range batch {
		n += uint64(frameHeaderBytes + len(f))
	}
	return n
}

func (s *stream) write(c *outConn, batch [][]byte) error {
	var size int
	for _, f := range batch {
		size += len(f)
	}
	deadline := writeTimeoutBase + time.Duration(size>>20)*writeTimeoutPerMiB
	if err := c.conn.SetWriteDeadline(time.Now().Add(deadline)); err != nil {
		return err
	}
	for _, f := range batch {
		if err := writeFrame(c.w, f); err != nil {
			return err
		}
	}
	s.flushes.Add(1)
	return c.w.Flush()
}

// connect dials the peer's URLs in turn and shakes hands on the first that answers.
func (s *stream) connect() (*outConn, error) {
	local := s.t.cfg.LocalID()
	if local == 0 {
		return nil, errors.New("peer: this member has no ID yet (a guest may only make calls)")
	}
	conn, err := s.t.dialMember(s.t.ctx, s.peer.id, s.class, &s.nextURL)
	if err != nil {
		return nil, err
	}
	c := &outConn{conn: conn, w: bufio.NewWriterSize(conn, bufferBytes), dead: make(chan struct{})}
	if !s.t.goTracked(func() { s.watch(c) }) {
		s.t.untrack(conn)
		return nil, errors.New("peer: transport closed")
	}
	if s.connects.Add(1) > 1 {
		s.reconnects.Add(1)
	}
	s.t.log.Info("connected to peer", "local-member-id", hexID(local), "remote-member-id", hexID(s.peer.id),
		"stream", className(s.class), "remote-addr", conn.RemoteAddr().String())
	return c, nil
}

// watch reads the stream's only inbound traffic: a notice (the peer refuses us from now on)
// or the close. Either way the connection is dead for the writer.
func (s *stream) watch(c *outConn) {
	defer close(c.dead)
	h, err := readHandshake(c.conn)
	c.conn.Close()
	if err != nil {
		return
	}
	s.refusedByPeer.Add(1)
	if h.Status == statusRemoved && h.Receiver == s.t.cfg.LocalID() && h.Sender == s.peer.id {
		s.t.markRemoved(s.peer.id)
	}
	s.t.log.Warn("peer ended the stream", "local-member-id", hexID(s.t.cfg.LocalID()), "remote-member-id", hexID(s.peer.id),
		"stream", className(s.class), "reason", statusText(h.Status))
}

// refusedError is a handshake that was refused, by the peer or by us (its reply named
// another cluster or member).
type refusedError struct {
	url    string
	reason string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("peer: handshake with %s refused: %s", e.url, e.reason)
}

// dialMember dials member id's URLs in turn, from index *next (nil: the first), and shakes
// hands for class; *next becomes the index of the URL that answered. The returned
// connection is tracked (untrack it to close). ctx ending stops the attempt.
func (t *Transport) dialMember(ctx context.Context, id uint64, class byte, next *atomic.Int64) (net.Conn, error) {
	urls := t.cfg.Resolve(id)
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w %x", errNoAddress, id)
	}
	hello := handshake{Version: ProtocolVersion, Class: class, Cluster: t.cfg.ClusterID(), Sender: t.cfg.LocalID(), Receiver: id}
	first := 0
	if next != nil {
		first = int(next.Load() % int64(len(urls)))
	}
	var errs []error
	for i := range urls {
		k := (first + i) % len(urls)
		u := urls[k]
		conn, reply, err := dialHandshake(ctx, u, t.cfg.ClientTLS, hello)
		if err == nil {
			if !t.track(conn) {
				return nil, errors.New("peer: transport closed")
			}
			if next != nil {
				next.Store(int64(k))
			}
			return conn, nil
		}
		var refused *refusedError
		if errors.As(err, &refused) {
			if reply.Status == statusRemoved && reply.Receiver == hello.Sender {
				t.markRemoved(id)
			}
			t.log.Warn("peer refused the handshake", "local-member-id", hexID(hello.Sender), "remote-member-id", hexID(id),
				"local-cluster-id", hexID(hello.Cluster), "remote-cluster-id", hexID(reply.Cluster),
				"answered-by-member-id", hexID(reply.Sender), "url", u, "reason", refused.reason)
			return nil, err // the member answered: its other URLs would answer the same
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// dialHandshake dials rawURL (TLS for https), sends hello and checks the reply: accepted,
// same version and class, and (unless hello is a guest's) from the expected member of the
// same cluster, addressed to us. The reply is returned also when the handshake was refused,
// for the log. ctx ending (or handshakeTimeout passing) stops it.
func dialHandshake(ctx context.Context, rawURL string, tlsCfg *tls.Config, hello handshake) (net.Conn, handshake, error) {
	network, addr, useTLS, err := parsePeerURL(rawURL)
	if err != nil {
		return nil, handshake{}, err
	}
	if useTLS && tlsCfg == nil {
		return nil, handshake{}, fmt.Errorf("peer: URL %s is https (unixs) but no client TLS configuration was given", rawURL)
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: tcpKeepAlive}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, handshake{}, fmt.Errorf("peer: dialing %s: %w", rawURL, err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	if err := conn.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return nil, handshake{}, err
	}
	raw := conn
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if useTLS {
		cfg := tlsCfg.Clone()
		if cfg.ServerName == "" && network == "tcp" { // a unix socket has no host name to verify
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, handshake{}, fmt.Errorf("peer: TLS handshake with %s: %w", rawURL, err)
		}
		conn = rawCloser{Conn: tc, raw: raw}
	}
	if _, err := conn.Write(hello.encode()); err != nil {
		return nil, handshake{}, fmt.Errorf("peer: sending handshake to %s: %w", rawURL, err)
	}
	reply, err := readHandshake(conn)
	if err != nil {
		return nil, handshake{}, fmt.Errorf("peer: handshake reply from %s: %w", rawURL, err)
	}
	if reason := checkReply(hello, reply); reason != "" {
		return nil, reply, &refusedError{url: rawURL, reason: reason}
	}
	if !stop() {
		return nil, handshake{}, fmt.Errorf("peer: handshake with %s: %w", rawURL, ctx.Err())
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, handshake{}, err
	}
	ok = true
	return conn, reply, nil
}

// checkReply returns why reply does not accept hello, or "".
func checkReply(hello, reply handshake) string {
	switch {
	case reply.Status != statusOK:
		return statusText(reply.Status)
	case reply.Version != hello.Version:
		return fmt.Sprintf("the peer answered protocol version %d, want %d", reply.Version, hello.Version)
	case reply.Class != hello.Class:
		return fmt.Sprintf("the peer answered stream class %d, want %d", reply.Class, hello.Class)
	case hello.Sender == 0:
		// A guest may know neither the cluster nor the member it reaches (Fetch); a guest
		// transport calling member x does know x.
		if hello.Receiver != 0 && reply.Sender != hello.Receiver {
			return fmt.Sprintf("member %x answered at the URL of member %x", reply.Sender, hello.Receiver)
		}
		return ""
	case reply.Cluster != hello.Cluster:
		return fmt.Sprintf("the peer is a member of cluster %x, not %x", reply.Cluster, hello.Cluster)
	case reply.Sender != hello.Receiver:
		return fmt.Sprintf("member %x answered at the URL of member %x", reply.Sender, hello.Receiver)
	case reply.Receiver != hello.Sender:
		return fmt.Sprintf("the peer answered member %x, not %x", reply.Receiver, hello.Sender)
	}
	return ""
}

// parsePeerURL gives the network and address to dial, and whether TLS is needed, for
// http:// and https:// URLs (TCP to host:port) and unix:// and unixs:// ones (the unix
// socket at the path the URL's host and path spell, as the member's listener binds it).
func parsePeerURL(raw string) (network, addr string, useTLS bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", false, fmt.Errorf("peer: URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" || u.Port() == "" {
			return "", "", false, fmt.Errorf("peer: URL %q: needs a host and a port", raw)
		}
		return "tcp", u.Host, u.Scheme == "https", nil
	case "unix", "unixs":
		if u.Host+u.Path == "" {
			return "", "", false, fmt.Errorf("peer: URL %q: needs a socket path", raw)
		}
		return "unix", u.Host + u.Path, u.Scheme == "unixs", nil
	}
	return "", "", false, fmt.Errorf("peer: URL %q: scheme must be http, https, unix or unixs", raw)
}

// rawCloser is a TLS connection whose Close closes the TCP connection under it at once,
// without TLS's close_notify alert: that alert is a write, which can wait up to 5 s on a
// peer that does not read, and the transport closes connections while holding its lock.
type rawCloser struct {
	net.Conn
	raw net.Conn
}

func (c rawCloser) Close() error { return c.raw.Close() }
