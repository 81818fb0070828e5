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
// etcd's insecure client port does with cmux: a connection that opens with HTTP/2's client
// preface goes to the gRPC server (grpc.Server.Serve, gRPC's own HTTP/2 transport), anything
// else to the HTTP server (/health; HTTP/1.1). Every gRPC client opens plain-text HTTP/2
// with the preface (prior knowledge), so nothing else is needed.

// http2Preface is the first bytes of every HTTP/2 connection (RFC 9113, 3.4).
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// sniffTimeout bounds how long a new connection may take to send its first bytes; a client
// that sends nothing is closed, so it holds no goroutine beyond it.
const sniffTimeout = 10 * time.Second

// splitListener accepts on ln and hands each connection, once classified, to grpcL or
// httpL. Closing either half, or calling close, closes ln.
type splitListener struct {
	ln           net.Listener
	grpcL, httpL *chanListener
	closeOnce    sync.Once
	done         chan struct{}
	wg           sync.WaitGroup
}

func newSplitListener(ln net.Listener) *splitListener {
	s := &splitListener{ln: ln, done: make(chan struct{})}
	s.grpcL = &chanListener{parent: s, conns: make(chan net.Conn)}
	s.httpL = &chanListener{parent: s, conns: make(chan net.Conn)}
	return s
}

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
	head := make([]byte, 0, len(http2Preface))
	buf := make([]byte, len(http2Preface))
	for len(head) < len(http2Preface) && bytes.HasPrefix(http2Preface, head) {
		n, err := c.Read(buf[:len(http2Preface)-len(head)])
		head = append(head, buf[:n]...)
		if err != nil {
			if len(head) == 0 || !errors.Is(err, io.EOF) {
				c.Close()
				return
			}
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	target := s.httpL
	if bytes.Equal(head, http2Preface) {
		target = s.grpcL
	}
	pc := &prefixConn{Conn: c, prefix: head}
	select {
	case target.conns <- pc:
	case <-s.done:
		c.Close()
	}
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
