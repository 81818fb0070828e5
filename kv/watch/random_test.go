package watch

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"

	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// TestRandomAgainstModel runs random writes through mvcc on a kvtest DB and random watch
// traffic (create with every kind of start revision, filters, prev_kv, fragment; cancel;
// progress requests and ticks; slow and stalled consumers; compactions; hub restarts after
// which clients resume from their last revision + 1), and checks every response against
// the reference model: each watcher's stream equals exactly the model's events of its range
// from its start revision (ordered, unique, each revision in one response or one fragment
// run, no gap), progress and header revisions never run ahead of an undelivered event, and
// compacted responses come exactly when the watcher's next revision is compacted.
//
// SEED=n re-runs one seed; WATCH_RANDOM_SEEDS=n runs n seeds (default 6); WATCH_RANDOM_STEPS
// sets the steps per seed (default 400).
func TestRandomAgainstModel(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, 5, 6}
	if v := os.Getenv("WATCH_RANDOM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		seeds = nil
		for i := 1; i <= n; i++ {
			seeds = append(seeds, int64(i))
		}
	}
	if v := os.Getenv("SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err)
		seeds = []int64{n}
	}
	steps := 400
	if v := os.Getenv("WATCH_RANDOM_STEPS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		steps = n
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d (re-run with SEED=%d go test -run TestRandomAgainstModel ./kv/watch/)", seed, seed)
			runRandom(t, seed, steps)
		})
	}
}

// TestRandomDeterministic: the same seed gives the same responses in the same order (no
// map iteration or other hidden order decides what the hub hands out).
func TestRandomDeterministic(t *testing.T) {
	const seed = 77
	t.Logf("seed %d", seed)
	first := runRandom(t, seed, 300)
	second := runRandom(t, seed, 300)
	require.NotEmpty(t, first)
	require.Equal(t, first, second)
}

// record is one incarnation of a client's watch: from its Create until it is canceled,
// compacted or lost in a hub restart (then the client creates the next incarnation).
type record struct {
	req      *pb.WatchCreateRequest
	id       int64
	startRev int64 // effective start: the request's, or hub revision + 1 for 0
	created  bool
	received []string
	lastRev  int64 // last event revision received
	seenRev  int64 // highest revision the watcher has been told it is complete through
	inFrag   bool  // the last response was a fragment; the revision continues
	fragRev  int64
	ended    string // "", "canceled", "compacted", "restart"
	cancelAt bool   // a cancel was requested: no event may follow
}

type client struct {
	stream   *Stream
	live     map[int64]*record // by watch ID, current incarnations
	order    []int64           // watch IDs in creation order (deterministic iteration)
	all      []*record
	resumes  []*pb.WatchCreateRequest // compacted watches to re-create after the current batch
	refusals int                      // refused creates whose response is still to come
	slow     int                      // pulls only one step in slow
	stalled  bool                     // never pulls until the end
}

type randomRun struct {
	t       *testing.T
	rng     *rand.Rand
	e       *env
	m       *refModel
	clients []*client
	nextID  int64
	cfg     Config

	transcript []string
}

var randomKeys = []string{"a", "b", "b1", "b2", "c", "d", "e"}

// runRandom runs one seed and returns the transcript of every response handed out, so
// TestRandomDeterministic can check that a seed reproduces it exactly.
func runRandom(t *testing.T, seed int64, steps int) []string {
	rng := rand.New(rand.NewSource(seed))
	cfg := Config{
		MaxBufferedEventsPerWatcher: 1 + rng.Intn(8),
		MaxBufferedBytesPerWatcher:  200 + rng.Intn(800),
		MaxEventsPerResponse:        1 + rng.Intn(5),
		MaxResponseBytes:            100 + rng.Intn(300),
		MaxRevisionsPerRead:         1 + rng.Intn(6),
	}
	t.Logf("config %+v", cfg)
	r := &randomRun{t: t, rng: rng, e: newEnv(t, cfg), m: newRefModel(), nextID: 1000, cfg: cfg}
	for i := 0; i < 4; i++ {
		r.clients = append(r.clients, r.newClient(i))
	}
	for step := 0; step < steps; step++ {
		r.step(step)
	}
	// Let every client read everything, then compare whole streams.
	for _, c := range r.clients {
		c.stalled, c.slow = false, 0
	}
	for round := 0; round < 1000; round++ {
		any := false
		for _, c := range r.clients {
			if c.stream.Ready() {
				any = true
				r.pull(c, 5)
			}
		}
		if !any {
			break
		}
	}
	for ci, c := range r.clients {
		for _, rec := range c.all {
			want := r.m.expected(rec.req, rec.startRev, r.m.rev)
			if rec.ended == "" {
				require.Equal(t, norm(want), norm(rec.received), "client %d watch %d from rev %d (%q..%q)", ci, rec.id, rec.startRev, rec.req.Key, rec.req.RangeEnd)
			} else {
				require.Equal(t, norm(want[:len(rec.received)]), norm(rec.received), "client %d watch %d (%s) is not a prefix", ci, rec.id, rec.ended)
			}
		}
	}
	st := r.e.hub.Stats()
	require.Equal(t, 0, st.UnsyncedWatchers, "after draining every watcher is synced")
	require.Equal(t, 0, st.BufferedEvents)
	return r.transcript
}

func (r *randomRun) newClient(i int) *client {
	c := &client{stream: r.e.hub.NewStream(), live: map[int64]*record{}}
	switch i % 4 {
	case 1:
		c.slow = 1
	case 2:
		c.stalled = r.rng.Intn(2) == 0
	}
	return c
}

func (r *randomRun) step(step int) {
	rng := r.rng
	switch p := rng.Intn(100); {
	case p < 40:
		r.write()
	case p < 55:
		r.create(r.clients[rng.Intn(len(r.clients))])
	case p < 60:
		r.cancel(r.clients[rng.Intn(len(r.clients))])
	case p < 63:
		c := r.clients[rng.Intn(len(r.clients))]
		require.NoError(r.t, c.stream.RequestProgress())
	case p < 65:
		r.e.hub.TickProgress()
	case p < 68:
		r.compact()
	case p < 70:
		r.restart()
	default:
		for _, c := range r.clients {
			if c.stalled || (c.slow > 0 && rng.Intn(4) != 0) {
				continue
			}
			r.pull(c, 1+rng.Intn(4))
		}
	}
}

func (r *randomRun) write() {
	rng := r.rng
	var ops []refOp
	switch p := rng.Intn(10); {
	case p < 6:
		ops = []refOp{{key: randomKeys[rng.Intn(len(randomKeys))], value: fmt.Sprint(rng.Intn(1000))}}
	case p < 8:
		k := randomKeys[rng.Intn(len(randomKeys))]
		end := ""
		if rng.Intn(2) == 0 {
			end = k + "\xff"
		}
		ops = []refOp{{del: true, key: k, end: end}}
	default:
		perm := rng.Perm(len(randomKeys))[:2+rng.Intn(3)]
		for _, i := range perm {
			ops = append(ops, refOp{key: randomKeys[i], value: fmt.Sprint(rng.Intn(1000))})
		}
	}
	want := r.m.apply(ops)
	e := r.e
	b := e.db.NewIndexedBatch()
	defer b.Close()
	var got []*mvccpb.Event
	var err error
	if len(ops) == 1 && !ops[0].del {
		_, got, err = e.store.Put(b, &pb.PutRequest{Key: []byte(ops[0].key), Value: []byte(ops[0].value)}, nil)
	} else if len(ops) == 1 {
		_, got, err = e.store.DeleteRange(b, &pb.DeleteRangeRequest{Key: []byte(ops[0].key), RangeEnd: []byte(ops[0].end)})
	} else {
		var reqOps []*pb.RequestOp
		for _, op := range ops {
			reqOps = append(reqOps, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(op.key), Value: []byte(op.value)}}})
		}
		_, got, err = e.store.Txn(b, &pb.TxnRequest{Success: reqOps}, nil)
	}
	require.NoError(r.t, err)
	require.NoError(r.t, b.Commit(pebble.NoSync))
	require.Equal(r.t, len(want), len(got), "mvcc and the model disagree on the events of %v", ops)
	for i := range want {
		require.Equal(r.t, fullEvent(want[i], true), fullEvent(got[i], true))
	}
	if len(got) > 0 {
		e.hub.Notify(e.store.CurrentRevision(), got)
	}
	require.Equal(r.t, r.m.rev, e.store.CurrentRevision())
}

func (r *randomRun) randomRequest() *pb.WatchCreateRequest {
	rng := r.rng
	req := &pb.WatchCreateRequest{Key: []byte(randomKeys[rng.Intn(len(randomKeys))])}
	switch rng.Intn(4) {
	case 1:
		req.RangeEnd = append(append([]byte(nil), req.Key...), 0xff) // prefix-like
	case 2:
		req.RangeEnd = []byte{0}
	case 3:
		req.Key, req.RangeEnd = nil, []byte{0}
	}
	switch rng.Intn(5) {
	case 0:
		req.StartRevision = 0
	case 1:
		req.StartRevision = r.m.rev + 1 + int64(rng.Intn(3)) // future
	default:
		req.StartRevision = 1 + rng.Int63n(r.m.rev) // past (maybe compacted)
	}
	if rng.Intn(4) == 0 {
		req.Filters = append(req.Filters, pb.WatchCreateRequest_NOPUT)
	}
	if rng.Intn(4) == 0 {
		req.Filters = append(req.Filters, pb.WatchCreateRequest_NODELETE)
	}
	req.PrevKv = rng.Intn(2) == 0
	req.ProgressNotify = rng.Intn(2) == 0
	req.Fragment = rng.Intn(3) == 0
	return req
}

func (r *randomRun) create(c *client) {
	req := r.randomRequest()
	if r.rng.Intn(3) == 0 {
		req.WatchId = r.nextID
		r.nextID++
	}
	r.createReq(c, req)
	if len(c.order) > 0 && r.rng.Intn(10) == 0 {
		dup := &pb.WatchCreateRequest{Key: []byte("a"), WatchId: c.order[r.rng.Intn(len(c.order))]}
		if dup.WatchId != AutoWatchID {
			_, err := c.stream.Create(dup)
			require.ErrorIs(r.t, err, ErrWatcherDuplicateID)
			c.refusals++
		}
	}
}

func (r *randomRun) createReq(c *client, req *pb.WatchCreateRequest) {
	id, err := c.stream.Create(req)
	require.NoError(r.t, err)
	rec := &record{req: req, id: id, startRev: req.StartRevision}
	if rec.startRev == 0 {
		rec.startRev = r.e.hub.Rev() + 1
	}
	rec.seenRev = rec.startRev - 1
	c.live[id] = rec
	c.order = append(c.order, id)
	c.all = append(c.all, rec)
}

func (r *randomRun) cancel(c *client) {
	if len(c.order) == 0 {
		require.ErrorIs(r.t, c.stream.Cancel(12345), ErrWatcherNotExist)
		return
	}
	i := r.rng.Intn(len(c.order))
	id := c.order[i]
	require.NoError(r.t, c.stream.Cancel(id))
	c.live[id].cancelAt = true
	c.order = append(c.order[:i], c.order[i+1:]...)
}

func (r *randomRun) compact() {
	if r.m.rev < 2 {
		return
	}
	lo := max(r.m.compactRev+1, 1)
	if lo > r.m.rev {
		return
	}
	rev := lo + r.rng.Int63n(r.m.rev-lo+1)
	e := r.e
	b := e.db.NewIndexedBatch()
	_, err := e.store.Compact(b, rev)
	require.NoError(r.t, err)
	require.NoError(r.t, b.Commit(pebble.NoSync))
	b.Close()
	r.m.compactRev = rev
	for i := 0; i < r.rng.Intn(3); i++ { // part-way compactions must not change what watch reads
		b := e.db.NewIndexedBatch()
		_, err := e.store.CompactStep(b, 1+r.rng.Intn(20))
		require.NoError(r.t, err)
		require.NoError(r.t, b.Commit(pebble.NoSync))
		b.Close()
	}
}

// restart replaces the hub, as a member restart does: watchers are in memory, so every
// client re-creates its live watches, resuming from the last revision it was told it has
// (an event or a progress notification) + 1.
func (r *randomRun) restart() {
	s, err := mvcc.Open(r.e.db, mvcc.Config{})
	require.NoError(r.t, err)
	r.e.store = s
	r.e.hub = NewHub(r.cfg, s.CurrentRevision())
	for _, c := range r.clients {
		old := c.order
		oldLive := c.live
		c.stream = r.e.hub.NewStream()
		c.live, c.order = map[int64]*record{}, nil
		for _, rec := range c.all {
			if rec.ended == "" {
				rec.ended = "restart" // canceled ones whose response never came end here too
			}
		}
		for _, id := range old {
			rec := oldLive[id]
			rec.ended = "restart"
			req := cloneCreate(rec.req)
			req.StartRevision = rec.seenRev + 1
			r.createReq(c, req)
		}
	}
}

func cloneCreate(req *pb.WatchCreateRequest) *pb.WatchCreateRequest {
	return &pb.WatchCreateRequest{
		Key: req.Key, RangeEnd: req.RangeEnd, StartRevision: req.StartRevision, ProgressNotify: req.ProgressNotify,
		Filters: req.Filters, PrevKv: req.PrevKv, WatchId: req.WatchId, Fragment: req.Fragment,
	}
}

func (r *randomRun) pull(c *client, max int) {
	resps, err := c.stream.Pending(r.e.hist(), max)
	require.NoError(r.t, err)
	for _, line := range describe(resps) {
		r.transcript = append(r.transcript, fmt.Sprintf("stream %d: %s", c.stream.id, line))
	}
	for _, resp := range resps {
		r.check(c, resp)
	}
	for _, req := range c.resumes {
		r.createReq(c, req)
	}
	c.resumes = nil
}

// check applies one response to the client's records and checks it against the model.
func (r *randomRun) check(c *client, resp *pb.WatchResponse) {
	t := r.t
	headerRev := resp.GetHeader().GetRevision()
	if resp.WatchId == InvalidWatchID {
		require.Empty(t, resp.Events)
		if resp.Created {
			require.True(t, resp.Canceled)
			require.Equal(t, ErrWatcherDuplicateID.Error(), resp.CancelReason)
			require.Positive(t, c.refusals, "unexpected refusal")
			c.refusals--
			return
		}
		for _, id := range c.order {
			r.progress(c.live[id], headerRev)
		}
		return
	}
	rec := c.live[resp.WatchId]
	require.NotNil(t, rec, "response for unknown watch %d: %v", resp.WatchId, resp)
	switch {
	case resp.Created:
		require.False(t, rec.created, "two created responses")
		require.Empty(t, resp.Events)
		rec.created = true
		if rec.req.StartRevision == 0 {
			require.Equal(t, rec.startRev, headerRev+1, "created header for a watch from now")
		}
		return
	}
	require.True(t, rec.created, "watch %d: response before created", rec.id)
	switch {
	case resp.CompactRevision != 0:
		require.True(t, resp.Canceled)
		require.False(t, rec.cancelAt)
		next := rec.lastRev + 1
		if rec.lastRev == 0 {
			next = rec.startRev
		}
		next = max(next, rec.seenRev+1)
		require.LessOrEqual(t, next, r.m.compactRev, "compacted response for a watcher whose next revision %d is not compacted", next)
		// C when the watcher needed a revision below C; C+1 when it needed exactly C, that
		// is when it has every event below C (the hub may know that beyond the client's
		// last event, when revisions up to C had nothing for it).
		switch resp.CompactRevision {
		case r.m.compactRev:
			require.Less(t, next, r.m.compactRev)
		case r.m.compactRev + 1:
			require.Equal(t, norm(r.m.expected(rec.req, rec.startRev, r.m.compactRev-1)), norm(rec.received))
		default:
			t.Fatalf("compacted response names %d, compaction is at %d", resp.CompactRevision, r.m.compactRev)
		}
		rec.ended = "compacted"
		r.drop(c, rec.id)
		// The client resumes from the compact revision it was told, as etcd clients do.
		req := cloneCreate(rec.req)
		req.StartRevision = resp.CompactRevision
		req.WatchId = AutoWatchID
		c.resumes = append(c.resumes, req) // after this batch: it postdates these responses
	case resp.Canceled:
		require.True(t, rec.cancelAt, "unrequested cancel of %d: %v", rec.id, resp)
		rec.ended = "canceled"
		delete(c.live, rec.id)
	case len(resp.Events) == 0:
		require.False(t, rec.cancelAt)
		require.True(t, rec.req.ProgressNotify, "progress to a watcher that did not ask for it")
		r.progress(rec, headerRev)
	default:
		require.False(t, rec.cancelAt, "event after cancel")
		first := resp.Events[0].Kv.ModRevision
		if rec.inFrag {
			require.Equal(t, rec.fragRev, first, "fragment run interrupted")
		} else {
			require.Greater(t, first, rec.lastRev, "revision %d split across responses or out of order", first)
		}
		for _, ev := range resp.Events {
			require.GreaterOrEqual(t, ev.Kv.ModRevision, rec.lastRev)
			rec.lastRev = ev.Kv.ModRevision
			rec.received = append(rec.received, fullEvent(ev, rec.req.PrevKv))
		}
		rec.inFrag = resp.Fragment
		rec.fragRev = rec.lastRev
		if resp.Fragment {
			require.True(t, rec.req.Fragment)
			require.Equal(t, first, rec.lastRev, "a fragment holds one revision")
		} else {
			require.GreaterOrEqual(t, headerRev, rec.lastRev)
			r.progress(rec, headerRev)
		}
	}
}

// progress checks that a watcher told it is complete through rev has received every
// event up to rev, and records it as the point it resumes from.
func (r *randomRun) progress(rec *record, rev int64) {
	want := r.m.expected(rec.req, rec.startRev, rev)
	require.Equal(r.t, norm(want), norm(rec.received), "watch %d told complete through %d", rec.id, rev)
	rec.seenRev = max(rec.seenRev, rev)
}

func (r *randomRun) drop(c *client, id int64) {
	delete(c.live, id)
	for i, v := range c.order {
		if v == id {
			c.order = append(c.order[:i], c.order[i+1:]...)
			return
		}
	}
}

func norm(events []string) []string {
	if events == nil {
		return []string{}
	}
	return events
}
