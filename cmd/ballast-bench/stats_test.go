package main

import (
	"math/rand"
	"sort"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	d := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", d(7), 0.999, 7},
		{"median of four is the second", d(1, 2, 3, 4), 0.5, 2},
		{"p90 of ten is the ninth", d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9},
		{"p99 of ten is the last", d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10},
	} {
		if got := percentile(tc.in, tc.q); got != tc.want {
			t.Errorf("%s: percentile(%v, %v) = %v, want %v", tc.name, tc.in, tc.q, got, tc.want)
		}
	}
}

// TestSummarizeAgainstReference checks summarize's quantiles against a reference
// computed by counting on a sorted copy.
func TestSummarizeAgainstReference(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	lat := make([]time.Duration, 1+rng.Intn(5000))
	for i := range lat {
		lat[i] = time.Duration(rng.Intn(1_000_000))
	}
	ref := append([]time.Duration(nil), lat...)
	sort.Slice(ref, func(i, j int) bool { return ref[i] < ref[j] })
	s := summarize(lat, nil, time.Second)
	if s.Ops != len(ref) || s.OpsPerS != float64(len(ref)) {
		t.Fatalf("ops %d ops/s %v, want %d", s.Ops, s.OpsPerS, len(ref))
	}
	for _, c := range []struct {
		q   float64
		got time.Duration
	}{{0.5, s.P50}, {0.9, s.P90}, {0.99, s.P99}, {0.999, s.P999}, {1, s.Slowest}} {
		// The reference: the smallest sample with at least q of all samples at or below it.
		var want time.Duration
		for _, v := range ref {
			n := sort.Search(len(ref), func(i int) bool { return ref[i] > v })
			if float64(n) >= c.q*float64(len(ref)) {
				want = v
				break
			}
		}
		if c.got != want {
			t.Errorf("q=%v: got %v, want %v (n=%d)", c.q, c.got, want, len(ref))
		}
	}
}
