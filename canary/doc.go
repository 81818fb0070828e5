// Package canary is the switch for the deliberately broken variants ("canaries") that prove
// the simulator can fail: each is a small departure from one rule, written at the exact
// point of production code it breaks and guarded by On(name). A harness that never fails
// proves nothing; one that catches each of these shows it can see that kind of bug.
//
// # Two builds
//
// Without the canary build tag (every normal build, every release) On is a function that
// returns the constant false: the compiler inlines it and drops each guarded branch, so
// normal builds carry none of the broken code and Enabled is false. With -tags canary, one
// build serves every canary: Set(name) picks the active one before a run, and On
// reports whether the name is the active one.
//
// # The canaries (Names, in this order)
//
//   - commit-old-term (raft/replication.go, commitAllowed): a leader commits an entry of a
//     previous term by counting replicas (Raft §5.4.2, Figure 8).
//   - no-log-check (raft/election.go, logUpToDate): the log up-to-date check is dropped
//     from the one check that both PreVote and Vote use (Raft §5.4.1).
//   - read-no-quorum (raft/readindex.go, confirmedReadRound): a leader serves a
//     linearizable read without the ReadIndex quorum confirmation.
//   - ack-before-sync (kv/node/work.go, Work): the messages that must wait for the sync
//     (append acknowledgements, votes) go out before it.
//   - apply-twice (kv/node/apply.go, applyEntry): the applied index is persisted in a later
//     batch, after a sync of the entry's effects, so a crash between them applies the entry
//     again after the restart.
//   - watch-skip (kv/watch/pending.go, markSynced): a watcher skips the revision at the
//     hand-over from catch-up to live delivery.
//   - lease-follower-clock (kv/lease/primary.go, resumeDeadline; stamped in ApplyGrant):
//     lease expiry decided by a follower's clock: a new primary dates a lease at its full TTL
//     from when it applied the grant or the last clear as a follower, on its own clock, not
//     from its promotion, so a keep-alive the old primary answered from memory is ignored.
//   - drop-when-full (kv/node/request.go, wait): a request over Config.MaxWaitingRequests
//     is neither kept nor answered, instead of being refused with ErrTooManyRequests.
//   - sync-error-ignored (kv/node/work.go, Synced): a failed sync of the WAL is taken as
//     done, so the member acknowledges (sends the messages that waited, reports the writes
//     durable) what its disk never made durable, and a power loss then takes it back.
//   - snapshot-keeps-covered (raft/snapshot.go, restore): a follower takes a snapshot as
//     already held when its log merely reaches the snapshot's index, without the term check,
//     so it keeps (and commits) its own entries up to that index, which may conflict with
//     the ones the snapshot covers.
//   - snapshot-drops-next (raft/snapshot.go, handleSnapshot): a follower that installed a
//     snapshot answers with the index after it instead of the last one it holds, so the
//     leader counts, and never sends, the first entry after the snapshot.
//   - follower-commit-beyond-match (raft/replication.go, handleAppend): a follower that
//     rejects an append still moves its commit index to the leader's, bounded by its own
//     log's end instead of by an index the append verified, so it commits entries of a
//     divergent suffix.
//   - vote-not-durable (raft/rawnode.go, messageMayGoNow): a vote answer is classed with the
//     messages that may go in parallel with the write, so it leaves before the vote is
//     synced and a crash makes the member forget a vote it gave.
//   - new-leader-read (raft/readindex.go, handleReadRequest): a new leader serves ReadIndex
//     reads before it committed an entry of its own term, at a commit index that may lag
//     what its predecessor committed and acknowledged.
//   - truncation-not-durable (kv/raftlog/write.go, Append): a conflicting suffix replaced by
//     shorter entries is dropped from the cache and the cached last index only, not deleted
//     on disk, so after a restart the stale suffix is back.
//   - lease-no-drift-margin (kv/lease/drift.go, waitFor): a lessor waits the promised TTL on
//     its own clock without the margin ρ, so a primary whose clock runs fast by ρ expires a
//     lease up to ρ·TTL before the TTL it promised has passed.
//   - truncation-range-partial (kv/raftlog/write.go, Append): a conflicting suffix of
//     more than PointDeletesMax stale entries is deleted only in its first PointDeletesMax
//     entries, so after a restart the rest of the stale suffix is back.
//   - watch-cut-drops-last (kv/watch/pending.go, catchUp): a catch-up read cut at
//     MaxEventsPerResponse loses its last event, though the next read starts after it.
//   - snapshot-keeps-conf (kv/node/snapshot_stage.go, reopenStateMachine): a member that
//     installs a snapshot takes its data and member table but keeps the configuration it
//     had (only a member with none yet, a joining one, takes the snapshot's), so its
//     configuration at the applied index differs from every other member's there.
//   - watch-compacted-skips (kv/watch/pending.go, catchUp): a watcher whose next revision
//     was compacted is not cancelled with the compact revision but moved past it, so it
//     silently skips the compacted revisions' events.
//
// The scenario meant to catch each is scenarios.Canaries(); `make canaries` and the canary
// test in sim run them.
//
// # Determinism and concurrency
//
// The active canary is a package variable, written by Set and read by On without a lock.
// That is deterministic because the simulator runs each run on one goroutine and Set happens
// before any run starts: Set must not be called while a run is in flight, and one process
// must not mix canaries (ballast-sim runs one canary's seeds in parallel, then the next
// canary's, never two canaries at once; the canary test runs them one after another, never
// with t.Parallel).
//
// Imports: the standard library only. Every package may import it, raft included (the one
// edge out of raft): the guard is a constant false in normal builds, so raft's
// determinism and self-containment are unchanged there.
package canary
