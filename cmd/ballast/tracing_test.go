package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed"
)

// TestDistributedTracingFlags: --enable-distributed-tracing and --distributed-tracing-*
// reach the member's Config with etcd's defaults (off, localhost:4317, "etcd", no instance
// id, rate 0), from the command line, ETCD_* and --config-file; an enabled tracing with a
// sampling rate outside 0..1000000 is refused with etcd's error (rpc/embed's
// TestDistributedTracing observes the spans themselves).
func TestDistributedTracingFlags(t *testing.T) {
	o, err := parseCommandLine("etcd", nil, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, embed.DistributedTracing{Address: "localhost:4317", ServiceName: "etcd"}, o.cfg.DistributedTracing)
	want := embed.DistributedTracing{Enabled: true, Address: "127.0.0.1:4318", ServiceName: "svc", InstanceID: "i1", SamplingRatePerMillion: 1000000}
	o, err = parseCommandLine("etcd", []string{"--enable-distributed-tracing", "--distributed-tracing-address", "127.0.0.1:4318",
		"--distributed-tracing-service-name", "svc", "--distributed-tracing-instance-id", "i1", "--distributed-tracing-sampling-rate", "1000000"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, want, o.cfg.DistributedTracing)
	o, err = parseCommandLine("etcd", nil, []string{"ETCD_ENABLE_DISTRIBUTED_TRACING=true", "ETCD_DISTRIBUTED_TRACING_ADDRESS=127.0.0.1:4318",
		"ETCD_DISTRIBUTED_TRACING_SERVICE_NAME=svc", "ETCD_DISTRIBUTED_TRACING_INSTANCE_ID=i1", "ETCD_DISTRIBUTED_TRACING_SAMPLING_RATE=1000000"}, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, want, o.cfg.DistributedTracing)
	p := writeFile(t, t.TempDir(), "etcd.conf.yml", "enable-distributed-tracing: true\ndistributed-tracing-address: 127.0.0.1:4318\n"+
		"distributed-tracing-service-name: svc\ndistributed-tracing-instance-id: i1\ndistributed-tracing-sampling-rate: 1000000\n")
	o, err = parseCommandLine("etcd", []string{"--config-file", p}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, want, o.cfg.DistributedTracing)
	for _, bad := range []struct{ rate, want string }{
		{"-1", "distributed tracing configurition is not valid: (tracing sampling rate must be positive)"},
		{"1000001", "distributed tracing configurition is not valid: (tracing sampling rate must be less than 1000000)"},
	} {
		_, err := parseCommandLine("etcd", []string{"--enable-distributed-tracing", "--distributed-tracing-sampling-rate", bad.rate}, nil, &bytes.Buffer{}, &bytes.Buffer{})
		require.ErrorContains(t, err, bad.want)
		_, err = parseCommandLine("etcd", []string{"--distributed-tracing-sampling-rate", bad.rate}, nil, &bytes.Buffer{}, &bytes.Buffer{})
		require.NoError(t, err, "etcd checks the rate only when tracing is enabled")
	}
}
