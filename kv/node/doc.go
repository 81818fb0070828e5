// Package node is one Ballast member: it drives raft's Ready through storage (kv/raftlog),
// the network (as bytes, kv/wire) and the state machine (kv/mvcc, kv/lease), and serves
// linearizable reads through ReadIndex. It is the only package that knows raft, storage and
// the state machine together.
//
// Imports: raft and kv/* (mvcc, lease, auth, raftlog, wire; kv/faultfs in tests), and canary (the
// guards of the canaries in this package, constant false in normal builds); never rpc, sim
// or chaos.
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
// # Map (each file's header says how its part works)
//
//	member.go, config.go     Open, Close and the Config (Clock, Rand, Logger, FS are given)
//	work.go                  Work and Synced: one raft Ready written, synced, applied, sent
//	request.go, dedup.go     requests: IDs, forwarding, deadlines, ReadIndex reads, the
//	                         waiting table's bound, the durable window of applied IDs
//	apply.go, entry.go       applying committed entries; the entry kinds in the log
//	kinds.go, errors.go      request kinds; etcd's errors
//	envelope.go              the framed, checksummed messages between members
//	lease_keepalive.go       the lessor's primary, keep-alives, TimeToLive, Leases
//	lease_expiry.go          reports of applied expiry revokes (Config.OnLeaseExpired)
//	watch.go                 watch streams on the member's hub
//	auth.go                  auth requests, permission checks at apply and serve time, tokens
//	membership.go            membership changes and leadership transfer
//	members.go, alarm.go     the member table and etcd's alarms (state-machine state)
//	snapshot.go              raft log compaction and the leader's snapshot streams
//	snapshot_stage.go        the follower's staging and install of a snapshot
//	snapshot_ingest.go       the stage as SSTables and the install as one Pebble ingest
//	export.go                View: a Pebble snapshot and the member table at one applied
//	                         index, for etcd-format snapshots (kv/snapshot)
//	corruption.go, pebble.go checks of the store at Open; Pebble's options, events and
//	                         fatal errors (a member stops, never the process)
//	observe.go               the report-only Observer the simulator checks safety from
//	run.go, transport.go     the production driver (goroutines, real time) and transports
//	fuzz_test.go             the frame decoders and Receive under fuzzing
//
// # On-disk layout (node owns "node/")
//
// One Pebble DB in Config.Dir (besides node's keys: mvcc/, lease/ and auth/, each its
// package's) (its write-ahead log in Config.WALDir when set, etcd's
// --wal-dir), and a snapshot's SSTables staged in Config.Dir/snapshot-stage while it
// arrives (emptied at Open). Node's keys:
//
//	node/format          -> "1"; an unknown version refuses to open
//	node/applied         -> index of the last applied entry (8 bytes BE)
//	node/boot            -> number of starts (8 bytes BE), part of request IDs
//	node/req/<index BE>  -> ID of the request applied at that index (the dedup window)
//	node/applied-snapshot -> a snapshot's metadata (index, term, voters, learners) whose
//	                        data is ingested and whose raft half Open finishes (a crash came
//	                        between the two; snapshot_ingest.go)
//	node/stage/          -> an earlier build's snapshot stage (cleared at Open)
//	node/cluster/id      -> the cluster ID (8 bytes BE)
//	node/cluster/m/<id>  -> a member's record (etcdserverpb.Member), ID 8 bytes BE
//	node/cluster/r/<id>  -> empty: member id was removed
//	node/cluster/a/<id><type> -> empty: alarm type (4 bytes BE) raised for member id
//
// # Rules
//
// A Member is called from one goroutine and decides nothing from the wall clock, global
// randomness, map order or goroutine timing: the same calls give the same results, which the
// simulator depends on. Only run.go's Driver starts goroutines, selects on channels or
// reads real time, and the simulator never runs it. What the member is told to report
// (Logger, Observer, OnLeaseExpired, TimeCommit, TimeApply) never decides an outcome.
//
// Storage errors stop the member (Work and Synced return them, and every later call fails
// with the same error): a failed write or sync is never retried and never taken as done.
//
// # Logging
//
// Config.Logger (optional) hears of leader changes, lessor promotion and the storage failure
// that stops a member. It is told, never asked: nothing it does decides an outcome, so the
// simulator can write it into its trace with the virtual time.
//
// # Invariants (panics)
//
// The applied index never skips an entry; a ReadState is never served before its index is
// applied; Synced is called only with the token of the outstanding sync. A snapshot raft
// installs is the complete, admitted stage, beyond the applied index; a snapshot is recorded
// only when raft's applied index is the member's, and never beyond it.
//
// # Not yet here (tracked in the kv/node issue)
//
// Membership calls and leadership transfer are not forwarded from followers (see
// membership.go). The lease test runs members on one shared manual clock; drift between
// members is exercised by kv/lease's own tests, not through the member.
package node
