//go:build canary

package canary

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCanaryBuildSwitch(t *testing.T) {
	require.True(t, Enabled)
	t.Cleanup(func() { require.NoError(t, Set("")) })
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{CommitOldTerm, true}, {NoLogCheck, true}, {ReadNoQuorum, true}, {AckBeforeSync, true},
		{ApplyTwice, true}, {WatchSkip, true}, {LeaseFollowerClock, true},
		{"", true}, {"commit-new-term", false}, {"Commit-Old-Term", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, Set(""))
			err := Set(tc.name)
			if !tc.ok {
				require.Error(t, err)
				require.Equal(t, "", Active(), "a refused name must not become active")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.name, Active())
			for _, other := range Names() {
				require.Equal(t, other == tc.name, On(other), "On(%q) with %q active", other, tc.name)
			}
		})
	}
}

func TestOnPanicsOnUnknownName(t *testing.T) {
	t.Cleanup(func() { require.NoError(t, Set("")) })
	require.NoError(t, Set(WatchSkip))
	require.Panics(t, func() { On("watch-skipp") })
}

func TestNamesAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range Names() {
		require.False(t, seen[n], n)
		seen[n] = true
		require.True(t, Known(n))
	}
	require.Len(t, seen, len(Names()))
}
