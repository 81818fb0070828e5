package embed

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// http:// and https:// on one port, as etcd serves them: `--listen-client-urls
// http://localhost:2379,https://localhost:2379` binds one listener, and etcd's cmux tells a
// TLS connection from a plain one by its first bytes. Ballast does the same at the listener:
// splitByTLS accepts on the one bound listener and hands each connection, its first byte
// peeked and kept, to the plain half or to the TLS half (a TLS record of type handshake
// starts with 0x16; no HTTP/1 method, HTTP/2 preface or gRPC stream starts so). The halves
// then serve as two listeners would (each connection waits at most mux.go's sniffTimeout
// for its first byte).

// tlsRecordHandshake is the first byte of a TLS ClientHello record.
const tlsRecordHandshake = 0x16

// splitByTLS returns ln's plain and TLS halves. Closing either closes ln (and so both).
func splitByTLS(ln net.Listener) (plain, secure net.Listener) {
	s := &tlsSplit{ln: ln, plain: make(chan net.Conn), secure: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return &splitHalf{s: s, conns: s.plain}, &splitHalf{s: s, conns: s.secure}
}

type tlsSplit struct {
	ln            net.Listener
	plain, secure chan net.Conn
	done          chan struct{}
	closeOnce     sync.Once
	err           error // the accept error that ended the loop, set before done closes
}

func (s *tlsSplit) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.closeWith(err)
			return
		}
		go s.route(c)
	}
}

// route peeks c's first byte and hands it to its half.
func (s *tlsSplit) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReaderSize(c, 16)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		_ = c.Close()
		return
	}
	to := s.plain
	if first[0] == tlsRecordHandshake {
		to = s.secure
	}
	select {
	case to <- &peekedConn{Conn: c, r: br}:
	case <-s.done:
		_ = c.Close()
	}
}

// closeWith closes ln and both halves once; acceptErr (nil when a half was closed) is what
// their Accept answers from then on.
func (s *tlsSplit) closeWith(acceptErr error) error {
	var err error
	s.closeOnce.Do(func() {
		s.err = acceptErr
		err = s.ln.Close()
		close(s.done)
	})
	return err
}

type splitHalf struct {
	s     *tlsSplit
	conns chan net.Conn
}

func (h *splitHalf) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.s.done:
		if h.s.err != nil {
			return nil, h.s.err
		}
		return nil, &net.OpError{Op: "accept", Net: h.s.ln.Addr().Network(), Addr: h.s.ln.Addr(), Err: net.ErrClosed}
	}
}

func (h *splitHalf) Close() error   { return h.s.closeWith(nil) }
func (h *splitHalf) Addr() net.Addr { return h.s.ln.Addr() }

// peekedConn reads first what the split peeked.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
