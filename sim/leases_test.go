package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/scenarios"
)

// leaseScenario is lease-heavy and short: leases of 2–6 s are granted, kept alive, revoked
// and left to expire, with a skewed clock (within ρ) and a leader crash.
func leaseScenario() scenarios.Scenario {
	return scenarios.Scenario{
		Name: "sim-test-leases", Members: 3, Duration: 8 * time.Second, Clients: 4, OpsPerSecond: 100, Keys: 5, Watchers: 1,
		Mix: scenarios.Mix{Put: 2, Get: 4, Range: 2, LeaseGrant: 3, LeaseKeepAlive: 2, LeaseRevoke: 1, PutWithLease: 4},
		Faults: []scenarios.Fault{
			{Kind: scenarios.ClockSkew, At: 0, Duration: 7 * time.Second, Targets: []scenarios.Target{scenarios.Member(0)}, Rate: 0.009},
			{Kind: scenarios.Crash, At: 3 * time.Second, Duration: time.Second, Targets: []scenarios.Target{scenarios.Leader}},
		},
		Liveness: scenarios.Liveness{MinAckShare: 0.5},
	}
}

// Leases expire within a run and each expiry is recorded once, with the revision at which
// its keys vanished; the checker accepts the run, and judges the records: without them the
// vanished keys are a violation, and a record moved before its lease's TTL had passed since
// the grant or keep-alive that promised it is an early expiry.
func TestLeaseExpiryRecorded(t *testing.T) {
	for _, seed := range seedsFromEnv(t, []int64{1, 2}) {
		var trace strings.Builder
		res := Run(leaseScenario(), seed, Options{Trace: &trace})
		h := res.History
		t.Logf("seed %d: passed=%v ops=%d expiries=%d failure=%q", seed, res.Passed, res.Ops, len(h.LeaseExpiries), res.Failure)
		require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)

		// Every expiry is recorded once, and some expired leases had keys attached (acknowledged
		// puts with the lease, below the expiry's revision): their keys vanished at it.
		require.NotEmpty(t, h.LeaseExpiries, "seed %d: no lease expired", seed)
		expired := map[int64]history.LeaseExpiry{}
		for _, le := range h.LeaseExpiries {
			_, dup := expired[le.LeaseID]
			require.False(t, dup, "seed %d: lease %d recorded twice", seed, le.LeaseID)
			expired[le.LeaseID] = le
		}
		withKeys, keptThenExpired := map[int64]bool{}, map[int64]bool{}
		for _, op := range h.Operations {
			if op.Response == nil {
				continue
			}
			if p := op.Request.Put; p != nil && p.Lease != 0 {
				if le, ok := expired[p.Lease]; ok && op.Response.Header.Revision < le.Revision {
					withKeys[p.Lease] = true
				}
			}
			if ka := op.Request.LeaseKeepAlive; ka != nil {
				if _, ok := expired[ka.ID]; ok {
					keptThenExpired[ka.ID] = true
				}
			}
		}
		require.NotEmpty(t, withKeys, "seed %d: no lease with keys expired", seed)
		require.Contains(t, trace.String(), " expired rev=", "seed %d: the trace names expiries", seed)
		t.Logf("seed %d: %d expired leases had keys, %d had been kept alive", seed, len(withKeys), len(keptThenExpired))

		// Without the records the keys vanish for no recorded reason.
		missing := *h
		missing.LeaseExpiries = nil
		chk := linearizability.Check(&missing, linearizability.Options{})
		require.Equal(t, linearizability.VerdictViolation, chk.Verdict, "seed %d: expiries dropped, yet the history passed", seed)
		t.Logf("seed %d: without expiry records: %s", seed, chk.FirstViolation)

		// One record moved to just before the earliest moment its lease could expire.
		early := *h
		early.LeaseExpiries = slices.Clone(h.LeaseExpiries)
		moved := false
		for i := range early.LeaseExpiries {
			le := &early.LeaseExpiries[i]
			if earliest, ok := lastPromise(h, le.LeaseID, le.TimeNs); ok {
				le.TimeNs = earliest - int64(time.Millisecond)
				moved = true
				break
			}
		}
		require.True(t, moved, "seed %d: no expiry follows a grant or keep-alive", seed)
		chk = linearizability.Check(&early, linearizability.Options{})
		lc := chk.Check(linearizability.CheckLease)
		require.Equal(t, linearizability.VerdictViolation, lc.Verdict, "seed %d: an early expiry passed the lease check", seed)
		require.True(t, slices.ContainsFunc(lc.Violations, func(v linearizability.Violation) bool { return v.Kind == "lease-early-expiry" }),
			"seed %d: %v", seed, lc.Violations)
	}
}

// lastPromise returns the call time plus TTL of the last acknowledged grant or keep-alive of
// lease id called before atNs: the earliest moment the lease may expire.
func lastPromise(h *history.History, id, atNs int64) (int64, bool) {
	best, ok := int64(0), false
	for _, op := range h.Operations {
		if op.Response == nil || op.CallNs >= atNs {
			continue
		}
		var ttl int64
		switch {
		case op.Request.LeaseGrant != nil && op.Response.LeaseGrant != nil && op.Response.LeaseGrant.ID == id:
			ttl = op.Response.LeaseGrant.TTLSeconds
		case op.Request.LeaseKeepAlive != nil && op.Request.LeaseKeepAlive.ID == id && op.Response.LeaseKeepAlive != nil:
			ttl = op.Response.LeaseKeepAlive.TTLSeconds
		default:
			continue
		}
		if t := op.CallNs + ttl*int64(time.Second); !ok || t > best {
			best, ok = t, true
		}
	}
	return best, ok
}
