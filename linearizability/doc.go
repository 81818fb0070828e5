// Package linearizability is the judge of every Ballast run: it reads a history (package
// history, format in FORMAT.md) and decides whether what clients saw is what a correct etcd
// could have shown them. One call, Check(h, Options) *Result, runs every checker; WriteReport
// writes the HTML page and JSON summary a person reads when a run fails. The simulator, the
// chaos runs and cmd/ballast-check all call these two functions and nothing else.
//
// The checkers, one file per concern:
//
//   - semantics.go: etcd's KV and lease state machine (puts, ranges with limit/count/keys-only,
//     deletes, txns whose compares decide the branch, lease grant/revoke/keep-alive, revokes
//     deleting the lease's keys in one revision). Every checker evaluates requests with it,
//     so they cannot disagree about what etcd answers.
//   - model.go, state.go: the Porcupine model. Its state (revision, live key-values with
//     create/mod revisions, versions and leases, live leases) is small, immutable and hashed
//     incrementally, so Porcupine's cache works. Unknown outcomes return at infinity: applied
//     at some point after the call, or never. Definite errors never applied and are left out,
//     as are reads at an explicit past revision (the revision-guided checker judges those).
//     Serializable reads are in, as reads that take effect while the state was at their
//     header revision, before their return. Not partitioned: all keys share one revision
//     counter, so a per-key partition could not check header revisions (see model.go).
//   - revcheck.go, resolve.go, store.go: the revision-guided checker, O(n log n) where the
//     record orders the writes. Unknown outcomes are first resolved from the record (a unique
//     value seen by a read or watcher pins its write to that revision; a revision watchers
//     saw, or that only one unknown write can have made, is pinned to that write; an unknown
//     grant is settled when a later operation needed its lease; unseen writes are settled by
//     revision accounting). Writes are replayed in revision order into a multi-version
//     store; every read, including reads at past revisions and serializable reads, is
//     compared with the state at its revision; a sweep in time order checks that revisions
//     respect real time. Where a revision has no known writer, Porcupine judges a window of
//     the next few revisions and the replay follows the linearization it found; if anything
//     fails after such a guess, a strict run decides instead, handing everything after the
//     first such revision to Porcupine (see checkRevisionsGuessing).
//   - watch.go, lease.go, durability.go, liveness.go: the validators beyond linearizability.
//   - compaction.go: compact requests change no key nor revision, so the checkers above leave
//     them out; this validator holds every refusal as compacted (a read at a past revision, a
//     compaction, a watch's compact revision) to a compaction the history could have applied
//     by then, and every answer to the compactions acknowledged before it was asked.
//   - auth.go: auth changes and requests with credentials are left out of the checkers above
//     (a denied request is a definite error: a no-op); this validator replays the changes in
//     the order of the auth revisions they report and holds every request to the
//     permissions of the auth revision its credentials carried (served or denied: exactly
//     that state), refusals as stale to a change that could have raced them.
//   - check.go: Check, Options, Result, verdicts. report.go: WriteReport.
//
// Conventions every checker shares: times are closed intervals (an operation may take effect
// at any t with call <= t <= return, so operations with equal end and start times are
// concurrent), as in Porcupine. A timeout is reported as VerdictUnknown, never as ok. The
// initial revision of an empty store is 1, as in etcd.
//
// Invariants: Check never modifies the history; each Violation names the check that found it
// and says in one sentence what broke; a Result's verdict is a violation whenever any check
// found one.
//
// Imports: the standard library, Porcupine, and linearizability/history; nothing of the store
// (it reads histories only).
package linearizability
