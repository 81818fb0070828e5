package wire

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/ballastdb/ballast/raft"
	"github.com/stretchr/testify/require"
)

// testSeed returns SEED from the environment or def, and logs it for re-runs.
func testSeed(t testing.TB, def uint64) uint64 {
	t.Helper()
	seed := def
	if s := os.Getenv("SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "SEED=%q", s)
		seed = v
	}
	t.Logf("seed %d (re-run with SEED=%d)", seed, seed)
	return seed
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// randUint64 draws values of every magnitude, so every uvarint length is exercised.
func randUint64(rng *rand.Rand) uint64 {
	switch rng.IntN(4) {
	case 0:
		return 0
	case 1:
		return uint64(rng.IntN(200))
	case 2:
		return rng.Uint64() >> rng.IntN(64)
	}
	return rng.Uint64()
}

func randBytes(rng *rand.Rand, maxLen int) []byte {
	n := rng.IntN(maxLen + 1)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func randIDs(rng *rand.Rand) []uint64 {
	n := rng.IntN(5)
	if n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = randUint64(rng)
	}
	return ids
}

// randMessage draws a valid message of any type with every field it may carry.
func randMessage(rng *rand.Rand) raft.Message {
	m := raft.Message{
		Type:           raft.MessageType(1 + rng.IntN(int(lastMessageType))),
		From:           randUint64(rng),
		To:             randUint64(rng),
		Term:           randUint64(rng),
		LogTerm:        randUint64(rng),
		Index:          randUint64(rng) >> 1,
		Commit:         randUint64(rng),
		Reject:         rng.IntN(2) == 0,
		RejectHint:     randUint64(rng),
		LeaderTransfer: rng.IntN(2) == 0,
		ReadRound:      randUint64(rng),
	}
	switch rng.IntN(3) {
	case 0:
		m.Context = []byte{}
	case 1:
		m.Context = randBytes(rng, 40)
	}
	if m.Type == raft.MsgApp {
		n := rng.IntN(6)
		for i := 0; i < n; i++ {
			m.Entries = append(m.Entries, raft.Entry{
				Index: m.Index + 1 + uint64(i), Term: randUint64(rng),
				Type: raft.EntryType(rng.IntN(2)), Data: randBytes(rng, 300),
			})
		}
	}
	if m.Type == raft.MsgSnap {
		m.Snapshot = &raft.Snapshot{
			Data: randBytes(rng, 500),
			Metadata: raft.SnapshotMetadata{
				Index: randUint64(rng), Term: randUint64(rng),
				ConfState: raft.ConfState{Voters: randIDs(rng), Learners: randIDs(rng)},
			},
		}
	}
	return m
}

// appMessage is a MsgApp with n entries of dataBytes each.
func appMessage(n, dataBytes int) raft.Message {
	m := raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 7, LogTerm: 7, Index: 1000, Commit: 990}
	for i := 0; i < n; i++ {
		data := make([]byte, dataBytes)
		for j := range data {
			data[j] = byte(i + j)
		}
		m.Entries = append(m.Entries, raft.Entry{Index: 1001 + uint64(i), Term: 7, Data: data})
	}
	return m
}

func mustEncode(t testing.TB, m raft.Message) []byte {
	t.Helper()
	frame, err := Codec{}.Encode(&m)
	require.NoError(t, err)
	return frame
}
