//go:build chaos || canary

package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/kv/powerloss"
)

// In chaos and canary builds, --chaos-power-loss puts Pebble on the power-loss FS and
// BALLAST_CANARY picks the canary; without them the member runs on the disk, canary off.
func TestBuildFlags(t *testing.T) {
	dir := t.TempDir()
	opts, err := parseCommandLine("ballast", []string{"--data-dir", dir}, nil, io.Discard, io.Discard)
	require.NoError(t, err)
	require.Nil(t, opts.cfg.FS, "the disk (vfs.Default) unless asked")

	opts, err = parseCommandLine("ballast", []string{"--data-dir", dir, "--chaos-power-loss"}, nil, io.Discard, io.Discard)
	require.NoError(t, err)
	require.IsType(t, &powerloss.FS{}, opts.cfg.FS)

	t.Setenv("BALLAST_CANARY", "no-such-canary")
	_, err = parseCommandLine("ballast", []string{"--data-dir", dir}, nil, io.Discard, io.Discard)
	if canary.Enabled {
		require.ErrorContains(t, err, `unknown canary "no-such-canary"`)
		t.Setenv("BALLAST_CANARY", canary.AckBeforeSync)
		_, err = parseCommandLine("ballast", []string{"--data-dir", dir}, nil, io.Discard, io.Discard)
		require.NoError(t, err)
		require.Equal(t, canary.AckBeforeSync, canary.Active())
		require.NoError(t, canary.Set(""))
	} else {
		require.ErrorContains(t, err, "this is not a canary build")
	}
}
