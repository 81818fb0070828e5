package watch

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func create(key, end string, start int64, opts ...func(*pb.WatchCreateRequest)) *pb.WatchCreateRequest {
	req := &pb.WatchCreateRequest{Key: []byte(key), StartRevision: start}
	if end != "" {
		req.RangeEnd = []byte(end)
	}
	for _, o := range opts {
		o(req)
	}
	return req
}

func withPrevKV(r *pb.WatchCreateRequest) { r.PrevKv = true }
func noPut(r *pb.WatchCreateRequest) {
	r.Filters = append(r.Filters, pb.WatchCreateRequest_NOPUT)
}
func noDelete(r *pb.WatchCreateRequest) {
	r.Filters = append(r.Filters, pb.WatchCreateRequest_NODELETE)
}
func withID(id int64) func(*pb.WatchCreateRequest) {
	return func(r *pb.WatchCreateRequest) { r.WatchId = id }
}
func withFragment(r *pb.WatchCreateRequest) { r.Fragment = true }

// TestParity drives one stream through etcd's watch semantics; every expectation is written
// by hand from etcd's documented behaviour. The store's first write is revision 2.
func TestParity(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		before func(e *env)
		reqs   []*pb.WatchCreateRequest
		after  func(e *env)
		want   []string
	}{{
		name:   "start 0 watches from the next revision",
		before: func(e *env) { e.put("a", "1") },
		reqs:   []*pb.WatchCreateRequest{create("a", "", 0)},
		after:  func(e *env) { e.put("a", "2"); e.put("b", "1") },
		want:   []string{"created 0 @2", "0 @4 [PUT a=2@3]"},
	}, {
		name:   "past start catches up then goes live",
		before: func(e *env) { e.put("a", "1"); e.put("a", "2"); e.put("b", "x") },
		reqs:   []*pb.WatchCreateRequest{create("a", "", 2)},
		after:  func(e *env) { e.put("a", "3") },
		want:   []string{"created 0 @4", "0 @4 [PUT a=1@2 PUT a=2@3]", "0 @5 [PUT a=3@5]"},
	}, {
		name:   "future start skips earlier revisions",
		before: func(e *env) { e.put("a", "1") },
		reqs:   []*pb.WatchCreateRequest{create("a", "", 4)},
		after:  func(e *env) { e.put("a", "2"); e.put("a", "3"); e.put("a", "4") },
		want:   []string{"created 0 @2", "0 @5 [PUT a=3@4 PUT a=4@5]"},
	}, {
		name:   "start below the compaction is canceled with the compact revision",
		before: func(e *env) { e.put("a", "1"); e.put("a", "2"); e.put("a", "3"); e.compact(3) },
		reqs:   []*pb.WatchCreateRequest{create("a", "", 2)},
		after:  func(e *env) { e.put("a", "5") },
		want:   []string{"created 0 @4", "compacted 0 at 3 canceled=true"},
	}, {
		name:   "start at the compaction names the next revision",
		before: func(e *env) { e.put("a", "1"); e.put("a", "2"); e.compact(3) },
		reqs:   []*pb.WatchCreateRequest{create("a", "", 3)},
		want:   []string{"created 0 @3", "compacted 0 at 4 canceled=true"},
	}, {
		name:   "start just above the compaction is served",
		before: func(e *env) { e.put("a", "1"); e.put("a", "2"); e.put("a", "3"); e.compact(3) },
		reqs:   []*pb.WatchCreateRequest{create("a", "", 4, withPrevKV)},
		want:   []string{"created 0 @4", "0 @4 [PUT a=3@4 prev=2]"},
	}, {
		name:   "prev_kv on and off",
		before: func(e *env) { e.put("a", "1") },
		reqs:   []*pb.WatchCreateRequest{create("a", "", 0, withPrevKV), create("a", "", 0)},
		after:  func(e *env) { e.put("a", "2"); e.del("a", "") },
		want: []string{"created 0 @2", "created 1 @2",
			"0 @4 [PUT a=2@3 prev=1 DELETE a@4 prev=2]", "1 @4 [PUT a=2@3 DELETE a@4]"},
	}, {
		name:  "NOPUT and NODELETE filters",
		reqs:  []*pb.WatchCreateRequest{create("a", "", 0, noPut), create("a", "", 0, noDelete), create("a", "", 0, noPut, noDelete)},
		after: func(e *env) { e.put("a", "1"); e.del("a", ""); e.put("a", "2") },
		want: []string{"created 0 @1", "created 1 @1", "created 2 @1",
			"0 @4 [DELETE a@3]", "1 @4 [PUT a=1@2 PUT a=2@4]"},
	}, {
		name: "range conventions: prefix, open end, whole keyspace",
		reqs: []*pb.WatchCreateRequest{
			create("b", "c", 0), create("b", "\x00", 0), create("", "\x00", 0), create("", "", 0),
		},
		after: func(e *env) { e.put("a", "1"); e.put("b", "1"); e.put("bz", "1"); e.put("c", "1") },
		want: []string{"created 0 @1", "created 1 @1", "created 2 @1", "created 3 @1",
			"0 @5 [PUT b=1@3 PUT bz=1@4]",
			"1 @5 [PUT b=1@3 PUT bz=1@4 PUT c=1@5]",
			"2 @5 [PUT a=1@2 PUT b=1@3 PUT bz=1@4 PUT c=1@5]"},
	}, {
		name: "refused creates: empty range, duplicate ID, negative start",
		reqs: []*pb.WatchCreateRequest{
			create("b", "a", 0), create("b", "b", 0), create("a", "", 0, withID(7)),
			create("a", "", 0, withID(7)), create("a", "", -1),
		},
		want: []string{
			"refused -1: mvcc: watcher range is empty", "refused -1: mvcc: watcher range is empty",
			"created 7 @1",
			"refused -1: mvcc: duplicate watch ID provided on the WatchStream",
			"refused -1: etcdserver: mvcc: required revision has been compacted",
		},
	}, {
		name: "automatic IDs count from 0 and skip client-chosen ones",
		reqs: []*pb.WatchCreateRequest{
			create("a", "", 0, withID(1)), create("a", "", 0), create("a", "", 0), create("a", "", 0, withID(-5)),
		},
		after: func(e *env) { e.put("a", "1") },
		want: []string{"created 1 @1", "created 0 @1", "created 2 @1", "created -5 @1",
			"-5 @2 [PUT a=1@2]", "0 @2 [PUT a=1@2]", "1 @2 [PUT a=1@2]", "2 @2 [PUT a=1@2]"},
	}, {
		name:  "a revision is never split by the batch limit",
		cfg:   Config{MaxEventsPerResponse: 2},
		reqs:  []*pb.WatchCreateRequest{create("", "\x00", 0)},
		after: func(e *env) { e.put("a", "1"); e.txnPut("b=1", "c=1", "d=1"); e.put("e", "1"); e.put("f", "1") },
		want: []string{"created 0 @1", "0 @2 [PUT a=1@2]", "0 @3 [PUT b=1@3 PUT c=1@3 PUT d=1@3]",
			"0 @5 [PUT e=1@4 PUT f=1@5]"},
	}, {
		name:   "a caught-up revision is never split by the read limit",
		cfg:    Config{MaxEventsPerResponse: 2},
		before: func(e *env) { e.put("a", "1"); e.txnPut("b=1", "c=1", "d=1"); e.put("e", "1") },
		reqs:   []*pb.WatchCreateRequest{create("", "\x00", 2)},
		want:   []string{"created 0 @4", "0 @2 [PUT a=1@2]", "0 @3 [PUT b=1@3 PUT c=1@3 PUT d=1@3]", "0 @4 [PUT e=1@4]"},
	}, {
		name:  "fragment splits a large revision only when asked",
		cfg:   Config{MaxResponseBytes: 150},
		reqs:  []*pb.WatchCreateRequest{create("", "\x00", 0, withFragment), create("", "\x00", 0)},
		after: func(e *env) { e.txnPut("a=1", "b=1", "c=1") },
		want: []string{"created 0 @1", "created 1 @1",
			"0 @2 [PUT a=1@2 PUT b=1@2] fragment", "0 @2 [PUT c=1@2]", "1 @2 [PUT a=1@2 PUT b=1@2 PUT c=1@2]"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			if tc.before != nil {
				tc.before(e)
			}
			s := e.hub.NewStream()
			for _, r := range tc.reqs {
				_, _ = s.Create(r)
			}
			got := describe(e.drain(s))
			if tc.after != nil {
				tc.after(e)
			}
			got = append(got, describe(e.drain(s))...)
			require.Equal(t, tc.want, got)
		})
	}
}
