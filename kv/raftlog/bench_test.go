package raftlog

import (
	"fmt"
	"testing"

	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/ballastdb/ballast/raft"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// BenchmarkAppend appends n entries of 256 bytes per batch on a real disk (b.TempDir,
// vfs.Default), committed unsynced, with or without the Sync that the driver issues per
// Ready. The difference between the two is the fsync cost per Ready.
func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{1, 64} {
		for _, sync := range []bool{false, true} {
			b.Run(fmt.Sprintf("entries=%d/sync=%t", n, sync), func(b *testing.B) {
				db, err := pebble.Open(b.TempDir(), kvtest.Options(vfs.Default))
				require.NoError(b, err)
				defer db.Close()
				l, err := Open(db)
				require.NoError(b, err)
				batch := make([]raft.Entry, n)
				data := make([]byte, 256)
				next := uint64(1)
				b.SetBytes(int64(n * len(data)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for j := range batch {
						batch[j] = raft.Entry{Index: next, Term: 1, Data: data}
						next++
					}
					wb := db.NewBatch()
					if err := l.Append(wb, batch); err != nil {
						b.Fatal(err)
					}
					if err := wb.Commit(pebble.NoSync); err != nil {
						b.Fatal(err)
					}
					_ = wb.Close()
					if sync {
						if err := l.Sync(); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkEntries reads 16 entries of 256 bytes from the tail of the log (what a leader
// does to build an append message).
func BenchmarkEntries(b *testing.B) {
	db, l := memLog(b)
	data := make([]byte, 256)
	var es []raft.Entry
	for i := uint64(1); i <= 1024; i++ {
		es = append(es, raft.Entry{Index: i, Term: 1, Data: data})
	}
	mustWrite(b, db, func(wb *pebble.Batch) error { return l.Append(wb, es) })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := l.Entries(1009, 1025, 1<<20)
		if err != nil || len(got) != 16 {
			b.Fatal(len(got), err)
		}
	}
}

// BenchmarkTerm looks up the term of an entry that is not the last one (not cached), which
// a leader does for the entry before each append it sends.
func BenchmarkTerm(b *testing.B) {
	db, l := memLog(b)
	var es []raft.Entry
	for i := uint64(1); i <= 1024; i++ {
		es = append(es, raft.Entry{Index: i, Term: 1 + i/100})
	}
	mustWrite(b, db, func(wb *pebble.Batch) error { return l.Append(wb, es) })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Term(1000); err != nil {
			b.Fatal(err)
		}
	}
}
