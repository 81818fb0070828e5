// Package node is one Ballast member: it drives raft's Ready through storage (kv/raftlog),
// the network (as bytes, kv/wire) and the state machine (kv/mvcc, kv/lease), and serves
// linearizable reads through ReadIndex. It is the only package that knows raft, storage and
// the state machine together.
//
// Imports: raft and kv/* (mvcc, lease, raftlog, wire), and canary (the ack-before-sync and
// apply-twice guards, constant false in normal builds); never rpc, sim or chaos.
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
// Requests are etcd's InternalRaftRequest (one of Range, Put, DeleteRange, Txn, Compaction,
// LeaseGrant, LeaseRevoke, Alarm, ClusterMemberAttrSet). Writes go through the log: proposed
// on the leader; on a follower forwarded to the leader as a checksummed frame, as etcd
// forwards MsgProp; the submitter completes when it applies the entry itself (every member
// applies every entry), so a follower answers from its own state. Each request carries an ID
// (member ID, boot count, sequence: unique across restarts, see newRequestID); a member
// remembers the last dedupWindowEntries applied IDs durably, in the batch of each request, so
// a proposal duplicated by the network or re-forwarded applies once. Serializable reads read
// the local store at once; linearizable reads and read-only txns wait for a ReadIndex
// confirmation, which raft hands out only once this member has applied its index, and are
// re-asked every election timeout until their deadline. Requests fail with etcd's errors:
// ErrNoLeader when no leader is known, ErrTimeout after RequestTimeoutTicks, ErrStopped on
// Close; a request's own error (etcd's, from the store) is its answer and changes nothing.
// Lease keep-alives, TimeToLive and Leases are calls of their own (below), watches are streams
// (NewWatchStream), membership changes and leadership transfer are calls (AddVoter, ...).
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
// the progress); a compaction request with Physical set is answered only once this member's
// store compaction finished (the driver then runs Work without waiting for events, so the
// steps follow each other).
//
// # Alarms (alarm.go)
//
// etcd's alarm store, in the member table's span: ACTIVATE and DEACTIVATE go through the log
// and answer as etcd's applier (the alarm activated, also when it was already raised; the
// one deactivated, none when it was not raised; none for type NONE); GET is answered at once
// from the member's applied table, filtered by type (NONE: all). Alarms are raised by request
// only until the quota arrives with the snapshots issue.
//
// # Leases
//
// The lessor is primary while the member leads, from the moment the new leader has applied
// an entry of its own term (maybePromote: every entry of earlier terms has then applied, as
// kv/lease requires; promoting on the soft state alone would let a checkpoint of the old
// term apply on the new primary) until raft reports another leader or a new term
// (leaderChanged, demoteIfTermMoved: before applying entries of the later term). On each
// Tick the primary proposes revokes of expired leases and checkpoints of remaining TTLs
// (kv/lease decides; the clock is Config.Clock). After a restart the key attachments are
// rebuilt from the live keys. Lease checkpoints are only ever proposed by the leader
// itself: a forwarded proposal must be a client request (a checkpoint from a peer would
// carry a term and sequence the primary never produced). The primary's lease entries (revokes,
// checkpoints, clears) that raft drops (a leadership transfer under way) wait in order and
// are proposed again on the next tick (proposeLease): a dropped checkpoint is not retried
// by the lessor, and the next leader would restart the lease from its own promotion.
//
// The primary's revokes of expired leases are entries of their own kind (entryExpiry), so
// every member knows, when it applies one, that the cluster ended the lease and not a client:
// Config.OnLeaseExpired (optional, told like Logger) hears of each with the lease, the
// revision after the revoke and the entry's index (lease_expiry.go). A history checker needs
// that record, or the lease's keys vanish without a cause. Every member reports each expiry
// it applies, again after re-applying it from a restart; the simulator keeps the first.
//
// # Lease calls: KeepAlive, TimeToLive, Leases (lease_keepalive.go)
//
// They are served by the leader, whose lessor alone knows the deadlines, and only after a
// ReadIndex round confirmed its leadership (as etcd's LeaseRenew since v3.5): a deposed
// leader cannot renew a lease that the new leader counts from its own promotion. A
// keep-alive then asks lessor.KeepAlive: AnswerNow answers the TTL; ProposeClear proposes
// the clear (a checkpoint entry with RemainingTTL 0) and the call is served again after
// entries apply, until KeepAlive answers AnswerNow; WaitForClear waits the same way (a
// dropped clear is asked for again after the lessor's ClearRetryInterval). TimeToLive and
// Leases answer from the leader's lessor after the same round, so they are linearizable
// (every grant and revoke acknowledged before the call is seen) and TimeToLive reports the
// primary's deadline, as etcd forwards LeaseTimeToLive to its leader. A member that does
// not lead sends the call to the leader in a frameLeaseCall (op, asker, request ID, lease
// ID, keys flag; checksummed) and completes it on the frameLeaseAnswer (request ID, op,
// code, protobuf response; checksummed). Only etcd's lease-not-found travels as an error;
// anything else (lost message, leader change, not primary yet) is answered by silence and
// the asker sends the call again, to the leader it knows then, every election timeout
// until RequestTimeoutTicks (ErrTimeout); with no leader known at the call, ErrNoLeader at
// once. Serving a call twice is harmless (a renewal is idempotent; the first answer wins).
//
// # Watches (watch.go)
//
// The member owns one watch.Hub, at the store's revision when it opens. Each applied entry
// that created a revision notifies the hub after its batch committed, so catch-up reads
// (through the member's DB, watch.StoreHistory) see everything notified. A watch is served
// by the member it was opened on, from its own applied state, leader or follower, so it
// sees every revision in order across leader changes. The driver pulls responses with
// WatchStream.Pending when its client can take more; Config.WatchProgressInterval (etcd's
// progress-notify interval, default 10 minutes) is counted in Ticks. Watchers live in
// memory: after a restart clients resume from their last revision + 1, as etcd's do.
//
// # Membership and leadership transfer (membership.go)
//
// AddMember (a voter or learner with its record; AddVoter and AddLearner add one by ID
// only), PromoteLearner (refused with etcd's learner-not-ready until the learner's log
// reaches 90% of the leader's commit index), UpdateMember, RemoveMember and TransferLeader
// are calls on the leader, refused up front with etcd's errors (member exists, peer URL
// exists, not found, not a learner, bad transferee). On any other member they fail at once with a
// *NotLeaderError naming the leader (etcd's "etcdserver: not leader"): not forwarded,
// because the leader's refusals would need a second answer path and a caller that can
// reach the leader gets them directly; membership calls are rare. A change completes when
// its entry applies and raft took it into effect (Advance), with the configuration then;
// if the entry at the index it was proposed at turns out to be another (leadership changed
// before it committed), with etcd's "leader changed". A transfer completes when this
// member sees the target lead, or fails with ErrTimeout once raft abandoned it. A new
// member opens empty with InitialMembers not naming it and learns the configuration and
// the data from the leader's log (or a snapshot) once added.
//
// # The member table (members.go)
//
// Each member keeps etcd's member table as state-machine state: every member's ID, name,
// peer and client URLs and learner flag, the IDs of removed members, and the cluster ID
// (Config.ClusterID, written when the DB is created; a restart naming another nonzero ID is
// refused with an error naming both, and a snapshot of another cluster is not installed).
// A membership change carries the member's record in its raft.ConfChange.Context (AddMember;
// UpdateMember is a ConfChangeUpdateNode with the new peer URLs), and the founders' records
// (Config.InitialMemberAttrs) are the contexts of the founding entries, so a member added
// later learns them by replaying the log; a serving member publishes its name and client
// URLs as etcd's ClusterMemberAttrSet request (PublishAttrs, a write like any other). The
// table takes exactly the changes raft takes (it applies each with raft.ApplyConfChange to its
// copy of raft's configuration), is written in the batch of the entry that changes it, and
// moves with snapshots. AddMember refuses an existing ID (etcd's member-exists), a peer URL
// another member has (peer-URL-exists) and a removed ID (member-not-found, as etcd maps its
// ID-removed); UpdateMember an unknown member or a used URL. A member that applies its own
// removal reports Removed at once and stops with ErrRemoved (etcd's "the member has been
// permanently removed from the cluster") one election timeout later, so a removed leader
// can hand over first; restarted, it stays stopped. The Driver copies the table for other
// goroutines after every change (Driver.Members, Member, ClusterID, IsRemoved: the transport
// resolves and refuses peers with them); a joining member's Driver.Member falls back to the
// InitialMemberAttrs it was given (the members it learned from a peer) until its table, which
// only the log or a snapshot fills, knows the member.
//
// # Fuzzing (fuzz_test.go, corpus in testdata/fuzz)
//
// FuzzDecodeFrame runs every frame decoder (raft messages, forwarded entries, lease calls
// and answers, snapshot chunks and acks) and requires errors for what they refuse and a
// round trip for what they accept; FuzzReceive hands any bytes to a one-member leader,
// which must neither panic nor stop, and must serve writes afterwards.
//
// # Production driver (run.go, transport.go)
//
// Driver runs a Member with goroutines, real time and a Transport; it is the only code in
// this package that starts goroutines, selects on channels or reads the wall clock
// (time.NewTicker, RealClock), and the simulator never runs it. One goroutine (Driver.Run)
// owns the member. Other goroutines reach it through bounded channels: Submit, KeepAlive,
// TimeToLive, Leases, Inspect and Call wait for the member's answer (ErrStopped if the driver
// stops first; ctx's error if ctx ends first, the outcome of a write then unknown), and so do
// the membership wrappers (AddMember, RemoveMember, PromoteMember, UpdateMember,
// TransferLeader, PublishAttrs); a
// transport hands in peer messages with Deliver, which never blocks and drops beyond
// InboxMessagesMax/InboxBytesMax (raft tolerates loss). Each round takes one event, then every
// further queued event (up to EventsPerRoundMax), then calls Work and, if it asks, Synced at
// once (Synced performs the fsync); calls that queue during an fsync go into the next Ready
// together, so under load many proposals share one sync (DriverStats.Syncs;
// BenchmarkCluster reports fsyncs per proposal). A ticker at TickInterval calls Tick. Run
// returns nil when its context ends and the storage error when Work or Synced fails; either
// way it fails the calls still waiting with ErrStopped and closes neither the member nor the
// transport; it returns ErrRemoved when the member stopped after its own removal. Watches
// from other goroutines go through Driver.Watch: a DriverWatch's Handle and Next run the
// member's WatchStream on the driver goroutine, and Next sleeps on a wake-up channel (capacity
// one, so no signal is lost) that the driver signals after every round in which the stream is
// Ready. IsBulkFrame tells a transport which frames are snapshot chunks, to carry apart from
// heartbeats and votes. DBSize reads Pebble's metrics (safe from any goroutine); Defragment
// runs Pebble's manual compaction of the whole key space on the caller's goroutine (safe
// beside the driver). HandOffLeadership, for a graceful stop, transfers leadership from a
// leader to its most up-to-date other voter and waits until it leads (again with the best
// voter then, if raft abandoned a transfer), as etcd does before it stops.
// LocalTransport connects drivers in one process (tests, benchmarks) through their bounded
// inboxes, copying each message, with links that can be cut.
//
// # On-disk layout (node owns "node/")
//
// One Pebble DB in Config.Dir (its write-ahead log in Config.WALDir when set, etcd's
// --wal-dir). Node's keys:
//
//	node/format          -> "1"; an unknown version refuses to open
//	node/applied         -> index of the last applied entry (8 bytes BE)
//	node/boot            -> number of starts (8 bytes BE), part of request IDs
//	node/req/<index BE>  -> ID of the request applied at that index (the dedup window)
//	node/stage/h         -> the snapshot stage's stream: leader, stream ID, index, term,
//	                        chunks staged, complete (cleared at Open)
//	node/stage/d/<key>   -> a staged state-machine pair, to be moved to <key>
//	node/cluster/id      -> the cluster ID (8 bytes BE)
//	node/cluster/m/<id>  -> a member's record (etcdserverpb.Member), ID 8 bytes BE
//	node/cluster/r/<id>  -> empty: member id was removed
//	node/cluster/a/<id><type> -> empty: alarm type (4 bytes BE) raised for member id
//
// # Snapshots and raft log compaction (snapshot.go, snapshot_stage.go)
//
// Compaction: between Readies (raft's applied index and configuration then equal the
// member's), once the log holds more than Config.SnapshotEntries applied entries beyond the
// last snapshot, the member records a snapshot at its applied index (raftlog.CreateSnapshot
// with raft's configuration) and compacts the log below it, keeping
// SnapshotCatchUpEntries entries for followers a little behind, in one unsynced batch (a
// crash loses at most the compaction; the WAL's order keeps it behind the applied state it
// names).
//
// What moves: the state machine is every key under lease/, mvcc/, node/cluster/ (the member
// table, removed IDs, cluster ID and alarms) and node/req/ (the dedup
// window: which requests applied is applied state); node/applied is set to the snapshot's
// index; raft/, node/format and node/boot belong to the member and never move.
//
// Sending: raft's MsgSnap carries only metadata, and the data must be the store at exactly
// its index. The member intercepts raft's MsgSnap and, at the start of the next Work (no
// Ready outstanding, so the applied index is raft's), starts a stream reading a Pebble
// snapshot taken right then: if the log's snapshot is older than the applied index, a new
// one is recorded at the applied index first, so the data and the metadata name the same
// index. A source is shared by the streams that start while the log still continues from
// it, and closed when its last stream ends: no Pebble snapshot outlives the streams that
// read it. A stream sends chunks of at most 1 MiB of pairs (plus one pair), in key order,
// as checksummed frames (frameSnapChunk: leader, stream ID, index, term, chunk number, last
// flag, pairs); the follower acknowledges each (frameSnapAck). At most snapshotWindowChunks
// are unacknowledged, so the leader holds a bounded number of chunks whatever the store's
// size. Without an acknowledgement for half an election timeout the leader sends again
// from the first unacknowledged chunk (go-back-N); without one for snapshotTimeoutElections
// election timeouts, or on a refusal, it ends the stream and reports
// ReportSnapshot(failed), and raft asks again. Once the last chunk is acknowledged the
// leader sends the MsgSnap, with the source's metadata (possibly newer than the one raft
// named: the follower's answer moves raft's progress past it all the same). While a stream
// is under way, raft's repeated requests for the same follower are answered by it. A stream
// ends silently when the leader's term ends.
//
// Staging and installing: the follower writes each chunk in order under node/stage/
// (unsynced: the install's sync makes them durable with it, Pebble's WAL being one ordered
// stream), acknowledges duplicates again, ignores chunks beyond the next one, and refuses a
// later chunk of a stream it does not hold (after its restart) or a snapshot not beyond its
// applied index. A MsgSnap reaches raft only once its stage is complete (else Receive
// returns an error); the stage is then pinned until the next Ready, which installs it if
// raft took it: writeReady writes, in ONE batch with raft's ApplySnapshot and the Ready's
// hard state, range deletions of the state-machine spans, the staged pairs at their real
// keys, node/applied and the removal of the stage; then the in-memory views are rebuilt
// from the DB (mvcc.Open, lease.Open and the key attachments, the dedup window; the watch
// hub's Restore makes watchers catch up from the new store). The batch holds the whole
// store: bounded by the store's size (etcd's quota, a few GiB at most, within Pebble's
// 4 GiB batch limit). A crash before the Ready's sync leaves the old state (the batch is
// all or nothing) and the stage is cleared at Open: a member restarts from its disk alone,
// and the leader streams again. Requests waiting on the follower for entries the snapshot
// covers time out (their outcome unknown, as after any timeout).
//
// # Corruption at rest (corruption.go)
//
// Open refuses a damaged disk with an error wrapping ErrCorruption that names the file and
// the check that failed, and the member never serves from it. Before Pebble opens, the
// current MANIFEST is read strictly to its end: Pebble itself takes a record that fails its
// checksum for the end of the log and opens the older version read so far, which could drop
// tables whose WALs are gone (an older raft log and hard state: a vote forgotten). A torn,
// never-synced MANIFEST tail after a power loss looks the same and is refused too (replace
// the member). After Pebble opens, every block of every live sstable is read and its
// checksum checked, so damage anywhere in a table is found at Open, on the member's
// goroutine, not by whichever read or background compaction reaches it first; it costs one
// read of the store per start (BenchmarkVerifyTables: 2.6 GB/s of sstables from memory on
// the development machine; the disk bounds it in production). Pebble's
// DataCorruption and BackgroundError events (its default would call Logger.Fatalf, a panic
// in a Pebble goroutine that ends the process) are recorded instead, and the member stops
// with that ErrCorruption at its next Work: only this member stops. The WAL is not checked:
// Pebble reads damage to its newest file as the torn tail of a crash mid-write and truncates
// it, which no check here can tell apart, so the simulator damages sstables and the
// MANIFEST only. StoreFiles (for the simulator) flushes a stopped
// member's store and names its live sstables and MANIFEST, the files whose damage Open must
// find.
//
// # Observer (observe.go)
//
// Config.Observer (optional, told like Logger) hears each step of the member: Open (the state
// read from disk), each Ready handled by Work (hard state, leader, snapshot installed, entries
// applied with a hash of their data) and each Synced (what is now durable), plus rare paths
// (elections, rejected pre-votes, follower reads, snapshots sent and installed, truncated
// suffixes, leader transfers, writes waiting at a leader change, lease expiries, watches
// cancelled by compaction). The simulator checks safety from them; with no Observer nothing is
// computed.
//
// # Logging
//
// Config.Logger (optional) hears of leader changes, lessor promotion and the storage failure
// that stops a member. It is told, never asked: nothing it does decides an outcome, so the
// simulator can write it into its trace with the virtual time.
//
// # Not yet here (tracked in the kv/node issue)
//
// Membership calls and leadership transfer are not forwarded from followers (see
// Membership). The lease test runs members on one shared manual clock; drift between
// members is exercised by kv/lease's own tests, not through the member.
//
// # Invariants (panics)
//
// The applied index never skips an entry; a ReadState is never served before its index is
// applied; Synced is called only with the token of the outstanding sync. A snapshot raft
// installs is the complete, admitted stage, beyond the applied index; a snapshot is recorded
// only when raft's applied index is the member's, and never beyond it.
package node
