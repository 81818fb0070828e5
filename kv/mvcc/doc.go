// Package mvcc is etcd's v3 multi-version key-value data model on Pebble: revisions (main,
// sub), Range, Put, DeleteRange, Txn, Compact (in bounded steps) and HashKV, with etcd's
// semantics and error texts, plus the event history watch catches up from.
//
// Imports: Pebble, etcd's API types (go.etcd.io/etcd/api/v3) and protobuf; nothing of
// Ballast's.
//
// # Contracts with the rest of kv
//
//   - Types are etcd's own: etcdserverpb requests and responses, mvccpb.KeyValue and
//     mvccpb.Event. Events are returned as []*mvccpb.Event, not []mvccpb.Event: the api/v3
//     v3.7 messages are google.golang.org/protobuf messages, which must not be copied.
//   - The caller owns the Pebble DB. mvcc owns every key starting with "mvcc/" (lease owns
//     "lease/", raftlog "raft/", node "node/"). The layout is versioned by "mvcc/m/format";
//     Open refuses any other version with an error wrapping ErrFormat. The layout itself is
//     described in keys.go.
//   - Writes (Put, DeleteRange, Txn, Compact, CompactStep) go into a *pebble.Batch the caller
//     passes in and commits; it must be an indexed batch (DB.NewIndexedBatch), because a txn
//     reads its own writes. One applied command is one batch carrying all its effects, and
//     the caller adds its applied index to the same batch. A write call that returns an error
//     has written nothing into the batch (bad input, unknown lease, missing previous version
//     for ignore_value/ignore_lease, compacted or future revision).
//   - Reads (Range, ReadTxn, EventsBetween, HashKV, Revisions) go through any pebble.Reader:
//     the DB, a snapshot or an indexed batch. The current and compact revisions are stored
//     under "mvcc/m/state" and read from that reader, so a read on a snapshot is consistent
//     with the snapshot.
//   - Write calls return, with etcd's response, the events they produced, in (revision,
//     sub-revision) order, each with Kv and PrevKv filled. PrevKv is etcd's watch prev_kv:
//     the key's version before the event's revision (a Range at ModRevision-1), nil when
//     there was none and for a create event; when one revision writes a key twice (sibling
//     nested txns), that is not the version the second write replaced (prev.go says why).
//     A delete event's Kv is etcd's: the key and ModRevision only. Lease attach and detach
//     are derived from these events by the caller (Kv.Lease and the event type); mvcc only
//     stores the lease id in the KeyValue.
//   - Lease existence: a put (plain or in a txn, on the branch taken) naming a lease the
//     LeaseChecker does not know fails with rpctypes.ErrGRPCLeaseNotFound and changes
//     nothing. A nil LeaseChecker knows no lease.
//   - EventsBetween(r, key, rangeEnd, fromRev, toRev, limit) reads history for watch;
//     fromRev at or below the compact revision gives ErrCompacted.
//   - Compaction: Compact(b, rev) records the compact revision (reads below it fail at once)
//     and a cursor; the caller then runs CompactStep(b, maxEntries) in batches of its own
//     between applies (each examines at most maxEntries versions; a few hundred to a few
//     thousand keeps the apply loop responsive) until it reports done. CompactPending tells
//     whether one is part-way, e.g. after a restart. Every member must apply the Compact
//     command itself at the same log position; the steps are local work that changes no
//     read and no HashKV.
//   - ReadTxn answers a txn that only reads from a reader, as etcd serves read-only txns
//     outside the log; GRPCError maps ErrCompacted and ErrFutureRev to etcd's gRPC errors.
//   - CurrentRevision and CompactRevision report the revisions after the last write call;
//     Open rebuilds them, and any part-way compaction's cursor, from what is stored. There is
//     no in-memory key index, so restart reads three keys and memory does not grow with keys.
//   - Keys is the number of live keys, stored beside the state (mvcc/m/keys) by every write
//     that makes or removes one; a store without it (written before it existed, or
//     imported) counts its keys once at Open.
//
// # Semantics (etcd v3.7)
//
// The store revision starts at 1; each write that changes something takes the next one, its
// changes numbered by sub-revision from 0. A delete matching nothing and a read-only txn
// create no revision. Errors: ErrCompacted and ErrFutureRev carry etcd's mvcc text
// ("mvcc: required revision has been compacted", "mvcc: required revision is a future
// revision"; GRPCError maps them to etcd's gRPC errors); request validation and lease errors
// are etcd's rpctypes gRPC errors, listed in errors.go. Range at exactly the compact
// revision is allowed, as in etcd. Two etcd v3.7 quirks are kept on purpose: a sort target
// with sort order NONE and a limit sorts only the first limit+1 keys, and a keys_only range
// not sorted by value returns no lease (etcd answers it from its key index). Deliberate differences from etcd, each documented where it
// lives: sorting is stable (ties stay in key order), request size is measured on the
// request rather than the raft entry around it, a delete range ending at "\x00" counts as
// open-ended in the duplicate-key check, and HashKV is always computed with the current
// compact revision (etcd answers a revision it compacted at from a hash cached during that
// compaction, which depends on timing) and ignores compaction progress even when no key is
// live.
//
// # Tests
//
// Parity tables per call, a randomized comparison with an in-memory reference model (with
// restarts and compaction steps), a crash test on vfs.NewCrashableMem, and, in the separate
// module kv/mvcc/etcdparity, a differential test against etcd v3.7.3's own store.
//
// # Invariants
//
// The current revision never decreases and the compact revision never exceeds it (checked
// when state is written and when it is read). A write transaction writes exactly revisions
// (current+1, 0..n-1). Compaction never deletes a version above the compact revision, and
// never commits a state where a tombstone at or below it is gone while an older version of
// its key remains. Violations panic.
package mvcc
