package sim

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/scenarios"
)

// TestAuthWorkload: auth-under-faults passes over several seeds with the same digest run
// after run; its history holds the setup, the control client's changes (some with an
// unknown outcome), requests as every user with their auth revision, and of bob's writes
// below k4 some succeeded, some were denied and some refused as stale (the permission
// toggled under load), and the auth validator judged most requests with credentials. Edited
// so that a denied write succeeded, the history fails the auth validator.
func TestAuthWorkload(t *testing.T) {
	sc, ok := scenarios.ByName("auth-under-faults")
	require.True(t, ok)
	for _, seed := range seedsFromEnv(t, []int64{1, 2, 3}) {
		res := Run(sc, seed, Options{})
		require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
		again := Run(sc, seed, Options{})
		require.Equal(t, res.Digest, again.Digest, "seed %d: digest differs between two runs", seed)

		h := res.History
		users := map[string]int{}
		var changes, unknownChanges, bobOK, bobDenied, stale int
		denied := -1
		for i, op := range h.Operations {
			if op.Request.Auth != nil {
				changes++
				if op.Outcome() == history.OutcomeUnknown {
					unknownChanges++
				}
				continue
			}
			users[op.User]++
			require.NotZero(t, op.AuthRevision, "seed %d: %s's request without an auth revision", seed, op.Client)
			if op.Error != nil && strings.Contains(op.Error.Message, "revision of auth store is old") {
				stale++
			}
			if p := op.Request.Put; p != nil && op.User == "bob" && string(p.Key) < "k4" {
				switch {
				case op.Outcome() == history.OutcomeOK:
					bobOK++
				case op.Error != nil && strings.Contains(op.Error.Message, "permission denied"):
					bobDenied++
					denied = i
				}
			}
		}
		ac := res.Check.Check(linearizability.CheckAuth)
		t.Logf("seed %d: ops=%d changes=%d (unknown %d) users=%v bob's low puts ok=%d denied=%d, stale refusals %d; %s; digest %.12s",
			seed, len(h.Operations), changes, unknownChanges, users, bobOK, bobDenied, stale, ac.Note, res.Digest)
		require.Equal(t, linearizability.VerdictOK, ac.Verdict)
		require.Greater(t, changes, len(authSetupRequests())+10, "seed %d: the control client made few changes", seed)
		for _, u := range authUsers {
			require.NotZero(t, users[u], "seed %d: no request as %s", seed, u)
		}
		require.NotZero(t, bobOK, "seed %d: no write of bob's succeeded", seed)
		require.NotZero(t, bobDenied, "seed %d: no write of bob's was denied", seed)
		require.NotZero(t, stale, "seed %d: no request was refused as stale", seed)

		// planted: the last denied write of bob's succeeded instead
		edited := *h
		edited.Operations = append([]history.Operation(nil), h.Operations...)
		op := &edited.Operations[denied]
		op.Error = nil
		op.Response = &history.Response{Header: history.ResponseHeader{Revision: 1}, Put: &history.PutResponse{}}
		got := linearizability.Check(&edited, linearizability.Options{PorcupineMaxOps: -1}).Check(linearizability.CheckAuth)
		require.Equal(t, linearizability.VerdictViolation, got.Verdict, "seed %d: the planted success of a denied write was not found", seed)
		require.Equal(t, "auth-unpermitted", got.Violations[0].Kind, "%s", got.Violations[0].Message)
	}
}
