package gen

import (
	"fmt"
	"math/rand"
	"sort"

	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/timeq"
)

// Generate returns a history of a correct etcd: a random sequential execution of Model cut
// into concurrent client operations whose call/return intervals contain their linearization
// points, with watchers, lease expiries and faults. The same seed and Config give the same
// history, byte for byte. It panics on an invalid Config (see Config.Validate).
func Generate(seed int64, cfg Config) *history.History {
	if err := cfg.Validate(); err != nil {
		panic(err.Error())
	}
	g := newGenerator(seed, cfg)
	g.run()
	g.recordWatches()
	g.recordFaults()
	return g.rec.History()
}

type opMode int

const (
	modeOK            opMode = iota
	modeDefinite             // an injected request etcd rejects; never applies
	modeIndeterminate        // a timeout error; applies or not
	modeUnknown              // no return; applies or not; the client carries on
	modeCrash                // no return; applies or not; the client stops
)

type pendingOp struct {
	client  int
	handle  *history.OpHandle
	req     history.Request
	mode    opMode
	applies bool
	callNs  int64
	errText string            // the definite error to return (modeDefinite, or from the model)
	resp    *history.Response // the response to return (modeOK)
}

type eventKind int

const (
	evCall eventKind = iota
	evApply
	evReturn
	evExpire
)

type event struct {
	timeNs int64
	kind   eventKind
	client int
	op     *pendingOp
	lease  int64
	epoch  int
}

type generator struct {
	cfg   Config
	rng   *rand.Rand
	rec   *history.Recorder
	model *Model
	// queue orders the events by time, ties in scheduling order: determinism.
	queue   timeq.Queue[*event]
	keys    [][]byte
	members []string

	issued      int
	restarts    []int // per client slot: how many times its client crashed
	valueSeq    int
	nextLeaseID int64
	knownLeases []int64 // ids of every lease a client asked for (clients choose lease ids)
	leaseEpoch  map[int64]int
	// revTimesNs[r] is when revision r was created (revision 1 at 0).
	revTimesNs []int64
	endNs      int64
}

func newGenerator(seed int64, cfg Config) *generator {
	g := &generator{
		cfg:         cfg,
		rng:         rand.New(rand.NewSource(seed)),
		model:       NewModel(),
		nextLeaseID: firstLeaseID,
		leaseEpoch:  make(map[int64]int),
		revTimesNs:  []int64{0, 0},
	}
	g.restarts = make([]int, cfg.Clients)
	for i := 0; i < cfg.ClusterSize; i++ {
		g.members = append(g.members, fmt.Sprintf("m%d", i+1))
	}
	for i := 0; i < cfg.Keys; i++ {
		g.keys = append(g.keys, []byte(fmt.Sprintf("k%d", i)))
	}
	if cfg.BinaryKey {
		g.keys = append(g.keys, []byte("\xffbin"))
	}
	g.rec = history.NewRecorder(history.Header{ClusterSize: cfg.ClusterSize, Members: g.members,
		Scenario: fmt.Sprintf("gen: %d clients, %d operations, %d keys, %d watchers", cfg.Clients, cfg.Operations, cfg.Keys, cfg.Watchers),
		Seed:     seed, Clock: history.ClockVirtual})
	return g
}

func (g *generator) schedule(e *event) {
	g.queue.Push(e.timeNs, e)
}

// between returns a uniform integer in [lo, hi].
func (g *generator) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + g.rng.Int63n(hi-lo+1)
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *generator) run() {
	for c := 0; c < g.cfg.Clients; c++ {
		g.schedule(&event{timeNs: g.between(1_000_000, 1_000_000+g.cfg.ThinkNsMax/4), kind: evCall, client: c})
	}
	for g.queue.Len() > 0 {
		_, e := g.queue.Pop()
		if e.timeNs < g.endNs {
			panic(fmt.Sprintf("gen: event at %d after one at %d", e.timeNs, g.endNs))
		}
		g.endNs = e.timeNs
		switch e.kind {
		case evCall:
			g.call(e.client, e.timeNs)
		case evApply:
			g.apply(e.op, e.timeNs)
		case evReturn:
			g.finish(e.op, e.timeNs)
		case evExpire:
			g.expire(e.lease, e.epoch, e.timeNs)
		}
	}
	g.endNs += 50_000_000
}

func (g *generator) call(client int, nowNs int64) {
	if g.issued >= g.cfg.Operations {
		return
	}
	g.issued++
	op := &pendingOp{client: client, callNs: nowNs}
	r := g.rng.Float64()
	switch {
	case r < g.cfg.DefiniteErrorRate:
		op.mode = modeDefinite
		op.req, op.errText = g.rejectedRequest()
	case r < g.cfg.DefiniteErrorRate+g.cfg.IndeterminateRate:
		op.mode = modeIndeterminate
	case r < g.cfg.DefiniteErrorRate+g.cfg.IndeterminateRate+g.cfg.UnknownRate:
		op.mode = modeUnknown
	case r < g.cfg.DefiniteErrorRate+g.cfg.IndeterminateRate+g.cfg.UnknownRate+g.cfg.CrashRate:
		op.mode = modeCrash
	default:
		op.mode = modeOK
	}
	if op.mode != modeDefinite {
		op.req = g.request()
	}
	op.handle = g.rec.Call(g.clientID(client), op.req, nowNs)
	service := g.cfg.ServiceNsMax
	switch op.mode {
	case modeOK:
		op.applies = true
		g.schedule(&event{timeNs: nowNs + g.between(0, service), kind: evApply, op: op})
	case modeDefinite:
		g.schedule(&event{timeNs: nowNs + g.between(0, service), kind: evReturn, op: op})
	case modeIndeterminate, modeUnknown, modeCrash:
		op.applies = g.chance(0.5)
		if op.applies {
			// etcd may apply a request long after the client gave up on it.
			g.schedule(&event{timeNs: nowNs + g.between(0, 10*service), kind: evApply, op: op})
		}
		switch op.mode {
		case modeIndeterminate:
			op.errText = "etcdserver: request timed out"
			g.schedule(&event{timeNs: nowNs + g.between(service, 3*service), kind: evReturn, op: op})
		case modeUnknown:
			op.handle.Unknown()
			g.schedule(&event{timeNs: nowNs + g.between(3*service, 5*service), kind: evCall, client: client})
		case modeCrash:
			// The client process is gone; a new one, with a new id, takes its place.
			op.handle.Unknown()
			g.restarts[client]++
			g.schedule(&event{timeNs: nowNs + g.between(3*service, 20*service), kind: evCall, client: client})
		}
	}
}

// clientID names the client in a slot: c3, then c3.1 after its first crash, c3.2, ...
func (g *generator) clientID(slot int) string {
	if g.restarts[slot] == 0 {
		return fmt.Sprintf("c%d", slot)
	}
	return fmt.Sprintf("c%d.%d", slot, g.restarts[slot])
}

func (g *generator) apply(op *pendingOp, nowNs int64) {
	before := g.model.Rev()
	var resp history.Response
	var errText string
	if rr := op.req.Range; rr != nil && rr.Serializable && rr.Revision == 0 && op.mode == modeOK {
		// A serializable read is served by some member from its own, possibly lagging,
		// state: that state's revision is in the header.
		rev := g.model.Rev() - g.between(0, g.cfg.SerializableStaleRevisions)
		rev = max(rev, 1)
		r := g.model.RangeAt(rr, rev)
		resp = history.Response{Header: history.ResponseHeader{Revision: rev}, Range: &r}
	} else {
		resp, errText = g.model.Apply(op.req)
	}
	for r := before + 1; r <= g.model.Rev(); r++ {
		g.revTimesNs = append(g.revTimesNs, nowNs)
	}
	if errText == "" {
		g.leaseBookkeeping(&op.req, &resp, nowNs)
	}
	if op.mode != modeOK {
		return
	}
	if errText != "" {
		op.errText = errText
	} else {
		resp.Header.MemberID = uint64(1 + g.rng.Intn(g.cfg.ClusterSize))
		op.resp = &resp
	}
	g.schedule(&event{timeNs: nowNs + g.between(0, g.cfg.ServiceNsMax), kind: evReturn, op: op})
}

// leaseBookkeeping schedules the expiry of a lease granted or kept alive now: no earlier than
// its TTL after now, which is after the call of the grant or keep-alive.
func (g *generator) leaseBookkeeping(req *history.Request, resp *history.Response, nowNs int64) {
	var id, ttl int64
	switch {
	case resp.LeaseGrant != nil:
		id, ttl = resp.LeaseGrant.ID, resp.LeaseGrant.TTLSeconds
	case resp.LeaseKeepAlive != nil && resp.LeaseKeepAlive.TTLSeconds > 0:
		id, ttl = resp.LeaseKeepAlive.ID, resp.LeaseKeepAlive.TTLSeconds
	case req.LeaseRevoke != nil:
		g.leaseEpoch[req.LeaseRevoke.ID]++
		return
	default:
		return
	}
	g.leaseEpoch[id]++
	g.schedule(&event{timeNs: nowNs + ttl*1_000_000_000 + g.between(0, 10_000_000), kind: evExpire, lease: id, epoch: g.leaseEpoch[id]})
}

func (g *generator) expire(id int64, epoch int, nowNs int64) {
	if g.leaseEpoch[id] != epoch || !g.model.LeaseExists(id) {
		return
	}
	before := g.model.Rev()
	rev, ok := g.model.Expire(id)
	if !ok {
		panic(fmt.Sprintf("gen: lease %d vanished before its expiry", id))
	}
	for r := before + 1; r <= rev; r++ {
		g.revTimesNs = append(g.revTimesNs, nowNs)
	}
	g.leaseEpoch[id]++
	g.rec.LeaseExpired(id, rev, nowNs)
}

func (g *generator) finish(op *pendingOp, nowNs int64) {
	switch {
	case op.resp != nil:
		op.handle.Return(*op.resp, nowNs)
	case op.mode == modeIndeterminate:
		op.handle.FailWith(history.Error{Message: op.errText, Class: history.ErrorIndeterminate}, nowNs)
	default:
		if history.Classify(op.errText) != history.ErrorDefinite {
			panic(fmt.Sprintf("gen: error %q returned as definite is not", op.errText))
		}
		op.handle.FailWith(history.Error{Message: op.errText, Class: history.ErrorDefinite}, nowNs)
	}
	g.schedule(&event{timeNs: nowNs + g.between(0, g.cfg.ThinkNsMax), kind: evCall, client: op.client})
}

// recordTimeline helpers.

// revAt returns the store's revision at time t.
func (g *generator) revAt(t int64) int64 {
	i := sort.Search(len(g.revTimesNs), func(i int) bool { return g.revTimesNs[i] > t })
	return max(int64(i-1), 1)
}

func (g *generator) recordFaults() {
	kinds := []string{"kill", "pause", "partition", "latency"}
	for i := 0; i < g.cfg.Faults; i++ {
		kind := kinds[g.rng.Intn(len(kinds))]
		victim := g.members[g.rng.Intn(len(g.members))]
		f := history.Fault{Kind: kind, Members: []string{victim}, StartNs: g.between(0, g.endNs)}
		if kind == "partition" {
			f.Detail = victim + " | others"
		}
		if g.chance(0.8) {
			end := g.between(f.StartNs, g.endNs)
			f.EndNs = &end
		}
		g.rec.Fault(f)
	}
}
