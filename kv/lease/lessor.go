package lease

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ballastdb/ballast/canary"
)

// lease is one lease in memory. The first group of fields is replicated state (the same on
// every member after the same log prefix, and persisted); checkpointAppliedAt is this
// member's own clock reading; the last group exists only while this lessor is primary.
type lease struct {
	id         int64
	ttlSeconds int64
	// remaining is the last checkpointed remaining TTL, 0 when none (the full TTL applies).
	remaining time.Duration
	// checkpointAppliedAt is when (on this member's clock) remaining was applied or loaded.
	checkpointAppliedAt time.Duration
	// keys are the keys attached to the lease.
	keys map[string]struct{}

	// deadline is when the primary considers the lease expired (its own clock).
	deadline time.Duration
	// expiry queues the lease at its deadline (or, once Expired named it, at the retry time).
	expiry slot
	// checkpoint queues the lease when a checkpoint of its remaining TTL is due.
	checkpoint slot
	// unsettledSeq is the sequence number of the last checkpoint or clear this primary
	// produced for the lease and has not yet seen applied, 0 when none.
	unsettledSeq uint64
	// clearSeq and clearProposedAt describe the last clear this primary asked for.
	clearSeq        uint64
	clearProposedAt time.Duration
}

func (l *lease) ttl() time.Duration { return time.Duration(l.ttlSeconds) * time.Second }

// clearInFlight reports whether the last lease entry this primary produced is a clear that
// has not applied yet and is younger than retry.
func (l *lease) clearInFlight(now, retry time.Duration) bool {
	return l.clearSeq != 0 && l.clearSeq == l.unsettledSeq && now < addSaturating(l.clearProposedAt, retry)
}

func (l *lease) resetPrimaryState() {
	l.deadline = 0
	l.expiry.index, l.checkpoint.index = -1, -1
	l.unsettledSeq, l.clearSeq, l.clearProposedAt = 0, 0, 0
}

// Lessor holds every lease of one member. It is a state machine driven by its caller: the
// Apply methods run on every member in log order; Promote/Demote, KeepAlive, Expired and
// Checkpoints run on the primary (the leader). It is not safe for concurrent use.
type Lessor struct {
	cfg   Config
	drift drift

	leases   map[int64]*lease
	keyLease map[string]int64 // key -> the lease it is attached to
	lastNow  time.Duration

	primary     bool
	term        uint64 // the term this lessor is primary of
	lastTerm    uint64 // the highest term it was ever promoted in (since Open)
	seq         uint64 // last sequence number handed to a checkpoint or clear
	expiries    queue
	checkpoints queue
}

// Open loads the leases stored under Prefix through r. On an empty prefix it writes the
// format version into w, which the caller commits; an unknown format version is refused.
// Attachments are not stored: the caller rebuilds them with Attach while scanning the live
// keys. The lessor starts as a non-primary (follower).
func Open(r pebble.Reader, w *pebble.Batch, cfg Config) (*Lessor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	version, ok, err := readFormat(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		nonEmpty, err := hasAnyKey(r)
		if err != nil {
			return nil, err
		}
		if nonEmpty {
			return nil, fmt.Errorf("lease: keys under %q but no format version: refusing to open", Prefix)
		}
		if w == nil {
			return nil, fmt.Errorf("lease: new store needs a batch to write format version %d into", FormatVersion)
		}
		if err := w.Set(formatKey, encodeUvarint(FormatVersion), nil); err != nil {
			return nil, fmt.Errorf("lease: write format version: %w", err)
		}
	} else if version != FormatVersion {
		return nil, fmt.Errorf("lease: stored format version %d is unknown (this build reads %d): refusing to open",
			version, FormatVersion)
	}
	records, err := loadRecords(r)
	if err != nil {
		return nil, err
	}
	l := &Lessor{
		cfg:         cfg,
		drift:       drift{rate: cfg.MaxDriftRate},
		leases:      make(map[int64]*lease, len(records)),
		keyLease:    make(map[string]int64),
		expiries:    newQueue(func(l *lease) *slot { return &l.expiry }),
		checkpoints: newQueue(func(l *lease) *slot { return &l.checkpoint }),
	}
	now := l.now()
	for _, rec := range records {
		// As etcd does, a lease granted under a lower minimum is raised to the current one.
		rec.ttlSeconds = max(rec.ttlSeconds, cfg.MinTTLSeconds)
		le := l.newLease(rec)
		// The checkpoint was applied before the restart, so now is a later (safe) stamp.
		le.checkpointAppliedAt = now
		l.leases[rec.id] = le
	}
	return l, nil
}

func (l *Lessor) newLease(rec record) *lease {
	le := &lease{id: rec.id, ttlSeconds: rec.ttlSeconds, remaining: rec.remaining, keys: map[string]struct{}{}}
	le.resetPrimaryState()
	return le
}

// now reads the clock and panics if it went backwards.
func (l *Lessor) now() time.Duration {
	now := l.cfg.Clock.Now()
	if now < l.lastNow {
		panic(fmt.Sprintf("lease: clock went backwards from %v to %v", l.lastNow, now))
	}
	l.lastNow = now
	return now
}

// GrantCommand is a grant as it travels through the log: the ID is always set (generated
// by PrepareGrant if the client asked for 0), so every member applies the same grant.
type GrantCommand struct {
	ID         int64
	TTLSeconds int64
}

// Granted is the result of a grant: the lease and the TTL it was granted (at least the
// configured minimum).
type Granted struct {
	ID         int64
	TTLSeconds int64
}

// effectiveTTL checks a requested TTL and raises it to the minimum, as etcd does.
func (l *Lessor) effectiveTTL(ttlSeconds int64) (int64, error) {
	if ttlSeconds > MaxTTLSeconds {
		return 0, ErrLeaseTTLTooLarge
	}
	return max(ttlSeconds, l.cfg.MinTTLSeconds), nil
}

// maxIDAttempts bounds the search for an unused generated ID; with 2^63 IDs, a failure means
// a broken IDSource, not bad luck.
const maxIDAttempts = 64

// PrepareGrant turns a client's grant request into the command to propose: it checks the
// TTL, raises it to the minimum, and generates an ID from the IDSource when id is 0. It
// changes nothing; ApplyGrant checks again, since another grant may take the ID first.
func (l *Lessor) PrepareGrant(id, ttlSeconds int64) (GrantCommand, error) {
	ttl, err := l.effectiveTTL(ttlSeconds)
	if err != nil {
		return GrantCommand{}, err
	}
	if id != 0 {
		if _, ok := l.leases[id]; ok {
			return GrantCommand{}, ErrLeaseExist
		}
		return GrantCommand{ID: id, TTLSeconds: ttl}, nil
	}
	if l.cfg.IDs == nil {
		return GrantCommand{}, ErrNoIDSource
	}
	for range maxIDAttempts {
		candidate := int64(l.cfg.IDs.Uint64() & math.MaxInt64)
		if _, taken := l.leases[candidate]; candidate != 0 && !taken {
			return GrantCommand{ID: candidate, TTLSeconds: ttl}, nil
		}
	}
	return GrantCommand{}, fmt.Errorf("lease: IDSource gave no unused nonzero ID in %d draws", maxIDAttempts)
}

// ApplyGrant applies a grant from the log: it writes the lease into b and, on the primary,
// starts its deadline. Errors (etcd's) leave everything unchanged.
func (l *Lessor) ApplyGrant(b *pebble.Batch, cmd GrantCommand) (Granted, error) {
	if cmd.ID == 0 {
		return Granted{}, ErrLeaseNotFound // etcd's lessor refuses lease ID 0 so
	}
	ttl, err := l.effectiveTTL(cmd.TTLSeconds)
	if err != nil {
		return Granted{}, err
	}
	if _, ok := l.leases[cmd.ID]; ok {
		return Granted{}, ErrLeaseExist
	}
	rec := record{id: cmd.ID, ttlSeconds: ttl}
	if err := writeRecord(b, rec); err != nil {
		return Granted{}, err
	}
	le := l.newLease(rec)
	l.leases[cmd.ID] = le
	if canary.On(canary.LeaseFollowerClock) {
		le.checkpointAppliedAt = l.now() // broken on purpose: read by resumeDeadline's canary
	}
	if l.primary {
		now := l.now()
		l.refresh(le, now)
	}
	return Granted{ID: cmd.ID, TTLSeconds: ttl}, nil
}

// ApplyRevoke applies a revoke from the log (a client's, or one the primary proposed for an
// expired lease): it deletes the lease in b and returns its attached keys, sorted, which the
// caller deletes at one revision in the same batch. The attachments are dropped here, so
// the delete events of those keys may be given to ApplyEvents or not.
func (l *Lessor) ApplyRevoke(b *pebble.Batch, id int64) ([][]byte, error) {
	le, ok := l.leases[id]
	if !ok {
		return nil, ErrLeaseNotFound
	}
	if err := deleteRecord(b, id); err != nil {
		return nil, err
	}
	keys := sortedKeys(le.keys)
	for k := range le.keys {
		delete(l.keyLease, k)
	}
	l.expiries.remove(le)
	l.checkpoints.remove(le)
	delete(l.leases, id)
	return keys, nil
}

// Checkpoint records a lease's remaining TTL in the log. RemainingTTL 0 is a clear: the
// lease goes back to its full TTL (what the first keep-alive after a checkpoint asks for).
// Term and Seq identify the primary that produced it; they let that primary know when every
// checkpoint it produced for the lease has been applied.
type Checkpoint struct {
	ID           int64
	RemainingTTL time.Duration
	Term         uint64
	Seq          uint64
}

// ApplyCheckpoint applies a checkpoint or clear from the log: it persists the remaining TTL
// in b and stamps it with this member's clock, so that a later Promote resumes the lease
// from it. A checkpoint of a lease that no longer exists changes nothing (as in etcd).
func (l *Lessor) ApplyCheckpoint(b *pebble.Batch, cp Checkpoint) error {
	le, ok := l.leases[cp.ID]
	if !ok {
		return nil
	}
	if cp.RemainingTTL < 0 || cp.RemainingTTL > le.ttl() {
		return fmt.Errorf("lease: checkpoint of lease %d has remaining TTL %v outside [0, %v]",
			cp.ID, cp.RemainingTTL, le.ttl())
	}
	if l.primary {
		// Only this primary's own entries can apply while it is primary; anything else means
		// the caller promoted too early or demoted too late, and a keep-alive answered from
		// memory may already be lost.
		if cp.Term != l.term || cp.Seq == 0 || cp.Seq > l.seq {
			panic(fmt.Sprintf("lease: checkpoint of lease %d (term %d, seq %d) applied on the primary of term %d "+
				"(last seq %d): Promote only after every entry of earlier terms is applied, Demote before "+
				"applying entries of a later term", cp.ID, cp.Term, cp.Seq, l.term, l.seq))
		}
	}
	if err := writeRecord(b, record{id: le.id, ttlSeconds: le.ttlSeconds, remaining: cp.RemainingTTL}); err != nil {
		return err
	}
	le.remaining = cp.RemainingTTL
	le.checkpointAppliedAt = l.now()
	if l.primary && cp.Seq == le.unsettledSeq {
		// Entries apply in the order this primary produced them, so every earlier one has
		// applied or was dropped: nothing of ours is in flight for this lease.
		le.unsettledSeq = 0
	}
	return nil
}

// LeaseExists reports whether the lease exists (kv/mvcc checks a put's lease with it).
func (l *Lessor) LeaseExists(id int64) bool {
	_, ok := l.leases[id]
	return ok
}

// Leases returns the IDs of every lease, in ascending order.
func (l *Lessor) Leases() []int64 {
	ids := make([]int64, 0, len(l.leases))
	for id := range l.leases {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TimeToLive is etcd's LeaseTimeToLive answer: TTLs in seconds.
type TimeToLive struct {
	ID int64
	// RemainingTTL is what is left of the promise made to the client, rounded down.
	RemainingTTL int64
	GrantedTTL   int64
	// Keys are the attached keys, sorted (only when asked for).
	Keys [][]byte
}

// TimeToLive reports a lease's granted and remaining TTL and, if withKeys, its keys. On the
// primary the remaining TTL comes from its deadline; elsewhere it is what this member would
// resume from if promoted now (etcd forwards the call to the leader; so may the caller).
func (l *Lessor) TimeToLive(id int64, withKeys bool) (TimeToLive, error) {
	le, ok := l.leases[id]
	if !ok {
		return TimeToLive{}, ErrLeaseNotFound
	}
	now := l.now()
	var left time.Duration
	if l.primary {
		left = l.drift.promisedAtMost(le.deadline - now)
	} else {
		left = l.drift.promisedAtMost(l.resumeDeadline(le, now) - now)
	}
	out := TimeToLive{ID: id, RemainingTTL: int64(left / time.Second), GrantedTTL: le.ttlSeconds}
	if withKeys {
		out.Keys = sortedKeys(le.keys)
	}
	return out, nil
}

func sortedKeys(set map[string]struct{}) [][]byte {
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	slices.Sort(names)
	keys := make([][]byte, len(names))
	for i, k := range names {
		keys[i] = []byte(k)
	}
	return keys
}

// checkInvariants panics if the in-memory structures disagree with each other. Tests call
// it after every step; it is O(leases + keys).
func (l *Lessor) checkInvariants() {
	attached := 0
	for id, le := range l.leases {
		if le.id != id || id == 0 {
			panic(fmt.Sprintf("lease: lease %d stored under ID %d", le.id, id))
		}
		if le.ttlSeconds < l.cfg.MinTTLSeconds || le.remaining < 0 || le.remaining > le.ttl() {
			panic(fmt.Sprintf("lease: lease %d has TTL %ds, remaining %v", id, le.ttlSeconds, le.remaining))
		}
		for k := range le.keys {
			if l.keyLease[k] != id {
				panic(fmt.Sprintf("lease: key %q in lease %d but indexed under %d", k, id, l.keyLease[k]))
			}
		}
		attached += len(le.keys)
		if l.primary != l.expiries.queued(le) {
			panic(fmt.Sprintf("lease: lease %d queued for expiry %v, primary %v", id, l.expiries.queued(le), l.primary))
		}
		if !l.primary && (l.checkpoints.queued(le) || le.unsettledSeq != 0) {
			panic(fmt.Sprintf("lease: non-primary holds primary state for lease %d", id))
		}
		if le.unsettledSeq > l.seq {
			panic(fmt.Sprintf("lease: lease %d unsettled seq %d beyond last seq %d", id, le.unsettledSeq, l.seq))
		}
	}
	if attached != len(l.keyLease) {
		panic(fmt.Sprintf("lease: %d attachments in leases, %d in the key index", attached, len(l.keyLease)))
	}
	if l.expiries.len() > len(l.leases) || l.checkpoints.len() > len(l.leases) {
		panic("lease: a queue holds more leases than exist")
	}
	l.expiries.check()
	l.checkpoints.check()
}
