package rpc_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/rpc/embed"
	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// testCluster is three (or n) members in this process, over real loopback TCP: the client
// API on one port each, the peer transport on another.
type testCluster struct {
	t       testing.TB
	names   []string
	cfgs    []embed.Config
	servers []*embed.Server
}

func mustURL(t testing.TB, s string) url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return *u
}

// newCluster starts n members named m0..m(n-1) with short timers (heartbeat 20 ms, election
// 200 ms: the loaded 2-core test machine still elects within a second) and waits until each
// serves.
func newCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	return newClusterWith(t, n, nil)
}

// newClusterWith is newCluster with each member's configuration changed by tweak first.
func newClusterWith(t testing.TB, n int, tweak func(*embed.Config)) *testCluster {
	t.Helper()
	ports := embedtest.FreePorts(t, 2*n)
	c := &testCluster{t: t}
	var initial []string
	for i := range n {
		c.names = append(c.names, fmt.Sprintf("m%d", i))
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	dir := t.TempDir()
	for i := range n {
		client := mustURL(t, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]))
		peerURL := mustURL(t, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]))
		c.cfgs = append(c.cfgs, embed.Config{
			Name:                c.names[i],
			DataDir:             fmt.Sprintf("%s/m%d", dir, i),
			ListenClientURLs:    []url.URL{client},
			AdvertiseClientURLs: []url.URL{client},
			ListenPeerURLs:      []url.URL{peerURL},
			AdvertisePeerURLs:   []url.URL{peerURL},
			InitialCluster:      strings.Join(initial, ","),
			InitialClusterState: "new",
			InitialClusterToken: "rpc-test",
			// 50 ms / 500 ms: with 20 ms / 200 ms a fresh-clone CI run, its 2 cores shared by
			// every package's tests, lost the leader while a 1.4 MB txn went through and the
			// fragments test's txn failed with "no leader".
			HeartbeatInterval: 50 * time.Millisecond,
			ElectionTimeout:   500 * time.Millisecond,
			Logger:            testLogger(t, fmt.Sprintf("m%d", i)),
			// As etcd's integration clusters (StrictReconfigCheck false): these tests change
			// the membership at once, before the leader has been connected to its peers for
			// etcd's HealthInterval; rpc/embed's TestStrictReconfigCheck tests the check.
			NoStrictReconfigCheck: true,
		})
		if tweak != nil {
			tweak(&c.cfgs[i])
		}
	}
	c.servers = make([]*embed.Server, n)
	for i := range n {
		c.start(i)
	}
	for i := range n {
		c.waitReady(i)
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	s, err := embed.Start(context.Background(), c.cfgs[i])
	require.NoError(c.t, err, "start %s", c.names[i])
	c.servers[i] = s
}

func (c *testCluster) waitReady(i int) {
	c.t.Helper()
	select {
	case <-c.servers[i].ReadyNotify():
	case err := <-c.servers[i].Err():
		c.t.Fatalf("%s failed before serving: %v", c.names[i], err)
	case <-time.After(60 * time.Second):
		c.t.Fatalf("%s not ready to serve after 60 s", c.names[i])
	}
}

// stop stops member i gracefully.
func (c *testCluster) stop(i int) {
	if c.servers[i] != nil {
		c.servers[i].Stop()
		c.servers[i] = nil
	}
}

func (c *testCluster) stopAll() {
	for i := range c.servers {
		c.stop(i)
	}
}

func (c *testCluster) endpoint(i int) string { return c.cfgs[i].AdvertiseClientURLs[0].String() }

func (c *testCluster) endpoints() []string {
	var out []string
	for i := range c.cfgs {
		out = append(out, c.endpoint(i))
	}
	return out
}

// client returns a clientv3 client of the given members (all when none named), closed at
// the end of the test.
func (c *testCluster) client(members ...int) *clientv3.Client {
	c.t.Helper()
	eps := c.endpoints()
	if len(members) > 0 {
		eps = nil
		for _, i := range members {
			eps = append(eps, c.endpoint(i))
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	require.NoError(c.t, err)
	c.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// leader returns the index of the member that leads, asking each member's Status until one
// names a leader they agree on.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i := range c.servers {
			if c.servers[i] == nil {
				continue
			}
			cli := c.client(i)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := cli.Status(ctx, c.endpoint(i))
			cancel()
			if err == nil && st.Leader != 0 {
				for j := range c.servers {
					if c.servers[j] != nil && c.servers[j].ID() == st.Leader {
						return j
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatal("no leader within 30 s")
	return -1
}

// follower returns the index of a member that serves and does not lead.
func (c *testCluster) follower() int {
	l := c.leader()
	for i := range c.servers {
		if i != l && c.servers[i] != nil {
			return i
		}
	}
	c.t.Fatal("no follower")
	return -1
}

// testLogger writes a member's log into the test's output, shown only when the test fails.
func testLogger(t testing.TB, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("member", name)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
