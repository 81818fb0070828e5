package embed

import (
	"context"
	"fmt"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	tracesdk "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"google.golang.org/grpc"
)

// Defaults of etcd's --distributed-tracing-address and --distributed-tracing-service-name.
const (
	DefaultDistributedTracingAddress     = "localhost:4317"
	DefaultDistributedTracingServiceName = "etcd"
	maxSamplingRatePerMillion            = 1000000
)

// DistributedTracing is etcd's --enable-distributed-tracing and --distributed-tracing-*:
// spans of every client gRPC call, exported over OTLP gRPC (plaintext, as etcd's) to Address.
type DistributedTracing struct {
	Enabled bool
	// Address is the collector's host:port (empty: etcd's localhost:4317).
	Address string
	// ServiceName and InstanceID are the resource's service.name (empty: "etcd") and
	// service.instance.id (empty: not set, as etcd's).
	ServiceName, InstanceID string
	// SamplingRatePerMillion: root spans sampled per million (0: none); a call whose
	// caller sampled it is sampled (etcd's parent-based sampler).
	SamplingRatePerMillion int
}

// validateTracing is etcd's validateTracingConfig, with etcd's messages (typo included).
func validateTracing(t DistributedTracing) error {
	if !t.Enabled {
		return nil
	}
	var err error
	if t.SamplingRatePerMillion < 0 {
		err = fmt.Errorf("tracing sampling rate must be positive")
	} else if t.SamplingRatePerMillion > maxSamplingRatePerMillion {
		err = fmt.Errorf("tracing sampling rate must be less than %d", maxSamplingRatePerMillion)
	}
	if err != nil {
		return fmt.Errorf("distributed tracing configurition is not valid: (%w)", err)
	}
	return nil
}

// newTracing is etcd's newTracingExporter: the OTLP exporter, the tracer provider with
// etcd's resource and sampler, and the otelgrpc server handler for the client gRPC server.
// shutdown flushes the spans still batched and closes the exporter.
func newTracing(ctx context.Context, t DistributedTracing) (opt grpc.ServerOption, shutdown func(context.Context), err error) {
	addr, name := t.Address, t.ServiceName
	if addr == "" {
		addr = DefaultDistributedTracingAddress
	}
	if name == "" {
		name = DefaultDistributedTracingServiceName
	}
	exporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithInsecure(), otlptracegrpc.WithEndpoint(addr))
	if err != nil {
		return nil, nil, err
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceNameKey.String(name)))
	if err != nil {
		return nil, nil, err
	}
	if t.InstanceID != "" {
		if res, err = resource.Merge(res, resource.NewSchemaless(semconv.ServiceInstanceIDKey.String(t.InstanceID))); err != nil {
			return nil, nil, err
		}
	}
	sampler := tracesdk.NeverSample()
	if t.SamplingRatePerMillion != 0 {
		sampler = tracesdk.TraceIDRatioBased(float64(t.SamplingRatePerMillion) / maxSamplingRatePerMillion)
	}
	provider := tracesdk.NewTracerProvider(
		tracesdk.WithBatcher(exporter),
		tracesdk.WithResource(res),
		tracesdk.WithSampler(tracesdk.ParentBased(sampler)),
	)
	handler := otelgrpc.NewServerHandler(
		otelgrpc.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		otelgrpc.WithTracerProvider(provider),
	)
	return grpc.StatsHandler(handler), func(ctx context.Context) {
		_ = provider.Shutdown(ctx)
		_ = exporter.Shutdown(ctx)
	}, nil
}
