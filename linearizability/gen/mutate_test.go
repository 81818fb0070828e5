package gen

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/ballastdb/ballast/linearizability/history"
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

// ruleFor names the independent rule (rules_test.go) each mutation kind must break. Kinds
// whose illegality needs the full sequential state (a version, a txn's compares) are checked
// by diff in TestMutationsBreakARule instead.
var ruleFor = map[MutationKind]func(*history.History) []string{
	MutValueNeverWritten:    ruleValuesWritten,
	MutWrongPrevKV:          ruleValuesWritten,
	MutModRevisionOffByOne:  ruleAckedRevisions,
	MutStaleRead:            ruleRealTime,
	MutLeaseExpiryEarlier:   ruleLeaseTTL,
	MutDroppedWatchEvent:    ruleWatchStreams,
	MutDuplicatedWatchEvent: ruleWatchStreams,
	MutSplitWatchRevision:   ruleWatchStreams,
	MutProgressNotifyAhead:  ruleWatchStreams,
	MutHeaderRevisionOffByOne: func(h *history.History) []string {
		return append(ruleAckedRevisions(h), ruleRealTime(h)...)
	},
}

// TestMutationsBreakARule: generated histories obey every rule; each mutation of them breaks
// the rule its kind is about (for version and txn flips: changes exactly that field).
func TestMutationsBreakARule(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < 25; i++ {
		cfg := variedConfig(i)
		cfg.Watchers = 2 + i%3
		h := Generate(seed+int64(i), cfg)
		for kind, rule := range ruleFor {
			require.Empty(t, rule(h), "seed %d: generated history breaks the rule of %s", seed+int64(i), kind)
		}
		for _, kind := range MutationKinds {
			m, desc, ok := Mutate(h, kind, rng)
			if !ok {
				continue
			}
			if rule, has := ruleFor[kind]; has {
				require.NotEmpty(t, rule(m), "seed %d: %s broke no rule: %s", seed+int64(i), kind, desc)
				continue
			}
			switch kind {
			case MutVersionOffByOne:
				require.Equal(t, 1, countVersionDiffs(h, m), "seed %d: %s", seed+int64(i), desc)
			case MutFlippedTxnSucceeded:
				require.Equal(t, 1, countFlippedTxns(h, m), "seed %d: %s", seed+int64(i), desc)
			default:
				t.Fatalf("no check for %s", kind)
			}
		}
	}
}

func countVersionDiffs(h, m *history.History) int {
	n := 0
	for i := range h.Operations {
		a, b := h.Operations[i].Response, m.Operations[i].Response
		if a == nil || a.Range == nil {
			continue
		}
		for j := range a.Range.KVs {
			if d := a.Range.KVs[j].Version - b.Range.KVs[j].Version; d == 1 || d == -1 {
				n++
			}
		}
	}
	return n
}

func countFlippedTxns(h, m *history.History) int {
	n := 0
	for i := range h.Operations {
		a, b := h.Operations[i].Response, m.Operations[i].Response
		if a != nil && a.Txn != nil && a.Txn.Succeeded != b.Txn.Succeeded {
			n++
		}
	}
	return n
}
