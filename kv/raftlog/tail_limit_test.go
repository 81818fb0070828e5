package raftlog

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/raft"
)

// TestLimitTailCache: a log whose tail cache is limited to 8 entries keeps at most 8 in
// memory and still serves every entry and term (the older ones from Pebble); 0 keeps the
// default bound.
func TestLimitTailCache(t *testing.T) {
	db, l := memLog(t)
	l.LimitTailCache(0)
	require.Equal(t, tailMaxEntries, l.tail.maxEntries)
	l.LimitTailCache(8)
	var ents []raft.Entry
	for i := uint64(1); i <= 100; i++ {
		ents = append(ents, raft.Entry{Index: i, Term: 1 + i/30, Data: fmt.Appendf(nil, "e%d", i)})
	}
	for lo := 0; lo < len(ents); lo += 7 {
		hi := min(lo+7, len(ents))
		require.NoError(t, write(t, db, func(b *pebble.Batch) error { return l.Append(b, ents[lo:hi]) }))
		require.LessOrEqual(t, len(l.tail.ents), 8)
	}
	require.Len(t, l.tail.ents, 8)
	got, err := l.Entries(1, 101, 1<<30)
	require.NoError(t, err)
	require.Equal(t, ents, got)
	for _, e := range ents {
		term, err := l.Term(e.Index)
		require.NoError(t, err)
		require.Equal(t, e.Term, term, "term of %d", e.Index)
	}
}
