package history

import (
	"encoding/json"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// roundTripJSON marshals v with encoding/json and unmarshals it into a fresh *T.
func roundTripJSON[T any](t *testing.T, v T) T {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	var back T
	require.NoError(t, json.Unmarshal(data, &back), "%s", data)
	return back
}

// TestEncodingJSONInterop: the format's types also marshal with encoding/json (the checker's
// JSON summary embeds them), in the same spelling, and come back equal.
func TestEncodingJSONInterop(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < 50; i++ {
		h := (&randomHistory{rng: rng}).build()
		require.Equal(t, h.Header, roundTripJSON(t, h.Header))
		for _, op := range h.Operations {
			back := roundTripJSON(t, op)
			require.Equal(t, op, back)
			if op.Response != nil {
				require.Equal(t, *op.Response, roundTripJSON(t, *op.Response))
			}
			if op.Error != nil {
				require.Equal(t, *op.Error, roundTripJSON(t, *op.Error))
			}
			if op.Request.Txn != nil {
				require.Equal(t, *op.Request.Txn, roundTripJSON(t, *op.Request.Txn))
			}
		}
		for _, w := range h.Watches {
			require.Equal(t, w.Request, roundTripJSON(t, w.Request))
			for _, s := range w.Streams {
				for _, resp := range s.Responses {
					require.Equal(t, resp, roundTripJSON(t, resp))
				}
			}
		}
		for _, le := range h.LeaseExpiries {
			require.Equal(t, le, roundTripJSON(t, le))
		}
		for _, f := range h.Faults {
			require.Equal(t, f, roundTripJSON(t, f))
		}
	}
	// every request and response kind on its own
	for _, v := range []any{
		PutRequest{Key: Bytes("a"), Value: Bytes{0xff}}, RangeRequest{Key: Bytes("a"), Limit: 2}, DeleteRangeRequest{Key: Bytes("a")},
		Compare{Key: Bytes("a"), Target: TargetLease, Result: ResultLess, Lease: 3}, LeaseGrantRequest{TTLSeconds: 3},
		LeaseRevokeRequest{ID: 4}, LeaseKeepAliveRequest{ID: 5}, PutResponse{}, RangeResponse{Count: 2},
		DeleteRangeResponse{Deleted: 1}, TxnResponse{Succeeded: true}, LeaseGrantResponse{ID: 2}, LeaseRevokeResponse{},
		LeaseKeepAliveResponse{ID: 3, TTLSeconds: 4}, ResponseHeader{Revision: 9}, KeyValue{Key: Bytes("k")},
		Event{Type: EventDelete, KV: KeyValue{Key: Bytes("k")}},
	} {
		data, err := json.Marshal(v)
		require.NoError(t, err)
		ptr := newLike(v)
		require.NoError(t, json.Unmarshal(data, ptr), "%T %s", v, data)
		again, err := json.Marshal(ptr)
		require.NoError(t, err)
		require.JSONEq(t, string(data), string(again))
	}
	var op Operation
	require.ErrorContains(t, json.Unmarshal([]byte(`{"client":"c"}`), &op), `missing field "call_ns"`)
}

func newLike(v any) any {
	switch v.(type) {
	case PutRequest:
		return &PutRequest{}
	case RangeRequest:
		return &RangeRequest{}
	case DeleteRangeRequest:
		return &DeleteRangeRequest{}
	case Compare:
		return &Compare{}
	case LeaseGrantRequest:
		return &LeaseGrantRequest{}
	case LeaseRevokeRequest:
		return &LeaseRevokeRequest{}
	case LeaseKeepAliveRequest:
		return &LeaseKeepAliveRequest{}
	case PutResponse:
		return &PutResponse{}
	case RangeResponse:
		return &RangeResponse{}
	case DeleteRangeResponse:
		return &DeleteRangeResponse{}
	case TxnResponse:
		return &TxnResponse{}
	case LeaseGrantResponse:
		return &LeaseGrantResponse{}
	case LeaseRevokeResponse:
		return &LeaseRevokeResponse{}
	case LeaseKeepAliveResponse:
		return &LeaseKeepAliveResponse{}
	case ResponseHeader:
		return &ResponseHeader{}
	case KeyValue:
		return &KeyValue{}
	case Event:
		return &Event{}
	default:
		panic("newLike: add the type")
	}
}

func TestSmallHelpers(t *testing.T) {
	require.Equal(t, "abc", Bytes("abc").String())
	require.Equal(t, `"\xff"`, Bytes{0xff}.String())
	require.True(t, Bytes(nil).Equal(Bytes{}))
	for o, want := range map[Outcome]string{OutcomeOK: "ok", OutcomeFailed: "failed", OutcomeUnknown: "unknown", Outcome(9): "invalid"} {
		require.Equal(t, want, o.String())
	}
	readOnly := Request{Txn: &TxnRequest{Success: []Request{{Range: &RangeRequest{Key: Bytes("a")}}},
		Failure: []Request{{Txn: &TxnRequest{Success: []Request{{Range: &RangeRequest{Key: Bytes("b")}}}}}}}}
	require.True(t, readOnly.IsReadOnly())
	writing := Request{Txn: &TxnRequest{Failure: []Request{{Txn: &TxnRequest{Success: []Request{{Put: &PutRequest{Key: Bytes("b")}}}}}}}}
	require.False(t, writing.IsReadOnly())
	require.False(t, Request{LeaseGrant: &LeaseGrantRequest{}}.IsReadOnly())
	require.True(t, Request{Range: &RangeRequest{}}.IsReadOnly())
	require.Equal(t, RequestKind(""), Request{Put: &PutRequest{}, Range: &RangeRequest{}}.Kind())
	require.Equal(t, RequestKind(""), Response{}.Kind())
	r := NewRecorder(Header{ClusterSize: 1, Clock: ClockVirtual})
	require.Equal(t, "w7", r.Watch("w7", "c", WatchRequest{Key: Bytes("a")}, 0).ID())
}
