package history

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadExample reads the example of FORMAT.md and checks what it says, record by record.
func TestReadExample(t *testing.T) {
	f, err := os.Open("testdata/example.jsonl")
	require.NoError(t, err)
	defer f.Close()
	h, err := Read(f)
	require.NoError(t, err)

	require.Equal(t, Header{Version: 1, ClusterSize: 3, Members: []string{"m1", "m2", "m3"},
		Scenario: "example: puts, a txn, a lease and a watcher under a partition", Seed: 42,
		Clock: ClockVirtual}, h.Header)

	require.Len(t, h.Operations, 11)
	put := h.Operations[0]
	require.Equal(t, "c1", put.Client)
	require.Equal(t, int64(1000000), put.CallNs)
	require.Equal(t, int64(3000000), *put.ReturnNs)
	require.Equal(t, "a", string(put.Request.Put.Key))
	require.Equal(t, "v1", string(put.Request.Put.Value))
	require.Equal(t, int64(2), put.Response.Header.Revision)
	require.Equal(t, uint64(1), put.Response.Header.MemberID)
	require.Equal(t, OutcomeOK, put.Outcome())
	require.Equal(t, 2, put.Line)

	get := h.Operations[1].Response.Range
	require.Equal(t, []KeyValue{{Key: Bytes("a"), Value: Bytes("v1"), CreateRevision: 2, ModRevision: 2, Version: 1}}, get.KVs)

	require.Equal(t, int64(7587), h.Operations[3].Request.Put.Lease)
	txn := h.Operations[4]
	require.Equal(t, TargetMod, txn.Request.Txn.Compare[0].Target)
	require.Equal(t, ResultEqual, txn.Request.Txn.Compare[0].Result)
	require.Equal(t, int64(2), txn.Request.Txn.Compare[0].ModRevision)
	require.True(t, txn.Response.Txn.Succeeded)
	require.Equal(t, KindPut, txn.Response.Txn.Responses[0].Kind())

	limited := h.Operations[5]
	require.Equal(t, "\x00", string(limited.Request.Range.RangeEnd))
	require.Equal(t, int64(2), limited.Response.Range.Count)
	require.True(t, limited.Response.Range.More)

	binary := h.Operations[6]
	require.Equal(t, []byte{0xff}, []byte(binary.Request.Put.Key))
	require.Nil(t, binary.ReturnNs)
	require.Equal(t, OutcomeUnknown, binary.Outcome())

	require.Equal(t, OutcomeUnknown, h.Operations[7].Outcome(), "a timeout leaves the outcome unknown")
	require.Equal(t, OutcomeFailed, h.Operations[8].Outcome(), "an empty key proves the put did not apply")
	require.True(t, h.Operations[10].Request.Range.Serializable)

	require.Len(t, h.Watches, 1)
	w := h.Watches[0]
	require.Equal(t, "w1", w.ID)
	require.Len(t, w.Streams, 2)
	require.Equal(t, int64(2), w.Streams[0].StartRevision)
	require.Len(t, w.Streams[0].Responses, 4)
	require.True(t, w.Streams[0].Responses[0].Created)
	require.True(t, w.Streams[0].Responses[3].ProgressNotify)
	require.Equal(t, int64(4), w.Streams[1].StartRevision)
	require.Equal(t, int64(9500000), w.Streams[1].TimeNs)
	last := w.Streams[1].Responses[3].Events[0]
	require.Equal(t, EventDelete, last.Type)
	require.Equal(t, int64(6), last.KV.ModRevision)
	require.Equal(t, int64(7587), last.PrevKV.Lease)

	require.Equal(t, []LeaseExpiry{{Client: ClusterClient, LeaseID: 7587, Revision: 6, TimeNs: 5015000000, Line: 23}}, h.LeaseExpiries)
	require.Len(t, h.Faults, 2)
	require.Equal(t, "partition", h.Faults[0].Kind)
	require.Equal(t, int64(9400000), *h.Faults[0].EndNs)
	require.Nil(t, h.Faults[1].EndNs)

	// Writing the example back gives the same bytes: the file is in the writer's canonical
	// form (record order and field order).
	want, err := os.ReadFile("testdata/example.jsonl")
	require.NoError(t, err)
	var out bytes.Buffer
	_, err = h.WriteTo(&out)
	require.NoError(t, err)
	require.Equal(t, string(want), out.String())
}
