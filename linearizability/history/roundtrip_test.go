package history

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// testSeed returns the seed of a randomized test: $BALLAST_SEED when set, else a fixed one.
// The seed is logged so any failure can be re-run.
func testSeed(t *testing.T) int64 {
	seed := int64(1)
	if s := os.Getenv("BALLAST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		seed = v
	}
	t.Logf("seed %d (re-run with BALLAST_SEED=%d)", seed, seed)
	return seed
}

// randomHistory builds a valid history with every record kind and field, and random bytes
// (valid UTF-8 or not) in keys and values. It is not meant to be a sensible run: the format
// carries what it is given.
type randomHistory struct {
	rng *rand.Rand
	now int64
}

func (g *randomHistory) bytes() Bytes {
	n := g.rng.Intn(5)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		if g.rng.Intn(4) == 0 {
			b[i] = byte(g.rng.Intn(256))
		} else {
			b[i] = byte('a' + g.rng.Intn(26))
		}
	}
	return b
}

func (g *randomHistory) kv() KeyValue {
	return KeyValue{Key: g.bytes(), Value: g.bytes(), CreateRevision: g.rng.Int63n(100), ModRevision: g.rng.Int63n(100),
		Version: g.rng.Int63n(10), Lease: g.rng.Int63n(3)}
}

func (g *randomHistory) kvs() []KeyValue {
	var out []KeyValue
	for i := g.rng.Intn(3); i > 0; i-- {
		out = append(out, g.kv())
	}
	return out
}

func (g *randomHistory) maybeKV() *KeyValue {
	if g.rng.Intn(2) == 0 {
		return nil
	}
	kv := g.kv()
	return &kv
}

func (g *randomHistory) request(depth int, inTxn bool) (Request, Response) {
	n := 7
	if inTxn {
		n = 4
	}
	if depth > 2 {
		n = 3
	}
	switch g.rng.Intn(n) {
	case 0:
		return Request{Put: &PutRequest{Key: g.bytes(), Value: g.bytes(), Lease: g.rng.Int63n(3), PrevKV: g.rng.Intn(2) == 0,
				IgnoreValue: g.rng.Intn(5) == 0, IgnoreLease: g.rng.Intn(5) == 0}},
			Response{Put: &PutResponse{PrevKV: g.maybeKV()}}
	case 1:
		return Request{Range: &RangeRequest{Key: g.bytes(), RangeEnd: g.bytes(), Limit: g.rng.Int63n(3), Revision: g.rng.Int63n(3),
				Serializable: g.rng.Intn(2) == 0, CountOnly: g.rng.Intn(4) == 0, KeysOnly: g.rng.Intn(4) == 0}},
			Response{Range: &RangeResponse{KVs: g.kvs(), Count: g.rng.Int63n(5), More: g.rng.Intn(2) == 0}}
	case 2:
		return Request{DeleteRange: &DeleteRangeRequest{Key: g.bytes(), RangeEnd: g.bytes(), PrevKV: g.rng.Intn(2) == 0}},
			Response{DeleteRange: &DeleteRangeResponse{Deleted: g.rng.Int63n(3), PrevKVs: g.kvs()}}
	case 3:
		txn := &TxnRequest{}
		targets := []CompareTarget{TargetValue, TargetVersion, TargetCreate, TargetMod, TargetLease}
		results := []CompareResult{ResultEqual, ResultNotEqual, ResultLess, ResultGreater}
		for i := g.rng.Intn(3); i > 0; i-- {
			txn.Compare = append(txn.Compare, Compare{Key: g.bytes(), RangeEnd: g.bytes(), Target: targets[g.rng.Intn(5)],
				Result: results[g.rng.Intn(4)], Value: g.bytes(), Version: g.rng.Int63n(3), CreateRevision: g.rng.Int63n(3),
				ModRevision: g.rng.Int63n(3), Lease: g.rng.Int63n(3)})
		}
		succeeded := g.rng.Intn(2) == 0
		var responses []Response
		for i := g.rng.Intn(3); i > 0; i-- {
			req, resp := g.request(depth+1, true)
			txn.Success = append(txn.Success, req)
			if succeeded {
				responses = append(responses, resp)
			}
		}
		for i := g.rng.Intn(3); i > 0; i-- {
			req, resp := g.request(depth+1, true)
			txn.Failure = append(txn.Failure, req)
			if !succeeded {
				responses = append(responses, resp)
			}
		}
		return Request{Txn: txn}, Response{Txn: &TxnResponse{Succeeded: succeeded, Responses: responses}}
	case 4:
		return Request{LeaseGrant: &LeaseGrantRequest{TTLSeconds: g.rng.Int63n(10), ID: g.rng.Int63n(3)}},
			Response{LeaseGrant: &LeaseGrantResponse{ID: g.rng.Int63n(10), TTLSeconds: g.rng.Int63n(10)}}
	case 5:
		return Request{LeaseRevoke: &LeaseRevokeRequest{ID: g.rng.Int63n(10)}}, Response{LeaseRevoke: &LeaseRevokeResponse{}}
	default:
		return Request{LeaseKeepAlive: &LeaseKeepAliveRequest{ID: g.rng.Int63n(10)}},
			Response{LeaseKeepAlive: &LeaseKeepAliveResponse{ID: g.rng.Int63n(10), TTLSeconds: g.rng.Int63n(10)}}
	}
}

func (g *randomHistory) tick() int64 {
	g.now += g.rng.Int63n(1000)
	return g.now
}

func (g *randomHistory) build() *History {
	h := &History{Header: Header{Version: FormatVersion, ClusterSize: 3, Members: []string{"m1", "m2", "m3"},
		Scenario: "random", Seed: g.rng.Int63(), Clock: ClockWall, ClockErrorNs: g.rng.Int63n(1000)}}
	for i := g.rng.Intn(20); i > 0; i-- {
		req, resp := g.request(0, false)
		op := Operation{Client: fmt.Sprintf("c%d", g.rng.Intn(4)), CallNs: g.tick(), Request: req}
		switch g.rng.Intn(4) {
		case 0: // unknown
		case 1:
			ret := g.tick()
			op.ReturnNs = &ret
			op.Error = &Error{Message: "etcdserver: request timed out", Class: ErrorIndeterminate}
		default:
			ret := g.tick()
			op.ReturnNs = &ret
			resp.Header = ResponseHeader{Revision: g.rng.Int63n(100), MemberID: uint64(g.rng.Intn(3))}
			op.Response = &resp
		}
		h.Operations = append(h.Operations, op)
	}
	for i := g.rng.Intn(3); i > 0; i-- {
		w := Watch{ID: fmt.Sprintf("w%d", i), Client: "watcher", Request: WatchRequest{Key: g.bytes(), RangeEnd: g.bytes(),
			StartRevision: g.rng.Int63n(5), PrevKV: g.rng.Intn(2) == 0, ProgressNotify: g.rng.Intn(2) == 0}}
		if g.rng.Intn(2) == 0 {
			w.Request.Filters = []WatchFilter{FilterNoPut, FilterNoDelete}[:1+g.rng.Intn(2)]
		}
		for s := g.rng.Intn(3); s >= 0; s-- {
			stream := WatchStream{TimeNs: g.tick(), StartRevision: g.rng.Int63n(9)}
			if len(w.Streams) == 0 {
				stream.StartRevision = w.Request.StartRevision
			}
			for r := g.rng.Intn(4); r > 0; r-- {
				resp := WatchResponse{TimeNs: g.tick(), Revision: g.rng.Int63n(50), MemberID: uint64(g.rng.Intn(3)),
					Created: g.rng.Intn(4) == 0, CompactRevision: g.rng.Int63n(2), Canceled: g.rng.Intn(5) == 0}
				if resp.Canceled {
					resp.CancelReason = "mvcc: required revision has been compacted"
				}
				if g.rng.Intn(3) == 0 {
					resp.ProgressNotify = true
				} else {
					for e := g.rng.Intn(3); e > 0; e-- {
						ev := Event{Type: EventPut, KV: g.kv(), PrevKV: g.maybeKV()}
						if g.rng.Intn(2) == 0 {
							ev.Type = EventDelete
						}
						resp.Events = append(resp.Events, ev)
					}
				}
				stream.Responses = append(stream.Responses, resp)
			}
			w.Streams = append(w.Streams, stream)
		}
		h.Watches = append(h.Watches, w)
	}
	for i := g.rng.Intn(3); i > 0; i-- {
		h.LeaseExpiries = append(h.LeaseExpiries, LeaseExpiry{Client: ClusterClient, LeaseID: g.rng.Int63n(9), Revision: g.rng.Int63n(9), TimeNs: g.tick()})
	}
	for i := g.rng.Intn(3); i > 0; i-- {
		f := Fault{Kind: "partition", Members: []string{"m2"}, StartNs: g.tick(), Detail: "m2 | m1,m3"}
		if g.rng.Intn(2) == 0 {
			end := g.tick()
			f.EndNs = &end
		}
		h.Faults = append(h.Faults, f)
	}
	return h
}

// clearLines zeroes the Line fields Read fills in, which are not part of the format.
func clearLines(h *History) {
	for i := range h.Operations {
		h.Operations[i].Line = 0
	}
	for i := range h.Watches {
		for j := range h.Watches[i].Streams {
			h.Watches[i].Streams[j].Line = 0
		}
	}
	for i := range h.LeaseExpiries {
		h.LeaseExpiries[i].Line = 0
	}
	for i := range h.Faults {
		h.Faults[i].Line = 0
	}
}

// TestRoundTripRandom writes random histories and reads them back: equal, and writing the
// read history gives the same bytes.
func TestRoundTripRandom(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < 500; i++ {
		g := &randomHistory{rng: rng}
		h := g.build()
		require.NoError(t, h.Validate(), "history %d", i)
		var buf bytes.Buffer
		n, err := h.WriteTo(&buf)
		require.NoError(t, err)
		require.Equal(t, int64(buf.Len()), n)
		written := buf.String()
		back, err := Read(&buf)
		require.NoError(t, err, "history %d:\n%s", i, written)
		clearLines(back)
		require.Equal(t, h, back, "history %d", i)
		var again bytes.Buffer
		_, err = back.WriteTo(&again)
		require.NoError(t, err)
		require.Equal(t, written, again.String())
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, fmt.Errorf("disk full")
	}
	w.after--
	return len(p), nil
}

func TestWriteToReportsWriterError(t *testing.T) {
	h := (&randomHistory{rng: rand.New(rand.NewSource(3))}).build()
	_, err := h.WriteTo(&failingWriter{})
	require.ErrorContains(t, err, "disk full")
}

func TestValidateNamesTheBadRecord(t *testing.T) {
	base := func() *History {
		ret := int64(5)
		return &History{
			Header:     Header{Version: 1, ClusterSize: 1, Clock: ClockVirtual},
			Operations: []Operation{{Client: "c", CallNs: 1, ReturnNs: &ret, Request: Request{Range: &RangeRequest{Key: Bytes("a")}}, Response: &Response{Range: &RangeResponse{}}}},
			Watches:    []Watch{{ID: "w", Client: "c", Request: WatchRequest{Key: Bytes("a")}, Streams: []WatchStream{{TimeNs: 3}}}},
		}
	}
	require.NoError(t, base().Validate())
	for _, tc := range []struct {
		name   string
		break_ func(h *History)
		want   string
	}{
		{"header", func(h *History) { h.Header.Version = 9 }, "header: unknown format version 9"},
		{"operation", func(h *History) { h.Operations[0].CallNs = 6 }, "operation 0: return before call"},
		{"watch without streams", func(h *History) { h.Watches[0].Streams = nil }, `watch "w": no streams`},
		{"watch start revision", func(h *History) { h.Watches[0].Request.StartRevision = 4 }, "request start_revision 4 differs from Streams[0].StartRevision 0"},
		{"watch response order", func(h *History) {
			h.Watches[0].Streams[0].Responses = []WatchResponse{{TimeNs: 2}}
		}, "response arrives at 2, before the watch's previous record at 3"},
		{"watch resume order", func(h *History) {
			h.Watches[0].Streams = append(h.Watches[0].Streams, WatchStream{TimeNs: 1})
		}, "resumed at 1"},
		{"lease expiry", func(h *History) { h.LeaseExpiries = []LeaseExpiry{{Client: "x"}} }, "lease expiry 0: lease expiry of client \"x\""},
		{"fault", func(h *History) { h.Faults = []Fault{{Kind: "kill", StartNs: -1}} }, "fault 0: start_ns -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := base()
			tc.break_(h)
			require.ErrorContains(t, h.Validate(), tc.want)
		})
	}
}
