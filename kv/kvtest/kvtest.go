package kvtest

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Small sizes keep many test databases in memory at once; the memtable is still large
// enough that a typical unit test never flushes, so a crash-clone test sees exactly what was
// synced through the WAL.
const (
	memTableSizeBytes = 4 << 20
	cacheSizeBytes    = 1 << 20
)

// quietLogger drops Pebble's informational logs and turns a fatal one into a panic, so a
// test that hits it fails loudly instead of calling os.Exit.
type quietLogger struct{}

func (quietLogger) Infof(format string, args ...interface{})  {}
func (quietLogger) Errorf(format string, args ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf("pebble fatal: "+format, args...))
}

// Options returns Pebble options for a small test database on fs.
func Options(fs vfs.FS) *pebble.Options {
	return &pebble.Options{
		FS:           fs,
		MemTableSize: memTableSizeBytes,
		CacheSize:    cacheSizeBytes,
		Logger:       quietLogger{},
	}
}

// OpenDB opens (creating if needed) a small Pebble database in directory "db" of fs. The
// caller closes it; use it when a test closes and reopens the database (restart, crash).
func OpenDB(fs vfs.FS) (*pebble.DB, error) {
	db, err := pebble.Open("db", Options(fs))
	if err != nil {
		return nil, fmt.Errorf("kvtest: open pebble on %T: %w", fs, err)
	}
	return db, nil
}

// MustOpen opens a small Pebble database on fs and closes it when the test ends, failing the
// test if it cannot be opened. Do not close it yourself (Pebble panics on a second Close).
func MustOpen(t testing.TB, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := OpenDB(fs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// MustOpenMem is MustOpen on a fresh in-memory filesystem.
func MustOpenMem(t testing.TB) *pebble.DB {
	t.Helper()
	return MustOpen(t, vfs.NewMem())
}
