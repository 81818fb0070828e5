package gen

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMutateEveryKind: over a few generated histories each kind finds something to change,
// changes it (the file differs), leaves the original alone, and stays readable.
func TestMutateEveryKind(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	applied := map[MutationKind]int{}
	for i := 0; i < 12; i++ {
		cfg := DefaultConfig()
		cfg.Watchers = 3
		h := Generate(seed+int64(i), cfg)
		before := encode(t, h)
		for _, kind := range MutationKinds {
			m, desc, ok := Mutate(h, kind, rng)
			if !ok {
				continue
			}
			applied[kind]++
			require.NotEmpty(t, desc)
			require.NoError(t, m.Validate())
			require.NotEqual(t, string(before), string(encode(t, m)), "%s: %s", kind, desc)
			require.True(t, bytes.Equal(before, encode(t, h)), "Mutate changed its input")
		}
	}
	t.Logf("mutations applied per kind over 12 histories: %v", applied)
	for _, kind := range MutationKinds {
		require.Positive(t, applied[kind], "kind %s never applied", kind)
	}
}
