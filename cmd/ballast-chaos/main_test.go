package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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
		{"stage and image", []string{"run", "-stage", ".bin/image", "-image", "ballast:latest"}, "-image and -stage name the image two ways"},
		{"stage with endpoints", []string{"run", "-endpoints", "http://127.0.0.1:1", "-stage", ".bin/image"}, "-stage does not go with -endpoints"},
		{"stage without a Dockerfile", []string{"run", "-stage", "/nonexistent/.bin/image", "-out", ""}, "no Dockerfile in a directory above it"},
		{"stage without a binary", []string{"run", "-stage", "../../.bin/no-such-stage", "-out", ""}, "has no usr/local/bin/ballast"},
		{"canaries stage and image", []string{"canaries", "-stage", ".bin/image", "-image", "ballast:latest"}, "-image and -stage name the image two ways"},
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

// The default image: the variable, else make image's stage beside a Dockerfile (built once
// per binary by chaos.BuildImage), else the id file, looked up from the working directory
// upwards, else the build's latest tag; each build (plain, -power-loss, -canary) its own.
func TestDefaultImage(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "chaos")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	t.Chdir(sub)
	for _, v := range []string{"BALLAST_IMAGE", "BALLAST_CHAOS_IMAGE", "BALLAST_CANARY_IMAGE"} {
		t.Setenv(v, "")
	}
	parse := func(args ...string) *options {
		t.Helper()
		o, err := parseRun(args, &bytes.Buffer{})
		require.NoError(t, err)
		return o
	}
	o := parse()
	require.Equal(t, "ballast:latest", o.image)
	require.Empty(t, o.stage)

	bin := filepath.Join(root, ".bin")
	require.NoError(t, os.MkdirAll(filepath.Join(bin, "image-ballast-chaos"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "image-ballast-chaos.id"), []byte("sha256:chaosid\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "image-ballast-canary.id"), []byte("sha256:canaryid\n"), 0o644))
	o = parse("-power-loss")
	require.Equal(t, "sha256:chaosid", o.image, "no Dockerfile beside .bin: the id file")
	require.Empty(t, o.stage)

	require.NoError(t, os.WriteFile(filepath.Join(root, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	o = parse("-power-loss")
	require.Empty(t, o.image)
	require.Equal(t, filepath.Join(bin, "image-ballast-chaos"), o.stage, "the stage, built once per binary")
	o = parse("-canary", "ack-before-sync")
	require.Equal(t, "sha256:canaryid", o.image, "the canary build has no stage here: its id file")
	require.Empty(t, o.stage)

	t.Setenv("BALLAST_CHAOS_IMAGE", "mine:1")
	o = parse("-power-loss")
	require.Equal(t, "mine:1", o.image)
	require.Empty(t, o.stage)
	o = parse("-power-loss", "-stage", "elsewhere")
	require.Empty(t, o.image, "-stage wins over the defaults")
	require.Equal(t, "elsewhere", o.stage)
}
