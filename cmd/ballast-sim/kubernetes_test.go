package main

import (
	"encoding/json"
	"io"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestKubernetesSwarm parses the simulation swarm's command lines (sim-swarm.yaml's Indexed
// Job, expanded per completion index by the nested module deploy/kubernetes into
// testdata/command-lines.json) with run's own parser: every flag is one run accepts, each
// shard runs its share of the seeds, and together the shards run every seed of every
// scenario exactly once.
func TestKubernetesSwarm(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/testdata/command-lines.json")
	require.NoError(t, err)
	var lines []struct {
		Manifest string   `json:"manifest"`
		Index    int      `json:"index"`
		Count    int      `json:"count"`
		Argv     []string `json:"argv"`
		Results  string   `json:"results"`
	}
	require.NoError(t, json.Unmarshal(data, &lines))
	var shards int
	var seen []int64
	var scenarioCount, count int
	for _, l := range lines {
		if path.Base(l.Argv[0]) != "ballast-sim" || l.Argv[1] != "run" {
			continue
		}
		shards++
		cfg, err := parseRun(l.Argv[2:], io.Discard)
		require.NoError(t, err, "%s, index %d: %v", l.Manifest, l.Index, l.Argv)
		require.Equal(t, l.Results, cfg.results)
		require.NotEmpty(t, cfg.seeds)
		for _, s := range cfg.seeds {
			require.Equal(t, int64(l.Index), (s-1)%int64(l.Count), "seed %d in shard %d/%d", s, l.Index, l.Count)
		}
		seen = append(seen, cfg.seeds...)
		if scenarioCount == 0 {
			scenarioCount = len(cfg.scenarios)
		}
		require.Equal(t, scenarioCount, len(cfg.scenarios), "every shard runs the same scenarios")
		if count == 0 {
			count = l.Count
		}
		require.Equal(t, count, l.Count, "every shard counts the same completions")
	}
	require.Greater(t, shards, 1, "the swarm's shards")
	require.Equal(t, count, shards, "one command line per completion index")
	slices.Sort(seen)
	for i, s := range seen {
		require.Equal(t, int64(i+1), s, "the shards' seeds are 1..N, each once")
	}
}
