// Package node is one Ballast member: it drives raft's Ready through storage (kv/raftlog),
// the network (as bytes, kv/wire) and the state machine (kv/mvcc, kv/lease), and serves
// linearizable reads through ReadIndex. It is the only package that knows raft, storage and
// the state machine together.
//
// Imports: raft and kv/* (mvcc, lease, raftlog, wire); never rpc, sim or chaos.
//
// # Shape: one member, stepped one call at a time
//
// A Member is a plain state machine over one Pebble DB; one goroutine calls it. The driver
// (the simulator's event loop, or a production loop) calls:
//
//	m, err := node.Open(cfg)      // the DB on cfg.FS; replays hard state, log and applied index
//	m.Submit(req, done)           // a client request; done runs once when it applies or fails
//	m.Receive(bytes)              // a peer's message, as the bytes its Work/Synced produced
//	m.Tick()                      // one logical tick (raft timers, request deadlines, leases)
//	out, err := m.Work()          // one raft Ready: write unsynced, apply, answer reads
//	msgs, err := m.Synced(token)  // the disk confirms out.SyncToken: messages that waited go
//
// This is DESIGN.md's sketch with one change: Synced performs the sync itself (Pebble's
// WAL sync) and returns the messages that waited for it, so a simulated crash before Synced
// loses exactly the unsynced writes and nothing that promised them was sent. While a sync is
// outstanding, Work applies nothing new (Receive and Tick go on), so one sync covers every
// proposal that arrived meanwhile: proposals batch under a slow disk by construction.
//
// # Requests
//
// Requests are etcd's InternalRaftRequest (one of Range, Put, DeleteRange, Txn,
// Compaction, LeaseGrant, LeaseRevoke). Writes go through the log: proposed on the leader;
// on a follower forwarded to the leader as a checksummed frame, as etcd forwards MsgProp;
// the submitter completes when it applies the entry itself (every member applies every
// entry), so a follower answers from its own state. Each request carries an ID (member ID,
// boot count, sequence: unique across restarts, see newRequestID); a member remembers the
// last dedupWindowEntries applied IDs durably, in the batch of each request, so a proposal
// duplicated by the network or re-forwarded applies once. Serializable reads read the local
// store at once; linearizable reads and read-only txns wait for a ReadIndex confirmation,
// which raft hands out only once this member has applied its index, and are re-asked every
// election timeout until their deadline. Requests fail with etcd's errors: ErrNoLeader when
// no leader is known, ErrTimeout after RequestTimeoutTicks, ErrStopped on Close; a
// request's own error (etcd's, from the store) is its answer and changes nothing.
//
// # Apply
//
// Each committed entry is applied in one indexed batch with the new applied index
// ("node/applied"), committed unsynced: the raft log is the durable record, so a crash
// re-applies from the applied index and never applies an entry twice or skips one. Entry
// data is a kind byte and a body (entry.go): an InternalRaftRequest, or a batch of lease
// checkpoints (Ballast's own, since they carry the primary's term and sequence). A lease
// revoke deletes every attached key at one revision (a txn of deletes). Compactions run in
// bounded steps, one per Work, on every member at its own pace (HashKV does not depend on
// the progress).
//
// # Leases
//
// The lessor is primary exactly while the member leads (Promote/Demote on raft's soft state,
// before applying entries of the new term). On each Tick the primary proposes revokes of
// expired leases and checkpoints of remaining TTLs (kv/lease decides; the clock is
// Config.Clock). After a restart the key attachments are rebuilt from the live keys.
//
// # Production driver (run.go, transport.go)
//
// Driver runs a Member with goroutines, real time and a Transport; it is the only code in
// this package that starts goroutines, selects on channels or reads the wall clock
// (time.NewTicker, RealClock), and the simulator never runs it. One goroutine (Driver.Run)
// owns the member. Other goroutines reach it through bounded channels: Submit, KeepAlive,
// TimeToLive, Leases, Inspect and Call wait for the member's answer (ErrStopped if the driver
// stops first; ctx's error if ctx ends first, the outcome of a write then unknown); a
// transport hands in peer messages with Deliver, which never blocks and drops beyond
// InboxMessagesMax/InboxBytesMax (raft tolerates loss). Each round takes one event, then every
// further queued event (up to EventsPerRoundMax), then calls Work and, if it asks, Synced at
// once (Synced performs the fsync); calls that queue during an fsync go into the next Ready
// together, so under load many proposals share one sync (DriverStats.Syncs;
// BenchmarkCluster reports fsyncs per proposal). A ticker at TickInterval calls Tick. Run
// returns nil when its context ends and the storage error when Work or Synced fails; either
// way it fails the calls still waiting with ErrStopped and closes neither the member nor the
// transport. LocalTransport connects drivers in one process (tests, benchmarks) through their
// bounded inboxes, copying each message, with links that can be cut.
//
// # On-disk layout (node owns "node/")
//
//	node/format          -> "1"; an unknown version refuses to open
//	node/applied         -> index of the last applied entry (8 bytes BE)
//	node/boot            -> number of starts (8 bytes BE), part of request IDs
//	node/req/<index BE>  -> ID of the request applied at that index (the dedup window)
//
// # Not yet here (tracked in the kv/node issue)
//
// Lease keep-alive (answered after a ReadIndex round, forwarded from followers) and
// TimeToLive; watch streams wired to apply; snapshots of the store streamed in chunks and
// installed atomically, with raft log compaction (until then the log is never compacted, so
// raft never needs to send one, and writeReady refuses one loudly); membership and
// leadership transfer as calls; the end-to-end lease test across leader changes; fuzzing of
// the frame decoder at this layer.
//
// # Invariants (panics)
//
// The applied index never skips an entry; a ReadState is never served before its index is
// applied; Synced is called only with the token of the outstanding sync.
package node
