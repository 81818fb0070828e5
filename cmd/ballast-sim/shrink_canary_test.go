//go:build canary

package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/canary"
)

// TestShrinkCanary shrinks the apply-twice canary's first seed (a real safety failure: the
// members' HashKV disagree) and runs the printed command, which must switch the canary on
// and fail again the same way; the canary is off afterwards.
func TestShrinkCanary(t *testing.T) {
	t.Cleanup(func() { require.NoError(t, canary.Set("")) })
	t.Chdir(t.TempDir())
	code, stdout, stderr := invoke("shrink", "-canary", "apply-twice", "-seed", "1")
	t.Logf("stdout:\n%sstderr:\n%s", stdout, stderr)
	require.Equal(t, exitOK, code)
	require.Equal(t, "", canary.Active(), "shrink left the canary on")
	require.Contains(t, stdout, "(hashkv disagreement)")
	var command string
	for line := range strings.Lines(stdout) {
		if rest, ok := strings.CutPrefix(line, "reproduce: "); ok {
			command = strings.TrimSpace(rest)
		}
	}
	prefix := "go run -tags canary ./cmd/ballast-sim run -canary apply-twice -scenario canary-"
	require.True(t, strings.HasPrefix(command, prefix), "command %q", command)
	require.Contains(t, command, " -seed 1 -skip ")
	_, args, _ := strings.Cut(command, "./cmd/ballast-sim ")
	code, out, errOut := invoke(strings.Fields(args)...)
	t.Logf("reproduced:\n%s%s", out, errOut)
	require.Equal(t, exitFailed, code)
	require.Contains(t, out, "FAIL canary-")
	require.Contains(t, out, "HashKV")
}
