package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc/codes"
)

// Serve accepts peer connections on ln until Close (then it returns nil) or until ln fails
// (then it returns the error). Several listeners may be served at once. Serve closes ln.
func (t *Transport) Serve(ln net.Listener) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		ln.Close()
		return nil
	}
	t.listeners[ln] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.listeners, ln)
		t.mu.Unlock()
		ln.Close()
	}()
	pause := 5 * time.Millisecond
	for {
		conn, err := ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait a little, as net/http does.
				time.Sleep(pause)
				pause = min(2*pause, time.Second)
				continue
			}
			return fmt.Errorf("peer: accepting on %s: %w", ln.Addr(), err)
		}
		pause = 5 * time.Millisecond
		if !t.admitConn(conn) {
			continue
		}
		if !t.goTracked(func() { t.serveConn(conn) }) {
			t.untrack(conn)
		}
	}
}

// admitConn tracks an accepted connection, or closes it when the transport is closed or
// already holds inboundConnsMax.
func (t *Transport) admitConn(conn net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		conn.Close()
		return false
	}
	if len(t.conns) >= inboundConnsMax {
		t.connsRejected.Add(1)
		conn.Close()
		return false
	}
	t.conns[conn] = struct{}{}
	return true
}

// serveConn runs one inbound connection: TLS if configured, the handshake, then a stream or
// a call. Any malformed input closes this connection only.
func (t *Transport) serveConn(raw net.Conn) {
	defer t.untrack(raw)
	conn := raw
	if err := conn.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return
	}
	if t.cfg.ServerTLS != nil {
		tc := tls.Server(raw, t.cfg.ServerTLS)
		if err := tc.HandshakeContext(t.ctx); err != nil {
			t.refusedTLS(raw, err)
			return
		}
		conn = rawCloser{Conn: tc, raw: raw}
	}
	hello, err := readHandshake(conn)
	if err != nil {
		t.garbage(raw, err)
		return
	}
	local, cluster := t.cfg.LocalID(), t.cfg.ClusterID()
	status := t.admit(hello, local, cluster)
	reply := handshake{Version: ProtocolVersion, Class: hello.Class, Status: status, Cluster: cluster, Sender: local, Receiver: hello.Sender}
	if _, err := conn.Write(reply.encode()); err != nil {
		return
	}
	if status != statusOK {
		t.refused(hello, reply, raw)
		return
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return
	}
	switch hello.Class {
	case classControl, classBulk:
		t.readStream(conn, hello.Sender, hello.Class)
	case classCall:
		t.serveCall(conn, hello.Sender)
	}
}

// admit decides a hello: statusOK or why it is refused.
func (t *Transport) admit(h handshake, local, cluster uint64) byte {
	switch {
	case h.Version != ProtocolVersion:
		return statusVersion
	case h.Class != classControl && h.Class != classBulk && h.Class != classCall:
		return statusBadClass
	case h.Sender == 0 && h.Class != classCall:
		return statusGuestStream
	case h.Sender == 0:
		// A guest (a joining member) may not know the cluster yet, nor whom it reaches; what
		// it names must be right.
		if h.Cluster != 0 && h.Cluster != cluster {
			return statusWrongCluster
		}
		if h.Receiver != 0 && h.Receiver != local {
			return statusWrongMember
		}
		return statusOK
	case h.Cluster != cluster:
		return statusWrongCluster
	case h.Sender == local:
		return statusDuplicateID
	case h.Receiver != local:
		return statusWrongMember
	case t.cfg.IsRemoved(h.Sender):
		return statusRemoved
	}
	return statusOK
}

// refused counts and logs (rate-limited per sender and reason) a handshake this transport
// refused, naming both members and both clusters.
func (t *Transport) refused(hello, reply handshake, conn net.Conn) {
	t.handshakesRefused.Add(1)
	t.mu.Lock()
	p := t.peers[hello.Sender]
	t.mu.Unlock()
	if p != nil {
		p.handshakesRefused.Add(1)
	}
	if !t.shouldLog(fmt.Sprintf("refused %d %d", hello.Sender, reply.Status)) {
		return
	}
	t.log.Warn("refused peer handshake",
		"local-member-id", hexID(reply.Sender), "remote-member-id", hexID(hello.Sender),
		"local-cluster-id", hexID(reply.Cluster), "remote-cluster-id", hexID(hello.Cluster),
		"remote-expected-member-id", hexID(hello.Receiver), "remote-protocol-version", hello.Version,
		"stream", className(hello.Class), "remote-addr", conn.RemoteAddr().String(), "reason", statusText(reply.Status))
}

// garbage counts and logs (rate-limited per remote host) a connection closed for bytes that
// are not this protocol.
func (t *Transport) garbage(conn net.Conn, err error) {
	t.badConnection(conn, "garbage", "closed peer connection: not the Ballast peer protocol", err)
}

// refusedTLS counts and logs an inbound connection whose TLS handshake failed: a peer
// without a certificate the trusted CA signed, or not speaking TLS. The line names the
// peer's address and crypto/tls's reason, as etcd's "rejected connection" line does.
func (t *Transport) refusedTLS(conn net.Conn, err error) {
	t.badConnection(conn, "tls", "rejected connection from peer: TLS handshake failed", err)
}

// badConnection counts a refused inbound connection and logs msg, rate-limited per kind and
// remote host.
func (t *Transport) badConnection(conn net.Conn, kind, msg string, err error) {
	if errors.Is(err, net.ErrClosed) && t.ctx.Err() != nil {
		return // closing
	}
	t.badConnections.Add(1)
	host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
	if t.shouldLog(kind + " " + host) {
		t.log.Warn(msg, "remote-addr", conn.RemoteAddr().String(), "error", err)
	}
}

// readStream reads frames from an accepted stream and delivers them. A newer stream of the
// same sender and class replaces this one (the sender reconnected; this connection may be a
// half-open leftover). Every removedCheckInterval it asks IsRemoved of the sender and, once
// removed, tells it with a notice and closes.
func (t *Transport) readStream(conn net.Conn, from uint64, class byte) {
	key := inboundKey{from, class}
	t.mu.Lock()
	if old := t.inbound[key]; old != nil {
		old.Close()
	}
	t.inbound[key] = conn
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.inbound[key] == conn {
			delete(t.inbound, key)
		}
		t.mu.Unlock()
	}()
	p := t.peer(from)
	if p == nil {
		return
	}
	r := bufio.NewReaderSize(conn, bufferBytes)
	lastCheck := time.Now()
	for {
		payload, err := readFrame(r)
		if err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				if errors.Is(err, ErrFrame) || errors.Is(err, ErrFrameTooLarge) {
					t.garbage(conn, fmt.Errorf("stream from member %x: %w", from, err))
				}
			}
			return
		}
		if now := time.Now(); now.Sub(lastCheck) >= removedCheckInterval {
			lastCheck = now
			if t.cfg.IsRemoved(from) {
				t.notify(conn, from, class, statusRemoved)
				return
			}
		}
		p.receivedBytes.Add(uint64(frameHeaderBytes + len(payload)))
		if t.cfg.Deliver != nil && t.cfg.Deliver(payload) {
			p.received.Add(1)
		} else {
			p.receivedDropped.Add(1)
		}
	}
}

// notify ends an established stream with a notice of status (the sender's watch reads it).
func (t *Transport) notify(conn net.Conn, from uint64, class byte, status byte) {
	local, cluster := t.cfg.LocalID(), t.cfg.ClusterID()
	n := handshake{Version: ProtocolVersion, Class: class, Status: status, Cluster: cluster, Sender: local, Receiver: from}
	t.handshakesRefused.Add(1)
	if t.shouldLog(fmt.Sprintf("refused %d %d", from, status)) {
		t.log.Warn("ended peer stream", "local-member-id", hexID(local), "remote-member-id", hexID(from),
			"stream", className(class), "reason", statusText(status))
	}
	if err := conn.SetWriteDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return
	}
	conn.Write(n.encode())
}

// serveCall reads one call request, runs Config.Handle and writes its answer.
func (t *Transport) serveCall(conn net.Conn, from uint64) {
	if err := conn.SetReadDeadline(time.Now().Add(callRequestTimeout)); err != nil {
		return
	}
	r := bufio.NewReaderSize(conn, bufferBytes)
	payload, err := readFrame(r)
	if err != nil {
		if errors.Is(err, ErrFrame) || errors.Is(err, ErrFrameTooLarge) {
			t.garbage(conn, fmt.Errorf("call from member %x: %w", from, err))
		}
		return
	}
	budgetMs, method, body, err := decodeCallRequest(payload)
	if err != nil {
		t.garbage(conn, fmt.Errorf("call from member %x: %w", from, err))
		return
	}
	if method == probeMethod {
		t.probesServed.Add(1)
		t.answerCall(conn, method, nil, nil)
		return
	}
	budget := callDefaultBudget
	if budgetMs > 0 {
		budget = min(time.Duration(budgetMs)*time.Millisecond, callBudgetMax)
	}
	ctx, cancel := context.WithTimeout(t.ctx, budget)
	defer cancel()
	// The caller giving up closes its end: end the handler's context then too.
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return
	}
	go func() {
		var one [1]byte
		conn.Read(one[:]) // returns when the caller closes, or when this call's conn closes
		cancel()
	}()
	var resp []byte
	var rerr *RemoteError
	if t.cfg.Handle == nil {
		rerr = &RemoteError{Code: codes.Unimplemented, Message: "peer: this member serves no calls"}
	} else {
		resp, err = t.cfg.Handle(ctx, from, method, body)
		if err != nil {
			rerr = toRemoteError(err)
		}
	}
	t.callsServed.Add(1)
	t.answerCall(conn, method, resp, rerr)
}

// answerCall writes a call's answer.
func (t *Transport) answerCall(conn net.Conn, method string, resp []byte, rerr *RemoteError) {
	out := encodeCallResponse(resp, rerr)
	if err := checkFrameSize(len(out)); err != nil {
		out = encodeCallResponse(nil, &RemoteError{Code: codes.ResourceExhausted, Message: fmt.Sprintf("peer: answer to %s: %v", method, err)})
	}
	if err := conn.SetWriteDeadline(time.Now().Add(writeTimeoutBase + time.Duration(len(out)>>20)*writeTimeoutPerMiB)); err != nil {
		return
	}
	w := bufio.NewWriterSize(conn, bufferBytes)
	if err := writeFrame(w, out); err != nil {
		return
	}
	w.Flush()
}
