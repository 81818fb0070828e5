package lease

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcd's exact error texts (go.etcd.io/etcd/api/v3/v3rpc/rpctypes).
const (
	textNotFound    = "etcdserver: requested lease not found"
	textExist       = "etcdserver: lease already exists"
	textTTLTooLarge = "etcdserver: too large lease TTL"
)

func TestErrorsAreEtcds(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
		text string
	}{
		{ErrLeaseNotFound, codes.NotFound, textNotFound},
		{ErrLeaseExist, codes.FailedPrecondition, textExist},
		{ErrLeaseTTLTooLarge, codes.OutOfRange, textTTLTooLarge},
	} {
		st := status.Convert(tc.err)
		require.Equal(t, tc.code, st.Code())
		require.Equal(t, tc.text, st.Message())
	}
}

func TestGrant(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing []int64 // granted first, TTL 60
		noIDs    bool
		id, ttl  int64
		wantID   int64
		wantTTL  int64
		wantErr  string
	}{
		{name: "given id", id: 7, ttl: 60, wantID: 7, wantTTL: 60},
		{name: "negative id is allowed as in etcd", id: -3, ttl: 60, wantID: -3, wantTTL: 60},
		{name: "generated id", id: 0, ttl: 60, wantID: 1, wantTTL: 60},
		{name: "generated id skips taken ones", existing: []int64{1, 2}, id: 0, ttl: 60, wantID: 3, wantTTL: 60},
		{name: "ttl below minimum is raised", id: 7, ttl: 1, wantID: 7, wantTTL: 5},
		{name: "zero ttl is raised", id: 7, ttl: 0, wantID: 7, wantTTL: 5},
		{name: "negative ttl is raised", id: 7, ttl: -10, wantID: 7, wantTTL: 5},
		{name: "max ttl", id: 7, ttl: MaxTTLSeconds, wantID: 7, wantTTL: MaxTTLSeconds},
		{name: "ttl too large", id: 7, ttl: MaxTTLSeconds + 1, wantErr: textTTLTooLarge},
		{name: "id exists", existing: []int64{7}, id: 7, ttl: 60, wantErr: textExist},
		{name: "ttl checked before existence", existing: []int64{7}, id: 7, ttl: MaxTTLSeconds + 1, wantErr: textTTLTooLarge},
		{name: "generated id without a source", noIDs: true, id: 0, ttl: 60, wantErr: ErrNoIDSource.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(&manualClock{})
			if tc.noIDs {
				cfg.IDs = nil
			}
			m := newMember(t, cfg)
			for _, id := range tc.existing {
				m.mustGrant(id, 60)
			}
			before := m.l.Leases()
			g, err := m.grant(tc.id, tc.ttl)
			if tc.wantErr != "" {
				requireEtcdError(t, err, tc.wantErr)
				require.Equal(t, before, m.l.Leases(), "a refused grant changes nothing")
				return
			}
			require.NoError(t, err)
			require.Equal(t, Granted{ID: tc.wantID, TTLSeconds: tc.wantTTL}, g)
			require.True(t, m.l.LeaseExists(tc.wantID))
			rec, ok := m.storedRecord(tc.wantID)
			require.True(t, ok)
			require.Equal(t, record{id: tc.wantID, ttlSeconds: tc.wantTTL}, rec)
			m.check()
		})
	}
}

func TestApplyGrantRechecks(t *testing.T) {
	m := newMember(t, testConfig(&manualClock{}))
	first, err := m.l.PrepareGrant(0, 60)
	require.NoError(t, err)
	second, err := m.l.PrepareGrant(first.ID, 60)
	require.NoError(t, err, "not yet applied, so not yet taken")
	m.mustGrant(first.ID, 60)
	err = m.batch(func(b *pebble.Batch) error { _, err := m.l.ApplyGrant(b, second); return err })
	requireEtcdError(t, err, textExist)
	err = m.batch(func(b *pebble.Batch) error {
		_, err := m.l.ApplyGrant(b, GrantCommand{ID: 0, TTLSeconds: 60})
		return err
	})
	requireEtcdError(t, err, textNotFound, "etcd's lessor refuses lease ID 0 at apply")
	err = m.batch(func(b *pebble.Batch) error {
		_, err := m.l.ApplyGrant(b, GrantCommand{ID: 9, TTLSeconds: MaxTTLSeconds + 1})
		return err
	})
	requireEtcdError(t, err, textTTLTooLarge)
	require.Equal(t, []int64{first.ID}, m.l.Leases())
}

// brokenIDs always returns the same value.
type brokenIDs struct{ value uint64 }

func (b brokenIDs) Uint64() uint64 { return b.value }

func TestPrepareGrantGivesUpOnABrokenIDSource(t *testing.T) {
	cfg := testConfig(&manualClock{})
	cfg.IDs = brokenIDs{value: 1 << 63} // masks to ID 0, never usable
	m := newMember(t, cfg)
	_, err := m.l.PrepareGrant(0, 60)
	require.ErrorContains(t, err, "IDSource gave no unused nonzero ID")
}

func TestRevoke(t *testing.T) {
	m := newMember(t, testConfig(&manualClock{}))
	m.mustGrant(1, 60)
	m.mustGrant(2, 60)
	require.NoError(t, m.l.ApplyEvents(puts(1, "b", "a", "c")))
	require.NoError(t, m.l.ApplyEvents(puts(2, "z")))

	keys, err := m.revoke(1)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("a"), []byte("b"), []byte("c")}, keys, "sorted")
	require.False(t, m.l.LeaseExists(1))
	_, stored := m.storedRecord(1)
	require.False(t, stored)
	require.Equal(t, int64(0), m.l.LeaseOf([]byte("a")))
	require.Equal(t, int64(2), m.l.LeaseOf([]byte("z")))
	// The caller's deletes of the revoked keys come back as events; they are harmless.
	require.NoError(t, m.l.ApplyEvents(deletes(1, "a", "b", "c")))

	_, err = m.revoke(1)
	requireEtcdError(t, err, textNotFound)
	_, err = m.revoke(99)
	requireEtcdError(t, err, textNotFound)
	require.Equal(t, []int64{2}, m.l.Leases())
	m.check()
}

func TestLeasesAndLeaseExists(t *testing.T) {
	m := newMember(t, testConfig(&manualClock{}))
	require.Empty(t, m.l.Leases())
	for _, id := range []int64{30, -4, 10, 20} {
		m.mustGrant(id, 60)
	}
	require.Equal(t, []int64{-4, 10, 20, 30}, m.l.Leases())
	require.True(t, m.l.LeaseExists(10))
	require.False(t, m.l.LeaseExists(11))
	require.False(t, m.l.LeaseExists(0))
}

func TestTimeToLive(t *testing.T) {
	clock := &manualClock{}
	cfg := testConfig(clock)
	m := newMember(t, cfg)
	m.mustGrant(1, 60)
	require.NoError(t, m.l.ApplyEvents(puts(1, "k2", "k1")))

	// A follower reports what it would resume from: the full TTL until a checkpoint.
	ttl, err := m.l.TimeToLive(1, true)
	require.NoError(t, err)
	require.Equal(t, TimeToLive{ID: 1, RemainingTTL: 60, GrantedTTL: 60, Keys: [][]byte{[]byte("k1"), []byte("k2")}}, ttl)

	m.l.Promote(1)
	clock.advance(20*time.Second + 500*time.Millisecond)
	ttl, err = m.l.TimeToLive(1, false)
	require.NoError(t, err)
	require.Equal(t, TimeToLive{ID: 1, RemainingTTL: 39, GrantedTTL: 60}, ttl, "rounded down")

	clock.advance(time.Hour)
	ttl, err = m.l.TimeToLive(1, false)
	require.NoError(t, err)
	require.Equal(t, int64(0), ttl.RemainingTTL, "never negative")

	_, err = m.l.TimeToLive(2, false)
	requireEtcdError(t, err, textNotFound)
}

func TestTimeToLiveOnFollowerAfterCheckpoint(t *testing.T) {
	clock := &manualClock{}
	m := newMember(t, testConfig(clock))
	m.mustGrant(1, 60)
	clock.advance(5 * time.Second)
	m.mustApplyCheckpoints(Checkpoint{ID: 1, RemainingTTL: 30 * time.Second, Term: 1, Seq: 1})
	clock.advance(10 * time.Second)
	ttl, err := m.l.TimeToLive(1, false)
	require.NoError(t, err)
	require.Equal(t, int64(20), ttl.RemainingTTL)
}

func TestKeepAlive(t *testing.T) {
	type step struct {
		advance    time.Duration
		applyClear bool // apply the clear the previous step asked for
		want       KeepAliveAction
		wantErr    string
	}
	for _, tc := range []struct {
		name       string
		primary    bool
		checkpoint time.Duration // applied before Promote when > 0
		steps      []step
	}{
		{name: "not primary", steps: []step{{wantErr: ErrNotPrimary.Error()}}},
		{name: "fresh lease answers now", primary: true, steps: []step{{want: AnswerNow}, {advance: 30 * time.Second, want: AnswerNow}}},
		{name: "renewed lease lives a full TTL from the keep-alive", primary: true, steps: []step{
			{advance: 50 * time.Second, want: AnswerNow},
			{advance: 59 * time.Second, want: AnswerNow},
		}},
		{name: "expired lease is not found", primary: true, steps: []step{{advance: 60 * time.Second, wantErr: textNotFound}}},
		{name: "first keep-alive after a checkpoint clears it through the log", primary: true, checkpoint: 40 * time.Second, steps: []step{
			{want: ProposeClear},
			{advance: time.Second, want: WaitForClear},
			{applyClear: true, want: AnswerNow},
			{advance: time.Second, want: AnswerNow},
		}},
		{name: "a clear that never applies is asked for again after the retry interval", primary: true, checkpoint: 40 * time.Second, steps: []step{
			{want: ProposeClear},
			{advance: time.Second, want: WaitForClear},
			{advance: time.Second, want: ProposeClear},
			{applyClear: true, want: AnswerNow},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &manualClock{}
			m := newMember(t, testConfig(clock))
			m.mustGrant(1, 60)
			if tc.checkpoint > 0 {
				m.mustApplyCheckpoints(Checkpoint{ID: 1, RemainingTTL: tc.checkpoint, Term: 1, Seq: 1})
			}
			if tc.primary {
				m.l.Promote(2)
			}
			var lastClear Checkpoint
			for i, s := range tc.steps {
				clock.advance(s.advance)
				if s.applyClear {
					m.mustApplyCheckpoints(lastClear)
				}
				res, err := m.l.KeepAlive(1)
				if s.wantErr != "" {
					requireEtcdError(t, err, s.wantErr, "step %d", i)
					continue
				}
				require.NoError(t, err, "step %d", i)
				require.Equal(t, s.want, res.Action, "step %d", i)
				switch res.Action {
				case AnswerNow:
					require.Equal(t, int64(60), res.TTLSeconds)
				case ProposeClear:
					require.Equal(t, int64(1), res.Clear.ID)
					require.Equal(t, time.Duration(0), res.Clear.RemainingTTL)
					require.Equal(t, uint64(2), res.Clear.Term)
					lastClear = res.Clear
				}
				m.check()
			}
		})
	}
	t.Run("unknown lease", func(t *testing.T) {
		m := newMember(t, testConfig(&manualClock{}))
		m.l.Promote(1)
		_, err := m.l.KeepAlive(5)
		requireEtcdError(t, err, textNotFound)
	})
}

func TestKeepAliveActionString(t *testing.T) {
	require.Equal(t, "AnswerNow", AnswerNow.String())
	require.Equal(t, "ProposeClear", ProposeClear.String())
	require.Equal(t, "WaitForClear", WaitForClear.String())
	require.Equal(t, "KeepAliveAction(0)", KeepAliveAction(0).String())
}
