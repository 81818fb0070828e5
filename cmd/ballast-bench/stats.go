package main

import (
	"sort"
	"time"
)

// percentile returns the q-th quantile (0 < q <= 1) of sorted by the nearest-rank
// method: the smallest value with at least q of the samples at or below it. Nearest
// rank is what etcd's tools/benchmark report prints, so figures compare like for like.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted)) + 0.999999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// summary is one workload's result: counts, throughput and latency quantiles.
type summary struct {
	Ops     int            `json:"ops"`
	Errors  map[string]int `json:"errors"`
	Seconds float64        `json:"seconds"`
	OpsPerS float64        `json:"ops_per_s"`
	P50     time.Duration  `json:"p50_ns"`
	P90     time.Duration  `json:"p90_ns"`
	P99     time.Duration  `json:"p99_ns"`
	P999    time.Duration  `json:"p999_ns"`
	Slowest time.Duration  `json:"slowest_ns"`
}

// summarize sorts lat in place (successful operations only) and computes the summary.
func summarize(lat []time.Duration, errs map[string]int, elapsed time.Duration) summary {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	s := summary{Ops: len(lat), Errors: errs, Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		s.OpsPerS = float64(len(lat)) / elapsed.Seconds()
	}
	s.P50, s.P90, s.P99, s.P999 = percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99), percentile(lat, 0.999)
	if len(lat) > 0 {
		s.Slowest = lat[len(lat)-1]
	}
	return s
}
