// Package kvtest opens small Pebble databases for the tests of the kv packages (mvcc, lease,
// watch, raftlog, node) on any vfs.FS, in particular vfs.NewMem() and vfs.NewCrashableMem().
//
// Imports: Pebble and the standard library only; it is imported by tests, never by
// production code.
//
// Invariants: every DB it opens has a small memtable and block cache, so many of them fit in
// memory at once, and logs nothing (test output stays readable).
package kvtest
