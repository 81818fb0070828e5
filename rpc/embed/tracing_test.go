package embed

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// fakeCollector is an OTLP gRPC trace collector on 127.0.0.1: it keeps every span it is
// sent with its resource's service.name and service.instance.id.
type fakeCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []collectedSpan
}

type collectedSpan struct{ name, service, instance string }

func (c *fakeCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		var service, instance string
		for _, kv := range rs.GetResource().GetAttributes() {
			switch kv.GetKey() {
			case "service.name":
				service = kv.GetValue().GetStringValue()
			case "service.instance.id":
				instance = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				c.spans = append(c.spans, collectedSpan{sp.GetName(), service, instance})
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *fakeCollector) collected() []collectedSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans)
}

func startCollector(t *testing.T) (*fakeCollector, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &fakeCollector{}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, c)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return c, ln.Addr().String()
}

// TestDistributedTracing: with --enable-distributed-tracing and a sampling rate of 1000000
// per million, a Put's server span reaches the OTLP collector at
// --distributed-tracing-address with --distributed-tracing-service-name and
// --distributed-tracing-instance-id as the resource's service.name and service.instance.id
// (flushed at the latest when the member stops). With tracing off, or on with a rate of 0,
// the collector gets nothing.
func TestDistributedTracing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		enabled bool
		rate    int
		want    bool
	}{
		{"enabled", true, 1000000, true},
		{"rate 0", true, 0, false},
		{"disabled", false, 1000000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col, addr := startCollector(t)
			ms := testCluster(t, 1)
			ms[0].cfg.DistributedTracing = DistributedTracing{Enabled: tc.enabled, Address: addr,
				ServiceName: "ballast-test", InstanceID: "member-1", SamplingRatePerMillion: tc.rate}
			ms[0].start(t)
			waitReady(t, ms[0])
			c := testClient(t, ms[0].srv.ClientURLs()...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := c.Put(ctx, "traced", "v")
			require.NoError(t, err)
			ms[0].srv.Stop() // flushes the batched spans
			put := collectedSpan{"etcdserverpb.KV/Put", "ballast-test", "member-1"}
			if tc.want {
				require.Contains(t, col.collected(), put)
			} else {
				require.Empty(t, col.collected())
			}
		})
	}
}

// TestDistributedTracingValidation: etcd's checks of --distributed-tracing-sampling-rate,
// with its messages, only when tracing is enabled.
func TestDistributedTracingValidation(t *testing.T) {
	for _, tc := range []struct {
		tracing DistributedTracing
		err     string
	}{
		{DistributedTracing{Enabled: true, SamplingRatePerMillion: -1}, "distributed tracing configurition is not valid: (tracing sampling rate must be positive)"},
		{DistributedTracing{Enabled: true, SamplingRatePerMillion: 1000001}, "distributed tracing configurition is not valid: (tracing sampling rate must be less than 1000000)"},
		{DistributedTracing{Enabled: true, SamplingRatePerMillion: 1000000}, ""},
		{DistributedTracing{Enabled: false, SamplingRatePerMillion: -1}, ""},
	} {
		cfg := testCluster(t, 1)[0].cfg
		cfg.DistributedTracing = tc.tracing
		if tc.err == "" {
			require.NoError(t, cfg.Validate())
		} else {
			require.EqualError(t, cfg.Validate(), tc.err)
		}
	}
}
