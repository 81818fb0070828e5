//go:build chaos || canary

package main

import (
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// NetDelayFileName is the latency control file in the data dir: a Go duration ("150ms"), by
// which every byte a peer sends to this member is held back on arrival (ballast-chaos's
// latency fault copies it in with docker cp; the kernel here has no netem). A missing,
// empty, malformed or zero file is no delay. Delaying what each member receives delays every
// link one way each; with every member delayed, each message waits once.
const NetDelayFileName = "chaos-net-delay"

// delayControl reads the control file at most every 100 ms.
type delayControl struct {
	path    string
	mu      sync.Mutex
	checked time.Time
	delay   time.Duration
}

func (d *delayControl) current() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.checked) < 100*time.Millisecond {
		return d.delay
	}
	d.checked = time.Now()
	d.delay = 0
	if data, err := os.ReadFile(d.path); err == nil {
		if v, err := time.ParseDuration(strings.TrimSpace(string(data))); err == nil && v > 0 {
			d.delay = v
		}
	}
	return d.delay
}

// delayListener hands out connections whose reads see each chunk of bytes only once the
// delay in force when it arrived has passed.
type delayListener struct {
	net.Listener
	ctl *delayControl
}

func (l delayListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &delayConn{Conn: c, ctl: l.ctl, chunks: make(chan chunk, 64), done: make(chan struct{})}
	go dc.pump()
	return dc, nil
}

type chunk struct {
	data []byte
	due  time.Time
	err  error
}

// delayConn: pump reads the connection and queues each chunk with its due time; Read waits
// for the head chunk's due time. Order is kept; a read error is delivered after the data.
type delayConn struct {
	net.Conn
	ctl    *delayControl
	chunks chan chunk
	done   chan struct{} // closed by Close: pump and Read stop waiting
	once   sync.Once
	cur    []byte
	err    error
}

func (c *delayConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// send queues a chunk unless the connection was closed.
func (c *delayConn) send(ch chunk) bool {
	select {
	case c.chunks <- ch:
		return true
	case <-c.done:
		return false
	}
}

func (c *delayConn) pump() {
	for {
		buf := make([]byte, 32<<10)
		n, err := c.Conn.Read(buf)
		if n > 0 && !c.send(chunk{data: buf[:n], due: time.Now().Add(c.ctl.current())}) {
			return
		}
		if err != nil {
			c.send(chunk{err: err})
			return
		}
	}
}

func (c *delayConn) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		var ch chunk
		select {
		case ch = <-c.chunks:
		case <-c.done:
			return 0, net.ErrClosed
		}
		if ch.err != nil {
			c.err = ch.err
			continue
		}
		if wait := time.Until(ch.due); wait > 0 {
			time.Sleep(wait)
		}
		c.cur = ch.data
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}
