package lease

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// modelLease and model are the reference: the same rules as the Lessor, written the
// simplest way (maps and linear scans, no queues, no storage), to compare against.
type modelLease struct {
	ttl       int64
	remaining time.Duration
	appliedAt time.Duration
	keys      map[string]bool
	// primary only
	deadline, expiryAt time.Duration
	cpDue              bool
	cpAt               time.Duration
	unsettled          uint64
	clearSeq           uint64
	clearAt            time.Duration
}

type model struct {
	cfg      Config
	d        drift
	ids      IDSource
	leases   map[int64]*modelLease
	keyLease map[string]int64
	primary  bool
	term     uint64
	lastTerm uint64
	seq      uint64
}

func newModel(cfg Config, ids IDSource) *model {
	return &model{cfg: cfg, d: drift{rate: cfg.MaxDriftRate}, ids: ids, leases: map[int64]*modelLease{}, keyLease: map[string]int64{}}
}

func (m *model) ttlOf(l *modelLease) time.Duration { return time.Duration(l.ttl) * time.Second }

func (m *model) prepareGrant(id, ttl int64) (GrantCommand, error) {
	if ttl > MaxTTLSeconds {
		return GrantCommand{}, ErrLeaseTTLTooLarge
	}
	ttl = max(ttl, m.cfg.MinTTLSeconds)
	if id != 0 {
		if m.leases[id] != nil {
			return GrantCommand{}, ErrLeaseExist
		}
		return GrantCommand{id, ttl}, nil
	}
	for range maxIDAttempts {
		c := int64(m.ids.Uint64() & math.MaxInt64)
		if c != 0 && m.leases[c] == nil {
			return GrantCommand{c, ttl}, nil
		}
	}
	return GrantCommand{}, fmt.Errorf("no id")
}

func (m *model) renew(l *modelLease, now time.Duration) {
	l.deadline = addSaturating(now, m.d.waitFor(m.ttlOf(l)))
	l.expiryAt = l.deadline
	if !l.cpDue {
		l.cpDue, l.cpAt = true, addSaturating(now, m.cfg.CheckpointInterval)
	}
}

func (m *model) applyGrant(cmd GrantCommand, now time.Duration) (Granted, error) {
	if cmd.ID == 0 {
		return Granted{}, ErrLeaseNotFound
	}
	if cmd.TTLSeconds > MaxTTLSeconds {
		return Granted{}, ErrLeaseTTLTooLarge
	}
	ttl := max(cmd.TTLSeconds, m.cfg.MinTTLSeconds)
	if m.leases[cmd.ID] != nil {
		return Granted{}, ErrLeaseExist
	}
	l := &modelLease{ttl: ttl, keys: map[string]bool{}}
	m.leases[cmd.ID] = l
	if m.primary {
		m.renew(l, now)
	}
	return Granted{cmd.ID, ttl}, nil
}

func (m *model) applyRevoke(id int64) ([][]byte, error) {
	l := m.leases[id]
	if l == nil {
		return nil, ErrLeaseNotFound
	}
	var names []string
	for k := range l.keys {
		names = append(names, k)
		delete(m.keyLease, k)
	}
	slices.Sort(names)
	keys := [][]byte{}
	for _, k := range names {
		keys = append(keys, []byte(k))
	}
	delete(m.leases, id)
	return keys, nil
}

func (m *model) applyCheckpoint(cp Checkpoint, now time.Duration) error {
	l := m.leases[cp.ID]
	if l == nil {
		return nil
	}
	if cp.RemainingTTL < 0 || cp.RemainingTTL > m.ttlOf(l) {
		return fmt.Errorf("bad checkpoint")
	}
	l.remaining, l.appliedAt = cp.RemainingTTL, now
	if m.primary && cp.Seq == l.unsettled {
		l.unsettled = 0
	}
	return nil
}

func (m *model) promote(term uint64, now time.Duration) {
	m.primary, m.term, m.lastTerm = true, term, term
	for _, l := range m.leases {
		if l.remaining == 0 {
			l.deadline = addSaturating(now, m.d.waitFor(m.ttlOf(l)))
			l.cpDue, l.cpAt = true, now
		} else {
			l.deadline = addSaturating(l.appliedAt, m.d.waitFor(l.remaining))
		}
		l.expiryAt = l.deadline
	}
}

func (m *model) demote() {
	m.primary = false
	for _, l := range m.leases {
		*l = modelLease{ttl: l.ttl, remaining: l.remaining, appliedAt: l.appliedAt, keys: l.keys}
	}
}

func (m *model) clearInFlight(l *modelLease, now time.Duration) bool {
	return l.clearSeq != 0 && l.clearSeq == l.unsettled && now < addSaturating(l.clearAt, m.cfg.ClearRetryInterval)
}

func (m *model) keepAlive(id int64, now time.Duration) (KeepAliveResult, error) {
	if !m.primary {
		return KeepAliveResult{}, ErrNotPrimary
	}
	l := m.leases[id]
	if l == nil || now >= l.deadline {
		return KeepAliveResult{}, ErrLeaseNotFound
	}
	if l.remaining == 0 && l.unsettled == 0 {
		m.renew(l, now)
		return KeepAliveResult{Action: AnswerNow, TTLSeconds: l.ttl}, nil
	}
	if m.clearInFlight(l, now) {
		return KeepAliveResult{Action: WaitForClear}, nil
	}
	m.seq++
	l.unsettled, l.clearSeq, l.clearAt = m.seq, m.seq, now
	return KeepAliveResult{Action: ProposeClear, Clear: Checkpoint{ID: id, Term: m.term, Seq: m.seq}}, nil
}

// byTime lists the lease IDs for which due(l) holds, ordered by at(l) then ID.
func (m *model) byTime(due func(*modelLease) bool, at func(*modelLease) time.Duration) []int64 {
	var ids []int64
	for id, l := range m.leases {
		if due(l) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b int64) int {
		if x, y := at(m.leases[a]), at(m.leases[b]); x != y {
			return int(min(max(x-y, -1), 1))
		}
		return int(min(max(a-b, -1), 1))
	})
	return ids
}

func (m *model) expired(maxLeases int, now time.Duration) []int64 {
	if !m.primary || maxLeases <= 0 {
		return nil
	}
	ids := m.byTime(func(l *modelLease) bool { return l.expiryAt <= now }, func(l *modelLease) time.Duration { return l.expiryAt })
	if len(ids) > maxLeases {
		ids = ids[:maxLeases]
	}
	for _, id := range ids {
		m.leases[id].expiryAt = addSaturating(now, m.cfg.ExpiredRetryInterval)
	}
	if len(ids) == 0 {
		return nil
	}
	return ids
}

func (m *model) checkpoints(maxCheckpoints int, now time.Duration) []Checkpoint {
	if !m.primary || maxCheckpoints <= 0 {
		return nil
	}
	var out []Checkpoint
	for _, id := range m.byTime(func(l *modelLease) bool { return l.cpDue && l.cpAt <= now }, func(l *modelLease) time.Duration { return l.cpAt }) {
		if len(out) == maxCheckpoints {
			break
		}
		l := m.leases[id]
		l.cpDue = false
		if m.clearInFlight(l, now) || now >= l.deadline {
			continue
		}
		m.seq++
		l.unsettled = m.seq
		out = append(out, Checkpoint{ID: id, RemainingTTL: m.d.promisedAtLeast(l.deadline - now), Term: m.term, Seq: m.seq})
	}
	return out
}

func (m *model) timeToLive(id int64, now time.Duration) (TimeToLive, error) {
	l := m.leases[id]
	if l == nil {
		return TimeToLive{}, ErrLeaseNotFound
	}
	deadline := l.deadline
	if !m.primary {
		if l.remaining == 0 {
			deadline = addSaturating(now, m.d.waitFor(m.ttlOf(l)))
		} else {
			deadline = addSaturating(l.appliedAt, m.d.waitFor(l.remaining))
		}
	}
	var names []string
	for k := range l.keys {
		names = append(names, k)
	}
	slices.Sort(names)
	keys := make([][]byte, len(names))
	for i, k := range names {
		keys[i] = []byte(k)
	}
	return TimeToLive{ID: id, RemainingTTL: int64(m.d.promisedAtMost(deadline-now) / time.Second), GrantedTTL: l.ttl, Keys: keys}, nil
}

func (m *model) applyEvents(events []*mvccpb.Event) error {
	for _, ev := range events {
		if ev.Type == mvccpb.Event_PUT && ev.Kv.Lease != 0 && m.leases[ev.Kv.Lease] == nil {
			return ErrLeaseNotFound
		}
	}
	for _, ev := range events {
		k := string(ev.Kv.Key)
		if id, ok := m.keyLease[k]; ok {
			delete(m.leases[id].keys, k)
			delete(m.keyLease, k)
		}
		if ev.Type == mvccpb.Event_PUT && ev.Kv.Lease != 0 {
			m.leases[ev.Kv.Lease].keys[k] = true
			m.keyLease[k] = ev.Kv.Lease
		}
	}
	return nil
}

// restart keeps what is stored (leases, TTLs, checkpoints) and the live keys' leases.
func (m *model) restart(now time.Duration) {
	m.demote()
	m.lastTerm, m.seq = 0, 0
	for _, l := range m.leases {
		l.appliedAt = now
	}
}

func modelIterations() int {
	if s := os.Getenv("LEASE_MODEL_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err == nil {
			return n
		}
	}
	return 40
}

// TestAgainstModel runs random sequences of every call (grant, revoke, keep-alive,
// checkpoints, expiry, events, clock steps, promote/demote, restart, entries applied late or
// dropped) on the Lessor and on the model, and requires identical results and identical
// state. LEASE_MODEL_ITERATIONS sets how many sequences (default 40); sequence i uses seed
// SEED+i, and SEED=s re-runs exactly the sequence with seed s.
func TestAgainstModel(t *testing.T) {
	seed := testSeed(t)
	iterations := modelIterations()
	if os.Getenv("SEED") != "" {
		iterations = 1
	}
	for i := range iterations {
		// A subtest each, so each sequence's databases are closed before the next starts.
		t.Run(fmt.Sprintf("seed=%d", seed+uint64(i)), func(t *testing.T) { runModel(t, seed+uint64(i), 600) })
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	clock := &manualClock{}
	cfg := testConfig(clock)
	cfg.MaxDriftRate = []float64{0, 0.01, 0.3}[rng.IntN(3)]
	cfg.IDs = &counterIDs{}
	sut := newMember(t, cfg)
	ref := newModel(cfg, &counterIDs{})
	var pending []entry // proposed, not yet applied
	term := uint64(0)
	keys := []string{"a", "b", "c", "d", "e", "f"}
	randomID := func() int64 { return int64(rng.IntN(8)) } // small pool: collisions on purpose

	fail := func(step int, what string) string {
		return fmt.Sprintf("seed %d (re-run: SEED=%d go test -run TestAgainstModel ./kv/lease/), step %d: %s", seed, seed, step, what)
	}
	// applyPending applies the first n pending entries in order, dropping one in ten (a
	// proposal lost with its leader).
	applyPending := func(n, step int) {
		now := clock.now
		for _, e := range pending[:n] {
			if rng.IntN(10) == 0 {
				continue
			}
			var gotErr, wantErr error
			switch {
			case e.grant != nil:
				var got, want Granted
				gotErr = sut.batch(func(b *pebble.Batch) error {
					var err error
					got, err = sut.l.ApplyGrant(b, *e.grant)
					return err
				})
				want, wantErr = ref.applyGrant(*e.grant, now)
				require.Equal(t, want, got, fail(step, e.String()))
			case e.checkpoint != nil:
				gotErr = sut.applyCheckpoint(*e.checkpoint)
				wantErr = ref.applyCheckpoint(*e.checkpoint, now)
			default:
				got, err := sut.revoke(e.revoke)
				want, werr := ref.applyRevoke(e.revoke)
				gotErr, wantErr = err, werr
				if err == nil {
					require.Equal(t, want, got, fail(step, e.String()))
				}
			}
			require.Equal(t, wantErr == nil, gotErr == nil, fail(step, e.String()))
			if wantErr != nil && gotErr != nil {
				require.Equal(t, rpctypes.ErrorDesc(wantErr), rpctypes.ErrorDesc(gotErr), fail(step, e.String()))
			}
		}
		pending = pending[n:]
	}
	for step := range steps {
		now := clock.now
		switch op := rng.IntN(100); {
		case op < 12: // propose a grant
			id, ttl := randomID(), []int64{1, 5, 8, 20, MaxTTLSeconds, MaxTTLSeconds + 1}[rng.IntN(6)]
			got, gotErr := sut.l.PrepareGrant(id, ttl)
			want, wantErr := ref.prepareGrant(id, ttl)
			require.Equal(t, wantErr, gotErr, fail(step, "prepare grant"))
			require.Equal(t, want, got, fail(step, "prepare grant"))
			if gotErr == nil {
				pending = append(pending, entry{grant: &got})
			}
		case op < 16: // propose a revoke
			pending = append(pending, entry{revoke: randomID()})
		case op < 34: // apply (or drop) some pending entries, in order
			applyPending(rng.IntN(len(pending)+1), step)
		case op < 46: // keep-alive
			id := randomID()
			got, gotErr := sut.l.KeepAlive(id)
			want, wantErr := ref.keepAlive(id, now)
			require.Equal(t, wantErr, gotErr, fail(step, "keep-alive"))
			require.Equal(t, want, got, fail(step, "keep-alive"))
			if got.Action == ProposeClear {
				pending = append(pending, entry{checkpoint: &got.Clear})
			}
		case op < 54: // checkpoints
			n := rng.IntN(4)
			got, want := sut.l.Checkpoints(n), ref.checkpoints(n, now)
			require.Equal(t, want, got, fail(step, "checkpoints"))
			for i := range got {
				pending = append(pending, entry{checkpoint: &got[i]})
			}
		case op < 62: // expired
			n := rng.IntN(4)
			got, want := sut.l.Expired(n), ref.expired(n, now)
			require.Equal(t, want, got, fail(step, "expired"))
			for _, id := range got {
				pending = append(pending, entry{revoke: id})
			}
		case op < 70: // events of a write
			var events []*mvccpb.Event
			for range 1 + rng.IntN(3) {
				ev := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: &mvccpb.KeyValue{Key: []byte(keys[rng.IntN(len(keys))])}}
				if rng.IntN(3) == 0 {
					ev.Type = mvccpb.Event_DELETE
				} else {
					ev.Kv.Lease = randomID()
				}
				events = append(events, ev)
			}
			gotErr, wantErr := sut.l.ApplyEvents(events), ref.applyEvents(events)
			require.Equal(t, wantErr == nil, gotErr == nil, fail(step, "events"))
		case op < 84: // time passes
			clock.advance(time.Duration(rng.Int64N(int64(4 * time.Second))))
		case op < 90: // leadership changes
			if sut.l.IsPrimary() {
				sut.l.Demote()
				ref.demote()
				continue
			}
			// Promote only once every entry of earlier terms is applied or dropped.
			applyPending(len(pending), step)
			term++
			sut.l.Promote(term)
			ref.promote(term, now)
		case op < 93: // restart
			sut.restart()
			ref.restart(now)
			names := slices.Sorted(mapKeys(ref.keyLease))
			for _, k := range names {
				require.NoError(t, sut.l.Attach(ref.keyLease[k], []byte(k)), fail(step, "attach"))
			}
			term = 0
		default: // read-only calls
			id := randomID()
			got, gotErr := sut.l.TimeToLive(id, true)
			want, wantErr := ref.timeToLive(id, now)
			require.Equal(t, wantErr, gotErr, fail(step, "time to live"))
			require.Equal(t, want, got, fail(step, "time to live"))
			require.Equal(t, ref.leases[id] != nil, sut.l.LeaseExists(id), fail(step, "exists"))
		}
		sut.check()
		compareState(t, sut, ref, fail(step, "state"))
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// compareState requires the same leases, stored records and attachments in both.
func compareState(t *testing.T, sut *member, ref *model, msg string) {
	ids := slices.Sorted(mapKeys(ref.leases))
	if ids == nil {
		ids = []int64{}
	}
	require.Equal(t, ids, sut.l.Leases(), msg)
	for _, id := range ids {
		l := ref.leases[id]
		rec, ok := sut.storedRecord(id)
		require.True(t, ok, msg)
		require.Equal(t, record{id: id, ttlSeconds: l.ttl, remaining: l.remaining}, rec, msg)
		require.Len(t, sut.l.leases[id].keys, len(l.keys), msg)
		for k := range l.keys {
			require.Equal(t, id, sut.l.LeaseOf([]byte(k)), msg)
		}
	}
	require.Equal(t, ref.primary, sut.l.IsPrimary(), msg)
}
