//go:build !canary

package canary

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNormalBuildHasNoCanary: without the tag nothing can switch a canary on.
func TestNormalBuildHasNoCanary(t *testing.T) {
	require.False(t, Enabled)
	require.NoError(t, Set(""))
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, Set(name), ErrNotCanaryBuild)
			require.False(t, On(name))
			require.Equal(t, "", Active())
		})
	}
}
