package embed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

func mustURL(t *testing.T, s string) []url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return []url.URL{*u}
}

// testLogger writes the members' logs to a file of the test, printed when it fails.
func testLogger(t *testing.T, name string) *slog.Logger {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(path)
	require.NoError(t, err)
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			data, _ := os.ReadFile(path)
			if len(data) > 10000 {
				data = data[len(data)-10000:]
			}
			t.Logf("--- %s log (tail) ---\n%s", name, data)
		}
	})
	return slog.New(slog.NewJSONHandler(io.MultiWriter(f), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testMember struct {
	cfg Config
	srv *Server
}

func testCluster(t *testing.T, n int) []*testMember {
	t.Helper()
	ports := embedtest.FreePorts(t, 2*n)
	var initial []string
	var ms []*testMember
	for i := range n {
		name := fmt.Sprintf("m%d", i+1)
		client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]), fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		initial = append(initial, name+"="+peer)
		ms = append(ms, &testMember{cfg: Config{Name: name, DataDir: filepath.Join(t.TempDir(), name),
			ListenClientURLs: mustURL(t, client), AdvertiseClientURLs: mustURL(t, client),
			ListenPeerURLs: mustURL(t, peer), AdvertisePeerURLs: mustURL(t, peer),
			InitialClusterToken: "embed-test", HeartbeatInterval: 50 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
			Logger: testLogger(t, name)}})
	}
	for _, m := range ms {
		m.cfg.InitialCluster = strings.Join(initial, ",")
	}
	ms[0].cfg.WALDir = filepath.Join(t.TempDir(), "m1-wal") // --wal-dir: a restart finds the log there
	t.Cleanup(func() {
		for _, m := range ms {
			if m.srv != nil {
				m.srv.Stop()
			}
		}
	})
	return ms
}

func (m *testMember) start(t *testing.T) {
	t.Helper()
	srv, err := Start(context.Background(), m.cfg)
	require.NoError(t, err)
	m.srv = srv
}

// addJoiningMember adds a member m4 through c (peer URL of scheme peerScheme, with peerTLS)
// and starts it with --initial-cluster-state existing (startJoiningMember); it returns once m4
// is ready with the ID the add gave it, and its client URL. A restarted leader refuses the add
// ("unhealthy cluster", --strict-reconfig-check) until it has been connected to every voter
// for etcd's HealthInterval, so the add is retried.
func addJoiningMember(t *testing.T, ctx context.Context, c *clientv3.Client, base *testMember, peerScheme string, peerTLS TLSInfo) (*testMember, string) {
	t.Helper()
	client4, peer4 := joiningURLs(t, peerScheme)
	var added *clientv3.MemberAddResponse
	retryUnhealthy(t, ctx, func() (err error) { added, err = c.MemberAdd(ctx, []string{peer4}); return err })
	m4 := startJoiningMember(t, base, base.cfg.InitialCluster, client4, peer4, peerTLS)
	require.Equal(t, added.Member.ID, m4.srv.ID())
	return m4, client4
}

// joiningURLs are free loopback client and peer URLs for a member about to be added.
func joiningURLs(t *testing.T, peerScheme string) (client, peer string) {
	t.Helper()
	ports := embedtest.FreePorts(t, 2)
	return fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("%s://127.0.0.1:%d", peerScheme, ports[1])
}

// startJoiningMember starts m4, already added with peer URL peer4, with --initial-cluster-state
// existing and the initial cluster of the members before it plus itself, configured like base
// otherwise (never forcing a new cluster), and waits until it is ready.
func startJoiningMember(t *testing.T, base *testMember, initialCluster, client4, peer4 string, peerTLS TLSInfo) *testMember {
	t.Helper()
	m4 := &testMember{cfg: base.cfg}
	m4.cfg.Name, m4.cfg.DataDir, m4.cfg.Logger, m4.cfg.WALDir = "m4", filepath.Join(t.TempDir(), "m4"), testLogger(t, "m4"), ""
	m4.cfg.ListenClientURLs, m4.cfg.AdvertiseClientURLs = mustURL(t, client4), mustURL(t, client4)
	m4.cfg.ListenPeerURLs, m4.cfg.AdvertisePeerURLs = mustURL(t, peer4), mustURL(t, peer4)
	m4.cfg.InitialCluster = initialCluster + ",m4=" + peer4
	m4.cfg.InitialClusterState = ClusterStateExisting
	m4.cfg.ForceNewCluster = false
	m4.cfg.PeerTLS = peerTLS
	m4.start(t)
	t.Cleanup(m4.srv.Stop)
	waitReady(t, m4)
	return m4
}

func waitReady(t *testing.T, ms ...*testMember) {
	t.Helper()
	for _, m := range ms {
		select {
		case <-m.srv.ReadyNotify():
		case err := <-m.srv.Err():
			t.Fatalf("%s failed: %v", m.cfg.Name, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("%s not ready after 30 s", m.cfg.Name)
		}
	}
}

func testClient(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestServerCluster: three members in one process over loopback; etcd's IDs, the member
// table with names and client URLs published, clientv3 reads and writes through any member,
// /health, a restart resuming from the data dir, a member added with member add joining with
// --initial-cluster-state existing, and a removed member stopping with etcd's error.
func TestServerCluster(t *testing.T) {
	ms := testCluster(t, 3)
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)
	ic, err := ParseInitialCluster(ms[0].cfg.InitialCluster)
	require.NoError(t, err)
	founders, err := Founders(ic, "embed-test")
	require.NoError(t, err)
	var ids []uint64
	for _, f := range founders {
		ids = append(ids, f.ID)
	}
	for _, m := range ms {
		require.Equal(t, MemberID(urlStrings(m.cfg.AdvertisePeerURLs), "embed-test", nil), m.srv.ID())
		require.Equal(t, ClusterID(ids), m.srv.ClusterID())
	}

	var endpoints []string
	for _, m := range ms {
		endpoints = append(endpoints, m.srv.ClientURLs()...)
	}
	c := testClient(t, endpoints...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.Put(ctx, "a", "1")
	require.NoError(t, err)
	for _, ep := range endpoints {
		one := testClient(t, ep)
		resp, err := one.Get(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "1", string(resp.Kvs[0].Value), ep)

		hr, err := http.Get(ep + "/health")
		require.NoError(t, err)
		body, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		require.Equal(t, http.StatusOK, hr.StatusCode)
		require.Equal(t, `{"health":"true","reason":""}`, string(body))
	}
	list, err := c.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, list.Members, 3)
	for _, mem := range list.Members {
		require.NotEmpty(t, mem.Name, "published through raft")
		require.NotEmpty(t, mem.ClientURLs, "published through raft")
	}

	// A graceful stop and a restart on the same data dir: same ID, same data.
	ms[0].srv.Stop()
	ms[0].start(t)
	waitReady(t, ms[0])
	resp, err := testClient(t, ms[0].srv.ClientURLs()...).Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "1", string(resp.Kvs[0].Value))

	// member add, then the new member joins with state existing and learns the data.
	m4, client4 := addJoiningMember(t, ctx, c, ms[0], "http", TLSInfo{})
	require.Equal(t, ms[0].srv.ClusterID(), m4.srv.ClusterID())
	resp, err = testClient(t, client4).Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "1", string(resp.Kvs[0].Value))

	// Removed: the member stops with etcd's message.
	_, err = c.MemberRemove(ctx, m4.srv.ID())
	require.NoError(t, err)
	select {
	case err := <-m4.srv.Err():
		require.ErrorContains(t, err, "the member has been permanently removed from the cluster")
	case <-time.After(30 * time.Second):
		t.Fatal("the removed member did not stop")
	}

	// Without a quorum the member has no leader: /health says so, as etcd's does.
	ms[1].srv.Stop()
	ms[2].srv.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		hr, err := http.Get(ms[0].srv.ClientURLs()[0] + "/health")
		require.NoError(t, err)
		body, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		// Until the leader notices the lost quorum (check quorum) the answer is a range that
		// timed out ("RANGE ERROR:..."), as etcd's is; then no leader.
		if hr.StatusCode == http.StatusServiceUnavailable && strings.TrimSpace(string(body)) == `{"health":"false","reason":"RAFT NO LEADER"}` {
			break
		}
		require.True(t, time.Now().Before(deadline), "/health still %d %s 30 s after the quorum was lost", hr.StatusCode, body)
		time.Sleep(100 * time.Millisecond)
	}
}
