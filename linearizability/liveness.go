package linearizability

import (
	"fmt"
	"sort"
)

// Liveness is reported beside safety: how much of the workload got through. The simulator and
// chaos runs decide what is enough (Options.MinAckShare, Options.MaxNoWriteNs).
type Liveness struct {
	ClientOperations int     `json:"client_operations"`
	Acknowledged     int     `json:"acknowledged"`
	AckShare         float64 `json:"ack_share"`
	SuccessfulWrites int     `json:"successful_writes"`
	// LongestNoWriteNs is the longest stretch of the run without a successful write returning,
	// from NoWriteFromNs to NoWriteToNs (the run starts at 0 and ends at its last recorded
	// time).
	LongestNoWriteNs int64 `json:"longest_no_write_ns"`
	NoWriteFromNs    int64 `json:"no_write_from_ns"`
	NoWriteToNs      int64 `json:"no_write_to_ns"`
}

func measureLiveness(ops []*op) Liveness {
	var l Liveness
	var writes []int64
	var end int64
	for _, o := range ops {
		if o.expiry != nil {
			continue
		}
		l.ClientOperations++
		if o.callNs > end {
			end = o.callNs
		}
		if o.returnNs != infinity && o.returnNs > end {
			end = o.returnNs
		}
		if o.known() {
			l.Acknowledged++
			// A successful write changed the store: created a revision (a revoke's
			// response does not say, so it counts).
			if creates, known := definitelyCreates(o.req, o.resp); creates || !known {
				writes = append(writes, o.returnNs)
			}
		}
	}
	if l.ClientOperations > 0 {
		l.AckShare = float64(l.Acknowledged) / float64(l.ClientOperations)
	}
	l.SuccessfulWrites = len(writes)
	sort.Slice(writes, func(i, j int) bool { return writes[i] < writes[j] })
	prev := int64(0)
	for _, t := range append(writes, end) {
		if t-prev > l.LongestNoWriteNs {
			l.LongestNoWriteNs, l.NoWriteFromNs, l.NoWriteToNs = t-prev, prev, t
		}
		prev = t
	}
	return l
}

// judge applies the caller's thresholds.
func (l Liveness) judge(opts Options) []Violation {
	var vs []Violation
	if opts.MinAckShare > 0 && l.AckShare < opts.MinAckShare {
		vs = append(vs, Violation{Checker: CheckLiveness, Kind: "liveness-acks",
			Message: fmt.Sprintf("only %.1f%% of %d operations were acknowledged, below the required %.1f%%", 100*l.AckShare, l.ClientOperations, 100*opts.MinAckShare)})
	}
	if opts.MaxNoWriteNs > 0 && l.LongestNoWriteNs > opts.MaxNoWriteNs {
		vs = append(vs, Violation{Checker: CheckLiveness, Kind: "liveness-writes", TimeNs: l.NoWriteFromNs,
			Message: fmt.Sprintf("no write succeeded for %s (from %s to %s), longer than the allowed %s",
				fmtNs(l.LongestNoWriteNs), fmtNs(l.NoWriteFromNs), fmtNs(l.NoWriteToNs), fmtNs(opts.MaxNoWriteNs))})
	}
	return vs
}
