package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/rpc/embed"
	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// startBallast starts a three-member Ballast cluster in this process on loopback and
// returns its client endpoints (comma-separated) and a client of it; both end with t.
func startBallast(t *testing.T) (string, *clientv3.Client) {
	t.Helper()
	dir := t.TempDir()
	ports := embedtest.FreePorts(t, 6)
	u := func(p int) []url.URL {
		v, err := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", p))
		require.NoError(t, err)
		return []url.URL{*v}
	}
	var initial, eps []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i+1, ports[3+i]))
		eps = append(eps, fmt.Sprintf("127.0.0.1:%d", ports[i]))
	}
	srvs := make([]*embed.Server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("m%d.log", i+1)))
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		cfg := embed.Config{Name: fmt.Sprintf("m%d", i+1), DataDir: filepath.Join(dir, fmt.Sprintf("m%d.etcd", i+1)),
			ListenClientURLs: u(ports[i]), AdvertiseClientURLs: u(ports[i]),
			ListenPeerURLs: u(ports[3+i]), AdvertisePeerURLs: u(ports[3+i]),
			InitialCluster: strings.Join(initial, ","), InitialClusterState: embed.ClusterStateNew,
			InitialClusterToken: "bench-e2e", HeartbeatInterval: 100 * time.Millisecond, ElectionTimeout: time.Second,
			Logger: slog.New(slog.NewJSONHandler(f, nil))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv, err := embed.Start(context.Background(), cfg)
			if err != nil {
				errs[i] = err
				return
			}
			srvs[i] = srv
			select {
			case <-srv.ReadyNotify():
			case err := <-srv.Err():
				errs[i] = fmt.Errorf("m%d failed before it was ready: %w", i+1, err)
			case <-time.After(60 * time.Second):
				errs[i] = fmt.Errorf("m%d not ready after 60 s", i+1)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range srvs {
			if s != nil {
				s.Stop()
			}
		}
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	return strings.Join(eps, ","), cli
}

// bench runs ballast-bench with args and -json, and decodes its one line of output.
func bench(t *testing.T, args ...string) report {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, "-json"), &out, &errOut)
	require.Equal(t, 0, code, "ballast-bench %s: stderr %s", strings.Join(args, " "), errOut.String())
	require.Empty(t, errOut.String(), "-json draws no progress bar")
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	var r report
	require.NoError(t, dec.Decode(&r), "output %q", out.String())
	require.False(t, dec.More(), "one JSON object only")
	t.Logf("%s: %+v", strings.Join(args, " "), r)
	return r
}

// requireQuantiles checks the latency quantiles of a run with samples: positive, in order.
func requireQuantiles(t *testing.T, s summary) {
	t.Helper()
	require.Positive(t, s.P50)
	require.LessOrEqual(t, s.P50, s.P90)
	require.LessOrEqual(t, s.P90, s.P99)
	require.LessOrEqual(t, s.P99, s.P999)
	require.LessOrEqual(t, s.P999, s.Slowest)
	require.Positive(t, s.Seconds)
	require.InDelta(t, float64(s.Ops)/s.Seconds, s.OpsPerS, 1e-6*s.OpsPerS)
}

// TestWorkloadsOnBallast runs every workload briefly against a real three-member Ballast
// cluster and checks the JSON summary against what the run did to the store.
func TestWorkloadsOnBallast(t *testing.T) {
	eps, cli := startBallast(t)
	ctx := context.Background()

	// put: 4 clients over 2 connections, 200 puts in order over 50 keys: each key 4 times.
	r := bench(t, "put", "--endpoints", eps, "--clients", "4", "--conns", "2", "--total", "200",
		"--key-space-size", "50", "--sequential-keys", "--val-size", "16")
	require.Equal(t, "put", r.Workload)
	require.Equal(t, 200, r.Ops)
	require.Empty(t, r.Errors)
	require.Equal(t, 2, r.Conns)
	require.Equal(t, 4, r.Clients)
	requireQuantiles(t, r.summary)
	resp, err := cli.Get(ctx, "000000", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 50, "keys 00000000..00000049")
	for _, kv := range resp.Kvs {
		require.Equal(t, int64(4), kv.Version, "key %s", kv.Key)
		require.Equal(t, strings.Repeat("v", 16), string(kv.Value))
	}

	// range, serializable, over a prefix of 10 keys with --limit 5: 5 keys per range.
	r = bench(t, "range", "0000000", "--prefix", "--limit", "5", "--consistency", "s", "--clients", "3", "--total", "90", "--endpoints", eps)
	require.Equal(t, "range", r.Workload)
	require.Equal(t, 90, r.Ops)
	require.Empty(t, r.Errors)
	require.Equal(t, int64(90*5), r.Keys)
	requireQuantiles(t, r.summary)

	// range, linearizable, one key and [key, end).
	r = bench(t, "range", "00000007", "--total", "40", "--endpoints", eps)
	require.Equal(t, 40, r.Ops)
	require.Equal(t, int64(40), r.Keys)
	r = bench(t, "range", "00000010", "00000013", "--total", "30", "--clients", "2", "--endpoints", eps)
	require.Equal(t, 30, r.Ops)
	require.Equal(t, int64(30*3), r.Keys)

	// txn-put: 20 keys of 5 bytes (00000..00019), 100 txns of 2 puts: each key seeded once and
	// swapped 100*2/20 times, whatever the conflicts.
	r = bench(t, "txn-put", "--endpoints", eps, "--clients", "4", "--conns", "2", "--total", "100",
		"--key-size", "5", "--key-space-size", "20", "--txn-ops", "2")
	require.Equal(t, "txn-put", r.Workload)
	require.Equal(t, 100, r.Ops)
	require.Empty(t, r.Errors)
	requireQuantiles(t, r.summary)
	resp, err = cli.Get(ctx, "000", clientv3.WithPrefix())
	require.NoError(t, err)
	var five int
	for _, kv := range resp.Kvs {
		if len(kv.Key) == 5 {
			five++
			require.Equal(t, int64(1+10), kv.Version, "key %s", kv.Key)
		}
	}
	require.Equal(t, 20, five)

	// txn-put on one key (6 bytes: 000000) by 4 clients: every op one swap whatever the
	// conflicts, so the key's version is the seed's put plus the ops.
	r = bench(t, "txn-put", "--endpoints", eps, "--clients", "4", "--total", "40", "--key-size", "6")
	require.Equal(t, 40, r.Ops)
	require.Empty(t, r.Errors)
	resp, err = cli.Get(ctx, "000000")
	require.NoError(t, err)
	require.Equal(t, int64(1+40), resp.Kvs[0].Version)

	// A conflict, made on purpose: the key is written behind the state's back, so the first
	// compare fails, the swap reads the revision back and the second compare holds.
	st, err := seedKeys(ctx, []*clientv3.Client{cli}, 1, 7, "x")
	require.NoError(t, err)
	_, err = cli.Put(ctx, "0000000", "behind")
	require.NoError(t, err)
	conflicts, err := st.swap(ctx, cli, []int{0}, "swapped")
	require.NoError(t, err)
	require.Equal(t, 1, conflicts)
	resp, err = cli.Get(ctx, "0000000")
	require.NoError(t, err)
	require.Equal(t, "swapped", string(resp.Kvs[0].Value))
	require.Equal(t, int64(3), resp.Kvs[0].Version)

	// watch: 20 watchers on 4 streams over 2 connections, on 5 keys (4 watchers each);
	// 2 writers put 50 times in order: 200 events.
	r = bench(t, "watch", "--endpoints", eps, "--watchers", "20", "--streams", "4", "--conns", "2", "--clients", "2",
		"--key-size", "4", "--key-space-size", "5", "--sequential-keys", "--val-size", "16", "--total", "50")
	require.Equal(t, "watch", r.Workload)
	require.NotNil(t, r.Watch)
	require.Equal(t, 50, r.Watch.Puts.Ops)
	require.Empty(t, r.Watch.Puts.Errors)
	require.Equal(t, int64(200), r.Watch.EventsExpected)
	require.Equal(t, 200, r.Ops)
	require.Empty(t, r.Errors)
	require.Equal(t, 20, r.Watch.Watchers)
	require.Equal(t, 4, r.Watch.Streams)
	requireQuantiles(t, r.summary)
	requireQuantiles(t, r.Watch.Puts)

	// lease-keepalive: 3 clients, 60 keep-alives; the leases are revoked at the end.
	r = bench(t, "lease-keepalive", "--endpoints", eps, "--clients", "3", "--total", "60")
	require.Equal(t, "lease-keepalive", r.Workload)
	require.Equal(t, 60, r.Ops)
	require.Empty(t, r.Errors)
	requireQuantiles(t, r.summary)
	leases, err := cli.Leases(ctx)
	require.NoError(t, err)
	require.Empty(t, leases.Leases)

	// --duration instead of --total: runs at least that long, and puts what it counts.
	r = bench(t, "put", "--endpoints", eps, "--clients", "2", "--duration", "500ms", "--key-size", "3", "--key-space-size", "1")
	require.Positive(t, r.Ops)
	require.Empty(t, r.Errors)
	require.GreaterOrEqual(t, r.Seconds, 0.5)
	after, err := cli.Get(ctx, "000")
	require.NoError(t, err)
	require.Len(t, after.Kvs, 1)
	require.Equal(t, int64(r.Ops), after.Kvs[0].Version, "the one key was put once per counted op")

	// Without -json: the summary for a person on stdout, the progress bar on stderr.
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(ctx, []string{"put", "--endpoints", eps, "--total", "20", "--key-size", "2"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "put: 20 ops in ")
	require.Contains(t, out.String(), "errors: none")
	require.Contains(t, errOut.String(), "20/20")
}
