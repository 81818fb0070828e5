package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// report is what one run prints: the workload and its shape, the summary (ops/s and
// latency quantiles; for watch, of the events), and what is particular to the workload.
type report struct {
	Workload string `json:"workload"`
	Conns    int    `json:"conns"`
	Clients  int    `json:"clients"`
	summary
	// Keys is range's: the key-values the ranges returned, in all.
	Keys int64 `json:"keys,omitempty"`
	// Conflicts is txn-put's: compares that failed (another client's write came between)
	// and were retried with the revision read back; each txn's latency includes its retries.
	Conflicts int64 `json:"conflicts,omitempty"`
	// Watch is watch's: the watchers, the writer's puts and the events seen.
	Watch *watchReport `json:"watch,omitempty"`
}

// print writes r as one JSON object, or as lines for a person.
func (r report) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	what := "ops"
	if r.Watch != nil {
		what = "events"
	}
	fmt.Fprintf(w, "%s: %d %s in %.2f s, %.1f %s/s, conns %d, clients %d\n", r.Workload, r.Ops, what, r.Seconds, r.OpsPerS, what, r.Conns, r.Clients)
	fmt.Fprintf(w, "latency: p50 %v  p90 %v  p99 %v  p99.9 %v  slowest %v\n", r.P50, r.P90, r.P99, r.P999, r.Slowest)
	fmt.Fprintf(w, "errors: %s\n", formatErrors(r.Errors))
	if r.Keys > 0 {
		fmt.Fprintf(w, "keys returned: %d\n", r.Keys)
	}
	if r.Workload == "txn-put" {
		fmt.Fprintf(w, "conflicts retried: %d\n", r.Conflicts)
	}
	if wr := r.Watch; wr != nil {
		fmt.Fprintf(w, "watchers %d on %d streams; puts %d (%.1f/s, p50 %v, p99 %v, errors %s); events %d of %d expected\n",
			wr.Watchers, wr.Streams, wr.Puts.Ops, wr.Puts.OpsPerS, wr.Puts.P50, wr.Puts.P99, formatErrors(wr.Puts.Errors), r.Ops, wr.EventsExpected)
	}
	return nil
}

// formatErrors is "none" or "Unavailable=3 DeadlineExceeded=1", by code.
func formatErrors(errs map[string]int) string {
	if len(errs) == 0 {
		return "none"
	}
	codes := make([]string, 0, len(errs))
	for c := range errs {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s=%d", c, errs[c])
	}
	return strings.Join(parts, " ")
}
