package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/atomicfs"
)

// Open refuses a damaged disk with an error wrapping ErrCorruption that names the file and
// the check that failed, and the member never serves from it. Before Pebble opens, the
// current MANIFEST is read strictly to its end: Pebble itself takes a record that fails its
// checksum for the end of the log and opens the older version read so far, which could drop
// tables whose WALs are gone (an older raft log and hard state: a vote forgotten). A torn,
// never-synced MANIFEST tail after a power loss looks the same and is refused too (replace
// the member). After Pebble opens, every block of every live sstable is read and its
// checksum checked, so damage anywhere in a table is found at Open, on the member's
// goroutine, not by whichever read or background compaction reaches it first; it costs one
// read of the store per start (BenchmarkVerifyTables measures it). Pebble's
// DataCorruption and BackgroundError events (its default would call Logger.Fatalf, a panic
// in a Pebble goroutine that ends the process) are recorded instead, and the member stops
// with that ErrCorruption at its next Work: only this member stops. The WAL is not checked:
// Pebble reads damage to its newest file as the torn tail of a crash mid-write and truncates
// it, which no check here can tell apart, so the simulator damages sstables and the
// MANIFEST only. StoreFiles (for the simulator) flushes a stopped
// member's store and names its live sstables and MANIFEST, the files whose damage Open must
// find.

// ErrCorruption: the member's disk holds damaged data (an sstable block or the MANIFEST fails
// its checksum). The member refuses to open, or stops serving, rather than answer from a
// store it cannot trust; it never heals by itself (replace it).
var ErrCorruption = errors.New("node: on-disk corruption detected, member refuses to serve")

// manifestMarker is the name of Pebble's marker that names the current MANIFEST.
const manifestMarker = "manifest"

// corruptionWatch receives Pebble's corruption reports. Pebble calls DataCorruption and
// BackgroundError from its own goroutines (compactions, table stats) as well as from read
// paths, so the first report is kept under a lock and acted on by the member's goroutine
// (checkCorruption), never in Pebble's: only this member stops, never the process.
type corruptionWatch struct {
	mu  sync.Mutex
	err error
}

func (c *corruptionWatch) report(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *corruptionWatch) get() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// listener replaces Pebble's defaults, which call Logger.Fatalf on a corruption (a panic in a
// Pebble goroutine would end the whole process, simulator included).
func (c *corruptionWatch) listener() *pebble.EventListener {
	return &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			c.report(fmt.Errorf("%w: %s", ErrCorruption, info))
		},
		BackgroundError: func(err error) {
			if pebble.IsCorruptionError(err) {
				c.report(fmt.Errorf("%w: background: %v", ErrCorruption, err))
			}
		},
	}
}

// checkCorruption stops the member once Pebble reported a corruption or a fatal error.
func (m *Member) checkCorruption() error {
	if m.stopped != nil || m.corrupt == nil {
		return m.stopped
	}
	if err := m.corrupt.get(); err != nil {
		m.logf("stopping: %v", err)
		m.stop(err)
		return err
	}
	if err := m.fatal.get(); err != nil {
		return m.storageFailure(err)
	}
	return nil
}

// verifyManifest reads the current MANIFEST strictly, before Pebble opens the DB. Pebble
// treats a MANIFEST record that fails its checksum as the end of the log and opens the
// version it read so far: a flipped byte in a synced edit would silently drop the tables it
// added (and the WALs they replaced may be gone), so the member would come back with an
// older raft log and hard state (a vote forgotten). A member cannot tell such damage from
// the torn, never-synced tail a power loss during a MANIFEST write may leave, so it refuses
// both: the cost of the second is one member to replace, the cost of the first is safety.
// A directory with no MANIFEST yet (a new member) passes.
func verifyManifest(fs vfs.FS, dir string) error {
	if _, err := fs.Stat(dir); err != nil {
		return nil // a new member: Pebble creates the directory
	}
	name, err := atomicfs.ReadMarker(fs, dir, manifestMarker)
	if err != nil {
		return fmt.Errorf("%w: read the MANIFEST marker: %v", ErrCorruption, err)
	}
	if name == "" {
		return nil
	}
	f, err := fs.Open(fs.PathJoin(dir, name))
	if err != nil {
		return fmt.Errorf("%w: open %s: %v", ErrCorruption, name, err)
	}
	defer f.Close()
	rr := record.NewReader(f, 0)
	for i := 0; ; i++ {
		r, err := rr.Next()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if err != nil {
			return fmt.Errorf("%w: %s record %d: %v", ErrCorruption, name, i, err)
		}
	}
}

// verifyTables reads every block of every live sstable and checks its checksum, so damage
// anywhere in a table (data, index, filter, properties) is found at Open, in the member's
// own goroutine, rather than by the read or the background compaction that happens to
// touch the block first. Tables are visited in level order, then key order.
func verifyTables(db *pebble.DB, fs vfs.FS, dir string) error {
	levels, err := db.SSTables()
	if err != nil {
		return fmt.Errorf("list sstables: %w", err)
	}
	for _, tables := range levels {
		for _, t := range tables {
			if err := verifyTable(fs, fs.PathJoin(dir, tableFileName(uint64(t.BackingSSTNum)))); err != nil {
				return err
			}
		}
	}
	return nil
}

func tableFileName(num uint64) string { return fmt.Sprintf("%06d.sst", num) }

func verifyTable(fs vfs.FS, path string) error {
	f, err := fs.Open(path)
	if err != nil {
		return fmt.Errorf("%w: open %s: %v", ErrCorruption, path, err)
	}
	readable, err := objstorageprovider.NewFileReadable(f, fs, objstorageprovider.NewReadaheadConfig(), path)
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("%w: open %s: %v", ErrCorruption, path, err)
	}
	r, err := sstable.NewReader(context.Background(), readable, sstable.ReaderOptions{})
	if err != nil {
		_ = readable.Close()
		return fmt.Errorf("%w: read %s: %v", ErrCorruption, path, err)
	}
	defer r.Close() // closes readable
	if err := r.ValidateBlockChecksums(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorruption, path, err)
	}
	return nil
}

// StoreFiles prepares a stopped member's disk for a corruption test and names the files
// whose damage the member must detect when it next opens: it opens the DB in dir with the
// member's Pebble options, flushes what the WAL holds into sstables (a small store may
// otherwise live in its WAL alone, whose damaged tail Pebble reads as torn and truncates),
// and returns the live sstables (sorted by name) and the current MANIFEST, relative to
// dir. The logical content is unchanged. The simulator calls it between a crash and a
// restart, on the member's goroutine; Pebble's background work ends with Close.
func StoreFiles(fs vfs.FS, dir string) (tables []string, manifest string, err error) {
	if err := verifyManifest(fs, dir); err != nil {
		return nil, "", err
	}
	watch := &corruptionWatch{}
	db, err := pebble.Open(dir, pebbleOptions(Config{FS: fs, PebbleMemTableBytes: 4 << 20, PebbleCacheBytes: 1 << 20}, watch, newPebbleFatal()))
	if err != nil {
		return nil, "", fmt.Errorf("open pebble in %q: %w", dir, err)
	}
	if err := db.Flush(); err != nil {
		_ = db.Close()
		return nil, "", fmt.Errorf("flush: %w", err)
	}
	levels, err := db.SSTables()
	if err != nil {
		_ = db.Close()
		return nil, "", fmt.Errorf("list sstables: %w", err)
	}
	for _, ts := range levels {
		for _, t := range ts {
			tables = append(tables, tableFileName(uint64(t.BackingSSTNum)))
		}
	}
	slices.Sort(tables)
	if err := db.Close(); err != nil {
		return nil, "", fmt.Errorf("close: %w", err)
	}
	if err := watch.get(); err != nil {
		return nil, "", err
	}
	manifest, err = atomicfs.ReadMarker(fs, dir, manifestMarker)
	if err != nil {
		return nil, "", fmt.Errorf("read the MANIFEST marker: %w", err)
	}
	return tables, manifest, nil
}
