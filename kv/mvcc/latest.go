package mvcc

import (
	"bytes"
	"hash/crc32"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// The latest-version cache. Every put must know its key's live version (for the create
// revision, the version count and the event's PrevKv), and finding it is a Pebble seek: 17%
// of the simulator's BenchmarkSteady1000 profile. The cache remembers, for a bounded number
// of recently written or looked-up keys, the key's live version at the store's current
// revision (or that it has none).
//
// It stays right because every write of a version goes through applyWrite, which updates
// the cache from the transaction's events once the transaction finished (a transaction that
// fails leaves it untouched, as it leaves the batch), and a write transaction consults it
// only before it has changed anything itself, when what it reads is the store at its begin
// revision. Compaction never removes a live key's newest version (a key whose newest version
// is a compacted tombstone has no live version either way). A restart or a snapshot install
// opens a new Store, with an empty cache. A batch that fails to commit stops the member.
//
// Direct-mapped (a slot per CRC of the key, the newer key replacing the older): bounded,
// without eviction lists, and its behaviour follows from the keys alone. Entries hold their
// own KeyValue structs, copied out on every hit, so no caller can change a cached one; the
// byte slices are shared, and nothing in the store writes into a KeyValue's slices.
const latestCacheSlots = 4096

// latestCacheMaxValueBytes bounds the values the cache keeps, so its memory stays bounded
// (4096 x 1 KiB) whatever the values; a larger version empties its key's slot.
const latestCacheMaxValueBytes = 1 << 10

type latestCache struct {
	mu    sync.Mutex
	slots [latestCacheSlots]latestEntry
}

type latestEntry struct {
	key []byte
	kv  *mvccpb.KeyValue // nil: the key has no live version
	set bool
}

func latestSlot(key []byte) int { return int(crc32.Checksum(key, castagnoli) % latestCacheSlots) }

// get returns the cached live version of key (a copy) and whether the cache knew it.
func (c *latestCache) get(key []byte) (*mvccpb.KeyValue, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &c.slots[latestSlot(key)]
	if !e.set || !bytes.Equal(e.key, key) {
		return nil, false
	}
	return copyKV(e.kv), true
}

// put records kv (nil: none) as key's live version.
func (c *latestCache) put(key []byte, kv *mvccpb.KeyValue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slot := &c.slots[latestSlot(key)]
	if kv != nil && len(kv.Value) > latestCacheMaxValueBytes {
		*slot = latestEntry{} // whatever the slot held, never a stale version of this key
		return
	}
	*slot = latestEntry{key: bytes.Clone(key), kv: copyKV(kv), set: true}
}

// record takes a finished transaction's writes into the cache.
func (c *latestCache) record(events []*mvccpb.Event) {
	for _, ev := range events {
		if ev.Type == mvccpb.Event_PUT {
			c.put(ev.Kv.Key, ev.Kv)
		} else {
			c.put(ev.Kv.Key, nil)
		}
	}
}

func copyKV(kv *mvccpb.KeyValue) *mvccpb.KeyValue {
	if kv == nil {
		return nil
	}
	return &mvccpb.KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision,
		ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
}
