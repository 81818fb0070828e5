// Package raft is the Raft consensus protocol as a pure, deterministic state machine.
//
// It has no goroutines, no clock, no I/O and no global randomness: time enters only through
// Tick, randomness only through the seeded Config.Rand, and the application persists, sends
// and applies what Ready hands out before calling Advance. That is what lets the simulator
// replay any run from a seed and the production node drive the same code with real disks and
// sockets.
//
// # Shape
//
// RawNode is the whole surface: Step (a peer's message), Tick, Propose, ProposeConfChange,
// ReadIndex, TransferLeader, Campaign; Ready/HasReady hand out work, Advance acknowledges it;
// Status observes. The application supplies a Storage (MemoryStorage is the in-memory one)
// and owns snapshots and compaction (MemoryStorage.CreateSnapshot, Compact, ApplySnapshot).
// The persistence contract is in Ready's doc comment; in short: HardState and Entries are
// durable before MessagesAfterSync go out, MessagesNow (a leader's appends) may go in
// parallel, and the leader counts its own entries for commit only from Advance.
//
// Step reads like the paper: a message of a higher term makes the member a follower of it
// (except pre-votes and votes ignored under the leader lease), a message of a lower term is
// ignored (or answered so that a stale leader learns the term), votes are answered by
// handleVoteRequest, and the rest goes to stepLeader, stepCandidate or stepFollower.
//
// # Files, one per concern
//
//   - raft.go: the member, Step and the role transitions; config.go: Config.
//   - election.go: timeouts, PreVote, campaigns, votes, the leader lease. logUpToDate is the
//     one election-restriction check used for votes and pre-votes alike.
//   - replication.go: appends, heartbeats, fast back-off, commit. commitAllowed is the one
//     Figure 8 check (commit only through an entry of the leader's term).
//   - progress.go: per-follower progress (probe, replicate with a window bounded by count and
//     bytes, snapshot) and the configuration; quorum/: pure majority arithmetic.
//   - readindex.go: ReadIndex; confirmedReadRound is the one leadership-confirmation check.
//   - transfer.go: leadership transfer. membership.go: configuration changes.
//   - snapshot.go: sending and installing snapshots. log.go: durable + unstable log.
//   - storage.go: Storage and MemoryStorage. rawnode.go: RawNode, Ready, Status.
//
// # Decisions
//
// Membership changes one at a time (not joint consensus): every change this project needs
// (add/remove voter, add learner, promote learner) is a single-member change, and one
// change at a time is much less state and far fewer cases to test. It is made safe by the
// guard that the leader first commits an entry of its own term, and a second change is
// refused (ErrConfChangePending) until the first is applied. Changes take effect when
// applied (on Advance), on every member at the same log position; raft applies them itself,
// so the application cannot forget to. A removed leader, once it applies its removal, stops
// accepting work, hands leadership to the most up-to-date remaining voter (MsgTimeoutNow) and
// steps down; stepping down at once could strand the others when they have not yet heard
// that the change committed (found by a randomized run). A new group starts either from
// Bootstrap (the founding configuration as log entries, so members added later learn it from
// the log) or, if it never grows, from a Storage whose InitialState names the voters.
//
// A removed member that never learns of its removal may disrupt the group with campaigns
// unless CheckQuorum is on (Raft thesis §4.2.3); the node layer should enable it.
//
// A vote refusal carries the voter's commit index and the term of its entry there; a
// candidate holding that exact entry commits up to it (safe by log matching). Without it a
// group could stay leaderless after its leader removed itself and crashed before anyone else
// learned that the removal committed: the others still needed the removed member's vote under
// the old configuration, and it refused them (found by a randomized run).
//
// The commit index travels with appends and heartbeats, and, when a follower acknowledges
// after the commit moved past what it was told, in a commit-only append sent right away, so
// followers apply (and serve follower reads) without waiting for a heartbeat.
//
// A snapshot message may be lost: the leader retries after two election timeouts without an
// answer, or sooner when the application calls ReportSnapshot.
//
// Proposals are not forwarded: a follower answers a *NotLeaderError naming the leader it
// knows, and the node layer decides. Read requests are forwarded (MsgReadIndex), since their
// answer must come from the leader anyway.
//
// ReadIndex confirmation uses numbered heartbeat rounds instead of per-request contexts (see
// readindex.go), and raft itself holds back a ReadState until the member has applied its
// index, so no application can serve a stale read by mistake.
//
// Only one Ready is outstanding at a time, and Advance means "durable": this keeps the
// contract to one rule per field while still letting a leader send appends before its own
// write finishes (MessagesNow). CommittedEntries are only ever durable entries.
//
// Message slices are reused between Ready calls and the unstable log grows in chunks, so a
// leader's steady state of proposals and acknowledgements allocates nothing per entry
// (alloc_test.go pins this).
//
// # Invariants (asserted with panics)
//
// A term never decreases; the commit index never goes back; the applied index never skips
// an entry (it only jumps to an installed snapshot); a committed entry is never truncated;
// appended entries are contiguous after an entry whose term matched (log matching).
//
// Imports: the standard library only (never os, net, sync, time or math/rand's global
// functions, enforced by imports_test.go), and nothing of Ballast's but raft/quorum and
// canary (whose guards are constant false, compiled away, in normal builds).
package raft
