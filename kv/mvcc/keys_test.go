package mvcc

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func randomBytes(r *rand.Rand) []byte {
	alphabet := []byte{0x00, 0x01, 0xfe, 0xff, 'a', 'b'}
	b := make([]byte, 1+r.IntN(5))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// The k/ encoding keeps key order, is prefix-free, and versionBounds selects exactly the
// keys inRange selects: the properties Range and compaction rely on.
func TestVersionKeyEncodingProperties(t *testing.T) {
	for _, seed := range testSeeds(t, 1) {
		t.Logf("seed %d", seed)
		r := rand.New(rand.NewPCG(seed, 1))
		for i := 0; i < 20000; i++ {
			a, b := randomBytes(r), randomBytes(r)
			pa, pb := versionKeyPrefix(nil, a), versionKeyPrefix(nil, b)
			require.Equal(t, bytes.Compare(a, b), bytes.Compare(pa, pb), "seed %d: order of %q and %q", seed, a, b)
			if !bytes.Equal(a, b) {
				require.False(t, bytes.HasPrefix(pa, pb) || bytes.HasPrefix(pb, pa), "seed %d: %q and %q encode with a shared prefix", seed, a, b)
			}
			rev := revision{main: r.Int64N(1 << 40), sub: r.Int64N(4)}
			vk := versionKey(nil, a, rev)
			kp, got := splitVersionKey(vk)
			require.Equal(t, rev, got)
			require.Equal(t, pa, kp)
			start := randomBytes(r)
			var end []byte
			switch r.IntN(3) {
			case 0:
				end = nil
			case 1:
				end = []byte{}
			default:
				end = randomBytes(r)
			}
			lower, upper := versionBounds(start, end)
			inBounds := bytes.Compare(vk, lower) >= 0 && bytes.Compare(vk, upper) < 0
			require.Equal(t, inRange(a, start, end), inBounds, "seed %d: key %q range [%q, %q)", seed, a, start, end)
		}
	}
}

func TestRevisionKeyOrder(t *testing.T) {
	revs := []revision{{1, 0}, {1, 1}, {2, 0}, {255, 7}, {256, 0}, {1 << 40, 3}}
	for i := 1; i < len(revs); i++ {
		require.Less(t, string(revisionKey(nil, revs[i-1])), string(revisionKey(nil, revs[i])))
		require.Equal(t, revs[i], parseRevisionKey(revisionKey(nil, revs[i])))
		// In k/, newer versions of one key sort first.
		require.Greater(t, string(versionKey(nil, []byte("k"), revs[i-1])), string(versionKey(nil, []byte("k"), revs[i])))
	}
	require.Panics(t, func() { parseRevisionKey([]byte("mvcc/r/short")) })
	require.Panics(t, func() { splitVersionKey([]byte("mvcc/k/x")) })
}

func TestCompactCursorEncoding(t *testing.T) {
	c := compactCursor{mode: cursorTombstoneLater, tombstone: versionKey(nil, []byte("t"), revision{3, 1}), position: versionKey(nil, []byte("t"), revision{2, 0})}
	got, err := decodeCursor(encodeCursor(c))
	require.NoError(t, err)
	require.Equal(t, c.mode, got.mode)
	require.Equal(t, c.tombstone, got.tombstone)
	require.Equal(t, c.position, got.position)
	for _, bad := range [][]byte{nil, {'f'}, {'x', 0}, {'f', 9, 'a'}} {
		_, err := decodeCursor(bad)
		require.Error(t, err, "cursor %q", bad)
	}
}

func TestRevisionsNeverGoBack(t *testing.T) {
	e := newEnv(t)
	e.mustPut("a", "1")
	b := e.db.NewIndexedBatch()
	defer b.Close()
	require.Panics(t, func() {
		_ = e.s.writeState(b, state{currentRev: 2, compactRev: -1}, state{currentRev: 1, compactRev: -1})
	})
	require.Panics(t, func() {
		_ = e.s.writeState(b, state{currentRev: 2, compactRev: 2}, state{currentRev: 2, compactRev: 1})
	})
}
