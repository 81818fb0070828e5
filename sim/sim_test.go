package sim

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/scenarios"
)

// smallScenario is a 3-member cluster for a few simulated seconds, with a crash-restart of
// one member and a partition of another.
func smallScenario() scenarios.Scenario {
	return scenarios.Scenario{
		Name: "sim-test-small", Members: 3, Duration: 6 * time.Second, Clients: 4, OpsPerSecond: 100, Keys: 5, Watchers: 2,
		Mix: scenarios.Mix{Put: 4, Get: 3, SerializableGet: 1, Range: 1, Delete: 1, Txn: 2},
		Faults: []scenarios.Fault{
			{Kind: scenarios.Crash, At: 1500 * time.Millisecond, Duration: time.Second, Targets: []scenarios.Target{scenarios.Leader}},
			{Kind: scenarios.Isolate, At: 3500 * time.Millisecond, Duration: time.Second, Targets: []scenarios.Target{scenarios.Member(1)}},
		},
		Liveness: scenarios.Liveness{MinAckShare: 0.5, MaxRecovery: 2 * time.Second},
	}
}

func seedsFromEnv(t *testing.T, def []int64) []int64 {
	if s := os.Getenv("SIM_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		return []int64{v}
	}
	return def
}

func TestRunSmallPasses(t *testing.T) {
	for _, seed := range seedsFromEnv(t, []int64{1, 2, 3}) {
		res := Run(smallScenario(), seed, Options{})
		t.Logf("seed %d: passed=%v ops=%d sim=%v faults=%d digest=%s failure=%q", seed, res.Passed, res.Ops,
			res.SimDuration, res.FaultsInjected, res.Digest[:12], res.Failure)
		require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
		require.Equal(t, 2, res.FaultsInjected, "seed %d", seed)
		require.Greater(t, res.Ops, 120, "seed %d", seed) // about 160-185 at 100 ops/s for 6 s, less what the faults stall
		require.Equal(t, linearizability.VerdictOK, res.Check.Verdict, "seed %d", seed)
		require.Equal(t, linearizability.VerdictOK, res.Check.Check(linearizability.CheckWatch).Verdict, "seed %d", seed)
		// the whole-history Porcupine search ran (the history is under porcupineMaxOps) and agreed
		require.Equal(t, linearizability.VerdictOK, res.Check.Check(linearizability.CheckPorcupine).Verdict, "seed %d", seed)
		require.Len(t, res.History.Watches, 2, "seed %d", seed)
		events := 0
		for _, w := range res.History.Watches {
			for _, st := range w.Streams {
				for _, r := range st.Responses {
					events += len(r.Events)
				}
			}
		}
		require.Greater(t, events, 50, "seed %d: watchers saw too few events", seed)
	}
}

func TestSameSeedSameDigest(t *testing.T) {
	sc := smallScenario()
	seed := seedsFromEnv(t, []int64{7})[0]
	var trace1, trace2 strings.Builder
	a := Run(sc, seed, Options{Trace: &trace1})
	b := Run(sc, seed, Options{Trace: &trace2})
	t.Logf("seed %d: digest %s, %d trace bytes", seed, a.Digest, trace1.Len())
	require.True(t, a.Passed, "seed %d: %s", seed, a.Failure)
	require.Equal(t, trace1.String(), trace2.String(), "seed %d: traces differ", seed)
	require.Equal(t, a.Digest, b.Digest, "seed %d", seed)
	require.Equal(t, a.Ops, b.Ops)
	c := Run(sc, seed+1, Options{})
	require.NotEqual(t, a.Digest, c.Digest, "seeds %d and %d gave the same digest", seed, seed+1)
	// the digest is the hash of exactly the trace written up to the judgement; after it
	// comes only the linearizability checker's line, which the digest leaves out
	full := trace1.String()
	cut := strings.Index(full, " judged failure=")
	require.Positive(t, cut, "seed %d: the trace has no judgement line", seed)
	cut += strings.IndexByte(full[cut:], '\n') + 1
	require.Regexp(t, `^t=\d+ check verdict=ok first=""\n$`, full[cut:], "seed %d: what follows the judgement", seed)
	sum := sha256.Sum256([]byte(full[:cut]))
	require.Equal(t, hex.EncodeToString(sum[:]), a.Digest)
}

// TestBrokenHistoryFails flips one acknowledged read's value in a passing run's history:
// the checker must then find a violation, so a pass is not the checker's default.
func TestBrokenHistoryFails(t *testing.T) {
	seed := seedsFromEnv(t, []int64{11})[0]
	res := Run(smallScenario(), seed, Options{})
	require.True(t, res.Passed, "seed %d: %s", seed, res.Failure)
	h := res.History
	flipped := false
	for i := range h.Operations {
		op := &h.Operations[i]
		if op.Request.Range != nil && len(op.Request.Range.RangeEnd) == 0 && !op.Request.Range.Serializable &&
			op.Response != nil && op.Response.Range != nil && len(op.Response.Range.KVs) == 1 {
			op.Response.Range.KVs[0].Value = []byte("never-written")
			flipped = true
			break
		}
	}
	require.True(t, flipped, "seed %d: no acknowledged linearizable get with a value to flip", seed)
	check := linearizability.Check(h, linearizability.Options{})
	require.Equal(t, linearizability.VerdictViolation, check.Verdict, "seed %d", seed)
	t.Logf("seed %d: broken history caught: %s", seed, check.FirstViolation)
}

func TestUnsupportedFaultFails(t *testing.T) {
	sc := smallScenario()
	sc.Faults = append(sc.Faults, scenarios.Fault{Kind: "no-such-fault", At: time.Second, Targets: []scenarios.Target{scenarios.Member(0)}})
	res := Run(sc, 1, Options{})
	require.False(t, res.Passed)
	require.Contains(t, res.Failure, `"no-such-fault"`)
}

// TestRegressions re-runs every (scenario, seed) pair in testdata/regressions. Scenarios are
// looked up by name in the catalogue (scenarios.ByName).
func TestRegressions(t *testing.T) {
	pairs := readRegressions(t, "testdata/regressions")
	for _, p := range pairs {
		sc, ok := lookupScenario(p.name)
		require.True(t, ok, "regressions: unknown scenario %q", p.name)
		res := Run(sc, p.seed, Options{})
		require.True(t, res.Passed, "regression %s seed %d: %s", p.name, p.seed, res.Failure)
	}
	t.Logf("%d regression runs", len(pairs))
}

type regression struct {
	name string
	seed int64
}

func readRegressions(t *testing.T, path string) []regression {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []regression
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		require.Len(t, fields, 2, "%s:%d: want \"scenario seed\"", path, line)
		seed, err := strconv.ParseInt(fields[1], 10, 64)
		require.NoError(t, err, "%s:%d: seed", path, line)
		out = append(out, regression{fields[0], seed})
	}
	require.NoError(t, sc.Err())
	return out
}

// TestRunMoreFaults covers the other fault kinds on a 3-member cluster: a bridge, a failed
// sync on the leader, a slow disk, clock skew, a leader transfer, loss, duplication,
// reordering, a latency spike and a one-way link.
func TestRunMoreFaults(t *testing.T) {
	sc := smallScenario()
	sc.Duration = 8 * time.Second
	sc.Faults = []scenarios.Fault{
		{Kind: scenarios.Bridge, At: 500 * time.Millisecond, Duration: time.Second, Targets: []scenarios.Target{scenarios.Member(0)}},
		{Kind: scenarios.SyncFail, At: 2 * time.Second, Duration: time.Second, Targets: []scenarios.Target{scenarios.Leader}},
		{Kind: scenarios.SlowDisk, At: 3500 * time.Millisecond, Duration: time.Second, Targets: []scenarios.Target{scenarios.Follower}, Delay: 100 * time.Millisecond},
		{Kind: scenarios.ClockSkew, At: time.Second, Duration: 5 * time.Second, Targets: []scenarios.Target{scenarios.Member(2)}, Rate: 0.009},
		{Kind: scenarios.TransferLeader, At: 4 * time.Second},
		{Kind: scenarios.Loss, At: 4500 * time.Millisecond, Duration: time.Second, Rate: 0.2},
		{Kind: scenarios.Duplicate, At: 4500 * time.Millisecond, Duration: time.Second, Rate: 0.2},
		{Kind: scenarios.Reorder, At: 5 * time.Second, Duration: time.Second, Rate: 0.3},
		{Kind: scenarios.Latency, At: 5500 * time.Millisecond, Duration: 500 * time.Millisecond, Delay: 50 * time.Millisecond},
		{Kind: scenarios.OneWay, At: 6 * time.Second, Duration: time.Second, Targets: []scenarios.Target{scenarios.Leader, scenarios.Follower}},
	}
	for _, seed := range seedsFromEnv(t, []int64{1, 2}) {
		var trace strings.Builder
		res := Run(sc, seed, Options{Trace: &trace})
		t.Logf("seed %d: passed=%v ops=%d sim=%v faults=%d failure=%q", seed, res.Passed, res.Ops, res.SimDuration, res.FaultsInjected, res.Failure)
		require.True(t, res.Passed, "seed %d (rerun with SIM_SEED=%d): %s", seed, seed, res.Failure)
		require.Equal(t, len(sc.Faults), res.FaultsInjected, "seed %d", seed)
		require.Len(t, res.History.Faults, len(sc.Faults), "seed %d", seed)
		require.Contains(t, trace.String(), "sync fails", "seed %d: the failed sync never happened", seed)
	}
}

// TestCatalogue runs every scenario of the catalogue for one seed (SIM_SEED to change it),
// twice: each run must pass, and the two must leave the same digest (the determinism check
// the issue asks of every scenario). The whole catalogue is the CI share: since the
// whole-history Porcupine search takes the revision checker's proofs, a run takes about a
// second.
func TestCatalogue(t *testing.T) {
	for _, name := range scenarios.Names() {
		sc, ok := scenarios.ByName(name)
		require.True(t, ok, "catalogue has no %q", name)
		for _, seed := range seedsFromEnv(t, []int64{1}) {
			res := Run(sc, seed, Options{})
			t.Logf("%s seed %d: passed=%v ops=%d sim=%v faults=%d digest=%s", name, seed, res.Passed, res.Ops, res.SimDuration, res.FaultsInjected, res.Digest[:12])
			require.True(t, res.Passed, "%s seed %d (rerun with SIM_SEED=%d): %s", name, seed, seed, res.Failure)
			if len(sc.Faults) > 0 {
				require.Positive(t, res.FaultsInjected)
			}
			if sc.Mix.LeaseGrant > 0 {
				grants, leasedPuts := 0, 0
				for _, op := range res.History.Operations {
					if op.Request.LeaseGrant != nil && op.Response != nil {
						grants++
					}
					if op.Request.Put != nil && op.Request.Put.Lease != 0 && op.Response != nil {
						leasedPuts++
					}
				}
				require.Positive(t, grants, "%s seed %d: no lease granted", name, seed)
				require.Positive(t, leasedPuts, "%s seed %d: no put with a lease acknowledged", name, seed)
			}
			again := Run(sc, seed, Options{})
			require.Equal(t, res.Digest, again.Digest, "%s seed %d: same seed, different digest", name, seed)
		}
	}
}

// TestTraceNetIsTracef: traceNet writes the line tracef would, so the digests stay.
func TestTraceNetIsTracef(t *testing.T) {
	for _, c := range []struct {
		size    int
		sum     uint32
		outcome string
		lat     int64
	}{{0, 0, "", 0}, {17, 0xdeadbeef, "", 1234567}, {4096, 0x0000ab0c, "cut", 0}, {1, 0xffffffff, "lost", 0}, {3, 7, "", -5}} {
		a := newWorld(1, nil)
		a.now = 987654321
		a.traceNet("m0", "m2", c.size, c.sum, c.outcome, c.lat)
		b := newWorld(1, nil)
		b.now = 987654321
		if c.outcome == "" {
			b.tracef("net %s->%s len=%d h=%08x lat=%d", "m0", "m2", c.size, c.sum, c.lat)
		} else {
			b.tracef("net %s->%s len=%d h=%08x %s", "m0", "m2", c.size, c.sum, c.outcome)
		}
		require.Equal(t, string(b.line), string(a.line))
	}
}

// TestFNV32aIsHashFNV: the traced message sums stay hash/fnv's.
func TestFNV32aIsHashFNV(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("a"), []byte("raft message bytes \x00\xff")} {
		h := fnv.New32a()
		h.Write(b)
		require.Equal(t, h.Sum32(), fnv32a(b))
	}
}

// TestClientLinesAreTracef: traceCall and traceOK write the lines tracef wrote with fmt's
// verbs (the reference below is that formatting, kept here), so the digests stay; keys and
// values that are not UTF-8 print quoted, as history.Bytes's String does.
func TestClientLinesAreTracef(t *testing.T) {
	bad := history.Bytes("k\xff")
	reqs := []history.Request{
		{Put: &history.PutRequest{Key: []byte("k1"), Value: []byte("c3-17"), Lease: 42}},
		{Put: &history.PutRequest{Key: bad, Value: nil}},
		{LeaseGrant: &history.LeaseGrantRequest{TTLSeconds: 5}},
		{LeaseKeepAlive: &history.LeaseKeepAliveRequest{ID: -7}},
		{LeaseRevoke: &history.LeaseRevokeRequest{ID: 1 << 40}},
		{Range: &history.RangeRequest{Key: []byte("k2"), Serializable: true}},
		{Range: &history.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")}},
		{Range: &history.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Revision: 99, Serializable: true}},
		{Range: &history.RangeRequest{Key: bad, Revision: 3}},
		{DeleteRange: &history.DeleteRangeRequest{Key: []byte("k9")}},
		{Compact: &history.CompactRequest{Revision: 1234}},
		{Txn: &history.TxnRequest{Compare: []history.Compare{{Key: []byte("k1"), Target: history.TargetVersion, Result: history.ResultEqual}},
			Success: []history.Request{{Put: &history.PutRequest{Key: []byte("k1"), Value: []byte("c1-2")}}}}},
		{Txn: &history.TxnRequest{Compare: []history.Compare{{Key: bad, Target: history.TargetValue, Result: history.ResultEqual, Value: []byte("c0-1")}},
			Success: []history.Request{{Put: &history.PutRequest{Key: bad, Value: bad}}}}},
		{},
	}
	resps := []history.Response{
		{Range: &history.RangeResponse{Count: 0}},
		{Range: &history.RangeResponse{Count: 2, KVs: []history.KeyValue{{Key: []byte("k1"), Value: []byte("v"), ModRevision: 5}, {Key: bad, Value: bad, ModRevision: 6}}}},
		{DeleteRange: &history.DeleteRangeResponse{Deleted: 3}},
		{Txn: &history.TxnResponse{Succeeded: true}},
		{LeaseGrant: &history.LeaseGrantResponse{ID: 9, TTLSeconds: 4}},
		{LeaseKeepAlive: &history.LeaseKeepAliveResponse{ID: 9, TTLSeconds: 3}},
		{},
	}
	describeFmt := func(r history.Request) string {
		switch {
		case r.Put != nil:
			return fmt.Sprintf("put %s=%s lease=%d", r.Put.Key, r.Put.Value, r.Put.Lease)
		case r.LeaseGrant != nil:
			return fmt.Sprintf("lease-grant ttl=%d", r.LeaseGrant.TTLSeconds)
		case r.LeaseKeepAlive != nil:
			return fmt.Sprintf("lease-keep-alive %d", r.LeaseKeepAlive.ID)
		case r.LeaseRevoke != nil:
			return fmt.Sprintf("lease-revoke %d", r.LeaseRevoke.ID)
		case r.Range != nil:
			if r.Range.Revision != 0 {
				return fmt.Sprintf("range [%s,%s) at rev %d serializable=%v", r.Range.Key, r.Range.RangeEnd, r.Range.Revision, r.Range.Serializable)
			}
			if len(r.Range.RangeEnd) > 0 {
				return fmt.Sprintf("range [%s,%s) serializable=%v", r.Range.Key, r.Range.RangeEnd, r.Range.Serializable)
			}
			return fmt.Sprintf("get %s serializable=%v", r.Range.Key, r.Range.Serializable)
		case r.DeleteRange != nil:
			return fmt.Sprintf("delete %s", r.DeleteRange.Key)
		case r.Compact != nil:
			return fmt.Sprintf("compact %d", r.Compact.Revision)
		case r.Txn != nil:
			c := r.Txn.Compare[0]
			return fmt.Sprintf("txn if %s %s %s%d then put %s=%s", c.Key, c.Target, c.Value, c.Version,
				r.Txn.Success[0].Put.Key, r.Txn.Success[0].Put.Value)
		}
		return "?"
	}
	describeRespFmt := func(r history.Response) string {
		switch {
		case r.Range != nil:
			out := fmt.Sprintf("count=%d", r.Range.Count)
			for _, kv := range r.Range.KVs {
				out += fmt.Sprintf(" %s=%s@%d", kv.Key, kv.Value, kv.ModRevision)
			}
			return out
		case r.DeleteRange != nil:
			return fmt.Sprintf("deleted=%d", r.DeleteRange.Deleted)
		case r.Txn != nil:
			return fmt.Sprintf("succeeded=%v", r.Txn.Succeeded)
		case r.LeaseGrant != nil:
			return fmt.Sprintf("lease=%d ttl=%d", r.LeaseGrant.ID, r.LeaseGrant.TTLSeconds)
		case r.LeaseKeepAlive != nil:
			return fmt.Sprintf("lease=%d ttl=%d", r.LeaseKeepAlive.ID, r.LeaseKeepAlive.TTLSeconds)
		}
		return ""
	}
	for _, req := range reqs {
		a, b := newWorld(1, nil), newWorld(1, nil)
		a.now, b.now = 123456789, 123456789
		a.traceCall("c7", req, "m1")
		b.tracef("%s call %s on %s", "c7", describeFmt(req), "m1")
		require.Equal(t, string(b.line), string(a.line))
	}
	for _, resp := range resps {
		a, b := newWorld(1, nil), newWorld(1, nil)
		a.traceOK("c7", 77, resp)
		b.tracef("%s ok rev=%d %s", "c7", int64(77), describeRespFmt(resp))
		require.Equal(t, string(b.line), string(a.line))
	}
}
