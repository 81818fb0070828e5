// Package lease is etcd's lease model made safer: grant, revoke, keep-alive, time-to-live and
// the keys attached to each lease, with expiry decided by one party (the primary, i.e. the
// leader) from an injected clock and applied through the log, remaining TTLs checkpointed
// through the log so elections neither keep a lease alive nor cut it short, and a drift
// margin so a fast clock never expires a lease early.
//
// Imports: Pebble, etcd's API types (mvccpb events, rpctypes errors) and the standard
// library; nothing of Ballast's but canary (the lease-follower-clock guards in ApplyGrant and
// resumeDeadline, constant false in normal builds). It does not import kv/mvcc: the caller
// composes the two.
//
// # Storage
//
// The member's one Pebble DB is owned by the caller (kv/node). This package owns every key
// under Prefix ("lease/"): "lease/format" holds FormatVersion, checked by Open (an unknown
// version, or lease keys without one, refuse to open); "lease/id/<id>" holds one lease's
// granted TTL and last checkpointed remaining TTL. Writes go into the *pebble.Batch the
// caller passes to each Apply method and commits (one applied command, one batch: with the
// MVCC effects and the applied index). Reads go through the pebble.Reader given to Open. The
// keys attached to a lease are not stored here: they are the live keys whose lease field
// names it, so after Open the caller calls Attach for each while scanning the live keys.
//
// # Calls, by who makes them
//
//   - The proposer: PrepareGrant(id, ttl) checks a grant and fills in a generated ID (from
//     the caller's IDSource, seeded in the simulator; never the wall clock).
//   - Every member, in log order: ApplyGrant, ApplyRevoke (returns the attached keys,
//     sorted; the caller deletes them all at one MVCC revision in the same batch),
//     ApplyCheckpoint, and ApplyEvents with the []*mvccpb.Event of every applied write
//     (kv/mvcc's output as is; the lessor keeps its own key index, so PrevKv is optional).
//   - The primary only: Promote(term) when the member becomes leader, Demote when it stops;
//     KeepAlive; Expired(max) lists leases to propose revokes for; Checkpoints(max) lists
//     checkpoints to propose.
//   - Anyone: LeaseExists (kv/mvcc checks puts with it), Leases, TimeToLive, LeaseOf.
//
// The lessor is a plain state machine: no goroutines, no wall clock, no randomness of its
// own; it is not safe for concurrent use (kv/node calls it from its one loop). Time comes
// from Config.Clock (a monotonic time.Duration since an arbitrary origin, per member); the
// lessor panics if it ever goes backwards. TTLs are whole seconds as in etcd (a requested
// TTL below Config.MinTTLSeconds is raised to it, above MaxTTLSeconds refused); remaining
// TTLs in checkpoints are nanoseconds. Errors are etcd's: rpctypes' gRPC status values
// (ErrGRPCLeaseNotFound, ErrGRPCLeaseExist, ErrGRPCLeaseTTLTooLarge, the same kv/mvcc
// returns), whose messages are etcd's exact text; etcd has no "too many leases" error, the
// lessor does not limit their number. Bad input changes nothing.
//
// # Never early
//
// A lease must not expire before its TTL has passed, in real time, since the keep-alive (or
// grant) that promised it was answered. Clocks run at a rate within [1-ρ, 1+ρ] of real time
// (Config.MaxDriftRate), so the primary waits TTL·(1+ρ) on its own clock. A checkpoint taken
// with d left on the primary's clock records the promise still owed in the worst case,
// d/(1+ρ) rounded up; whoever resumes from it waits that times (1+ρ) again on its own clock,
// so drift never compounds across leaders. TimeToLive reports the promise, rounded down.
//
// # Not kept alive by elections (etcd #9395), and no keep-alive lost
//
// etcd restarts every lease's full TTL at each leader change, so frequent elections keep
// leases alive forever; its opt-in checkpoint feature (server/lease/lessor.go, as read) resumes from the last checkpoint but
// still restarts at each election the time that passed since it, and has a window in which
// a keep-alive answered while a checkpoint is in flight is lost (the checkpoint then applies
// and a new leader expires the lease before the deadline the client was told). Ballast's
// rules:
//
//  1. Every member stamps each applied checkpoint with its own clock. A new primary resumes
//     a checkpointed lease at applied-at + remaining·(1+ρ), not at promote + remaining: the
//     time since the checkpoint, as this member measured it (a lower bound of the real
//     time, since it applied the entry after the old primary wrote it), is not restarted.
//     After a restart, Open stamps every stored checkpoint with its own (later) time.
//  2. A lease at its full TTL (granted, or cleared by a keep-alive, since its last
//     checkpoint) may have been renewed from memory by the old primary at any moment before
//     the new one took over, so the new primary restarts it from its Promote, and its
//     checkpoint is due at once: the next election resumes it by rule 1. While primary, a
//     lease granted or renewed from memory is checkpointed one CheckpointInterval later.
//  3. KeepAlive renews from memory (AnswerNow) only when a new primary would not resume the
//     lease from a checkpoint: none applied, and none of ours in flight. Otherwise the first
//     keep-alive proposes a clear (a Checkpoint with RemainingTTL 0), and the caller calls
//     KeepAlive again after it applied; keep-alives meanwhile get WaitForClear (no second
//     entry), until ClearRetryInterval passes and the clear may have been dropped. So a
//     lease costs at most one checkpoint and one clear per checkpoint interval, plus one
//     checkpoint per election, as in etcd's feature.
//  4. "In flight" is exact: each checkpoint and clear carries the primary's term and a
//     sequence number; when the last one the primary produced for a lease applies, every
//     earlier one has applied or was dropped (the log keeps the order they were proposed in).
//
// A lease no one keeps alive therefore expires within TTL·(1+ρ) (on the primaries' clocks)
// plus at most one checkpoint interval, plus the time the cluster spends without a primary
// (a term in which nothing is committed cannot record anything) and the delay between an
// entry's commit and its apply on the next primary.
//
// # What the caller must guarantee
//
//   - Promote(term) only after every entry of earlier terms has applied on this member (e.g.
//     once the leader applied the first entry of its own term), and Demote before applying
//     entries of a later term. ApplyCheckpoint panics when it sees the breach.
//   - Propose the checkpoints and clears of one primary in the order this package produced
//     them.
//   - Answer a keep-alive promptly after AnswerNow, and only while this member is still the
//     leader (as for a lease-based read): a newer primary counts from its Promote, so it
//     must not have been promoted before the answer was sent. The same holds for grants:
//     the TTL a client is told counts from the primary's apply.
//   - After installing a raft snapshot, Open a new Lessor on the new state.
//
// # Invariants (checked by checkInvariants in the tests; cheap ones always)
//
// Every attached key is in exactly one lease's set and in the key index; only a primary has
// deadlines, queued expiries and checkpoints, and unsettled entries; a checkpointed
// remaining TTL is within [0, TTL]; the clock never goes backwards; terms of Promote rise.
package lease
