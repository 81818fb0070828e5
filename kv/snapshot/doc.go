// Package snapshot writes and reads etcd's snapshot file: the bbolt database etcd v3.5 to
// v3.7 keep their state machine in (what `etcdctl snapshot save` saves and `etcdutl snapshot
// restore` restores), followed by the sha256 trailer of every byte before it (so the file's
// size % 512 == 32).
//
// Write builds such a file from a consistent view of a Ballast store (a Pebble snapshot
// and the member table as of the same applied index) in a temporary file of a directory
// the caller names (the member's data dir), committing the bbolt file every
// writeBatchBytesMax bytes, so memory stays bounded whatever the store's size; File.Stream
// sends it as etcd's Maintenance.Snapshot does. Open checks a file (its size, the sha256
// trailer, bbolt's own consistency check, etcd's buckets) and names the check that failed;
// Reader.Import writes its key bucket (in revision order, every version checked) and leases
// into an empty Pebble DB in bounded batches; Reader.Status answers `etcdutl snapshot
// status` (hash, revision, total keys, size, version) computed as etcdutl computes it.
//
// # Layout (etcd v3.7.3's server/storage/schema, read from its source)
//
//	key              8-byte BE main revision, '_', 8-byte BE sub revision, 't' for a tombstone
//	                 -> marshaled mvccpb.KeyValue (a tombstone's holds only the key)
//	meta             consistent_index, term (8 bytes BE each), confState (JSON of raftpb's
//	                 ConfState), storageVersion ("3.7.0"), scheduledCompactRev and
//	                 finishedCompactRev (the compact revision in the key bucket's layout;
//	                 absent when nothing was compacted)
//	lease            8-byte BE lease ID -> leasepb.Lease (ID, TTL, RemainingTTL), encoded by
//	                 this package's own protobuf writer: leasepb lives in etcd's server module,
//	                 which Ballast's main module does not require (tools/etcd's test decodes it
//	                 with leasepb)
//	members          hex member ID -> JSON {"id","peerURLs","isLearner","name","clientURLs"}
//	members_removed  hex member ID -> "removed"
//	cluster          clusterVersion ("3.7.0")
//	alarm            marshaled etcdserverpb.AlarmMember -> empty
//	auth             authRevision (8 bytes BE, 1: auth never enabled)
//	authUsers, authRoles  empty
//
// Imports: bbolt, Pebble, etcd's API types, kv/mvcc and kv/lease (their Export and import
// calls); nothing else of Ballast's.
package snapshot
