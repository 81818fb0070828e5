// Package peer is the transport between Ballast processes: it carries kv/node's envelopes
// (raft messages, forwarded proposals, lease calls, snapshot chunks: kv/wire bytes that
// kv/node framed) from one member to another over TCP or a unix socket, or TLS over either,
// and serves request/response calls between members (membership calls forwarded to the
// leader, and a joining member fetching the member list). It is Ballast's own protocol, not etcd's rafthttp: etcd and
// Ballast members cannot form one cluster, and nothing here pretends they can.
//
// Imports: kv/node (Envelope) and the standard library, plus gRPC's codes and status for
// the errors calls carry back; never sim or chaos. It is production-only code: it starts
// goroutines, reads the wall clock and draws its reconnect jitter from math/rand/v2, which
// the determinism rule forbids in code that decides outcomes; the simulator never runs it
// (it moves envelopes itself), and nothing here decides anything raft does not tolerate
// (raft recovers from any loss, delay, duplication or reordering of messages).
//
// # Shape
//
//	t := peer.New(peer.Config{LocalID: ..., ClusterID: ..., Resolve: ..., Deliver: d.Deliver,
//		IsBulk: node.IsBulkFrame, IsRemoved: ..., OnRemoved: ..., Handle: ...})
//	go t.Serve(ln)                  // accept peers on the peer URL's listener
//	t.Send(env)                     // node.Transport: queue for env.To, never blocks
//	resp, err := t.Call(ctx, leaderID, "MemberAdd", body)
//	rtt, err := t.Probe(ctx, peerID) // one timed round trip
//	resp, err = peer.Fetch(ctx, "http://10.0.0.1:2380", nil, "members", nil) // as a guest
//	t.Close()
//
// # Connections and streams
//
// Each member keeps, for each peer it sends to, up to two long-lived outbound connections,
// one per stream class, and accepts the peer's own outbound ones: so per pair of members
// and per direction there is one control stream and one bulk stream. Data flows one way on a
// stream (the dialer writes frames, the listener delivers them), which keeps each end a
// single loop and makes "who reconnects" obvious: always the sender. The control stream
// carries raft messages and everything else; the bulk stream carries only snapshot chunks
// (Config.IsBulk, kv/node's IsBulkFrame). Two TCP connections, each with its own queue
// and writer, mean a snapshot's megabytes queue behind each other and never in front of a
// heartbeat or a vote: head-of-line blocking inside one TCP connection is the reason not to
// multiplex them. (A forwarded proposal can still be large, up to 64 MiB, and travels on the
// control stream, as etcd forwards MsgProp on its message stream.) When a listener accepts a
// stream of a sender and class it already holds, it closes the older one: the sender
// reconnected, and the older one is a half-open leftover.
//
// Calls (Call, Fetch) use a connection each: dial, handshake, one request, one answer,
// close. Calls are rare (membership changes, joins), and a connection per call means a
// request is never retried on a reused connection that may already have delivered it.
//
// Probe is a call of the reserved method "peer.Probe", which the listening transport answers
// itself (empty body, never through Config.Handle; Stats.ProbesServed counts them): it times
// the request and its answer on the established call connection, one round trip without
// the dial and handshake, as etcd's prober times its GET of /raft/probing on a kept-alive
// connection. The server probes every peer every few seconds for
// etcd_network_peer_round_trip_time_seconds. Bytes are counted per peer both ways
// (StreamStats.SentBytes, PeerStats.ReceivedBytes: frame header and payload) for etcd's
// etcd_network_peer_sent_bytes_total and etcd_network_peer_received_bytes_total.
//
// # Sending: queues, batching, reconnects
//
// Send classifies the envelope and pushes its data onto the stream's bounded queue
// (QueueMessages and QueueBytes, per peer and per class; an empty queue always takes one
// message, so a frame larger than QueueBytes still goes when the link is idle). A full
// queue drops the message and counts it: raft tolerates loss, and a bound is what keeps a
// slow or dead peer from holding the sender's memory. The stream's writer goroutine takes up
// to 256 frames (4 MiB) at a time, writes them into a 64 KiB bufio.Writer and flushes once:
// under load many small messages share one write system call and TCP segment; when idle a
// message goes at once (no Nagle-style waiting, TCP_NODELAY is Go's default).
// StreamStats.Flushes counts the batches (TestBatching: 3000 frames queued behind a busy
// connection went in 13 flushes; BenchmarkSendSmall: about 2 million 100-byte frames a
// second over loopback on the development machine, 250 frames per flush). Each batch has
// a write deadline (5 s plus 1 s per MiB), so a peer that stops reading is found.
//
// With nothing connected, the writer dials the peer's URLs (Config.Resolve, asked each time:
// the member table changes) in turn, starting from the one that answered last (a dead
// first URL would otherwise cost a 2 s dial timeout on every reconnect). When no URL answers, what is queued is dropped
// (counted: it would be stale by the time the peer is back, and raft sends again) and the
// writer waits, with exponential backoff (100 ms doubling to 3 s) and jitter (each wait
// drawn in [d/2, d)), so the members that lost a peer together do not redial it in step. A
// refused handshake waits the maximum at once. A successful handshake resets the backoff.
// The writer also reads its connection: the listener never writes on a stream after its
// reply, except a notice that ends it (see Removal), so a read that returns means the
// stream is dead and the next batch reconnects first.
//
// # Byte layout
//
// All integers are big-endian. Checksums are CRC-32C (Castagnoli), as in kv/wire.
//
// Handshake, 36 bytes, sent first by the dialer (hello), then by the listener (reply); a
// listener may later send one more on a stream, with a nonzero status, to end it (notice):
//
//	off len
//	0   4   magic "BLST"
//	4   2   protocol version (1)
//	6   1   stream class: 1 control, 2 bulk, 3 call
//	7   1   status: 0 in a hello and an accepting reply; else why the connection is refused
//	        (1 another cluster, 2 removed member, 3 not the expected receiver, 4 protocol
//	        version, 5 a guest asked for a stream, 6 unknown class, 7 the sender claims the
//	        receiver's own ID)
//	8   8   cluster ID of the sender
//	16  8   member ID of the sender (0: a guest)
//	24  8   member ID the sender expects to reach (in a reply: the dialer's ID)
//	32  4   CRC-32C of bytes 0..31
//
// A later version must keep these 36 bytes as they are (anything new follows them, after
// the version was agreed), so that a listener of this version can still answer it with
// status 4 instead of taking it for garbage. Fixed size, so a listener reads exactly 36
// bytes (under a 5 s deadline) before it trusts anything: a port scanner, an HTTP client or an etcd member sending rafthttp gets its
// connection closed, and nothing else happens. The listener checks, in order: the version,
// the class, a guest (ID 0) asks only for a call (and names our cluster or none), the
// cluster ID is ours, the sender is not us, the receiver is us, the sender was not removed
// (Config.IsRemoved). The dialer checks the reply the same way: accepted, same version and
// class, and, unless it is a guest, the same cluster, from the member it meant to reach, to
// itself: a URL that now belongs to another member or cluster is refused by either end.
// Either end logs a refusal naming both member IDs and both cluster IDs (in hex, as etcd
// prints them; the listener rate-limits this to one line per sender and reason per 10 s).
//
// Frame, on a stream (dialer to listener) and as a call's request and answer:
//
//	0   4   payload length N, 1 <= N <= MaxFrameBytes (64 MiB + 1 MiB)
//	4   4   CRC-32C of the payload
//	8   N   payload: on a stream, the node.Envelope's Data, unchanged
//
// The length is checked before anything is read; the payload is allocated as it arrives (in
// 1 MiB steps), so a length prefix that lies costs at most 1 MiB until the bytes exist.
// The checksum guards against what TCP's 16-bit checksum misses (kv/node checks its own
// frames again; raft messages carry kv/wire's checksum too). A malformed frame (a bad
// length, a bad checksum, a connection cut mid-frame) closes that connection only, is
// counted (Stats.BadConnections) and logged; the transport goes on.
//
// Call request payload: caller's time budget in ms (4 bytes, 0: none; the callee's handler
// context ends 100 ms after it, so the caller's own deadline is what decides; at most
// 10 min, default 30 s), method name length (1 byte, 1..255),
// method name, protobuf body. Call answer payload: 0 then the protobuf body, or 1, the gRPC
// code (4 bytes) and the error message (the rest). Handle's gRPC status errors (etcd's
// rpctypes errors are such) keep their code and message; Call returns them as a
// *RemoteError, which is itself a gRPC status error with that code and message, so the
// caller's service can return it unchanged and clientv3 recognises etcd's exact error. The
// caller closing its connection (its context ended) ends the handler's context.
//
// # Removal
//
// A member that was removed from the cluster (Config.IsRemoved, the member table's removed
// IDs) is refused at the handshake with status 2, and a stream it already has is ended with
// a notice of status 2 (the listener asks IsRemoved at most once a second per stream, when a
// frame arrives). The removed member's transport, reading either, calls Config.OnRemoved
// once: its server stops, as etcd's does when a peer answers it "410 Gone". It cannot learn
// this from raft's log alone if it was cut off when the removal committed.
//
// # Guests
//
// A process that does not know its member ID yet (LocalID() == 0, or Fetch) is a guest: it
// may make calls, never open a stream, and it may not know the cluster ID (a guest's
// handshake with cluster 0 is accepted; one naming another cluster is refused).
//
// # Bounds
//
// Per peer and class: the queue (QueueMessages, QueueBytes). Per frame: MaxFrameBytes. Per
// listener set: 1024 open inbound connections (beyond, new ones are closed at once and
// counted). Handshakes: 5 s. A call's request: 10 s to arrive. The rate limiter of log
// lines: 4096 keys.
//
// # Fuzzing (fuzz_test.go, corpus in testdata/fuzz)
//
// FuzzReadFrame reads frames from arbitrary bytes until an error, FuzzDecodeHandshake
// decodes arbitrary handshakes (and runs both ends' decisions on them), FuzzDecodeCall the
// call payloads, and FuzzServeConn hands arbitrary bytes, raw or after a valid hello, to a
// listener's connection handler. Each requires no panic, an error of this package (ErrFrame,
// ErrFrameTooLarge) for what is refused, a canonical re-encoding of what is accepted, and
// (FuzzServeConn) delivery of exactly the valid frames at the start of the bytes. Their seed
// corpora in testdata/fuzz run with every go test; TestFuzzCorpus keeps them there
// (-write-corpus rewrites them). To fuzz: go test ./rpc/peer -run '^$' -fuzz '^FuzzReadFrame$'.
//
// # Tests
//
// Real loopback TCP on 127.0.0.1:0 (transport_test.go, call_test.go, tls_test.go):
// delivery both ways, control frames delivered while the bulk stream is stuck, reconnect
// after the peer restarts on its port, queue bounds (drops counted, everything counted as
// sent arrives), refusals (another cluster, a removed member, the wrong member) with both
// ends' log lines, a removed member told on an established stream, garbage on the port,
// calls with etcd's errors, TLS. cluster_test.go runs three kv/node members over the
// transport, one of them catching up from a snapshot on the bulk stream.
package peer
