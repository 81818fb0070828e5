package embed

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func memberConfig(t *testing.T, dir, name, cluster, state string, peerURL string) Config {
	t.Helper()
	u, err := url.Parse(peerURL)
	require.NoError(t, err)
	cfg, err := Config{Name: name, DataDir: dir, InitialCluster: cluster, InitialClusterState: state,
		AdvertisePeerURLs: []url.URL{*u}, ListenPeerURLs: []url.URL{*u},
		HeartbeatInterval: 10 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond}.withDefaults()
	require.NoError(t, err)
	return cfg
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func noFetch(context.Context, string) (uint64, []Founder, error) {
	return 0, nil, errors.New("no fetch expected")
}

// TestBootstrapNewThenRestart: state new derives etcd's IDs and records them; a restart reads
// them back and ignores every --initial-* flag, even a different cluster.
func TestBootstrapNewThenRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const cluster = "m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380"
	id, err := bootstrap(ctx, memberConfig(t, dir, "m2", cluster, ClusterStateNew, "http://127.0.0.1:22380"), quiet, noFetch)
	require.NoError(t, err)
	require.Equal(t, uint64(0x9e737febb6b99eee), id.id) // etcd's value, see TestMemberAndClusterIDsAsEtcd
	require.Equal(t, uint64(0x73841b4a9097c907), id.clusterID)
	require.Len(t, id.founders, 3)
	require.False(t, id.restart)

	again, err := bootstrap(ctx, memberConfig(t, dir, "m2", "m2=http://127.0.0.1:22380", ClusterStateExisting, "http://127.0.0.1:22380"), quiet, noFetch)
	require.NoError(t, err)
	require.True(t, again.restart)
	require.Equal(t, id.id, again.id)
	require.Equal(t, id.clusterID, again.clusterID)
	require.Equal(t, id.founders, again.founders, "a crash before the database existed bootstraps from the same founders")
}

func TestBootstrapRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, err := bootstrap(ctx, memberConfig(t, dir, "m9", "m1=http://127.0.0.1:12380", ClusterStateNew, "http://127.0.0.1:12380"), quiet, noFetch)
	require.EqualError(t, err, `couldn't find local name "m9" in the initial cluster configuration`)
	_, err = os.Stat(filepath.Join(dir, "member", metaFileName))
	require.True(t, errors.Is(err, os.ErrNotExist), "a refused bootstrap writes nothing")

	// A database without its identity file: refused, never guessed.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "member", dbDirName), 0o700))
	_, err = bootstrap(ctx, memberConfig(t, dir, "m1", "m1=http://127.0.0.1:12380", ClusterStateNew, "http://127.0.0.1:12380"), quiet, noFetch)
	require.ErrorContains(t, err, "holds a member database")
}

// TestBootstrapJoin: state existing takes the ID member add chose and the cluster ID from the
// first other member that answers.
func TestBootstrapJoin(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var asked []string
	fetch := func(_ context.Context, u string) (uint64, []Founder, error) {
		asked = append(asked, u)
		if u == "http://127.0.0.1:12380" {
			return 0, nil, errors.New("connection refused")
		}
		return 0xc1, []Founder{{ID: 1, Name: "m1", PeerURLs: []string{"http://127.0.0.1:12380"}},
			{ID: 2, Name: "m2", PeerURLs: []string{"http://127.0.0.1:22380"}}, {ID: 77, PeerURLs: []string{"http://127.0.0.1:42380"}}}, nil
	}
	cfg := memberConfig(t, dir, "m4", "m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380,m4=http://127.0.0.1:42380",
		ClusterStateExisting, "http://127.0.0.1:42380")
	id, err := bootstrap(ctx, cfg, quiet, fetch)
	require.NoError(t, err)
	require.Equal(t, []string{"http://127.0.0.1:12380", "http://127.0.0.1:22380"}, asked)
	remotes := []Founder{{ID: 1, Name: "m1", PeerURLs: []string{"http://127.0.0.1:12380"}},
		{ID: 2, Name: "m2", PeerURLs: []string{"http://127.0.0.1:22380"}}, {ID: 77, PeerURLs: []string{"http://127.0.0.1:42380"}}}
	require.Equal(t, identity{id: 77, clusterID: 0xc1, joined: true, remotes: remotes}, id)

	again, err := bootstrap(ctx, cfg, quiet, noFetch)
	require.NoError(t, err)
	require.Equal(t, identity{id: 77, clusterID: 0xc1, joined: true, restart: true, remotes: remotes}, again)

	_, err = bootstrap(ctx, memberConfig(t, t.TempDir(), "m4", "m1=http://127.0.0.1:12380,m4=http://127.0.0.1:42380",
		ClusterStateExisting, "http://127.0.0.1:42380"), quiet, func(context.Context, string) (uint64, []Founder, error) {
		return 0, nil, errors.New("connection refused")
	})
	require.EqualError(t, err, "cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs (http://127.0.0.1:12380: connection refused)")
}

// TestBootstrapWALDirKept: the WAL directory a member was created with is recorded, and a
// restart naming another one (or none) is refused before Pebble would open without its log.
func TestBootstrapWALDirKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	wal := filepath.Join(t.TempDir(), "wal")
	cfg := memberConfig(t, dir, "m1", "m1=http://127.0.0.1:12380", ClusterStateNew, "http://127.0.0.1:12380")
	cfg.WALDir = wal
	_, err := bootstrap(ctx, cfg, quiet, noFetch)
	require.NoError(t, err)
	_, err = bootstrap(ctx, cfg, quiet, noFetch)
	require.NoError(t, err, "the same --wal-dir")
	cfg.WALDir = ""
	_, err = bootstrap(ctx, cfg, quiet, noFetch)
	require.EqualError(t, err, `--wal-dir "" is not the WAL directory this member was created with ("`+wal+`"): Pebble would not find its log there; start with --wal-dir "`+wal+`"`)
}
