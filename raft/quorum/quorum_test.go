package quorum

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCommittedIndex(t *testing.T) {
	for _, tc := range []struct {
		name  string
		acked []uint64
		want  uint64
	}{
		{"no voters", nil, 0},
		{"one voter", []uint64{7}, 7},
		{"two voters need both", []uint64{5, 9}, 5},
		{"three voters, median", []uint64{9, 2, 5}, 5},
		{"three voters, two equal", []uint64{3, 3, 1}, 3},
		{"four voters need three", []uint64{10, 8, 6, 4}, 6},
		{"five voters need three", []uint64{1, 9, 7, 3, 5}, 5},
		{"nothing acked", []uint64{0, 0, 0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, CommittedIndex(append([]uint64(nil), tc.acked...)))
		})
	}
}

// TestCommittedIndexReference checks CommittedIndex against its definition: the largest index
// that at least a majority of entries are >= to.
func TestCommittedIndexReference(t *testing.T) {
	seed := uint64(rand.Int64())
	if v := os.Getenv("QUORUM_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "QUORUM_SEED")
	}
	t.Logf("seed %d (re-run: QUORUM_SEED=%d go test ./raft/quorum/ -run TestCommittedIndexReference)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for range 2000 {
		n := rng.IntN(8) + 1
		acked := make([]uint64, n)
		for i := range acked {
			acked[i] = rng.Uint64N(10)
		}
		var want uint64
		for idx := uint64(0); idx <= 10; idx++ {
			count := 0
			for _, a := range acked {
				if a >= idx {
					count++
				}
			}
			if count >= Majority(n) {
				want = idx
			}
		}
		require.Equal(t, want, CommittedIndex(append([]uint64(nil), acked...)), "seed %d acked %v", seed, acked)
	}
}

func TestTally(t *testing.T) {
	for _, tc := range []struct {
		voters, granted, rejected int
		want                      VoteResult
	}{
		{0, 0, 0, VoteLost},
		{1, 1, 0, VoteWon},
		{1, 0, 0, VotePending},
		{3, 1, 0, VotePending},
		{3, 2, 0, VoteWon},
		{3, 1, 2, VoteLost},
		{3, 1, 1, VotePending},
		{4, 2, 0, VotePending},
		{4, 3, 1, VoteWon},
		{4, 2, 2, VoteLost},
		{5, 3, 2, VoteWon},
	} {
		require.Equal(t, tc.want, Tally(tc.voters, tc.granted, tc.rejected), "%+v", tc)
	}
	require.Equal(t, "VoteWon", VoteWon.String())
	require.Equal(t, "VoteLost", VoteLost.String())
	require.Equal(t, "VotePending", VotePending.String())
	require.Equal(t, "VoteResult(?)", VoteResult(0).String())
}

func TestCommittedIndexDoesNotAllocate(t *testing.T) {
	acked := []uint64{4, 1, 3}
	allocs := testing.AllocsPerRun(100, func() { CommittedIndex(acked) })
	require.Zero(t, allocs)
}
