package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// gatewayCall is one JSON request of etcd's documentation's kind (curl -X POST -d '...').
type gatewayCall struct {
	name, method, path, body string
	keysOnly                 bool // compare the answer's field names only (sizes, versions differ)
}

// gatewayCalls run in order on both servers: etcd's docs' curl lines (put, range, txn,
// delete, compaction, leases, members, status) and the errors around them. Each body is
// etcd's JSON: base64 keys and values, 64-bit integers as strings, proto field names.
var gatewayCalls = []gatewayCall{
	{name: "put", method: "POST", path: "/v3/kv/put", body: `{"key": "Zm9v", "value": "YmFy"}`},
	{name: "range", method: "POST", path: "/v3/kv/range", body: `{"key": "Zm9v"}`},
	{name: "range prefix, old path", method: "POST", path: "/v3beta/kv/range", body: `{"key": "Zg==", "range_end": "Zw==", "keys_only": true}`},
	{name: "txn", method: "POST", path: "/v3/kv/txn", body: `{"compare":[{"target":"VALUE","key":"Zm9v","value":"YmFy"}],"success":[{"request_put":{"key":"Zm9v","value":"YmF6"}}],"failure":[{"request_range":{"key":"Zm9v"}}]}`},
	{name: "txn fails", method: "POST", path: "/v3/kv/txn", body: `{"compare":[{"target":"CREATE","key":"Zm9v","createRevision":"1"}],"success":[],"failure":[{"request_range":{"key":"Zm9v"}}]}`},
	{name: "put another", method: "POST", path: "/v3/kv/put", body: `{"key": "YmFy", "value": "MQ==", "prev_kv": true}`},
	{name: "delete", method: "POST", path: "/v3/kv/deleterange", body: `{"key": "YmFy", "prev_kv": true}`},
	{name: "compaction", method: "POST", path: "/v3/kv/compaction", body: `{"revision": "3"}`},
	{name: "range compacted", method: "POST", path: "/v3/kv/range", body: `{"key": "Zm9v", "revision": "2"}`},
	{name: "range future", method: "POST", path: "/v3/kv/range", body: `{"key": "Zm9v", "revision": "100"}`},
	{name: "bad JSON", method: "POST", path: "/v3/kv/range", body: `{"key": `},
	{name: "unknown field", method: "POST", path: "/v3/kv/range", body: `{"key": "Zm9v", "no_such_field": 1}`},
	{name: "GET on a POST route", method: "GET", path: "/v3/kv/range"},
	{name: "unknown route", method: "POST", path: "/v3/kv/nothing", body: `{}`},
	{name: "lease grant", method: "POST", path: "/v3/lease/grant", body: `{"TTL": 60}`},
	{name: "lease revoke unknown", method: "POST", path: "/v3/lease/revoke", body: `{"ID": 1234}`},
	{name: "lease timetolive unknown", method: "POST", path: "/v3/lease/timetolive", body: `{"ID": 1234}`},
	{name: "member list", method: "POST", path: "/v3/cluster/member/list", body: `{}`},
	{name: "status", method: "POST", path: "/v3/maintenance/status", body: `{}`, keysOnly: true},
}

// normalize clears what legitimately differs between two clusters: IDs (member, cluster,
// lease), the raft term, URLs (ports) and names; a timetolive's remaining TTL.
func normalize(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			switch k {
			case "cluster_id", "member_id", "raft_term", "ID", "leader", "peerURLs", "clientURLs", "name", "lease":
				out[k] = "*"
			default:
				out[k] = normalize(e, k)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e, key)
		}
		return out
	}
	return v
}

func fieldNames(v any, prefix string) []string {
	var out []string
	if m, ok := v.(map[string]any); ok {
		for k, e := range m {
			out = append(out, prefix+k)
			out = append(out, fieldNames(e, prefix+k+".")...)
		}
	}
	slices.Sort(out)
	return out
}

func gatewayDo(t *testing.T, base string, c gatewayCall) (int, any, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v any
	if json.Unmarshal(b, &v) != nil {
		return resp.StatusCode, nil, string(b)
	}
	return resp.StatusCode, v, string(b)
}

// TestGatewayAsEtcd sends etcd's documented JSON requests to Ballast's gateway and to etcd
// v3.7.3's, started with the same flags, and requires the same status and the same JSON
// (after clearing IDs, terms and URLs); the watch stream's first answers too. Then
// --enable-grpc-gateway=false turns Ballast's off, as etcd's.
func TestGatewayAsEtcd(t *testing.T) {
	etcd := startEtcdHTTP(t)
	ballast := startBallastHTTP(t)
	for _, c := range gatewayCalls {
		ec, ev, eraw := gatewayDo(t, etcd.client, c)
		bc, bv, braw := gatewayDo(t, ballast.client, c)
		require.Equal(t, ec, bc, "%s: status; etcd %s, Ballast %s", c.name, eraw, braw)
		if c.keysOnly {
			require.Equal(t, fieldNames(ev, ""), fieldNames(bv, ""), "%s: fields; etcd %s, Ballast %s", c.name, eraw, braw)
			continue
		}
		if ev == nil {
			require.Equal(t, eraw, braw, c.name)
			continue
		}
		require.Equal(t, normalize(ev, ""), normalize(bv, ""), "%s: etcd %s, Ballast %s", c.name, eraw, braw)
	}

	// A lease through its life: grant, keep alive (a stream: one answer per request line),
	// time to live with its keys, revoke.
	for _, m := range []httpMember{etcd, ballast} {
		_, v, raw := gatewayDo(t, m.client, gatewayCall{method: "POST", path: "/v3/lease/grant", body: `{"TTL": 30}`})
		id, ok := v.(map[string]any)["ID"].(string)
		require.True(t, ok, raw)
		_, _, raw = gatewayDo(t, m.client, gatewayCall{method: "POST", path: "/v3/kv/put", body: fmt.Sprintf(`{"key":"bGVhc2Vk","value":"eA==","lease":%q}`, id)})
		require.Contains(t, raw, `"revision"`)
		_, v, raw = gatewayDo(t, m.client, gatewayCall{method: "POST", path: "/v3/lease/keepalive", body: fmt.Sprintf(`{"ID":%q}`, id)})
		require.Equal(t, "30", v.(map[string]any)["result"].(map[string]any)["TTL"], raw)
		_, v, raw = gatewayDo(t, m.client, gatewayCall{method: "POST", path: "/v3/lease/timetolive", body: fmt.Sprintf(`{"ID":%q,"keys":true}`, id)})
		require.Equal(t, "30", v.(map[string]any)["grantedTTL"], raw)
		require.Equal(t, []any{"bGVhc2Vk"}, v.(map[string]any)["keys"], raw)
		code, _, raw := gatewayDo(t, m.client, gatewayCall{method: "POST", path: "/v3/lease/revoke", body: fmt.Sprintf(`{"ID":%q}`, id)})
		require.Equal(t, http.StatusOK, code, raw)
		_, v, raw = gatewayDo(t, m.client, gatewayCall{method: "POST", path: "/v3/kv/range", body: `{"key":"bGVhc2Vk"}`})
		require.Nil(t, v.(map[string]any)["kvs"], "the revoke deleted the lease's key: %s", raw)
	}

	// The watch stream: created, then an event for a put made after it.
	t.Logf("etcd %s, Ballast %s", etcd.client, ballast.client)
	var answers [2][]any
	for i, m := range []httpMember{etcd, ballast} {
		answers[i] = watchThroughGateway(t, m.client)
	}
	require.Equal(t, normalize(answers[0], ""), normalize(answers[1], ""), "watch: etcd %v, Ballast %v", answers[0], answers[1])

	// etcd's v3lock and v3election routes: the same sequence on both, the same answers.
	var lockAnswers [2][]any
	for i, m := range []httpMember{etcd, ballast} {
		lockAnswers[i] = lockElectionThroughGateway(t, m.client)
	}
	require.Equal(t, lockAnswers[0], lockAnswers[1], "lock and election")
}

// lockElectionThroughGateway takes a lock and runs an election through the gateway's
// v3lock and v3election routes (a lease of its own for both), and returns each answer's
// status and JSON, with the lease ID (in the lock and leader keys, which end in it in hex,
// and in the lease fields) and the header's IDs and term made "*".
func lockElectionThroughGateway(t *testing.T, base string) []any {
	t.Helper()
	_, v, raw := gatewayDo(t, base, gatewayCall{method: "POST", path: "/v3/lease/grant", body: `{"TTL": 60}`})
	id, ok := v.(map[string]any)["ID"].(string)
	require.True(t, ok, raw)
	var lease int64
	_, err := fmt.Sscan(id, &lease)
	require.NoError(t, err)
	leaseHex := fmt.Sprintf("%x", lease)
	var out []any
	call := func(path, body string) map[string]any {
		code, v, raw := gatewayDo(t, base, gatewayCall{method: "POST", path: path, body: body})
		out = append(out, path, code, normalizeLease(v, leaseHex))
		m, _ := v.(map[string]any)
		require.NotNil(t, m, "%s: %s", path, raw)
		return m
	}
	lock := call("/v3/lock/lock", fmt.Sprintf(`{"name": "bG9jaw==", "lease": %q}`, id))
	key, _ := lock["key"].(string)
	require.Equal(t, base64.StdEncoding.EncodeToString([]byte("lock/"+leaseHex)), key, "the lock's key is name/lease")
	call("/v3/kv/range", `{"key": "bG9jay8=", "range_end": "bG9jazA=", "keys_only": true}`) // the prefix lock/
	call("/v3/lock/unlock", fmt.Sprintf(`{"key": %q}`, key))
	campaign := call("/v3/election/campaign", fmt.Sprintf(`{"name": "ZWxlY3Q=", "value": "djE=", "lease": %q}`, id))
	leader, err := json.Marshal(campaign["leader"])
	require.NoError(t, err)
	call("/v3/election/leader", `{"name": "ZWxlY3Q="}`)
	call("/v3/election/proclaim", fmt.Sprintf(`{"leader": %s, "value": "djI="}`, leader))
	call("/v3/election/leader", `{"name": "ZWxlY3Q="}`)
	call("/v3/election/resign", fmt.Sprintf(`{"leader": %s}`, leader))
	call("/v3/election/leader", `{"name": "ZWxlY3Q="}`)
	call("/v3/election/proclaim", `{"value": "djM="}`)
	return out
}

// normalizeLease is normalize's clearing of the header's IDs and term, plus the lease: its
// fields, and its hex ID at the end of base64 keys.
func normalizeLease(v any, leaseHex string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			switch k {
			case "cluster_id", "member_id", "raft_term", "lease":
				out[k] = "*"
			case "key":
				if s, ok := e.(string); ok {
					if b, err := base64.StdEncoding.DecodeString(s); err == nil && strings.HasSuffix(string(b), "/"+leaseHex) {
						e = strings.TrimSuffix(string(b), leaseHex) + "<lease>"
					}
				}
				out[k] = e
			default:
				out[k] = normalizeLease(e, leaseHex)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeLease(e, leaseHex)
		}
		return out
	}
	return v
}

// watchThroughGateway opens POST /v3/watch on key "w" with the create request as the whole
// body (as etcd's docs' curl line), puts w=1 once the stream said created, and returns the
// stream's first two answers.
func watchThroughGateway(t *testing.T, base string) []any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v3/watch", strings.NewReader(`{"create_request": {"key": "dw=="}}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	dec := json.NewDecoder(resp.Body)
	var out []any
	var v any
	require.NoError(t, dec.Decode(&v), "the created answer")
	out = append(out, v)
	_, _, raw := gatewayDo(t, base, gatewayCall{method: "POST", path: "/v3/kv/put", body: `{"key":"dw==","value":"MQ=="}`})
	require.Contains(t, raw, "revision")
	var ev any
	require.NoError(t, dec.Decode(&ev), "the event")
	return append(out, ev)
}

// TestGatewayDisabled: --enable-grpc-gateway=false leaves /v3/ unserved, as in etcd.
func TestGatewayDisabled(t *testing.T) {
	ports := embedFreePorts(t)
	var stdout embedtest.LockedBuffer
	args := append(memberFlags(t.TempDir(), "g1", ports), "--log-outputs", "stdout", "--enable-grpc-gateway=false")
	startRun(t, args, nil, &stdout, stdout.String, "ready to serve client requests")
	code, _, _ := gatewayDo(t, fmt.Sprintf("http://127.0.0.1:%d", ports[0]), gatewayCall{method: "POST", path: "/v3/kv/range", body: `{"key":"Zm9v"}`})
	require.Equal(t, http.StatusNotFound, code)
}

func embedFreePorts(t *testing.T) []int { return embedtest.FreePorts(t, 3) }
