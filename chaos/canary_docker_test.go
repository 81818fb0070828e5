//go:build docker

package chaos

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/canary"
)

// chaosImage is a chaos build's image: the variable env (an id or tag), else BuildImage's
// image of the context make chaos-images staged in .bin/<stage>. Missing, the test fails
// (this file builds only with -tags docker, which make chaos-test passes after staging them).
func chaosImage(t *testing.T, env, stage string) string {
	t.Helper()
	if os.Getenv(env) == "" {
		_, err := os.Stat(filepath.Join("..", ".bin", stage))
		require.NoError(t, err, "%s is unset and .bin/%s is missing: run make chaos-images", env, stage)
	}
	return stagedImage(t, env, stage)
}

// TestDockerCanaries proves the Docker world can fail: the canary image, with
// ack-before-sync (in power-loss mode, on the canary's own scenario: a follower down, the
// other on a slow disk, then the leader and that follower lose power at once) and with
// read-no-quorum (the leader of 5 isolated four times), each finds a violation within 5
// seeds; and the correct chaos build passes the power-loss scenario (seed 1), so what
// catches the canary is the canary.
func TestDockerCanaries(t *testing.T) {
	canaryImage := chaosImage(t, "BALLAST_CANARY_IMAGE", "image-ballast-canary")
	goodImage := chaosImage(t, "BALLAST_CHAOS_IMAGE", "image-ballast-chaos")
	logf := func(f string, a ...any) { t.Logf(f, a...) }
	byName := map[string]CanaryRun{}
	for _, c := range Canaries() {
		byName[c.Canary] = c
	}
	for _, name := range []string{canary.AckBeforeSync, canary.ReadNoQuorum} {
		t.Run(name, func(t *testing.T) {
			c := byName[name]
			caught := false
			for seed := int64(1); seed <= 5 && !caught; seed++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				rep, err := Run(ctx, RunConfig{Image: canaryImage, Scenario: c.Scenario, Seed: seed, Canary: name, HealTimeout: 20 * time.Second, Logf: logf})
				cancel()
				var setup *SetupError
				if errors.As(err, &setup) {
					// A broken member can keep the run from applying its faults (no leader to
					// isolate): that seed proves nothing either way; the next one runs.
					t.Logf("%s seed %d: %v", name, seed, err)
					continue
				}
				require.NoError(t, err)
				if !rep.Passed() {
					caught = true
					t.Logf("%s caught by %s at seed %d: %s", name, c.Scenario, seed, rep.Problems[0])
				}
			}
			require.True(t, caught, "%s was not caught by %s in 5 seeds", name, c.Scenario)
		})
	}
	t.Run("correct build passes", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		rep, err := Run(ctx, RunConfig{Image: goodImage, Scenario: byName[canary.AckBeforeSync].Scenario, Seed: 1, PowerLoss: true, Logf: logf})
		require.NoError(t, err)
		require.True(t, rep.Passed(), "problems: %v", rep.Problems)
		var powerLosses int
		for _, f := range rep.Faults {
			if f.Kind == "power-loss" {
				powerLosses++
			}
		}
		require.Equal(t, 3, powerLosses, "the scenario's three crashes are power losses in this mode: %+v", rep.Faults)
	})
}
