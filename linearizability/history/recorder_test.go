package history

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func newTestRecorder() *Recorder {
	return NewRecorder(Header{ClusterSize: 3, Members: []string{"m1", "m2", "m3"}, Scenario: "recorder test", Clock: ClockWall, ClockErrorNs: 100})
}

// TestRecorderConcurrent records from many goroutines at once (run with -race) and checks
// that every operation, watch response, expiry and fault is in the written file.
func TestRecorderConcurrent(t *testing.T) {
	r := newTestRecorder()
	const clients, opsPerClient = 8, 50
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := fmt.Sprintf("c%d", c)
			w := r.Watch("w-"+client, client, WatchRequest{Key: Bytes("k")}, 0)
			for i := 0; i < opsPerClient; i++ {
				callNs := int64(i * 10)
				value := Bytes(fmt.Sprintf("%s-%d", client, i))
				op := r.Call(client, Request{Put: &PutRequest{Key: Bytes("k"), Value: value}}, callNs)
				switch i % 4 {
				case 0:
					op.Return(Response{Header: ResponseHeader{Revision: int64(i + 2)}, Put: &PutResponse{}}, callNs+5)
				case 1:
					op.Fail(errors.New("etcdserver: request timed out"), callNs+5)
				case 2:
					op.Fail(errors.New("etcdserver: request is too large"), callNs+5)
				case 3:
					op.Unknown()
				}
				w.Receive(WatchResponse{TimeNs: callNs + 6, Revision: int64(i + 2)})
				if i == opsPerClient/2 {
					w.Resume(int64(i+3), callNs+7)
				}
			}
			r.LeaseExpired(int64(c+1), int64(c+100), int64(c))
			for k := 0; k < 20; k++ { // many at once: each handle must end its own fault
				f := r.StartFault("pause", []string{"m2"}, client, int64(c*100+k))
				f.End(int64(c*100 + k + 10))
			}
		}(c)
	}
	wg.Wait()

	var buf bytes.Buffer
	_, err := r.WriteTo(&buf)
	require.NoError(t, err)
	h, err := Read(&buf)
	require.NoError(t, err)

	require.Len(t, h.Operations, clients*opsPerClient)
	outcomes := map[Outcome]int{}
	for _, op := range h.Operations {
		outcomes[op.Outcome()]++
	}
	// i%4 over 50 operations: 13 returns, 13 timeouts, 12 definite errors, 12 unknown, per client.
	require.Equal(t, map[Outcome]int{OutcomeOK: 13 * clients, OutcomeFailed: 12 * clients, OutcomeUnknown: 25 * clients}, outcomes)
	require.Len(t, h.Watches, clients)
	for _, w := range h.Watches {
		require.Len(t, w.Streams, 2)
		require.Len(t, w.Streams[0].Responses, opsPerClient/2+1)
		require.Len(t, w.Streams[1].Responses, opsPerClient/2-1)
		require.Equal(t, int64(opsPerClient/2+3), w.Streams[1].StartRevision)
	}
	require.Len(t, h.LeaseExpiries, clients)
	require.Len(t, h.Faults, clients*20)
	for _, f := range h.Faults {
		require.Equal(t, f.StartNs+10, *f.EndNs, "fault %+v ended by another handle", f)
	}
}

func TestRecorderRecordsWhatItIsGiven(t *testing.T) {
	r := newTestRecorder()
	get := r.Call("c1", Request{Range: &RangeRequest{Key: Bytes("a")}}, 10)
	put := r.Call("c2", Request{Put: &PutRequest{Key: Bytes{0xfe}, Value: Bytes("v")}}, 11)
	crashed := r.Call("c3", Request{DeleteRange: &DeleteRangeRequest{Key: Bytes("a")}}, 12)
	_ = crashed // never finished: the client crashed
	put.FailWith(Error{Message: "connection reset", Class: ErrorDefinite}, 30)
	get.Return(Response{Header: ResponseHeader{Revision: 7}, Range: &RangeResponse{Count: 0}}, 20)
	r.Fault(Fault{Kind: "kill", Members: []string{"m1"}, StartNs: 5})

	h := r.History()
	require.Equal(t, FormatVersion, h.Header.Version)
	require.Len(t, h.Operations, 3)
	require.Equal(t, int64(20), *h.Operations[0].ReturnNs)
	require.Equal(t, int64(7), h.Operations[0].Response.Header.Revision)
	require.Equal(t, OutcomeFailed, h.Operations[1].Outcome(), "FailWith keeps the caller's class")
	require.Equal(t, OutcomeUnknown, h.Operations[2].Outcome())
	require.Nil(t, h.Operations[2].ReturnNs)
	require.Len(t, h.Faults, 1)
	require.Nil(t, h.Faults[0].EndNs)

	// The snapshot is a copy: recording more does not change it.
	r.LeaseExpired(1, 2, 3)
	require.Empty(t, h.LeaseExpiries)
}

func TestRecorderPanicsOnMisuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		use  func(r *Recorder)
		want string
	}{
		{"bad header", func(*Recorder) { NewRecorder(Header{ClusterSize: 1, Clock: "lunar"}) }, `history.NewRecorder: header: clock "lunar"`},
		{"bad request", func(r *Recorder) { r.Call("c", Request{}, 1) }, "history.Recorder.Call: request: must set exactly one of"},
		{"return twice", func(r *Recorder) {
			op := r.Call("c", Request{LeaseRevoke: &LeaseRevokeRequest{ID: 1}}, 1)
			op.Return(Response{LeaseRevoke: &LeaseRevokeResponse{}}, 2)
			op.Unknown()
		}, `history.OpHandle.Unknown: operation 0 of client "c" already finished`},
		{"return before call", func(r *Recorder) {
			r.Call("c", Request{LeaseRevoke: &LeaseRevokeRequest{ID: 1}}, 10).Fail(errors.New("x"), 9)
		}, "history.OpHandle.Fail: operation 0 of client \"c\": return before call"},
		{"wrong response kind", func(r *Recorder) {
			r.Call("c", Request{LeaseRevoke: &LeaseRevokeRequest{ID: 1}}, 10).Return(Response{Put: &PutResponse{}}, 11)
		}, "a put response to a lease_revoke request"},
		{"duplicate watch", func(r *Recorder) {
			r.Watch("w", "c", WatchRequest{Key: Bytes("a")}, 1)
			r.Watch("w", "c", WatchRequest{Key: Bytes("a")}, 1)
		}, `history.Recorder.Watch: duplicate watch id "w"`},
		{"watch response going back", func(r *Recorder) {
			r.Watch("w", "c", WatchRequest{Key: Bytes("a")}, 5).Receive(WatchResponse{TimeNs: 4})
		}, "history.WatchHandle.Receive: watch \"w\": response arrives at 4"},
		{"resume going back", func(r *Recorder) {
			r.Watch("w", "c", WatchRequest{Key: Bytes("a")}, 5).Resume(3, 4)
		}, "history.WatchHandle.Resume: watch \"w\": resumed at 4"},
		{"expiry with negative time", func(r *Recorder) { r.LeaseExpired(1, 1, -1) }, "history.Recorder.LeaseExpired: time_ns -1"},
		{"fault of unknown member", func(r *Recorder) { r.StartFault("kill", []string{"m9"}, "", 1) }, `history.Recorder.Fault: unknown member "m9"`},
		{"fault ending before start", func(r *Recorder) { r.StartFault("kill", nil, "", 5).End(4) }, "history.FaultHandle.End: fault ends before it starts"},
		{"fault ending twice", func(r *Recorder) {
			f := r.StartFault("kill", nil, "", 5)
			f.End(6)
			f.End(7)
		}, "history.FaultHandle.End: fault 0 (kill) already ended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRecorder()
			var got any
			func() {
				defer func() { got = recover() }()
				tc.use(r)
			}()
			require.NotNil(t, got, "no panic")
			msg, ok := got.(string)
			require.True(t, ok, "panic value %v is not a string", got)
			require.Contains(t, msg, tc.want)
		})
	}
}
