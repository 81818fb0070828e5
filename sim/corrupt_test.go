package sim

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/scenarios"
)

// TestCorruptFaults: a corrupted member refuses to serve when it restarts (it is not
// restarted again, nor counted in HashKV or convergence), the others carry on, and the run
// passes; a corruption that would leave the serving members no majority is skipped.
func TestCorruptFaults(t *testing.T) {
	at := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	m := scenarios.Member
	for _, tc := range []struct {
		name    string
		members int
		faults  []scenarios.Fault
		refused []string // members that must refuse to serve
		skipped []string // corruptions skipped
	}{
		{"stopped member, restarted later", 5, []scenarios.Fault{
			{Kind: scenarios.Crash, At: at(1), Targets: []scenarios.Target{m(3)}},
			{Kind: scenarios.Corrupt, At: at(1.5), Targets: []scenarios.Target{m(3)}},
			{Kind: scenarios.Restart, At: at(2), Targets: []scenarios.Target{m(3)}},
		}, []string{"m3"}, nil},
		{"running member: crash, corrupt, restart", 3, []scenarios.Fault{
			{Kind: scenarios.Corrupt, At: at(1), Duration: at(0.5), Targets: []scenarios.Target{m(1)}},
		}, []string{"m1"}, nil},
		{"restarted by healing", 3, []scenarios.Fault{
			{Kind: scenarios.Crash, At: at(1), Targets: []scenarios.Target{m(2)}},
			{Kind: scenarios.Corrupt, At: at(2), Targets: []scenarios.Target{m(2)}},
		}, []string{"m2"}, nil},
		{"second corruption of three would cost the quorum", 3, []scenarios.Fault{
			{Kind: scenarios.Corrupt, At: at(1), Targets: []scenarios.Target{m(1)}},
			{Kind: scenarios.Corrupt, At: at(2), Targets: []scenarios.Target{m(2)}},
		}, []string{"m1"}, []string{"m2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, seed := range seedsFromEnv(t, []int64{1, 2}) {
				var trace strings.Builder
				res := Run(churnScenario(tc.members, tc.faults...), seed, Options{Trace: &trace})
				tr := trace.String()
				t.Logf("seed %d: passed=%v ops=%d sim=%v failure=%q", seed, res.Passed, res.Ops, res.SimDuration, res.Failure)
				require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
				var refusals []string
				for _, f := range res.History.Faults {
					if f.Kind == "refuse-to-serve" {
						refusals = append(refusals, f.Members...)
						require.Contains(t, f.Detail, "on-disk corruption detected", "seed %d", seed)
						require.Nil(t, f.EndNs, "seed %d: a refusal lasts to the end", seed)
					}
				}
				require.Equal(t, tc.refused, refusals, "seed %d: members that refused to serve", seed)
				for _, name := range tc.refused {
					require.Contains(t, tr, name+" refuses to serve: corruption detected", "seed %d", seed)
					require.Regexp(t, name+` corrupt (sstable|MANIFEST)`, tr, "seed %d", seed)
					require.Equal(t, 1, strings.Count(tr, name+" refuses"), "seed %d: %s refused more than once", seed, name)
					requireNotPickedAfter(t, tr, name+" refuses to serve", name)
				}
				for _, name := range tc.skipped {
					require.Contains(t, tr, name+" corrupt skipped", "seed %d", seed)
				}
				require.Equal(t, tc.members-len(tc.refused), lastHashMembers(t, tr), "seed %d: members in the final HashKV", seed)
			}
		})
	}
}

// rewriteOneValue is damage no checksum catches: the first live value of the store is
// rewritten, validly, to a value no client wrote.
func rewriteOneValue(fs vfs.FS, dir string) (string, error) {
	db, err := pebble.Open(dir, &pebble.Options{FS: fs})
	if err != nil {
		return "", err
	}
	defer db.Close()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte("mvcc/k/"), UpperBound: []byte("mvcc/k0")})
	if err != nil {
		return "", err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		v := it.Value()
		if len(v) < 2 || v[0] != 'p' {
			continue
		}
		var kv mvccpb.KeyValue
		if err := proto.Unmarshal(v[1:], &kv); err != nil {
			return "", err
		}
		old := kv.Value
		kv.Value = []byte("silently-wrong")
		data, err := proto.Marshal(&kv)
		if err != nil {
			return "", err
		}
		key := bytes.Clone(it.Key())
		if err := db.Set(key, append([]byte{'p'}, data...), pebble.Sync); err != nil {
			return "", err
		}
		return fmt.Sprintf("rewrote %s=%s@%d", kv.Key, old, kv.ModRevision), nil
	}
	return "", fmt.Errorf("no live value to rewrite")
}

// TestSilentCorruptionFailsTheRun: a member whose store was damaged in a way its checksums
// cannot see comes back and serves the wrong value; the run must fail (HashKV disagreement
// or the checker), so a pass of disk-corruption means the damage was refused, not served.
func TestSilentCorruptionFailsTheRun(t *testing.T) {
	damageAtRest = rewriteOneValue
	defer func() { damageAtRest = nil }()
	sc := churnScenario(3,
		scenarios.Fault{Kind: scenarios.Crash, At: time.Second, Targets: []scenarios.Target{scenarios.Member(2)}},
		scenarios.Fault{Kind: scenarios.Corrupt, At: 1500 * time.Millisecond, Targets: []scenarios.Target{scenarios.Member(2)}},
		scenarios.Fault{Kind: scenarios.Restart, At: 2 * time.Second, Targets: []scenarios.Target{scenarios.Member(2)}})
	for _, seed := range seedsFromEnv(t, []int64{1}) {
		var trace strings.Builder
		res := Run(sc, seed, Options{Trace: &trace})
		t.Logf("seed %d: passed=%v failure=%q", seed, res.Passed, res.Failure)
		require.Contains(t, trace.String(), "m2 corrupt (test damage)")
		require.NotContains(t, trace.String(), "m2 refuses to serve")
		require.False(t, res.Passed, "seed %d: a member served a value no client wrote and the run passed", seed)
		require.Regexp(t, `HashKV|checker verdict`, res.Failure, "seed %d", seed)
	}
}

// TestDiskCorruptionScenario runs the catalogue's disk-corruption: both corrupted members
// refuse to serve, m3 is replaced by m5, which catches up (the final HashKV covers the three
// untouched members and m5), the run passes, and the digest repeats for the first seed.
func TestDiskCorruptionScenario(t *testing.T) {
	sc, ok := scenarios.ByName("disk-corruption")
	require.True(t, ok)
	for i, seed := range seedsFromEnv(t, []int64{1, 2}) {
		var trace strings.Builder
		res := Run(sc, seed, Options{Trace: &trace})
		t.Logf("seed %d: passed=%v ops=%d sim=%v faults=%d digest=%s", seed, res.Passed, res.Ops, res.SimDuration, res.FaultsInjected, res.Digest[:12])
		require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
		require.Contains(t, trace.String(), "m3 refuses to serve")
		require.Contains(t, trace.String(), "m4 refuses to serve")
		require.Contains(t, trace.String(), "m3 removed")
		require.Regexp(t, `conf promote m5 on m\d: voters=\[1 2 3 4 5 6\]`, trace.String(), "seed %d", seed)
		require.Equal(t, 4, lastHashMembers(t, trace.String()), "seed %d", seed)
		if i == 0 {
			again := Run(sc, seed, Options{})
			require.Equal(t, res.Digest, again.Digest, "seed %d: same seed, different digest", seed)
		}
	}
}
