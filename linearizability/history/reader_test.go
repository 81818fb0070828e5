package history

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const testHeader = `{"kind":"header","version":1,"cluster_size":3,"members":["m1","m2","m3"],"seed":1,"clock":"wall","clock_error_ns":1000}`

// TestReadErrors feeds malformed files to Read and checks the line and reason it names.
func TestReadErrors(t *testing.T) {
	putOp := `{"kind":"op","client":"c1","call_ns":10,"return_ns":20,"request":{"put":{"key":"a","value":"v"}},"response":{"header":{"revision":2},"put":{}}}`
	for _, tc := range []struct {
		name   string
		lines  []string
		line   int
		reason string
	}{
		{"empty file", nil, 1, "missing header: the file has no records"},
		{"only blank lines", []string{"", "  "}, 2, "missing header"},
		{"bad JSON", []string{testHeader, `{"kind":"op",`}, 2, "bad JSON: unexpected end of input, expected a field name at byte 14"},
		{"not an object", []string{testHeader, `[1,2]`}, 2, "bad JSON: a record must be a JSON object, got an array"},
		{"trailing garbage", []string{testHeader, putOp + ` x`}, 2, "bad JSON: unexpected data after the object"},
		{"deep nesting", []string{testHeader, `{"kind":"op","x":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`}, 2, `op: unknown field "x"`},
		{"deep nesting, kind not first", []string{testHeader, `{"x":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `,"kind":"op"}`}, 2, "bad JSON: nesting deeper than 256"},
		{"deep txn nesting", []string{testHeader, `{"kind":"op","client":"c","call_ns":1,"request":` + strings.Repeat(`{"txn":{"success":[`, 200) + strings.Repeat(`]}}`, 200) + `}`}, 2, "bad JSON: nesting deeper than 256"},
		{"kind with escape", []string{testHeader, `{"kind":"o\u0070"}`}, 2, `missing field "client"`},
		{"unknown op field", []string{testHeader, `{"kind":"op","client":"c1","call_ns":1,"request":{"range":{"key":"a"}},"colour":1}`}, 2, `op: unknown field "colour"`},
		{"two kinds", []string{testHeader, `{"kind":"op","kind":"op","client":"c1","call_ns":1,"request":{"range":{"key":"a"}}}`}, 2, `op: field "kind" given twice`},
		{"missing kind", []string{testHeader, `{"client":"c1"}`}, 2, `missing field "kind"`},
		{"kind not a string", []string{testHeader, `{"kind":3}`}, 2, "kind: expected a string, got a number"},
		{"unknown record kind", []string{testHeader, `{"kind":"opp"}`}, 2, `unknown record kind "opp"`},
		{"missing header", []string{putOp}, 1, `missing header: the first record is "op", it must be "header"`},
		{"header not first", []string{testHeader, putOp, testHeader}, 3, "header not first: a second header record"},
		{"unknown version", []string{`{"kind":"header","version":2,"cluster_size":1,"clock":"virtual"}`}, 1, "header: unknown format version 2 (this reader knows version 1)"},
		{"header missing version", []string{`{"kind":"header","cluster_size":1,"clock":"virtual"}`}, 1, `header: missing field "version"`},
		{"bad clock", []string{`{"kind":"header","version":1,"cluster_size":1,"clock":"sundial"}`}, 1, `header: clock "sundial": must be "virtual" or "wall"`},
		{"members mismatch", []string{`{"kind":"header","version":1,"cluster_size":2,"members":["m1"],"clock":"virtual"}`}, 1, "members lists 1 names but cluster_size is 2"},
		{"duplicate member", []string{`{"kind":"header","version":1,"cluster_size":2,"members":["m1","m1"],"clock":"virtual"}`}, 1, `duplicate member name "m1"`},
		{"zero cluster", []string{`{"kind":"header","version":1,"cluster_size":0,"clock":"virtual"}`}, 1, "cluster_size 0: must be at least 1"},
		{"negative clock error", []string{`{"kind":"header","version":1,"cluster_size":1,"clock":"wall","clock_error_ns":-1}`}, 1, "clock_error_ns -1: must not be negative"},
		{"unknown header field", []string{`{"kind":"header","version":1,"cluster_size":1,"clock":"wall","colour":"red"}`}, 1, `header: unknown field "colour"`},
		{"return before call", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":9,"request":{"range":{"key":"a"}},"response":{"header":{"revision":1},"range":{"count":0}}}`}, 2, "op: return before call: return_ns 9 < call_ns 10"},
		{"invalid base64", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"put":{"key_b64":"%%%"}}}`}, 2, `op: request: put: key_b64: invalid base64 "%%%"`},
		{"key and key_b64", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"put":{"key":"a","key_b64":"YQ=="}}}`}, 2, `both "key" and "key_b64" given`},
		{"no request kind", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{}}`}, 2, "op: request: must set exactly one of"},
		{"two request kinds", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"put":{"key":"a"},"range":{"key":"a"}}}`}, 2, "op: request: must set exactly one of"},
		{"missing client", []string{testHeader, `{"kind":"op","call_ns":10,"request":{"range":{"key":"a"}}}`}, 2, `op: missing field "client"`},
		{"cluster client op", []string{testHeader, `{"kind":"op","client":"cluster","call_ns":10,"request":{"range":{"key":"a"}}}`}, 2, `client "cluster" is reserved`},
		{"negative call", []string{testHeader, `{"kind":"op","client":"c1","call_ns":-1,"request":{"range":{"key":"a"}}}`}, 2, "call_ns -1: must not be negative"},
		{"response without return", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"range":{"key":"a"}},"response":{"range":{"count":0}}}`}, 2, "response or error without return_ns"},
		{"return without outcome", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"range":{"key":"a"}}}`}, 2, "return_ns without response or error"},
		{"response and error", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"range":{"key":"a"}},"response":{"range":{"count":0}},"error":{"message":"x"}}`}, 2, "both response and error"},
		{"response of other kind", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"range":{"key":"a"}},"response":{"put":{}}}`}, 2, "op: response: a put response to a range request"},
		{"txn responses count", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"txn":{"success":[{"put":{"key":"a"}}]}},"response":{"txn":{"succeeded":true}}}`}, 2, "txn: 0 responses but the success branch has 1 requests"},
		{"txn nested response kind", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"txn":{"failure":[{"put":{"key":"a"}}]}},"response":{"txn":{"responses":[{"range":{"count":0}}]}}}`}, 2, "txn: responses[0]: a range response to a put request"},
		{"lease op in txn", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"txn":{"success":[{"lease_grant":{"ttl_seconds":5}}]}}}`}, 2, "txn: success[0]: lease_grant is not allowed inside a txn"},
		{"bad compare target", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"txn":{"compare":[{"key":"a","target":"colour","result":"="}]}}}`}, 2, `compare[0]: target "colour"`},
		{"bad compare result", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"txn":{"compare":[{"key":"a","target":"value","result":"<="}]}}}`}, 2, `compare[0]: result "<="`},
		{"negative limit", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"range":{"key":"a","limit":-1}}}`}, 2, "range: limit -1"},
		{"negative range revision", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"range":{"key":"a","revision":-3}}}`}, 2, "range: revision -3"},
		{"negative ttl", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"lease_grant":{"ttl_seconds":-3}}}`}, 2, "ttl_seconds -3"},
		{"compact in txn", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"txn":{"success":[{"compact":{"revision":3}}]}}}`}, 2, "txn: success[0]: compact is not allowed inside a txn"},
		{"compact at revision 0", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"request":{"compact":{"revision":0}}}`}, 2, "compact: revision 0: must be at least 1"},
		{"compact answered as a range", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"compact":{"revision":3}},"response":{"header":{"revision":4},"range":{"count":0}}}`}, 2, "a range response to a compact request"},
		{"negative header revision", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"range":{"key":"a"}},"response":{"header":{"revision":-1},"range":{"count":0}}}`}, 2, "header revision -1"},
		{"negative count", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"range":{"key":"a"}},"response":{"range":{"count":-1}}}`}, 2, "count -1"},
		{"negative deleted", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"delete_range":{"key":"a"}},"response":{"delete_range":{"deleted":-1}}}`}, 2, "deleted -1"},
		{"bad error class", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"range":{"key":"a"}},"error":{"message":"x","class":"maybe"}}`}, 2, `error: class "maybe"`},
		{"empty error message", []string{testHeader, `{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"range":{"key":"a"}},"error":{"message":""}}`}, 2, "error: empty message"},
		{"response to unknown watch", []string{testHeader, `{"kind":"watch_response","watch":"w9","response":{"time_ns":5,"revision":1}}`}, 2, `watch_response: watch "w9" was never created`},
		{"resume of unknown watch", []string{testHeader, `{"kind":"watch_resume","watch":"w9","time_ns":5,"start_revision":1}`}, 2, `watch_resume: watch "w9" was never created`},
		{"duplicate watch", []string{testHeader, `{"kind":"watch","watch":"w1","client":"w","time_ns":1,"request":{"key":"a"}}`, `{"kind":"watch","watch":"w1","client":"w","time_ns":1,"request":{"key":"a"}}`}, 3, `duplicate watch id "w1"`},
		{"watch response out of order", []string{testHeader, `{"kind":"watch","watch":"w1","client":"w","time_ns":10,"request":{"key":"a"}}`, `{"kind":"watch_response","watch":"w1","response":{"time_ns":9,"revision":1}}`}, 3, `watch "w1": response arrives at 9, before the watch's previous record at 10`},
		{"resume before last response", []string{testHeader, `{"kind":"watch","watch":"w1","client":"w","time_ns":10,"request":{"key":"a"}}`, `{"kind":"watch_response","watch":"w1","response":{"time_ns":20,"revision":1}}`, `{"kind":"watch_resume","watch":"w1","time_ns":15,"start_revision":2}`}, 4, "resumed at 15, before the watch's previous record at 20"},
		{"progress with events", []string{testHeader, `{"kind":"watch","watch":"w1","client":"w","time_ns":10,"request":{"key":"a"}}`, `{"kind":"watch_response","watch":"w1","response":{"time_ns":20,"revision":2,"progress_notify":true,"events":[{"type":"PUT","kv":{"key":"a","create_revision":2,"mod_revision":2,"version":1}}]}}`}, 3, "a progress notification with 1 events"},
		{"bad event type", []string{testHeader, `{"kind":"watch","watch":"w1","client":"w","time_ns":10,"request":{"key":"a"}}`, `{"kind":"watch_response","watch":"w1","response":{"time_ns":20,"revision":2,"events":[{"type":"PATCH","kv":{"key":"a","create_revision":2,"mod_revision":2,"version":1}}]}}`}, 3, `events[0]: type "PATCH"`},
		{"bad watch filter", []string{testHeader, `{"kind":"watch","watch":"w1","client":"w","time_ns":10,"request":{"key":"a","filters":["noget"]}}`}, 2, `filter "noget"`},
		{"watch without client", []string{testHeader, `{"kind":"watch","watch":"w1","client":"","time_ns":10,"request":{"key":"a"}}`}, 2, "watch: empty client"},
		{"lease expiry of a client", []string{testHeader, `{"kind":"lease_expiry","client":"c1","lease":5,"revision":3,"time_ns":9}`}, 2, `lease expiry of client "c1": must be "cluster"`},
		{"lease expiry missing revision", []string{testHeader, `{"kind":"lease_expiry","client":"cluster","lease":5,"time_ns":9}`}, 2, `lease_expiry: missing field "revision"`},
		{"fault of unknown member", []string{testHeader, `{"kind":"fault","fault":"kill","members":["m7"],"start_ns":5}`}, 2, `fault: unknown member "m7"`},
		{"fault ends before start", []string{testHeader, `{"kind":"fault","fault":"kill","members":["m1"],"start_ns":5,"end_ns":4}`}, 2, "fault ends before it starts: end_ns 4 < start_ns 5"},
		{"fault without kind", []string{testHeader, `{"kind":"fault","fault":"","start_ns":5}`}, 2, "empty fault kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(strings.Join(tc.lines, "\n")))
			require.Error(t, err)
			var re *ReadError
			require.True(t, errors.As(err, &re), "error %v is not a *ReadError", err)
			require.Equal(t, tc.line, re.Line, "line of %q", err)
			require.Contains(t, re.Reason, tc.reason)
			require.True(t, strings.HasPrefix(err.Error(), "line "))
		})
	}
}

// TestReadAcceptsVariants covers spellings the writer never produces but the reader accepts.
func TestReadAcceptsVariants(t *testing.T) {
	file := strings.Join([]string{
		"",
		"  " + testHeader + "  ",
		"",
		// error class omitted: filled in from the message
		`{"kind":"op","client":"c1","call_ns":10,"return_ns":11,"request":{"range":{"key":"a"}},"error":{"message":"etcdserver: mvcc: required revision is a future revision"}}`,
		// fields in another order, CRLF line end
		`{"request":{"delete_range":{"range_end_b64":"AA==","key":"a"}},"call_ns":12,"client":"c2","kind":"op"}` + "\r",
		// a compaction and its answer (only the header)
		`{"kind":"op","client":"c3","call_ns":13,"return_ns":14,"request":{"compact":{"revision":3,"physical":true}},"response":{"header":{"revision":4},"compact":{}}}`,
	}, "\n")
	h, err := Read(strings.NewReader(file))
	require.NoError(t, err)
	require.Len(t, h.Operations, 3)
	require.Equal(t, &CompactRequest{Revision: 3, Physical: true}, h.Operations[2].Request.Compact)
	require.Equal(t, KindCompact, h.Operations[2].Response.Kind())
	require.Equal(t, ErrorDefinite, h.Operations[0].Error.Class)
	require.Equal(t, 4, h.Operations[0].Line)
	require.Equal(t, []byte{0}, []byte(h.Operations[1].Request.DeleteRange.RangeEnd))
	require.Equal(t, 5, h.Operations[1].Line)
}

func TestReadLongLine(t *testing.T) {
	long := `{"kind":"op","client":"c1","call_ns":1,"request":{"put":{"key":"a","value":"` + strings.Repeat("x", 200<<10) + `"}}}`
	h, err := Read(strings.NewReader(testHeader + "\n" + long + "\n"))
	require.NoError(t, err)
	require.Len(t, h.Operations[0].Request.Put.Value, 200<<10)
}
