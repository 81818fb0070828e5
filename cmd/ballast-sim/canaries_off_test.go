//go:build !canary

package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCanariesRefusedInNormalBuild: a normal build holds no canary, so both ways of asking
// for one fail with bad usage and say how to get a canary build.
func TestCanariesRefusedInNormalBuild(t *testing.T) {
	for _, args := range [][]string{
		{"canaries"},
		{"canaries", "-seeds", "3"},
		{"run", "-canary", "watch-skip", "-seed", "1", "-out", ""},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			require.Equal(t, exitBadUsage, run(args, &stdout, &stderr))
			require.Contains(t, stderr.String(), "not a canary build (build with -tags canary)")
			require.Empty(t, stdout.String())
		})
	}
}

// TestCanaryScenariosRunByName: the canaries' scenarios are not in the catalogue, but run
// finds them by name (a normal build runs them as the baseline a canary departs from).
func TestCanaryScenariosRunByName(t *testing.T) {
	sc, err := findScenario("canary-watch-resume")
	require.NoError(t, err)
	require.Equal(t, "canary-watch-resume", sc.Name)
	require.Equal(t, "ballast-sim run -scenario canary-watch-resume -seed 4", replayCommand(sc.Name, 4, nil),
		"no canary is active in a normal build, so replays stay plain")
}
