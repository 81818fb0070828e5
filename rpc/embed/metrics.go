package embed

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/rpc/peer"
)

// This file is the member's Prometheus metrics, under etcd's names, types and labels for the
// families etcd's alerting and dashboard mixin reads (so they work unchanged), each the real
// figure of this member: the raft state is polled from the driver every heartbeat interval
// (leader changes are counted from those polls: one election takes at least an election
// timeout, five heartbeats or more, so none is missed), the database sizes are read at
// scrape time, the gRPC families come from grpc-ecosystem's interceptors with etcd's label
// names (grpc_type, grpc_service, grpc_method, grpc_code), the client bytes from a gRPC
// stats handler, the peer families from the transport's counters and probes (probe.go), the
// store's live keys and the watchers from the same polls. Each Server has its own registry (tests run several in one process), with
// the Go and process collectors. Families etcd has and Ballast does not yet fill are absent,
// never reported as a made-up value (see the report of the operations issue).

// quotaBackendBytesDefault is etcd's default backend quota (2 GiB), reported as
// etcd_server_quota_backend_bytes when --quota-backend-bytes is 0 (the mixin divides by
// this figure).
const quotaBackendBytesDefault = 2 * 1024 * 1024 * 1024

type metrics struct {
	reg *prometheus.Registry

	hasLeader, isLeader     prometheus.Gauge
	leaderChanges           prometheus.Counter
	committed, applied      prometheus.Gauge
	healthOK, healthFailed  prometheus.Counter
	clientSent, clientRecvd prometheus.Counter
	grpc                    *grpcprom.ServerMetrics
	walFsync                prometheus.Histogram
	backendCommit           prometheus.Histogram
	peerRTT                 *prometheus.HistogramVec
	keys, watchers, streams prometheus.Gauge
	slowWatchers            prometheus.Gauge
	bufferedEvents          prometheus.Gauge
	bufferedBytes           prometheus.Gauge
	batchEntries            prometheus.Histogram
	checkpoints             atomic.Uint64 // the last poll's Member.LeaseCheckpointsApplied
	pending                 prometheus.Gauge
	failed                  prometheus.Counter

	lastLead atomic.Uint64
}

func newMetrics(extensive bool, version string, dbSize func() (int64, int64), peers func() peer.Stats, quotaBytes int64, spaceCleared func() int64,
	driver func() node.DriverStats) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	gauge := func(subsystem, name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: subsystem, Name: name, Help: help})
	}
	counter := func(subsystem, name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: subsystem, Name: name, Help: help})
	}
	m.hasLeader = gauge("server", "has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.")
	m.isLeader = gauge("server", "is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.")
	m.leaderChanges = counter("server", "leader_changes_seen_total", "The number of leader changes seen.")
	m.committed = gauge("server", "proposals_committed_total", "The total number of consensus proposals committed.")
	m.applied = gauge("server", "proposals_applied_total", "The total number of consensus proposals applied.")
	m.pending = gauge("server", "proposals_pending", "The current number of pending proposals to commit.")
	m.failed = counter("server", "proposals_failed_total", "The total number of failed proposals seen.")
	m.healthOK = counter("server", "health_success", "The total number of successful health checks")
	m.healthFailed = counter("server", "health_failures", "The total number of failed health checks")
	m.clientSent = counter("network", "client_grpc_sent_bytes_total", "The total number of bytes sent to grpc clients.")
	m.clientRecvd = counter("network", "client_grpc_received_bytes_total", "The total number of bytes received from grpc clients.")
	quota := gauge("server", "quota_backend_bytes", "Current backend storage quota size in bytes.")
	if quotaBytes <= 0 {
		quotaBytes = quotaBackendBytesDefault
	}
	quota.Set(float64(quotaBytes))
	// Ballast's own: the NOSPACE alarms its space monitor cleared by itself (etcd has none).
	spaceClears := prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "ballast", Subsystem: "server", Name: "nospace_alarms_cleared_total",
		Help: "The NOSPACE alarms this member cleared by itself once its store was under 90% of the quota."}, func() float64 { return float64(spaceCleared()) })
	serverVersion := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "version",
		Help: "Which version is running. 1 for 'server_version' label with current version."}, []string{"server_version"})
	serverVersion.WithLabelValues(version).Set(1)
	dbTotal := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "mvcc", Name: "db_total_size_in_bytes",
		Help: "Total size of the underlying database physically allocated in bytes."}, func() float64 { t, _ := dbSize(); return float64(t) })
	dbInUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "mvcc", Name: "db_total_size_in_use_in_bytes",
		Help: "Total size of the underlying database logically in use in bytes."}, func() float64 { _, u := dbSize(); return float64(u) })
	// etcd's buckets (wal/metrics.go): 1ms to 8s.
	m.walFsync = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "disk", Name: "wal_fsync_duration_seconds",
		Help: "The latency distributions of fsync called by WAL.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	// etcd's (storage/backend/metrics.go): the commit of the apply batch to Pebble (without
	// a sync: the raft log's sync, timed above, is what makes applied entries durable).
	m.backendCommit = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "disk", Name: "backend_commit_duration_seconds",
		Help: "The latency distributions of commit called by backend.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	// etcd's (rafthttp/metrics.go): 0.1 ms to 3.2768 s, one observation per probe here.
	m.peerRTT = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_round_trip_time_seconds",
		Help: "Round-Trip-Time histogram between peers", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"To"})
	debugging := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: name, Help: help})
	}
	// etcd's (storage/mvcc/metrics.go); keys_total counts live keys here (see mvcc.Store.Keys).
	m.keys = debugging("keys_total", "Total number of keys.")
	m.watchers = debugging("watcher_total", "Total number of watchers.")
	m.streams = debugging("watch_stream_total", "Total number of watch streams.")
	m.slowWatchers = debugging("slow_watcher_total", "Total number of unsynced slow watchers.")
	// Ballast's own figures.
	ballastGauge := func(subsystem, name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "ballast", Subsystem: subsystem, Name: name, Help: help})
	}
	ballastCounter := func(subsystem, name, help string, f func() uint64) prometheus.CounterFunc {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "ballast", Subsystem: subsystem, Name: name, Help: help},
			func() float64 { return float64(f()) })
	}
	m.bufferedEvents = ballastGauge("watch", "buffered_events", "Events queued in watchers' buffers, not yet sent to their clients.")
	m.bufferedBytes = ballastGauge("watch", "buffered_bytes", "Bytes of the events queued in watchers' buffers.")
	m.batchEntries = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "ballast", Subsystem: "server", Name: "apply_batch_entries",
		Help: "Raft entries (proposals) applied per batch committed to the backend.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)})
	own := []prometheus.Collector{m.bufferedEvents, m.bufferedBytes, m.batchEntries,
		ballastCounter("disk", "wal_syncs_total", "Syncs of the raft log (one per raft Ready that must be durable); with etcd_server_proposals_committed_total, the fsyncs per proposal.",
			func() uint64 { return driver().Syncs }),
		ballastCounter("server", "ready_rounds_total", "Raft Readies the member handled (each one write, at most one sync, one apply batch).",
			func() uint64 { return driver().Rounds }),
		ballastCounter("network", "peer_inbox_dropped_total", "Peer messages dropped because the member's inbox was full.",
			func() uint64 { return driver().MessagesDropped }),
		ballastCounter("lease", "checkpoints_applied_total", "Lease checkpoints (remaining TTLs recorded in the log) applied since the member started.",
			m.checkpoints.Load),
	}
	var opts []grpcprom.ServerMetricsOption
	if extensive {
		// etcd's --metrics extensive: the handling-time histogram, with etcd's buckets.
		opts = append(opts, grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(prometheus.DefBuckets)))
	}
	m.grpc = grpcprom.NewServerMetrics(opts...)
	reg.MustRegister(m.hasLeader, m.isLeader, m.leaderChanges, m.committed, m.applied, m.healthOK, m.healthFailed,
		m.clientSent, m.clientRecvd, quota, spaceClears, serverVersion, dbTotal, dbInUse, m.grpc, m.walFsync, &peerCollector{peers}, m.pending, m.failed,
		m.backendCommit, m.peerRTT, m.keys, m.watchers, m.streams, m.slowWatchers,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(own...)
	return m
}

// serverOptions are the gRPC server's interceptors and stats handler for the metrics.
func (m *metrics) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.grpc.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(m.grpc.StreamServerInterceptor()),
		grpc.StatsHandler(&bytesHandler{m}),
	}
}

// Begin and End make the metrics the services' rpc.ProposalObserver: the writes in flight
// (etcd_server_proposals_pending) and those that failed (etcd_server_proposals_failed_total).
func (m *metrics) Begin() { m.pending.Inc() }
func (m *metrics) End(failed bool) {
	m.pending.Dec()
	if failed {
		m.failed.Inc()
	}
}

// raftPoll is what one poll reads of the member's raft state, store and watchers.
type raftPoll struct {
	Lead, Commit, Applied uint64
	Keys                  int64
	Watchers, Streams     int
	SlowWatchers          int
	BufferedEvents        int
	BufferedBytes         int
	Checkpoints           uint64
}

// observe records one poll of the member's raft state.
func (m *metrics) observe(self uint64, st raftPoll) {
	bool01 := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	m.hasLeader.Set(bool01(st.Lead != 0))
	m.isLeader.Set(bool01(st.Lead != 0 && st.Lead == self))
	if old := m.lastLead.Swap(st.Lead); st.Lead != 0 && st.Lead != old {
		m.leaderChanges.Inc()
	}
	m.committed.Set(float64(st.Commit))
	m.applied.Set(float64(st.Applied))
	m.keys.Set(float64(st.Keys))
	m.watchers.Set(float64(st.Watchers))
	m.streams.Set(float64(st.Streams))
	m.slowWatchers.Set(float64(st.SlowWatchers))
	m.bufferedEvents.Set(float64(st.BufferedEvents))
	m.bufferedBytes.Set(float64(st.BufferedBytes))
	m.checkpoints.Store(st.Checkpoints)
}

// timeCommit is kv/node's Config.TimeCommit: it times each apply batch's commit and counts
// its entries.
func (m *metrics) timeCommit(entries int) func() {
	m.batchEntries.Observe(float64(entries))
	start := time.Now()
	return func() { m.backendCommit.Observe(time.Since(start).Seconds()) }
}

// poll reads the member's raft state every interval until ctx ends.
func (m *metrics) poll(ctx context.Context, d *node.Driver, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var st raftPoll
		ictx, cancel := context.WithTimeout(ctx, interval)
		err := d.Inspect(ictx, func(mb *node.Member) {
			s := mb.Status()
			w := mb.WatchStats()
			st = raftPoll{Lead: s.Lead, Commit: s.Commit, Applied: mb.AppliedIndex(), Keys: mb.Keys(),
				Watchers: w.SyncedWatchers + w.UnsyncedWatchers, Streams: w.Streams, SlowWatchers: w.UnsyncedWatchers,
				BufferedEvents: w.BufferedEvents, BufferedBytes: w.BufferedBytes, Checkpoints: mb.LeaseCheckpointsApplied()}
		})
		cancel()
		if err == nil {
			m.observe(d.ID(), st)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.Stopped():
			return
		case <-t.C:
		}
	}
}

// peerSentFailures is etcd's etcd_network_peer_sent_failures_total{To}: here the messages
// for a peer its transport dropped (queue full, no address, unreachable, too large), which
// are the sends that failed.
var peerSentFailures = prometheus.NewDesc("etcd_network_peer_sent_failures_total",
	"The total number of send failures from peers.", []string{"To"}, nil)

// peerSentBytes and peerReceivedBytes are etcd's, from the transport's byte counters (frame
// header and payload).
var (
	peerSentBytes = prometheus.NewDesc("etcd_network_peer_sent_bytes_total",
		"The total number of bytes sent to peers.", []string{"To"}, nil)
	peerReceivedBytes = prometheus.NewDesc("etcd_network_peer_received_bytes_total",
		"The total number of bytes received from peers.", []string{"From"}, nil)
)

// peerCollector reads the transport's per-peer counters at scrape time.
type peerCollector struct{ stats func() peer.Stats }

func (c *peerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- peerSentFailures
	ch <- peerSentBytes
	ch <- peerReceivedBytes
}
func (c *peerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ids := make([]uint64, 0, len(st.Peers))
	for id := range st.Peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := st.Peers[id]
		ch <- prometheus.MustNewConstMetric(peerSentFailures, prometheus.CounterValue, float64(p.Dropped()), hexID(id))
		ch <- prometheus.MustNewConstMetric(peerSentBytes, prometheus.CounterValue, float64(p.SentBytes()), hexID(id))
		ch <- prometheus.MustNewConstMetric(peerReceivedBytes, prometheus.CounterValue, float64(p.ReceivedBytes), hexID(id))
	}
}

// bytesHandler counts the bytes of gRPC messages, as etcd's client_grpc_*_bytes_total.
type bytesHandler struct{ m *metrics }

func (h *bytesHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h *bytesHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (h *bytesHandler) HandleConn(context.Context, stats.ConnStats) {}
func (h *bytesHandler) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch p := s.(type) {
	case *stats.OutPayload:
		h.m.clientSent.Add(float64(p.Length))
	case *stats.InPayload:
		h.m.clientRecvd.Add(float64(p.Length))
	}
}
