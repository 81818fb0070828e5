package embed

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// scrapeMetrics reads a member's /metrics.
func scrapeMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// value is the sum of the family's series whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	total := 0.0
	for _, m := range fams[name].GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// TestMetricsMove: the metrics report the member's real figures. Writes move the proposal
// counters by at least the writes made and gRPC's handled counter by exactly them; the
// client byte counters grow; with every member up each has a leader and one is it; once the
// other two stop, the last one's etcd_server_has_leader drops to 0 (raft's CheckQuorum
// steps a leader down). --listen-metrics-urls serves the same registry.
func TestMetricsMove(t *testing.T) {
	ms := testCluster(t, 3)
	ms[0].cfg.ListenMetricsURLs = mustURL(t, "http://127.0.0.1:0")
	ms[0].cfg.Metrics = MetricsExtensive
	for _, m := range ms {
		m.cfg.probeInterval = 20 * time.Millisecond
		m.start(t)
	}
	waitReady(t, ms...)
	base := ms[0].srv.ClientURLs()[0]
	c := testClient(t, base)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Put(ctx, "warm", "up")
	require.NoError(t, err)

	before := scrapeMetrics(t, base)
	const writes = 20
	for i := range writes {
		_, err := c.Put(ctx, fmt.Sprintf("k%d", i), "v")
		require.NoError(t, err)
	}
	// The poll runs every heartbeat interval: wait until both committed and applied have
	// caught up (the scrape before the writes may have seen entries committed but not yet
	// applied, or the reverse, so neither delta is exact at once; found under load).
	var after map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		after = scrapeMetrics(t, base)
		return value(after, "etcd_server_proposals_applied_total", nil)-value(before, "etcd_server_proposals_applied_total", nil) >= writes &&
			value(after, "etcd_server_proposals_committed_total", nil)-value(before, "etcd_server_proposals_committed_total", nil) >= writes
	}, 30*time.Second, 20*time.Millisecond, "committed and applied grow by the writes")
	put := map[string]string{"grpc_service": "etcdserverpb.KV", "grpc_method": "Put", "grpc_code": "OK"}
	require.Equal(t, float64(writes), value(after, "grpc_server_handled_total", put)-value(before, "grpc_server_handled_total", put))
	require.Equal(t, float64(writes), value(after, "grpc_server_handling_seconds", map[string]string{"grpc_method": "Put"})-
		value(before, "grpc_server_handling_seconds", map[string]string{"grpc_method": "Put"}), "--metrics extensive: the histogram")
	require.Greater(t, value(after, "etcd_network_client_grpc_received_bytes_total", nil), value(before, "etcd_network_client_grpc_received_bytes_total", nil))
	require.Greater(t, value(after, "etcd_network_client_grpc_sent_bytes_total", nil), value(before, "etcd_network_client_grpc_sent_bytes_total", nil))
	require.Greater(t, value(after, "etcd_mvcc_db_total_size_in_bytes", nil), 0.0)

	leaders := 0.0
	for _, m := range ms {
		f := scrapeMetrics(t, m.srv.ClientURLs()[0])
		require.Equal(t, 1.0, value(f, "etcd_server_has_leader", nil), m.cfg.Name)
		require.GreaterOrEqual(t, value(f, "etcd_server_leader_changes_seen_total", nil), 1.0, m.cfg.Name)
		leaders += value(f, "etcd_server_is_leader", nil)
	}
	require.Equal(t, 1.0, leaders, "one member is the leader")
	require.Greater(t, value(after, "etcd_disk_wal_fsync_duration_seconds", nil), value(before, "etcd_disk_wal_fsync_duration_seconds", nil),
		"fsyncs were timed")
	require.Greater(t, value(after, "etcd_disk_backend_commit_duration_seconds", nil), value(before, "etcd_disk_backend_commit_duration_seconds", nil),
		"apply batch commits were timed")
	require.Eventually(t, func() bool {
		return value(scrapeMetrics(t, base), "etcd_debugging_mvcc_keys_total", nil) == writes+1
	}, 10*time.Second, 20*time.Millisecond, "the keys: warm and the k%d")
	checkPeerFamilies(t, ms)
	// Ballast's own: each write is one entry in some apply batch, and needed a sync of the log.
	sum := func(f map[string]*dto.MetricFamily, name string) float64 {
		return f[name].GetMetric()[0].GetHistogram().GetSampleSum()
	}
	require.GreaterOrEqual(t, sum(after, "ballast_server_apply_batch_entries")-sum(before, "ballast_server_apply_batch_entries"), float64(writes))
	require.Greater(t, value(after, "ballast_disk_wal_syncs_total", nil), value(before, "ballast_disk_wal_syncs_total", nil))
	require.Greater(t, value(after, "ballast_server_ready_rounds_total", nil), value(before, "ballast_server_ready_rounds_total", nil))
	for _, name := range []string{"ballast_network_peer_inbox_dropped_total", "ballast_lease_checkpoints_applied_total",
		"ballast_watch_buffered_events", "ballast_watch_buffered_bytes", "etcd_debugging_mvcc_slow_watcher_total"} {
		require.Contains(t, after, name)
		require.Zero(t, value(after, name, nil), name)
	}
	checkMixinAlerts(t, after)
	fromMetricsURL := scrapeMetrics(t, ms[0].srv.MetricsURLs()[0])
	require.Equal(t, value(after, "etcd_server_quota_backend_bytes", nil), value(fromMetricsURL, "etcd_server_quota_backend_bytes", nil))

	checkWatchGauges(t, c, base)
	require.Equal(t, 0.0, value(after, "etcd_server_proposals_pending", nil), "no write in flight")
	require.Equal(t, 0.0, value(after, "etcd_server_proposals_failed_total", nil), "no write failed")

	ms[1].srv.Stop()
	ms[2].srv.Stop()
	require.Eventually(t, func() bool {
		return value(scrapeMetrics(t, base), "etcd_server_has_leader", nil) == 0
	}, 60*time.Second, 50*time.Millisecond, "an isolated member has no leader")
	// A write on the isolated member fails (no leader): a failed proposal.
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = c.Put(pctx, "lost", "v")
	pcancel()
	require.Error(t, err)
	require.Eventually(t, func() bool {
		f := scrapeMetrics(t, base)
		return value(f, "etcd_server_proposals_failed_total", nil) >= 1 && value(f, "etcd_server_proposals_pending", nil) == 0
	}, 30*time.Second, 50*time.Millisecond, "the failed write is counted, and no longer pending")
}

// mixinSelector is one metric selector of an alert of etcd's mixin (etcd-io/etcd
// contrib/mixin/alerts/alerts.libsonnet, copied from its expressions): the series it selects
// (name and matchers; =~ matchers as regular expressions) and the labels the rule keeps or
// drops by name (without/by), which the series must carry.
type mixinSelector struct {
	alert, metric string
	matchers      map[string]string // label: regexp the value must match in full ("!" prefix: must not)
	labels        []string
}

var mixinSelectors = []mixinSelector{
	{"etcdMembersDown", "etcd_network_peer_sent_failures_total", nil, []string{"To"}},
	{"etcdNoLeader", "etcd_server_has_leader", nil, nil},
	{"etcdHighNumberOfLeaderChanges", "etcd_server_leader_changes_seen_total", nil, nil},
	{"etcdHighNumberOfFailedGRPCRequests", "grpc_server_handled_total",
		map[string]string{"grpc_code": "Unknown|FailedPrecondition|ResourceExhausted|Internal|Unavailable|DataLoss|DeadlineExceeded"},
		[]string{"grpc_type", "grpc_code", "grpc_method"}},
	{"etcdHighNumberOfFailedGRPCRequests", "grpc_server_handled_total", nil, []string{"grpc_type", "grpc_code", "grpc_method"}},
	{"etcdGRPCRequestsSlow", "grpc_server_handling_seconds", map[string]string{"grpc_method": "!Defragment", "grpc_type": "unary"},
		[]string{"grpc_type", "grpc_method"}},
	{"etcdMemberCommunicationSlow", "etcd_network_peer_round_trip_time_seconds", nil, []string{"To"}},
	{"etcdHighNumberOfFailedProposals", "etcd_server_proposals_failed_total", nil, nil},
	{"etcdHighFsyncDurations", "etcd_disk_wal_fsync_duration_seconds", nil, nil},
	{"etcdHighCommitDurations", "etcd_disk_backend_commit_duration_seconds", nil, nil},
	{"etcdDatabaseQuotaLowSpace", "etcd_mvcc_db_total_size_in_bytes", nil, nil},
	{"etcdDatabaseQuotaLowSpace", "etcd_server_quota_backend_bytes", nil, nil},
	{"etcdDatabaseHighFragmentationRatio", "etcd_mvcc_db_total_size_in_use_in_bytes", nil, nil},
}

// mixinNotYet are the selectors Ballast does not answer yet, each with why (none today); the
// check fails when one of them starts resolving, so the list stays true.
var mixinNotYet = map[string]string{}

// checkMixinAlerts: every selector of the mixin's alerts resolves in the scrape to a series
// carrying the labels its rule groups by, except the ones listed as not yet.
func checkMixinAlerts(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for _, sel := range mixinSelectors {
		matched := false
		for _, m := range fams[sel.metric].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			ok := true
			for name, re := range sel.matchers {
				neg := strings.HasPrefix(re, "!")
				hit := regexp.MustCompile("^(?:" + strings.TrimPrefix(re, "!") + ")$").MatchString(labels[name])
				ok = ok && hit != neg
			}
			for _, l := range sel.labels {
				_, has := labels[l]
				ok = ok && has
			}
			matched = matched || ok
		}
		if why, notYet := mixinNotYet[sel.metric]; notYet {
			require.False(t, matched, "%s resolves now: remove it from mixinNotYet (%s)", sel.metric, why)
			continue
		}
		require.True(t, matched, "alert %s: no series of %s with %v and labels %v", sel.alert, sel.metric, sel.matchers, sel.labels)
	}
}

// checkPeerFamilies: every member has probed each other member (a round trip time counted
// per To), and the leader and each follower have sent each other bytes (per To and From;
// followers send nothing to each other, raft's messages go between leader and follower).
func checkPeerFamilies(t *testing.T, ms []*testMember) {
	t.Helper()
	var leader uint64
	for _, m := range ms {
		if value(scrapeMetrics(t, m.srv.ClientURLs()[0]), "etcd_server_is_leader", nil) == 1 {
			leader = m.srv.ID()
		}
	}
	require.NotZero(t, leader)
	for _, m := range ms {
		base := m.srv.ClientURLs()[0]
		require.Eventually(t, func() bool {
			f := scrapeMetrics(t, base)
			for _, o := range ms {
				if o == m {
					continue
				}
				peer := hexID(o.srv.ID())
				if value(f, "etcd_network_peer_round_trip_time_seconds", map[string]string{"To": peer}) == 0 {
					return false
				}
				if m.srv.ID() == leader || o.srv.ID() == leader {
					if value(f, "etcd_network_peer_sent_bytes_total", map[string]string{"To": peer}) == 0 ||
						value(f, "etcd_network_peer_received_bytes_total", map[string]string{"From": peer}) == 0 {
						return false
					}
				}
			}
			return true
		}, 10*time.Second, 20*time.Millisecond, "%s: peer round trips and bytes per peer", m.cfg.Name)
	}
}

// checkWatchGauges: a watch makes one watch stream and one watcher; both go back to 0 once
// it is cancelled.
func checkWatchGauges(t *testing.T, c *clientv3.Client, base string) {
	t.Helper()
	gauges := func() (float64, float64) {
		f := scrapeMetrics(t, base)
		return value(f, "etcd_debugging_mvcc_watcher_total", nil), value(f, "etcd_debugging_mvcc_watch_stream_total", nil)
	}
	w, s := gauges()
	require.Equal(t, [2]float64{0, 0}, [2]float64{w, s}, "no watch yet")
	wctx, wcancel := context.WithCancel(context.Background())
	wch := c.Watch(clientv3.WithRequireLeader(wctx), "k0", clientv3.WithCreatedNotify())
	<-wch // created
	require.Eventually(t, func() bool { w, s := gauges(); return w == 1 && s == 1 }, 10*time.Second, 20*time.Millisecond,
		"one watcher on one stream")
	wcancel()
	require.Eventually(t, func() bool { w, s := gauges(); return w == 0 && s == 0 }, 10*time.Second, 20*time.Millisecond,
		"the watch is gone")
}
