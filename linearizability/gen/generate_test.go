package gen

import (
	"bytes"
	"os"
	"strconv"
	"testing"

	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/stretchr/testify/require"
)

// testSeed returns $BALLAST_SEED or 1, logged so a failure can be re-run.
func testSeed(t *testing.T) int64 {
	seed := int64(1)
	if s := os.Getenv("BALLAST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		seed = v
	}
	t.Logf("seed %d (re-run with BALLAST_SEED=%d)", seed, seed)
	return seed
}

func encode(t testing.TB, h *history.History) []byte {
	var buf bytes.Buffer
	_, err := h.WriteTo(&buf)
	require.NoError(t, err)
	return buf.Bytes()
}

// variedConfig returns a config that differs with i, to cover small and large shapes.
func variedConfig(i int) Config {
	cfg := DefaultConfig()
	cfg.Clients = 1 + i%8
	cfg.Operations = 20 + (i*37)%300
	cfg.Keys = 1 + i%6
	cfg.Watchers = i % 4
	cfg.BinaryKey = i%2 == 0
	return cfg
}

func TestGenerateIsDeterministic(t *testing.T) {
	seed := testSeed(t)
	for i := 0; i < 20; i++ {
		cfg := variedConfig(i)
		a := encode(t, Generate(seed+int64(i), cfg))
		b := encode(t, Generate(seed+int64(i), cfg))
		require.Equal(t, string(a), string(b), "seed %d", seed+int64(i))
		c := encode(t, Generate(seed+int64(i)+1000, cfg))
		require.NotEqual(t, string(a), string(c), "different seeds, same history")
	}
}

// TestGeneratedHistoriesRoundTrip: every generated history is valid, and reads back equal to
// itself from its file.
func TestGeneratedHistoriesRoundTrip(t *testing.T) {
	seed := testSeed(t)
	for i := 0; i < 60; i++ {
		s := seed*1000 + int64(i)
		h := Generate(s, variedConfig(i))
		require.NoError(t, h.Validate(), "seed %d", s)
		data := encode(t, h)
		back, err := history.Read(bytes.NewReader(data))
		require.NoError(t, err, "seed %d", s)
		require.Equal(t, string(data), string(encode(t, back)), "seed %d", s)
	}
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"cluster", func(c *Config) { c.ClusterSize = 0 }, "ClusterSize 0"},
		{"clients", func(c *Config) { c.Clients = 0 }, "Clients 0"},
		{"operations", func(c *Config) { c.Operations = -1 }, "Operations -1"},
		{"keys", func(c *Config) { c.Keys = 0 }, "Keys 0"},
		{"watchers", func(c *Config) { c.Watchers = -1 }, "must not be negative"},
		{"stale", func(c *Config) { c.SerializableStaleRevisions = -1 }, "SerializableStaleRevisions -1"},
		{"ttl", func(c *Config) { c.LeaseTTLSeconds = 0 }, "LeaseTTLSeconds 0"},
		{"think", func(c *Config) { c.ThinkNsMax = 0 }, "ThinkNsMax"},
		{"rate", func(c *Config) { c.CrashRate = 2 }, "CrashRate 2"},
		{"sum", func(c *Config) { c.UnknownRate, c.IndeterminateRate = 0.6, 0.6 }, "add up to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			require.ErrorContains(t, cfg.Validate(), tc.want)
			require.PanicsWithValue(t, cfg.Validate().Error(), func() { Generate(1, cfg) })
		})
	}
}
