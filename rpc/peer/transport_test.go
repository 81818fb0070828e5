package peer

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/stretchr/testify/require"
)

const (
	clusterA = 0xc1a5
	clusterB = 0xc2b6
	idOne    = 0xa1
	idTwo    = 0xb2
	idThree  = 0xd3
)

// TestDeliveryBothWays: frames go both ways, in order, unchanged, and are counted.
func TestDeliveryBothWays(t *testing.T) {
	dir := newDirectory()
	one := startMember(t, dir, idOne, clusterA, "")
	two := startMember(t, dir, idTwo, clusterA, "")
	const n = 500
	for _, c := range []struct {
		name     string
		from, to *member
	}{{"one to two", one, two}, {"two to one", two, one}} {
		t.Run(c.name, func(t *testing.T) {
			sendUntilReceived(t, c.from, c.to, []byte("hello"))
			for i := range n {
				c.from.send(c.to.id, numbered(c.name, i))
			}
			got := c.to.receiveN(t, n)
			for i := range n {
				require.Equal(t, string(numbered(c.name, i)), string(got[i]))
			}
			// The counters move just after the frames do (Sent once the flush returned,
			// Received once Deliver returned).
			require.Eventually(t, func() bool {
				return c.from.tr.Stats().Peers[c.to.id].Control.Sent >= n+1 && c.to.tr.Stats().Peers[c.from.id].Received >= n+1
			}, waitMax, time.Millisecond)
			sent := c.from.tr.Stats().Peers[c.to.id]
			require.Zero(t, sent.Bulk.Sent)
			require.Equal(t, uint64(1), sent.Control.Connects)
			// The bytes on the wire: every frame sent is a hello or one of the n, each with
			// its 8-byte header; the receiver counts the same bytes.
			hellos := sent.Control.Sent - n
			wantBytes := hellos*uint64(frameHeaderBytes+len("hello")) + n*uint64(frameHeaderBytes+len(numbered(c.name, 0)))
			require.Equal(t, wantBytes, sent.SentBytes())
			require.Eventually(t, func() bool { return c.to.tr.Stats().Peers[c.from.id].ReceivedBytes == wantBytes }, waitMax, time.Millisecond)
		})
	}
}

// TestControlNotDelayedByBulk: while the receiver is stuck on a snapshot chunk (its bulk
// stream backs up through TCP into the sender's queue), raft messages on the control stream
// still arrive at once; the chunks arrive afterwards, all of them, in order.
func TestControlNotDelayedByBulk(t *testing.T) {
	dir := newDirectory()
	isBulk := func(data []byte) bool { return len(data) > 0 && data[0] == 'B' }
	gate := make(chan struct{})
	bulkGot := make(chan []byte, 1024)
	one := startMember(t, dir, idOne, clusterA, "", func(_ *member, cfg *Config) { cfg.IsBulk = isBulk })
	two := startMember(t, dir, idTwo, clusterA, "", func(m *member, cfg *Config) {
		cfg.IsBulk = isBulk
		deliver := cfg.Deliver
		cfg.Deliver = func(data []byte) bool {
			if isBulk(data) {
				<-gate // a slow consumer of chunks, holding the bulk stream's reader
				bulkGot <- data
				return true
			}
			return deliver(data)
		}
	})
	sendUntilReceived(t, one, two, []byte("warm-up"))

	const chunks, chunkBytes = 48, 1 << 20
	for i := range chunks {
		chunk := bytes.Repeat([]byte{byte(i)}, chunkBytes)
		chunk[0] = 'B'
		copy(chunk[1:], numbered("", i))
		one.send(idTwo, chunk)
	}
	const controls = 200
	for i := range controls {
		one.send(idTwo, numbered("ctl", i))
	}
	got := two.receiveN(t, controls)
	for i := range controls {
		require.Equal(t, string(numbered("ctl", i)), string(got[i]))
	}
	require.Empty(t, bulkGot, "no chunk can have been delivered: the gate is closed")
	st := one.tr.Stats().Peers[idTwo]
	require.Less(t, st.Bulk.Sent, uint64(chunks), "the bulk stream must still be in flight: %+v", st.Bulk)

	close(gate)
	for i := range chunks {
		select {
		case chunk := <-bulkGot:
			require.Equal(t, string(numbered("", i)), string(chunk[1:1+len(numbered("", i))]))
			require.Len(t, chunk, chunkBytes)
		case <-time.After(waitMax):
			t.Fatalf("chunk %d never arrived", i)
		}
	}
	require.Zero(t, one.tr.Stats().Peers[idTwo].Dropped())
}

// TestReconnectAfterPeerRestarts: the receiver stops and starts again on its port; the
// sender's stream notices, reconnects (with backoff while the port is closed) and delivers.
func TestReconnectAfterPeerRestarts(t *testing.T) {
	dir := newDirectory()
	one := startMember(t, dir, idOne, clusterA, "")
	two := startMember(t, dir, idTwo, clusterA, "")
	sendUntilReceived(t, one, two, []byte("before"))
	two.stop()

	// While it is down, sends are dropped (counted), never block.
	for i := range 20 {
		one.send(idTwo, numbered("down", i))
		time.Sleep(10 * time.Millisecond)
	}
	again := startMember(t, dir, idTwo, clusterA, two.addr)
	sendUntilReceived(t, one, again, []byte("after"))
	st := one.tr.Stats().Peers[idTwo].Control
	require.GreaterOrEqual(t, st.Reconnects, uint64(1), "%+v", st)
	require.Equal(t, st.Connects, st.Reconnects+1)
	require.NotZero(t, st.DroppedUnreachable, "sends while the peer was down: %+v", st)
}

// TestQueueBound: a peer that stops reading fills the sender's queue; what does not fit is
// dropped and counted, never blocking Send, and everything counted as sent arrives once the
// peer reads again.
func TestQueueBound(t *testing.T) {
	for _, c := range []struct {
		name          string
		queueMessages int
		queueBytes    int64
	}{
		{"by messages", 8, 1 << 30},
		{"by bytes", 1 << 20, 256 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := newDirectory()
			one := startMember(t, dir, idOne, clusterA, "", func(_ *member, cfg *Config) {
				cfg.QueueMessages, cfg.QueueBytes = c.queueMessages, c.queueBytes
			})
			gate := make(chan struct{})
			two := startMember(t, dir, idTwo, clusterA, "", func(m *member, cfg *Config) {
				deliver := cfg.Deliver
				cfg.Deliver = func(data []byte) bool {
					if data[0] == 'x' {
						<-gate
					}
					return deliver(data)
				}
			})
			sendUntilReceived(t, one, two, []byte("warm-up"))
			const n, size = 2000, 64 << 10
			start := time.Now()
			for range n {
				msg := make([]byte, size)
				msg[0] = 'x'
				one.send(idTwo, msg)
			}
			elapsed := time.Since(start)
			st := one.tr.Stats().Peers[idTwo].Control
			require.NotZero(t, st.DroppedQueueFull, "%+v", st)
			require.LessOrEqual(t, st.QueuedMessages, c.queueMessages)
			require.LessOrEqual(t, st.QueuedBytes, max(c.queueBytes, size))
			require.Less(t, elapsed, 5*time.Second, "Send must not block")
			close(gate)

			// Everything not dropped arrives: sent + dropped = n once the queue drained.
			require.Eventually(t, func() bool {
				st := one.tr.Stats().Peers[idTwo].Control
				return st.Sent-1+st.DroppedQueueFull == n
			}, waitMax, 10*time.Millisecond)
			st = one.tr.Stats().Peers[idTwo].Control
			require.Zero(t, st.DroppedUnreachable)
			require.Eventually(t, func() bool { return two.tr.Stats().Peers[idOne].Received == st.Sent }, waitMax, 10*time.Millisecond)
		})
	}
}

// TestQueueRules: the queue's bounds, table-driven.
func TestQueueRules(t *testing.T) {
	for _, c := range []struct {
		name        string
		maxMessages int
		maxBytes    int64
		push        []int // sizes
		want        []bool
	}{
		{"message bound", 2, 100, []int{1, 1, 1}, []bool{true, true, false}},
		{"byte bound", 10, 10, []int{6, 4, 1}, []bool{true, true, false}},
		{"an empty queue takes one oversized message", 10, 10, []int{50, 1}, []bool{true, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := newQueue(c.maxMessages, c.maxBytes)
			for i, size := range c.push {
				require.Equal(t, c.want[i], q.push(make([]byte, size)), "push %d of %d bytes", i, size)
			}
		})
	}
	t.Run("take respects the batch bounds and keeps order", func(t *testing.T) {
		q := newQueue(100, 1000)
		for i := range 10 {
			require.True(t, q.push([]byte{byte(i), 0, 0, 0}))
		}
		got := q.take(nil, 3, 1000)
		require.Equal(t, [][]byte{{0, 0, 0, 0}, {1, 0, 0, 0}, {2, 0, 0, 0}}, got)
		got = q.take(nil, 100, 9) // 4+4 fit, the third would pass 9
		require.Equal(t, [][]byte{{3, 0, 0, 0}, {4, 0, 0, 0}}, got)
		got = q.take(nil, 100, 1) // always at least one
		require.Equal(t, [][]byte{{5, 0, 0, 0}}, got)
		n, b := q.len()
		require.Equal(t, 4, n)
		require.Equal(t, int64(16), b)
		require.Equal(t, 4, q.drain())
		n, b = q.len()
		require.Zero(t, n)
		require.Zero(t, b)
	})
}

// TestDropsWithoutAddressOrTooLarge: a member with no URL, and a frame over the limit, are
// dropped and counted by cause.
func TestDropsWithoutAddressOrTooLarge(t *testing.T) {
	dir := newDirectory()
	one := startMember(t, dir, idOne, clusterA, "")
	two := startMember(t, dir, idTwo, clusterA, "")
	one.send(idThree, []byte("nobody"))
	require.Eventually(t, func() bool { return one.tr.Stats().Peers[idThree].Control.DroppedNoAddress == 1 }, waitMax, 5*time.Millisecond)

	one.send(idTwo, make([]byte, MaxFrameBytes+1))
	require.Equal(t, uint64(1), one.tr.Stats().Peers[idTwo].Control.DroppedTooLarge)
	lines := one.logs.lines(t, "dropped a message the peer transport cannot carry")
	require.Len(t, lines, 1)
	require.Equal(t, "peer: frame too large: frame of 68157441 bytes exceeds the limit of 68157440", lines[0]["error"])
	sendUntilReceived(t, one, two, []byte("still fine"))

	one.send(idOne, []byte("to myself")) // never sent anywhere
	_, ok := one.tr.Stats().Peers[idOne]
	require.False(t, ok)
}

// TestRefusedHandshakes: a sender of another cluster, a removed one, or one that meant
// another member is refused; both ends log it naming both member IDs (and clusters); a
// removed member is told.
func TestRefusedHandshakes(t *testing.T) {
	for _, c := range []struct {
		name          string
		senderID      uint64
		senderCluster uint64
		// resolveAs: the ID the sender believes the receiver has.
		resolveAs uint64
		removed   bool
		reason    string
	}{
		{"another cluster", idOne, clusterB, idTwo, false, "member of another cluster"},
		{"removed member", idOne, clusterA, idTwo, true, "member was removed from the cluster"},
		{"not the expected member", idOne, clusterA, idThree, false, "the receiver is not the member the sender expected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := newDirectory()
			two := startMember(t, dir, idTwo, clusterA, "")
			if c.removed {
				two.removed.Store(c.senderID, true)
			}
			senderDir := newDirectory()
			senderDir.set(c.resolveAs, "http://"+two.addr)
			sender := startMember(t, senderDir, c.senderID, c.senderCluster, "")
			sender.send(c.resolveAs, []byte("let me in"))
			require.Eventually(t, func() bool { return two.tr.Stats().HandshakesRefused >= 1 }, waitMax, 5*time.Millisecond)
			require.Eventually(t, func() bool {
				return sender.tr.Stats().Peers[c.resolveAs].Control.RefusedByPeer >= 1
			}, waitMax, 5*time.Millisecond)
			require.Empty(t, two.delivered)

			lines := two.logs.lines(t, "refused peer handshake")
			require.Len(t, lines, 1)
			require.Equal(t, hexID(idTwo), lines[0]["local-member-id"])
			require.Equal(t, hexID(c.senderID), lines[0]["remote-member-id"])
			require.Equal(t, hexID(clusterA), lines[0]["local-cluster-id"])
			require.Equal(t, hexID(c.senderCluster), lines[0]["remote-cluster-id"])
			require.Equal(t, c.reason, lines[0]["reason"])
			require.Eventually(t, func() bool { return len(sender.logs.lines(t, "peer refused the handshake")) >= 1 }, waitMax, 5*time.Millisecond)
			mine := sender.logs.lines(t, "peer refused the handshake")[0]
			require.Equal(t, hexID(c.senderID), mine["local-member-id"])
			require.Equal(t, hexID(c.resolveAs), mine["remote-member-id"])

			if c.removed {
				select {
				case <-sender.told:
				case <-time.After(waitMax):
					t.Fatal("the removed member was not told")
				}
			} else {
				require.Zero(t, sender.toldCount.Load())
			}
		})
	}
}

// TestRemovedWhileConnected: a member removed while its stream is up is told on that stream
// (a notice) at its next frames, and its frames stop being delivered.
func TestRemovedWhileConnected(t *testing.T) {
	dir := newDirectory()
	one := startMember(t, dir, idOne, clusterA, "")
	two := startMember(t, dir, idTwo, clusterA, "")
	sendUntilReceived(t, one, two, []byte("member"))
	two.removed.Store(uint64(idOne), true)
	deadline := time.Now().Add(waitMax)
	for told := false; !told; {
		one.send(idTwo, []byte("still here?"))
		select {
		case <-one.told:
			told = true
		case <-time.After(20 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "the removed member was never told")
	}
	require.Equal(t, int32(1), one.toldCount.Load())
	// From now on its handshakes are refused: nothing more is delivered.
	for len(two.delivered) > 0 {
		<-two.delivered
	}
	for range 20 {
		one.send(idTwo, []byte("ignored"))
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, two.delivered)
	require.Equal(t, int32(1), one.toldCount.Load(), "OnRemoved runs once")
}

// TestGarbageOnThePort: bytes that are not the protocol close only their own connection; an
// established stream goes on (no reconnect) and new ones connect.
func TestGarbageOnThePort(t *testing.T) {
	dir := newDirectory()
	one := startMember(t, dir, idOne, clusterA, "")
	two := startMember(t, dir, idTwo, clusterA, "")
	sendUntilReceived(t, one, two, []byte("warm-up"))

	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	hello := handshake{Version: ProtocolVersion, Class: classControl, Cluster: clusterA, Sender: idThree, Receiver: idTwo}.encode()
	badCRC := bytes.Clone(hello)
	badCRC[10] ^= 1
	frame := appendFrameHeader(nil, []byte("payload"))
	frame = append(frame, "payload"...)
	badFrameCRC := bytes.Clone(frame)
	badFrameCRC[len(badFrameCRC)-1] ^= 1
	oversized := []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	for _, c := range []struct {
		name string
		// afterHello: the bytes follow a valid hello (and its reply is read first).
		afterHello bool
		data       []byte
		// closeWrite: the garbage is a cut: the sender closes its side.
		closeWrite bool
	}{
		{"random bytes", false, random, false},
		{"an HTTP request", false, []byte("GET /version HTTP/1.1\r\nHost: x\r\n\r\n" + string(make([]byte, 36))), false},
		{"a truncated handshake", false, hello[:20], true},
		{"a handshake with a bad checksum", false, badCRC, false},
		{"a truncated frame header", true, frame[:5], true},
		{"a truncated frame", true, frame[:len(frame)-3], true},
		{"an oversized length", true, oversized, false},
		{"an empty frame", true, make([]byte, 8), false},
		{"a frame with a bad checksum", true, badFrameCRC, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := two.tr.Stats().BadConnections
			conn, err := net.Dial("tcp", two.addr)
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(waitMax)))
			if c.afterHello {
				_, err := conn.Write(hello)
				require.NoError(t, err)
				reply, err := readHandshake(conn)
				require.NoError(t, err)
				require.Equal(t, statusOK, reply.Status)
			}
			_, err = conn.Write(c.data)
			require.NoError(t, err)
			if c.closeWrite {
				require.NoError(t, conn.(*net.TCPConn).CloseWrite())
			}
			// The listener closes the connection: reads end (EOF or reset), with nothing
			// written back.
			var rest bytes.Buffer
			_, _ = rest.ReadFrom(conn)
			require.Zero(t, rest.Len(), "the listener answered garbage with %q", rest.Bytes())
			require.Eventually(t, func() bool { return two.tr.Stats().BadConnections == before+1 }, waitMax, 5*time.Millisecond)

			sendUntilReceived(t, one, two, []byte("still serving"))
			require.Zero(t, one.tr.Stats().Peers[idTwo].Control.Reconnects, "the established stream was disturbed")
		})
	}
	require.NotEmpty(t, two.logs.lines(t, "closed peer connection: not the Ballast peer protocol"))
}

// TestHandshakeRules: the listener's decision on raw hellos: a guest (no member ID) may only
// call, and only our cluster or none; other versions, unknown classes and our own ID are
// refused.
func TestHandshakeRules(t *testing.T) {
	dir := newDirectory()
	two := startMember(t, dir, idTwo, clusterA, "")
	for _, c := range []struct {
		name string
		h    handshake
		want byte
	}{
		{"control stream", handshake{Version: ProtocolVersion, Class: classControl}, statusGuestStream},
		{"bulk stream", handshake{Version: ProtocolVersion, Class: classBulk}, statusGuestStream},
		{"call", handshake{Version: ProtocolVersion, Class: classCall}, statusOK},
		{"call naming our cluster", handshake{Version: ProtocolVersion, Class: classCall, Cluster: clusterA}, statusOK},
		{"call naming another cluster", handshake{Version: ProtocolVersion, Class: classCall, Cluster: clusterB}, statusWrongCluster},
		{"another version", handshake{Version: ProtocolVersion + 1, Class: classCall}, statusVersion},
		{"a member of our cluster", handshake{Version: ProtocolVersion, Class: classControl, Sender: idOne, Receiver: idTwo, Cluster: clusterA}, statusOK},
		{"our own ID", handshake{Version: ProtocolVersion, Class: classControl, Sender: idTwo, Receiver: idTwo, Cluster: clusterA}, statusDuplicateID},
		{"no receiver named", handshake{Version: ProtocolVersion, Class: classControl, Sender: idOne, Cluster: clusterA}, statusWrongMember},
		{"unknown class", handshake{Version: ProtocolVersion, Class: 9, Sender: idOne, Receiver: idTwo, Cluster: clusterA}, statusBadClass},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, reply := rawHello(t, two.addr, c.h)
			require.Equal(t, c.want, reply.Status, "%s", statusText(reply.Status))
			require.Equal(t, ProtocolVersion, reply.Version)
			require.Equal(t, uint64(idTwo), reply.Sender)
			require.Equal(t, uint64(clusterA), reply.Cluster)
		})
	}
}

// TestSendAfterClose: a closed transport drops, never blocks or panics.
func TestSendAfterClose(t *testing.T) {
	dir := newDirectory()
	one := startMember(t, dir, idOne, clusterA, "")
	one.stop()
	one.tr.Send(node.Envelope{To: idTwo, Data: []byte("late")})
	require.NoError(t, one.tr.Close())
}

// TestBatching: frames that queue while the connection is busy go out many per flush. The
// receiver holds its reader on a first frame and a large one fills the TCP buffers behind
// it, so the writer is stuck while 3000 small frames queue; released, they need at most a
// flush per batchFramesMax.
func TestBatching(t *testing.T) {
	dir := newDirectory()
	one := startMember(t, dir, idOne, clusterA, "")
	gate := make(chan struct{})
	two := startMember(t, dir, idTwo, clusterA, "", func(m *member, cfg *Config) {
		deliver := cfg.Deliver
		cfg.Deliver = func(data []byte) bool {
			if string(data) == "hold" {
				<-gate
			}
			return deliver(data)
		}
	})
	sendUntilReceived(t, one, two, []byte("warm-up"))
	one.send(idTwo, []byte("hold"))
	one.send(idTwo, make([]byte, 32<<20))
	require.Eventually(t, func() bool { return one.tr.Stats().Peers[idTwo].Control.QueuedMessages == 0 }, waitMax, time.Millisecond,
		"the writer takes the large frame")
	flushesBefore := one.tr.Stats().Peers[idTwo].Control.Flushes
	const n = 3000
	for i := range n {
		one.send(idTwo, numbered("small", i))
	}
	close(gate)
	got := two.receiveN(t, n+2)
	for i := range n {
		require.Equal(t, string(numbered("small", i)), string(got[i+2]))
	}
	st := one.tr.Stats().Peers[idTwo].Control
	flushes := st.Flushes - flushesBefore
	require.LessOrEqual(t, flushes, uint64(n/batchFramesMax+3), "%d frames took %d flushes", n, flushes)
	t.Logf("%d small frames in %d flushes", n, flushes)
}

// TestDialsEachURL: a member whose first URL is dead is reached at its second, and the
// stream then starts from the URL that worked.
func TestDialsEachURL(t *testing.T) {
	dir := newDirectory()
	one := startMember(t, dir, idOne, clusterA, "")
	two := startMember(t, dir, idTwo, clusterA, "")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadURL := "http://" + dead.Addr().String()
	require.NoError(t, dead.Close())
	dir.set(idTwo, deadURL, "http://"+two.addr)
	sendUntilReceived(t, one, two, []byte("second URL"))
	require.Equal(t, int64(1), one.tr.peer(idTwo).control.nextURL.Load())
}

// BenchmarkSendSmall: small frames through one control stream over loopback, the way raft
// heartbeats and appends go, in windows of 256 sent then received (within the queue bound,
// so nothing drops); reports frames per flush.
func BenchmarkSendSmall(b *testing.B) {
	dir := newDirectory()
	one := startMember(b, dir, idOne, clusterA, "")
	two := startMember(b, dir, idTwo, clusterA, "")
	for connected := false; !connected; {
		one.send(idTwo, []byte("warm-up"))
		select {
		case <-two.delivered:
			connected = true
		case <-time.After(50 * time.Millisecond):
		}
	}
	before := one.tr.Stats().Peers[idTwo].Control
	msg := bytes.Repeat([]byte{1}, 100)
	const window = 256
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i += window {
		k := min(window, b.N-i)
		for range k {
			one.tr.Send(node.Envelope{To: idTwo, Data: msg})
		}
		for range k {
			<-two.delivered
		}
	}
	b.StopTimer()
	st := one.tr.Stats().Peers[idTwo].Control
	b.ReportMetric(float64(st.Sent-before.Sent)/float64(max(1, st.Flushes-before.Flushes)), "frames/flush")
	if st.Dropped() != 0 {
		b.Fatalf("%d frames dropped", st.Dropped())
	}
}

// TestCloseLeavesNoGoroutines: after Close (streams up both ways, a call served, a peer
// unreachable and backing off), none of the transport's goroutines is left.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	dir := newDirectory()
	calls := make(chan string, 10)
	one := startMember(t, dir, idOne, clusterA, "")
	two := startMember(t, dir, idTwo, clusterA, "", func(_ *member, cfg *Config) { cfg.Handle = handler(calls) })
	sendUntilReceived(t, one, two, []byte("a"))
	sendUntilReceived(t, two, one, []byte("b"))
	_, err := one.tr.Call(context.Background(), idTwo, "echo", nil)
	require.NoError(t, err)
	dir.set(idThree, "http://127.0.0.1:1")
	one.send(idThree, []byte("nobody listens"))
	require.NotEmpty(t, transportGoroutines(), "the check must see the running transports")
	one.stop()
	two.stop()
	require.Eventually(t, func() bool { return transportGoroutines() == "" }, waitMax, 10*time.Millisecond,
		"goroutines left: %s", transportGoroutines())
}

// transportGoroutines returns the stacks of goroutines running this package's methods.
func transportGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "rpc/peer.(*") {
			left = append(left, g)
		}
	}
	return strings.Join(left, "\n\n")
}

// TestBackoff: waits double from backoffMin to backoffMax, each drawn in [d/2, d), and are
// spread (jitter), not all equal.
func TestBackoff(t *testing.T) {
	want := []time.Duration{100, 200, 400, 800, 1600, 3000, 3000}
	d := backoffMin
	for i, w := range want {
		require.Equal(t, w*time.Millisecond, d, "step %d", i)
		waits := map[time.Duration]bool{}
		for range 50 {
			wait, next := backoffStep(d)
			require.GreaterOrEqual(t, wait, d/2)
			require.Less(t, wait, d)
			require.Equal(t, min(2*d, backoffMax), next)
			waits[wait] = true
		}
		require.Greater(t, len(waits), 1, "no jitter at %s", d)
		_, d = backoffStep(d)
	}
}
