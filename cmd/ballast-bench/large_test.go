package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The large run keeps the asked size when the disk holds about 5.5 times it, and otherwise
// runs at what the disk can hold, saying so.
func TestLargeSize(t *testing.T) {
	for _, tc := range []struct {
		asked, free, want float64
		reduced           string
	}{
		{16, 100, 16, ""},
		{16, 77, 14, "the disk has 77.0 GiB free; 16.0 GiB per member needs about 88 GiB (three members, a new one, a snapshot file): run at 14.0 GiB per member"},
		{2, 11, 2, ""},
		{2, 0.1, 0, "run at 0.0 GiB per member"},
	} {
		gib, reduced := largeSize(tc.asked, tc.free)
		require.InDelta(t, tc.want, gib, 1e-9, "asked %g, free %g", tc.asked, tc.free)
		if tc.reduced == "" {
			require.Empty(t, reduced)
		} else {
			require.Contains(t, reduced, tc.reduced)
		}
	}
}

// The report names the reduced size, every figure measured, and the time 16 GiB would take
// at the measured fill rate.
func TestLargeMarkdown(t *testing.T) {
	r := &largeResult{askedGiB: 16, gib: 2, freeGiB: 11, keys: 131072, reduced: "the disk has 11.0 GiB free",
		fill: summary{Seconds: 600, OpsPerS: 218}, fillBytes: 2 << 30, put: summary{Seconds: 20, OpsPerS: 900, P50: 30 * time.Millisecond, P99: 200 * time.Millisecond},
		snapshotSave: 30 * time.Second, snapshotBytes: 2 << 30, restartServe: 2 * time.Second, restartRead: 3 * time.Second,
		catchUp: 90 * time.Second, catchUpIndex: 140000, bySnapshot: true, diskAfterFill: 7 << 30, diskPeak: 10 << 30}
	md := r.markdown()
	for _, want := range []string{
		"Reduced: the disk has 11.0 GiB free.",
		"| fill | 10m0s, 3.4 MiB/s, 218 puts/s |",
		"| put throughput at that size (1 KiB values) | 900 puts/s, p50 30.0 ms, p99 200.0 ms, errors none |",
		"| snapshot save | 30s for 2.00 GiB (68.3 MiB/s) |",
		"| member restart | serving after 2s, first linearizable read after 3s |",
		"| new member's catch-up by snapshot | 1m30s to applied index 140000 |",
		"| disk at the peak (with the snapshot file or the new member) | 10.00 GiB |",
		"16 GiB per member would take about 1h20m0s to fill.",
	} {
		require.Contains(t, md, want)
	}
}

// Bad command lines of large are refused (exit 2) before anything starts.
func TestLargeBadCommandLines(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"large"}, "--ballast (Ballast's server binary) is required"},
		{[]string{"large", "--ballast", "x", "--gib-per-member", "0"}, "must be positive"},
		{[]string{"large", "--ballast", "x", "extra"}, `takes no arguments, got ["extra"]`},
	} {
		var out, errOut bytes.Buffer
		require.Equal(t, 2, run(context.Background(), tc.args, &out, &errOut), "stderr: %s", errOut.String())
		require.Contains(t, errOut.String(), tc.want)
	}
}
