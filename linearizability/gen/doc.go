// Package gen generates histories of a correct etcd, and mutates them into histories no
// correct etcd could produce, to test the checkers of package linearizability: thousands of
// generated histories must pass (no false alarms) and mutated ones must fail.
//
// Generate(seed, cfg) runs Model — a small in-memory reference of etcd's KV, txn, lease and
// revision semantics (see Model) — under a virtual clock: clients c0..cN call requests, each
// applies at one instant inside its call/return interval (its linearization point), in
// time order; unknown outcomes (no return, or a timeout error) apply or not, possibly after
// the client gave up; definite errors never apply; a crashed client stops and a new client
// with a new id (c3.1 after c3) takes its place; leases expire no earlier than their TTL
// after the grant or keep-alive applied (so after its call), recorded as "cluster" records
// at the revoke's revision and time; watchers see exactly the applied events from their
// start revision, each revision whole in one response, progress notifications never ahead
// of an undelivered event, resumes from the last event's revision + 1. Every put writes a
// value no other request writes. Output is deterministic: one seeded math/rand source, an
// event queue ordered by (time, scheduling order), no map iteration where order matters.
//
// Mutate(h, kind, rng) copies h and changes one thing so that the result is illegal by
// construction, or reports ok=false when h offers nothing to mutate that way. Each kind,
// and why its result cannot be linearized (MutationKinds lists them all):
//
//   - value-never-written: a successful read returns, for one key, a value no request ever
//     wrote. Values are unique per write, so no write explains it.
//   - mod-revision-off-by-one: a read returns a key-value whose mod_revision is one off, where
//     the put that wrote that (unique) value was acknowledged with header revision r: a put's
//     header revision is the revision it created, so the value's mod_revision is r.
//   - header-revision-off-by-one: (a) an acknowledged put's header revision is one off while a
//     successful read or a watch event saw its unique value at mod_revision r; or (b) a
//     linearizable read returning a key with mod_revision r claims header revision r-1 (a
//     state at r-1 cannot hold a change made at r); or (c) a linearizable read's header
//     revision r becomes r+1 where revision r+1 was created by an acknowledged put called
//     after the read returned.
//   - version-off-by-one: a read returns a key-value whose version is one off, for a key that
//     no request with an unknown outcome could have written (so every write to it, and the
//     order of those writes by their acknowledged revisions, is known and the version fixed).
//   - dropped-watch-event: from a watch stream that later shows progress past revision r (a
//     later event of a higher revision, or a progress notification at r or later), either
//     every event of revision r is removed, when the watcher watches every key without
//     filters (every revision changes some key, so such a watcher must deliver every
//     revision), or one PUT event is removed whose unique value was written by an
//     acknowledged request with header revision r (so that key changed at r, inside the
//     watched range). The stream then skips an event it must have delivered.
//   - duplicated-watch-event: a watch response is delivered twice in a row. No correct
//     stream repeats an event (revisions rise strictly).
//   - flipped-txn-succeeded: an acknowledged txn's succeeded is flipped and its responses
//     replaced by the other branch's, computed from the state. Chosen only where every compare
//     is on a key no unknown-outcome request could have written and the txn's revision is
//     known, so the compares' outcome is fixed.
//   - lease-expiry-earlier: a lease expiry record is moved to before (the call time of the
//     latest acknowledged grant or keep-alive with TTL > 0 of that lease) + TTL - the header's
//     clock error. That renewal happened before the expiry (after it the lease answers TTL 0),
//     and a lease lives at least its TTL after a renewal.
//   - stale-read: a linearizable read returns the whole state (header revision, kvs, count,
//     more) at revision r-1, where an acknowledged put with header revision r returned before
//     the read was called (preferring a put in the read's range, so the values differ): the
//     read must observe revision r or later.
//   - split-watch-revision: a watch response holding several events of one revision is split
//     into two responses. etcd delivers a revision's events atomically.
//   - progress-notify-ahead: a progress notification claims revision e, where the stream
//     delivers an event of revision e only after it.
//   - wrong-prev-kv: a watch event's prev_kv value becomes one never written.
//
// The generated histories assume etcd's semantics as Model states them: a serializable read
// may be up to Config.SerializableStaleRevisions revisions old with that revision in its
// header; a range with count_only answers more = false; a keep-alive of an absent lease
// answers TTL 0; clients choose lease ids (grant requests carry an id), so an unknown grant
// is recognisable by its id.
//
// Use:
//
//	h := gen.Generate(seed, gen.DefaultConfig())         // must pass every checker
//	for _, kind := range gen.MutationKinds {
//		bad, why, ok := gen.Mutate(h, kind, rand.New(rand.NewSource(seed)))
//		if ok { /* every checker must reject bad; why says what was changed */ }
//	}
//
// Imports: linearizability/history and the standard library; nothing of the store.
package gen
