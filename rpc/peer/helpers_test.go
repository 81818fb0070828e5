package peer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/stretchr/testify/require"
)

const waitMax = 10 * time.Second

// directory maps member IDs to peer URLs for the members of a test (Config.Resolve).
type directory struct {
	mu   sync.Mutex
	urls map[uint64][]string
}

func newDirectory() *directory { return &directory{urls: map[uint64][]string{}} }

func (d *directory) set(id uint64, urls ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.urls[id] = urls
}

func (d *directory) resolve(id uint64) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.urls[id]...)
}

// logBuffer collects a transport's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log records whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(b.buf.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal(line, &rec), "log line %q", line)
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// member is one transport in a test, listening on 127.0.0.1.
type member struct {
	id, cluster uint64
	tr          *Transport
	addr        string
	logs        *logBuffer
	served      chan error

	delivered chan []byte // what Deliver took (Config.Deliver unless overridden)
	removed   sync.Map    // IDs this member treats as removed
	toldCount atomic.Int32
	told      chan struct{} // closed on the first OnRemoved
}

type memberOption func(m *member, cfg *Config)

// startMember starts a transport for id in cluster, listening on addr ("" for any port), and
// registers its URL in dir.
func startMember(t testing.TB, dir *directory, id, cluster uint64, addr string, opts ...memberOption) *member {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	// A restarted member listens on its old port again; the port may linger for a moment.
	require.Eventually(t, func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	}, waitMax, 10*time.Millisecond, "listen on %s: %v", addr, err)
	m := &member{
		id: id, cluster: cluster, addr: ln.Addr().String(), logs: &logBuffer{},
		delivered: make(chan []byte, 1<<16), told: make(chan struct{}), served: make(chan error, 1),
	}
	cfg := Config{
		LocalID:   func() uint64 { return m.id },
		ClusterID: func() uint64 { return m.cluster },
		Resolve:   dir.resolve,
		Deliver: func(data []byte) bool {
			select {
			case m.delivered <- data:
				return true
			default:
				return false
			}
		},
		IsRemoved: func(id uint64) bool { _, ok := m.removed.Load(id); return ok },
		OnRemoved: func() {
			if m.toldCount.Add(1) == 1 {
				close(m.told)
			}
		},
		Logger: slog.New(slog.NewJSONHandler(m.logs, nil)),
	}
	for _, o := range opts {
		o(m, &cfg)
	}
	m.tr = New(cfg)
	go func() { m.served <- m.tr.Serve(ln) }()
	dir.set(id, "http://"+m.addr)
	t.Cleanup(m.stop)
	return m
}

// stop closes the transport and waits for Serve to return.
func (m *member) stop() {
	m.tr.Close()
	<-m.served
	m.served <- nil // later stops return at once
}

func (m *member) send(to uint64, data []byte) { m.tr.Send(node.Envelope{To: to, Data: data}) }

// receive waits for the next delivered frame.
func (m *member) receive(t *testing.T) []byte {
	t.Helper()
	select {
	case data := <-m.delivered:
		return data
	case <-time.After(waitMax):
		t.Fatalf("member %x received nothing in %s", m.id, waitMax)
		return nil
	}
}

// receiveN waits for n frames and returns them in order.
func (m *member) receiveN(t *testing.T, n int) [][]byte {
	t.Helper()
	out := make([][]byte, 0, n)
	for len(out) < n {
		out = append(out, m.receive(t))
	}
	return out
}

// sendUntilReceived sends msg from m to other until other delivers it (a stream that is
// connecting drops what it cannot send), and returns how many sends that took.
func sendUntilReceived(t *testing.T, from, to *member, msg []byte) int {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for sends := 1; ; sends++ {
		from.send(to.id, msg)
		select {
		case got := <-to.delivered:
			if bytes.Equal(got, msg) {
				return sends
			}
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "member %x never received %q from %x", to.id, msg, from.id)
	}
}

func numbered(prefix string, i int) []byte { return []byte(fmt.Sprintf("%s-%05d", prefix, i)) }

// rawHello dials addr and sends a hello; it returns the connection and the reply.
func rawHello(t *testing.T, addr string, h handshake) (net.Conn, handshake) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = conn.Write(h.encode())
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitMax)))
	reply, err := readHandshake(conn)
	require.NoError(t, err)
	return conn, reply
}
