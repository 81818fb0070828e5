package linearizability

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability/history"
)

// Builders for the compaction validator's table: operations with call and return times.
func opAt(client string, call, ret int64, req history.Request) history.Operation {
	return history.Operation{Client: client, CallNs: call, ReturnNs: &ret, Request: req}
}

func okAt(client string, call, ret, rev int64, req history.Request, resp history.Response) history.Operation {
	o := opAt(client, call, ret, req)
	resp.Header.Revision = rev
	o.Response = &resp
	return o
}

func failedAt(client string, call, ret int64, req history.Request, text string) history.Operation {
	o := opAt(client, call, ret, req)
	o.Error = &history.Error{Message: text, Class: history.Classify(text)}
	return o
}

func unknownAt(client string, call int64, req history.Request) history.Operation {
	return history.Operation{Client: client, CallNs: call, Request: req}
}

const (
	errCompactedText = "etcdserver: mvcc: required revision has been compacted"
	errFutureText    = "etcdserver: mvcc: required revision is a future revision"
)

func compactReq(rev int64) history.Request {
	return history.Request{Compact: &history.CompactRequest{Revision: rev}}
}

func readAt(rev int64, serializable bool) history.Request {
	return history.Request{Range: &history.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Revision: rev, Serializable: serializable}}
}

var compactResp = history.Response{Compact: &history.CompactResponse{}}
var rangeResp = history.Response{Range: &history.RangeResponse{}}

// TestCompactionValidator: refusals as compacted need a compaction the history could have
// applied by then; answers must respect the compactions acknowledged before they were asked.
func TestCompactionValidator(t *testing.T) {
	cases := []struct {
		name string
		ops  []history.Operation
		want string // "" valid, else the violation's kind
	}{
		{name: "read below an acknowledged compaction refused", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(3), compactResp),
			failedAt("c2", 30, 40, readAt(2, false), errCompactedText),
		}},
		{name: "read refused while a compaction is in flight (no answer)", ops: []history.Operation{
			unknownAt("c1", 10, compactReq(3)),
			failedAt("c2", 30, 40, readAt(2, false), errCompactedText),
		}},
		{name: "read refused by a compaction called before the refusal returned", ops: []history.Operation{
			failedAt("c2", 30, 40, readAt(2, false), errCompactedText),
			okAt("c1", 35, 50, 5, compactReq(3), compactResp),
		}},
		{name: "read refused with no compaction at all", ops: []history.Operation{
			failedAt("c2", 30, 40, readAt(2, false), errCompactedText),
		}, want: "compacted-without-compaction"},
		{name: "read at the compact revision itself refused", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(3), compactResp),
			failedAt("c2", 30, 40, readAt(3, false), errCompactedText),
		}, want: "compacted-without-compaction"},
		{name: "read refused by a compaction called only after the refusal", ops: []history.Operation{
			failedAt("c2", 30, 40, readAt(2, false), errCompactedText),
			okAt("c1", 41, 50, 5, compactReq(3), compactResp),
		}, want: "compacted-without-compaction"},
		{name: "read refused by a compaction that was itself refused", ops: []history.Operation{
			failedAt("c1", 10, 20, compactReq(9), errFutureText),
			failedAt("c2", 30, 40, readAt(2, false), errCompactedText),
		}, want: "compacted-without-compaction"},
		{name: "latest read refused as compacted", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(3), compactResp),
			failedAt("c2", 30, 40, history.Request{Range: &history.RangeRequest{Key: []byte("k1")}}, errCompactedText),
		}, want: "compacted-without-compaction"},
		{name: "read below an acknowledged compaction served", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(3), compactResp),
			okAt("c2", 30, 40, 5, readAt(2, false), rangeResp),
		}, want: "read-of-compacted-revision"},
		{name: "read at the compact revision served", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(3), compactResp),
			okAt("c2", 30, 40, 5, readAt(3, false), rangeResp),
		}},
		{name: "read concurrent with the compaction served", ops: []history.Operation{
			okAt("c1", 10, 30, 5, compactReq(3), compactResp),
			okAt("c2", 30, 40, 5, readAt(2, false), rangeResp),
		}},
		{name: "serializable read below an acknowledged compaction served", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(3), compactResp),
			okAt("c2", 30, 40, 5, readAt(2, true), rangeResp),
		}},
		{name: "compaction refused after another at or above it", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(4), compactResp),
			failedAt("c2", 30, 40, compactReq(4), errCompactedText),
		}},
		{name: "compaction refused as compacted with no other", ops: []history.Operation{
			failedAt("c2", 30, 40, compactReq(4), errCompactedText),
		}, want: "compacted-without-compaction"},
		{name: "compaction refused as compacted after one below it", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(3), compactResp),
			failedAt("c2", 30, 40, compactReq(4), errCompactedText),
		}, want: "compacted-without-compaction"},
		{name: "compaction acknowledged after one above it was", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(4), compactResp),
			okAt("c2", 30, 40, 5, compactReq(3), compactResp),
		}, want: "compaction-not-refused"},
		{name: "compaction acknowledged above its header revision", ops: []history.Operation{
			okAt("c1", 10, 20, 5, compactReq(6), compactResp),
		}, want: "compaction-of-future-revision"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs := validateCompactions(&history.History{Operations: tc.ops})
			if tc.want == "" {
				require.Empty(t, vs)
				return
			}
			require.Len(t, vs, 1, "%+v", vs)
			require.Equal(t, CheckCompaction, vs[0].Checker)
			require.Equal(t, tc.want, vs[0].Kind, vs[0].Message)
		})
	}
}

// TestWatchCompactionNeedsACompaction: a watch cancelled with compact revision C is judged
// against the compactions the history requested before the cancel arrived (one at C, or at
// C-1: Ballast names C+1 to a watch that needed C itself).
func TestWatchCompactionNeedsACompaction(t *testing.T) {
	puts := []history.Operation{
		okAt("c1", 10, 11, 2, history.Request{Put: &history.PutRequest{Key: []byte("k1"), Value: []byte("v1")}}, history.Response{Put: &history.PutResponse{}}),
		okAt("c1", 20, 21, 3, history.Request{Put: &history.PutRequest{Key: []byte("k1"), Value: []byte("v2")}}, history.Response{Put: &history.PutResponse{}}),
		okAt("c1", 30, 31, 4, history.Request{Put: &history.PutRequest{Key: []byte("k1"), Value: []byte("v3")}}, history.Response{Put: &history.PutResponse{}}),
	}
	watch := func(compactRev int64) history.Watch {
		return history.Watch{ID: "w1", Client: "w1", Request: history.WatchRequest{Key: []byte("k"), RangeEnd: []byte("l"), StartRevision: 1},
			Streams: []history.WatchStream{{TimeNs: 50, StartRevision: 1, Responses: []history.WatchResponse{
				{TimeNs: 51, Revision: 4, Created: true},
				{TimeNs: 52, Revision: 4, Canceled: true, CompactRevision: compactRev},
			}}}}
	}
	cases := []struct {
		name       string
		compaction []history.Operation
		compactRev int64
		want       string // "" valid, else a phrase of the watch violation
	}{
		{name: "cancelled at the revision compacted", compaction: []history.Operation{okAt("c2", 40, 45, 4, compactReq(3), compactResp)}, compactRev: 3},
		{name: "cancelled one past the revision compacted", compaction: []history.Operation{okAt("c2", 40, 45, 4, compactReq(3), compactResp)}, compactRev: 4},
		{name: "cancelled while the compaction was in flight", compaction: []history.Operation{unknownAt("c2", 40, compactReq(3))}, compactRev: 3},
		{name: "cancelled with no compaction", compactRev: 3, want: "no compaction at rev 2 or above was requested"},
		{name: "cancelled beyond the revision compacted", compaction: []history.Operation{okAt("c2", 40, 45, 4, compactReq(2), compactResp)}, compactRev: 4,
			want: "no compaction at rev 3 or above was requested"},
		{name: "cancelled before the compaction was requested", compaction: []history.Operation{okAt("c2", 60, 65, 4, compactReq(3), compactResp)}, compactRev: 3,
			want: "no compaction at rev 2 or above was requested"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &history.History{Header: history.Header{Version: history.FormatVersion, ClusterSize: 1, Clock: history.ClockVirtual},
				Operations: append(append([]history.Operation(nil), puts...), tc.compaction...), Watches: []history.Watch{watch(tc.compactRev)}}
			res := Check(h, Options{})
			c := res.Check(CheckWatch)
			require.NotNil(t, c)
			if tc.want == "" {
				require.Equal(t, VerdictOK, res.Verdict, "%+v", res.Checks)
				return
			}
			require.Equal(t, VerdictViolation, c.Verdict)
			require.Len(t, c.Violations, 1)
			require.Equal(t, "watch-compaction", c.Violations[0].Kind)
			require.Contains(t, c.Violations[0].Message, tc.want)
		})
	}
}
