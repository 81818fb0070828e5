package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/scenarios"
)

// Each disk fault kind goes through Pebble: it fires in the target's Synced, on the WAL
// beneath Pebble, and the member stops and is crashed; it restarts from what it had synced
// and the run stays linearizable. The sync-fail-crash purpose counts what happened, not what
// was scheduled: a fault armed on a member that never syncs again (it is down) does not count.
func TestDiskFaultsThroughPebble(t *testing.T) {
	for _, kind := range []scenarios.FaultKind{scenarios.SyncFail, scenarios.WriteFail, scenarios.ShortWrite} {
		t.Run(string(kind), func(t *testing.T) {
			sc := smallScenario()
			sc.Faults = []scenarios.Fault{{Kind: kind, At: 2 * time.Second, Duration: time.Second, Targets: []scenarios.Target{scenarios.Leader}}}
			sc.Purposes = []scenarios.Purpose{{Event: scenarios.SyncFailCrash}}
			var trace strings.Builder
			res := Run(sc, 1, Options{Trace: &trace})
			require.True(t, res.Passed, res.Failure)
			require.True(t, res.Coverage.Purposes[scenarios.SyncFailCrash])
			require.Contains(t, trace.String(), "reached Pebble, the member stopped")
			require.Contains(t, trace.String(), "crash (disk fault)")
		})
	}
	t.Run("never-reached", func(t *testing.T) {
		sc := smallScenario()
		sc.Faults = []scenarios.Fault{
			{Kind: scenarios.Crash, At: 1500 * time.Millisecond, Duration: 2 * time.Second, Targets: []scenarios.Target{scenarios.Member(1)}},
			{Kind: scenarios.SyncFail, At: 2 * time.Second, Duration: time.Second, Targets: []scenarios.Target{scenarios.Member(1)}},
		}
		sc.Purposes = []scenarios.Purpose{{Event: scenarios.SyncFailCrash}}
		var trace strings.Builder
		res := Run(sc, 1, Options{Trace: &trace})
		require.False(t, res.Coverage.Purposes[scenarios.SyncFailCrash])
		require.Contains(t, res.Failure, "purpose not reached: 0 members stopped by a disk fault that reached Pebble for 1 disk faults")
		require.False(t, strings.Contains(trace.String(), "sync fails:"), "a disk fault reached Pebble")
	})
}
