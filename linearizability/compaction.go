package linearizability

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ballastdb/ballast/linearizability/history"
)

// The compaction validator. A compaction (etcd's Compaction request) changes no key and
// creates no revision, so the other checkers leave compact requests out (buildOps); what it
// changes is which past revisions a store may refuse. etcd (and Ballast) refuse a read at
// revision r once a compaction at c > r applied (a read at c itself is served: compaction
// keeps each key's newest version at or below c), and a compaction at c once one at c or
// above applied. The validator holds every refusal to a compaction the history could have
// applied by then, and every answer to the compactions acknowledged before it was asked:
//
//   - a request refused with the compacted error is a read at a past revision r, or a
//     compaction at r, and a compaction above r (at r or above, for a compaction) was called
//     before the refusal returned and not itself refused with a definite error;
//   - a linearizable read at revision r is not served once a compaction above r was
//     acknowledged before the read was called (serializable reads are exempt: a lagging
//     member may not have applied the compaction yet);
//   - a compaction at c is not acknowledged once one at c or above was acknowledged before it
//     was called, and never at a revision above the header revision it returned (a future
//     revision is refused).
//
// watch.go holds a watch cancelled with a compact revision to the same standard
// (compactions.calledBefore).

// compactedText is the part of etcd's compacted error text every form of it carries
// (rpctypes.ErrGRPCCompacted "etcdserver: mvcc: required revision has been compacted",
// mvcc.ErrCompacted, and either wrapped by gRPC).
const compactedText = "required revision has been compacted"

// compactions indexes a history's compact requests by time.
type compactions struct {
	// called: every compaction not refused with a definite error, by call time, with the
	// highest revision among it and the ones called before it.
	called []compactionMark
	// acked: every acknowledged compaction, by return time, likewise.
	acked []compactionMark
}

type compactionMark struct {
	ns, maxRev int64
}

func newCompactions(h *history.History) *compactions {
	c := &compactions{}
	for i := range h.Operations {
		o := &h.Operations[i]
		if o.Request.Compact == nil {
			continue
		}
		switch o.Outcome() {
		case history.OutcomeOK:
			c.acked = append(c.acked, compactionMark{ns: *o.ReturnNs, maxRev: o.Request.Compact.Revision})
			c.called = append(c.called, compactionMark{ns: o.CallNs, maxRev: o.Request.Compact.Revision})
		case history.OutcomeUnknown: // no answer, or an indeterminate error: it may have applied
			c.called = append(c.called, compactionMark{ns: o.CallNs, maxRev: o.Request.Compact.Revision})
		}
	}
	for _, marks := range [][]compactionMark{c.called, c.acked} {
		sort.SliceStable(marks, func(i, j int) bool { return marks[i].ns < marks[j].ns })
		for i := 1; i < len(marks); i++ {
			marks[i].maxRev = max(marks[i].maxRev, marks[i-1].maxRev)
		}
	}
	return c
}

// upTo returns the highest revision among marks at or before ns (strictly before, when
// strict), 0 when none.
func upTo(marks []compactionMark, ns int64, strict bool) int64 {
	i := sort.Search(len(marks), func(i int) bool {
		if strict {
			return marks[i].ns >= ns
		}
		return marks[i].ns > ns
	})
	if i == 0 {
		return 0
	}
	return marks[i-1].maxRev
}

// calledBefore is the highest revision a compaction called at or before ns may have
// compacted the store to (0: none).
func (c *compactions) calledBefore(ns int64) int64 { return upTo(c.called, ns, false) }

// ackedBefore is the highest revision of a compaction acknowledged before ns (0: none).
func (c *compactions) ackedBefore(ns int64) int64 { return upTo(c.acked, ns, true) }

func isCompactedError(e *history.Error) bool {
	return e != nil && strings.Contains(e.Message, compactedText)
}

func validateCompactions(h *history.History) []Violation {
	c := newCompactions(h)
	var vs []Violation
	violate := func(kind string, o *history.Operation, t int64, format string, args ...any) {
		vs = append(vs, Violation{Checker: CheckCompaction, Kind: kind, Message: fmt.Sprintf(format, args...),
			Lines: []int{o.Line}, TimeNs: t})
	}
	for i := range h.Operations {
		o := &h.Operations[i]
		req := &o.Request
		switch o.Outcome() {
		case history.OutcomeFailed:
			if !isCompactedError(o.Error) {
				continue
			}
			returned := *o.ReturnNs
			switch {
			case req.Range != nil && req.Range.Revision > 0:
				if c.calledBefore(returned) <= req.Range.Revision {
					violate("compacted-without-compaction", o, returned, "%s (%s) was refused as compacted, but no compaction above rev %d was requested before the refusal (the highest: %s)",
						describeRequest(req), o.Client, req.Range.Revision, describeCompactRev(c.calledBefore(returned)))
				}
			case req.Compact != nil:
				// o itself is not among the calls counted: its refusal is definite
				if c.calledBefore(returned) < req.Compact.Revision {
					violate("compacted-without-compaction", o, returned, "compact %d (%s) was refused as compacted, but no other compaction at rev %d or above was requested before the refusal",
						req.Compact.Revision, o.Client, req.Compact.Revision)
				}
			default:
				violate("compacted-without-compaction", o, returned, "%s (%s) was refused as compacted, but it reads no past revision", describeRequest(req), o.Client)
			}
		case history.OutcomeOK:
			switch {
			case req.Range != nil && req.Range.Revision > 0 && !req.Range.Serializable:
				if acked := c.ackedBefore(o.CallNs); acked > req.Range.Revision {
					violate("read-of-compacted-revision", o, o.CallNs, "%s (%s) was served, though a compaction at rev %d was acknowledged before it was called",
						describeRequest(req), o.Client, acked)
				}
			case req.Compact != nil:
				if prev := c.ackedBefore(o.CallNs); prev >= req.Compact.Revision {
					violate("compaction-not-refused", o, o.CallNs, "compact %d (%s) was acknowledged, though a compaction at rev %d was acknowledged before it was called",
						req.Compact.Revision, o.Client, prev)
				}
				if req.Compact.Revision > o.Response.Header.Revision {
					violate("compaction-of-future-revision", o, *o.ReturnNs, "compact %d (%s) was acknowledged at header revision %d, below the revision it compacted",
						req.Compact.Revision, o.Client, o.Response.Header.Revision)
				}
			}
		}
	}
	return vs
}

func describeCompactRev(rev int64) string {
	if rev == 0 {
		return "none"
	}
	return fmt.Sprintf("rev %d", rev)
}
