package embed

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// This file splits one client listener into two by the first bytes of each connection, as
// etcd's cmux does, in two ways. By protocol (newProtocolSplit), on the insecure client port:
// a connection that opens with HTTP/2's client preface goes to the gRPC server
// (grpc.Server.Serve, gRPC's own HTTP/2 transport), anything else to the HTTP server
// (/health; HTTP/1.1); every gRPC client opens plain-text HTTP/2 with the preface (prior
// knowledge), so nothing else is needed. By TLS (splitByTLS), when http:// and https:// share
// one port: a connection whose first byte is a TLS handshake record's goes to the TLS half.

// http2Preface is the first bytes of every HTTP/2 connection (RFC 9113, 3.4).
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// sniffTimeout bounds how long a new connection may take to send its first bytes; a client
// that sends nothing is closed, so it holds no goroutine beyond it.
const sniffTimeout = 10 * time.Second

// splitListener accepts on ln and hands each connection to one of its two halves, as pick
// decides from the connection's first bytes (read within sniffTimeout and replayed to the
// half). Closing either half, or calling close, closes ln.
type splitListener struct {
	ln        net.Listener
	halves    [2]*chanListener
	pick      func(c net.Conn) (head []byte, half int, ok bool)
	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// The halves of a protocol split, and of a TLS split.
const (
	halfHTTP, halfGRPC = 0, 1
	halfPlain, halfTLS = 0, 1
)

func newSplitListener(ln net.Listener, pick func(c net.Conn) ([]byte, int, bool)) *splitListener {
	s := &splitListener{ln: ln, pick: pick, done: make(chan struct{})}
	for i := range s.halves {
		s.halves[i] = &chanListener{parent: s, conns: make(chan net.Conn)}
	}
	return s
}

// newProtocolSplit splits ln into gRPC (halfGRPC) and HTTP (halfHTTP) by the HTTP/2 preface.
func newProtocolSplit(ln net.Listener) *splitListener { return newSplitListener(ln, pickByPreface) }

// run accepts until the listener is closed.
func (s *splitListener) run() {
	defer s.wg.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			s.close()
			return
		}
		s.wg.Add(1)
		go s.classify(c)
	}
}

func (s *splitListener) classify(c net.Conn) {
	defer s.wg.Done()
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	head, half, ok := s.pick(c)
	if !ok {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	select {
	case s.halves[half].conns <- &prefixConn{Conn: c, prefix: head}:
	case <-s.done:
		c.Close()
	}
}

// pickByPreface reads up to the HTTP/2 preface's length (less once the bytes depart from it):
// the preface whole is gRPC, anything else (also a connection closed early) HTTP.
func pickByPreface(c net.Conn) ([]byte, int, bool) {
	head := make([]byte, 0, len(http2Preface))
	buf := make([]byte, len(http2Preface))
	for len(head) < len(http2Preface) && bytes.HasPrefix(http2Preface, head) {
		n, err := c.Read(buf[:len(http2Preface)-len(head)])
		head = append(head, buf[:n]...)
		if err != nil {
			if len(head) == 0 || !errors.Is(err, io.EOF) {
				return nil, 0, false
			}
			break
		}
	}
	if bytes.Equal(head, http2Preface) {
		return head, halfGRPC, true
	}
	return head, halfHTTP, true
}

func (s *splitListener) close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.ln.Close()
	})
	return err
}

// chanListener is one half of a splitListener.
type chanListener struct {
	parent *splitListener
	conns  chan net.Conn
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.parent.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { return l.parent.close() }
func (l *chanListener) Addr() net.Addr { return l.parent.ln.Addr() }

// prefixConn replays the bytes read while classifying before the rest of the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
