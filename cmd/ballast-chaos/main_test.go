package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage: ballast-chaos run|list"},
		{"unknown command", []string{"explode"}, `unknown command "explode"`},
		{"unknown scenario", []string{"run", "-scenario", "no-such"}, `unknown scenario "no-such"`},
		{"simulator-only scenario", []string{"run", "-scenario", "disk-corruption"}, "the Docker runner does not apply it yet"},
		{"unknown flag", []string{"run", "-bogus"}, "flag provided but not defined: -bogus"},
		{"no clients", []string{"run", "-clients", "0"}, "clients at least 1"},
		{"extra argument", []string{"run", "leader-crash"}, `unexpected arguments ["leader-crash"]`},
		{"scenario with endpoints", []string{"run", "-endpoints", "http://127.0.0.1:1", "-scenario", "steady"}, "-scenario does not go with -endpoints"},
		{"prefix without endpoints", []string{"run", "-prefix", "/x/"}, "go with -endpoints only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runArgs(t, tc.args...)
			require.Equal(t, exitSetup, code)
			require.Contains(t, stderr, tc.want)
		})
	}
}

func TestList(t *testing.T) {
	code, stdout, _ := runArgs(t, "list")
	require.Equal(t, exitOK, code)
	// A catalogue scenario (its schedule as the catalogue defines it) and a Docker-only one.
	require.Regexp(t, `(?m)^leader-crash +3 +14s +crash leader at 2s for 3s; crash leader at 7s for 2s$`, stdout)
	require.Regexp(t, `(?m)^lossy-network .*reorder at 2s rate 0.2 for 7s \(not applied in Docker: .*latency at 5s for 2s \(-power-loss only\)`, stdout)
	require.Contains(t, stdout, "kill-pause-restart")
	require.NotContains(t, stdout, "disk-corruption", "the simulator's disk corruption has no Docker translation")
}

// A missing image is a setup failure (exit 2) naming the image, and nothing is made.
func TestMissingImage(t *testing.T) {
	if os.Getenv("CI") != "true" {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			t.Skip("no Docker engine (with CI=true this runs and needs one)")
		}
	}
	code, stdout, stderr := runArgs(t, "run", "-scenario", "leader-crash", "-image", "ballast-no-such-image:never", "-out", "")
	require.Equal(t, exitSetup, code, "stdout: %s\nstderr: %s", stdout, stderr)
	require.Contains(t, stderr, "ballast-no-such-image:never")
}
