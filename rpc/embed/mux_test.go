package embed

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSplitListener: a connection opening with HTTP/2's preface reaches the gRPC half with
// every byte intact; HTTP/1.1 (and a short first write) reaches the HTTP half; a client that
// closes before sending anything is dropped.
func TestSplitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sl := newProtocolSplit(ln)
	done := make(chan struct{})
	go func() { sl.run(); close(done) }()

	got := func(l net.Listener, n int) string {
		t.Helper()
		c, err := l.Accept()
		require.NoError(t, err)
		defer c.Close()
		buf := make([]byte, n)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		return string(buf)
	}
	dial := func(parts ...string) net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		for _, p := range parts {
			_, err := c.Write([]byte(p))
			require.NoError(t, err)
			time.Sleep(5 * time.Millisecond) // separate writes: the classifier reads in pieces
		}
		return c
	}

	empty := dial()
	empty.Close()

	c1 := dial("PRI * HTTP/2.0\r\n", "\r\nSM\r\n\r\nframes")
	defer c1.Close()
	require.Equal(t, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nframes", got(sl.halves[halfGRPC], 30))

	c2 := dial("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	defer c2.Close()
	require.Equal(t, "GET /health HTTP/1.1\r\n", got(sl.halves[halfHTTP], 22))

	c3 := dial("PRX")
	defer c3.Close()
	require.Equal(t, "PRX", got(sl.halves[halfHTTP], 3))

	require.NoError(t, sl.halves[halfGRPC].Close())
	<-done
	_, err = sl.halves[halfHTTP].Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

// TestSplitListenerServesHTTP: net/http serves its half unchanged.
func TestSplitListenerServesHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sl := newProtocolSplit(ln)
	go sl.run()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })}
	go func() { _ = hs.Serve(sl.halves[halfHTTP]) }()
	defer hs.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2))
	require.Equal(t, "ok", string(body))
}
