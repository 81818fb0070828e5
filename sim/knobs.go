package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/scenarios"
)

// Knobs are the member settings of one run: the scenario's own, and for each one the scenario
// leaves at 0, a value the seed may draw (FoundationDB's BUGGIFY): small snapshot thresholds,
// small appends, short election timeouts, tiny caches and memtables, so the rare paths they
// lead to (log compaction, snapshots sent and installed, many small appends, frequent
// elections, raft log reads from Pebble, memtable flushes under the member's writes) run in
// many seeds, not only in the scenarios written for them. 0 means kv/node's default.
type Knobs struct {
	SnapshotEntries        int `json:",omitempty"`
	SnapshotCatchUpEntries int `json:",omitempty"`
	MaxAppendBytes         int `json:",omitempty"`
	ElectionTimeoutTicks   int `json:",omitempty"`
	// MemTableBytes, CacheBytes: Pebble's; the simulator's default is small (4 MiB, 1 MiB)
	// so that many members fit in memory. LogCacheEntries: the raft log's tail cache.
	MemTableBytes   int `json:",omitempty"`
	CacheBytes      int `json:",omitempty"`
	LogCacheEntries int `json:",omitempty"`
	// Snappy: Pebble compresses its blocks (its default); otherwise they are stored as they
	// are, which the simulator, its stores in memory, does faster.
	Snappy bool `json:",omitempty"`
	// MaxWaitingRequests is the scenario's (never drawn: the flood scenario sets it).
	MaxWaitingRequests int `json:",omitempty"`
	// Drawn names the knobs this seed drew (the others are the scenario's or the default).
	Drawn []string `json:",omitempty"`
}

// streamKnobs is the knobs' own random stream, so a new knob draw never moves the schedule,
// the workload or the network.
const streamKnobs = 0x6b6e6f6273000000

// Per-knob chance that a seed draws it instead of keeping the default.
const (
	knobSnapshotChance = 0.5
	knobAppendChance   = 0.25
	knobElectionChance = 0.25
	knobCacheChance    = 0.25
	knobSnappyChance   = 0.25
)

// The simulator's Pebble sizes when no knob is drawn.
const (
	simMemTableBytes = 4 << 20
	simCacheBytes    = 1 << 20
)

// drawKnobs takes the scenario's settings and draws the rest from the seed's knob stream.
// Every draw happens whatever the scenario sets, so a scenario setting one knob does not
// change the values drawn for the others.
func drawKnobs(sc scenarios.Scenario, seed int64) Knobs {
	r := rand.New(rand.NewPCG(uint64(seed), streamKnobs))
	k := Knobs{SnapshotEntries: sc.SnapshotEntries, SnapshotCatchUpEntries: sc.SnapshotCatchUpEntries,
		MaxAppendBytes: sc.MaxAppendBytes, ElectionTimeoutTicks: sc.ElectionTimeoutTicks,
		MemTableBytes: simMemTableBytes, CacheBytes: simCacheBytes, MaxWaitingRequests: sc.MaxWaitingRequests}

	// snapshot thresholds of 50..400 entries: the catalogue's runs apply 1-4k entries, so
	// every member compacts its log several times and a member that was away returns to a
	// leader that no longer holds the entries it lacks
	snap := r.Float64() < knobSnapshotChance
	snapEntries := []int{50, 100, 200, 400}[r.IntN(4)]
	catchUp := r.IntN(snapEntries/2 + 1)
	if snap && sc.SnapshotEntries == 0 && sc.SnapshotCatchUpEntries == 0 {
		k.SnapshotEntries, k.SnapshotCatchUpEntries = snapEntries, catchUp
		k.Drawn = append(k.Drawn, "SnapshotEntries", "SnapshotCatchUpEntries")
	}

	// 1 byte: one entry per append; the others cut a busy leader's appends into a few
	app := r.Float64() < knobAppendChance
	appBytes := []int{1, 512, 8 << 10}[r.IntN(3)]
	if app && sc.MaxAppendBytes == 0 {
		k.MaxAppendBytes = appBytes
		k.Drawn = append(k.Drawn, "MaxAppendBytes")
	}

	// 5..9 ticks (default 10) with the one-tick heartbeat: elections come sooner, leases get
	// a shorter minimum TTL. Not below 5: with sync latency and message delay a follower
	// would then time out between heartbeats of a healthy leader often enough that the
	// liveness bounds of the catalogue no longer hold.
	el := r.Float64() < knobElectionChance
	elTicks := 5 + r.IntN(node.DefaultElectionTimeoutTicks-5)
	if el && sc.ElectionTimeoutTicks == 0 {
		k.ElectionTimeoutTicks = elTicks
		k.Drawn = append(k.Drawn, "ElectionTimeoutTicks")
	}

	// tiny caches, drawn together: a memtable of 64 or 256 KiB flushes every few hundred
	// writes (a batch above half of it becomes a flushable batch of its own), a 64 KiB
	// block cache misses on most reads, and a tail cache of 8 or 64 entries sends raft's
	// reads of entries to followers and to apply through Pebble
	caches := r.Float64() < knobCacheChance
	memTable := []int{64 << 10, 256 << 10}[r.IntN(2)]
	logCache := []int{8, 64}[r.IntN(2)]
	if caches {
		k.MemTableBytes, k.CacheBytes, k.LogCacheEntries = memTable, 64<<10, logCache
		k.Drawn = append(k.Drawn, "MemTableBytes", "CacheBytes", "LogCacheEntries")
	}

	// production's compression on a quarter of the seeds, so its code paths (and their
	// interplay with the tiny caches) still run
	if r.Float64() < knobSnappyChance {
		k.Snappy = true
		k.Drawn = append(k.Drawn, "Snappy")
	}
	return k
}

// apply sets the knobs on a member's Config (0 leaves kv/node's default).
func (k Knobs) apply(cfg *node.Config) {
	cfg.SnapshotEntries = k.SnapshotEntries
	cfg.SnapshotCatchUpEntries = k.SnapshotCatchUpEntries
	cfg.MaxAppendBytes = uint64(k.MaxAppendBytes)
	cfg.ElectionTimeoutTicks = k.ElectionTimeoutTicks
	cfg.PebbleMemTableBytes = uint64(k.MemTableBytes)
	cfg.PebbleCacheBytes = int64(k.CacheBytes)
	cfg.LogCacheEntries = k.LogCacheEntries
	cfg.MaxWaitingRequests = k.MaxWaitingRequests
	cfg.PebbleUncompressed = !k.Snappy
}

// String is the knobs' trace line.
func (k Knobs) String() string {
	return fmt.Sprintf("snapshot-entries=%d snapshot-catch-up-entries=%d max-append-bytes=%d election-ticks=%d memtable-bytes=%d cache-bytes=%d log-cache-entries=%d snappy=%v max-waiting-requests=%d drawn=%v",
		k.SnapshotEntries, k.SnapshotCatchUpEntries, k.MaxAppendBytes, k.ElectionTimeoutTicks,
		k.MemTableBytes, k.CacheBytes, k.LogCacheEntries, k.Snappy, k.MaxWaitingRequests, k.Drawn)
}
