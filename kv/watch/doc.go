// Package watch serves etcd's watch guarantees over kv/mvcc: catch-up from history, live
// fan-out in revision order, cancel and progress notifications. Delivery is driven by the
// caller, never by a goroutine of its own.
//
// Imports: kv/mvcc, Pebble (for the reader catch-up goes through) and etcd's API types;
// nothing of Ballast's outside kv but canary (the watch-skip guard in markSynced, constant
// false in normal builds).
//
// # How the caller drives it
//
//	hub := watch.NewHub(watch.Config{}, store.CurrentRevision())
//	s := hub.NewStream()                          // one gRPC Watch call
//	err := s.Handle(watchRequest)                 // or Create / Cancel / RequestProgress
//	hub.Notify(rev, events)                       // after the batch of revision rev commits
//	hub.TickProgress()                            // the periodic progress timer
//	if s.Ready() {                                // and the client can take more:
//		resps, err := s.Pending(watch.StoreHistory(store, db), max) // send these, in order
//	}
//	s.Close()                                     // the gRPC stream ended
//	hub.Restore(rev)                              // a raft snapshot replaced the store
//
// Notify only appends shared event pointers to the buffers of matching synced watchers; it
// never reads storage and never waits for a reader. Pending, called when the client can take
// more, hands out responses and does the catch-up reads, so a client that never reads costs
// no reads. The simulator decides when each call happens; production calls the same methods
// from the stream's goroutine under the node's lock.
//
// # Guarantees (each checked by an assertion where it is produced)
//
//   - Every watcher receives exactly the events of its range (after its filters) from its
//     start revision on: in revision order, each once, no gap, including across the
//     hand-over from catch-up to live delivery and across falling behind and catching up.
//   - All events of one revision arrive in one response, never split, whatever the batch
//     bounds; only a watcher that asked for fragment gets a revision over MaxResponseBytes
//     in fragments (Fragment set on all but the last, as etcd does).
//   - A progress notification (per watcher from TickProgress, or stream-wide with WatchId
//     -1 from RequestProgress) reports a revision R only once the watcher (every watcher of
//     the stream) has been handed every event up to R. Where etcd drops a tick's
//     notification for an unsynced watcher, Ballast sends it once the watcher caught up,
//     unless events were sent meanwhile (then, as in etcd, no notification is needed). An event response's header revision
//     is the hub's revision only when the watcher has nothing older left to send, else the
//     revision of its last event, so it never claims more either.
//   - A slow watcher never blocks writes or other watchers: its buffer is bounded by events
//     and bytes; when a revision would cross the bound the watcher drops its buffer, leaves
//     the index and becomes unsynced (etcd's unsynced group) from the first revision it had
//     not sent, and catches up from storage, in reads bounded by events and by revisions
//     scanned, when its stream pulls. Dropping (rather than keeping) the buffer means a
//     stalled client holds no memory at all, not even pointers the garbage collector must
//     scan (1,000 full default buffers would be a million pointers in every GC cycle); the
//     price is a re-read for a client that was only briefly slow.
//   - Order never depends on map iteration: synced watchers are found through an index
//     (exact key lookup, sorted range slice), streams and watchers are kept in sorted
//     slices, and Pending serves watchers in watch-ID order round-robin.
//
// # etcd parity and deliberate differences
//
// Watch IDs, errors and responses are etcd's: automatic IDs count up from 0 per stream,
// skipping IDs in use; a client-chosen ID in use is refused with "mvcc: duplicate watch ID
// provided on the WatchStream"; an empty range with "mvcc: watcher range is empty"; a
// negative start revision with etcd's compacted text. A refused create is a response with
// WatchId -1, Created and Canceled, and CancelReason. Canceling an unknown ID sends nothing.
// A start revision below the compact revision C gives, after the created response, a
// response with CompactRevision C and Canceled, and the watcher is gone. One difference:
// etcd serves a watch starting exactly at C although compaction removed the deletions made
// at C; Ballast cannot deliver revision C whole, so it cancels such a watch with
// CompactRevision C+1, the oldest revision it serves whole. Header revisions of compacted
// responses are the hub's revision (etcd sends 0).
//
// Watchers live in memory: after a restart the caller builds a new hub and clients resume
// from their last revision + 1, as etcd's clients do.
//
// # Invariants (violations panic)
//
// Notify gets revisions one by one, each with at least one event, all of that revision.
// A watcher never sends a revision at or below one it already sent. A synced watcher is in
// the index exactly once; an unsynced one never. A watcher becomes synced only when it has
// read every revision up to the hub's. Catch-up reads return only events of the range asked
// for, in order, within the revisions asked for.
package watch
