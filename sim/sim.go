package sim

import (
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/scenarios"
)

// Every hashCheckInterval (2 simulated seconds), every live member's HashKV at the lowest
// revision all of them applied must agree (see periodicHash for which checks read each
// whole store). After Duration the clients stop, every fault heals, crashed members
// restart, in-flight requests get their answer or time out, and the cluster must converge
// (every member up, one applied index and revision) within 10 s; then HashKV is compared
// again and the history goes to linearizability.Check with MinAckShare from the scenario. The
// revision-guided checker decides; the whole-history Porcupine search (narrowed by what that
// checker proved about unknown outcomes) runs as a second opinion on histories of up to
// porcupineMaxOps operations. The digest is taken before the checker runs (its budgets are
// wall-clock; see Result.Digest).
// Liveness.MaxRecovery: when the last fault healed at least MaxRecovery before the workload
// ended, a write must have succeeded within MaxRecovery of it. A panic anywhere (a member's
// invariant) fails the run with its message. Every request a member took must be answered
// (a result, an error or its own timeout) within answerBound while that process runs: a
// dropped request would otherwise pass as a client timeout with an unknown outcome.

// Options tunes a run.
type Options struct {
	// Trace, when set, receives every trace line as it happens.
	Trace io.Writer
	// Skip lists indices into the run's full fault list (Result.Schedule) that are not
	// injected. The list is drawn exactly as without Skip and the indices are dropped
	// afterwards, so the remaining faults keep their kinds, times and targets (Shrink).
	Skip []int
	// CheckBudgetScale multiplies the linearizability checker's wall-clock budgets (its
	// Porcupine timeouts): 0 means 1. Only the verdict depends on them, never the digest.
	CheckBudgetScale float64
	// wrapConfig, when set (tests only), adjusts every member's Config before it opens.
	wrapConfig func(*node.Config)
}

// checkOptions are the checker's options for a run: its budgets scaled by CheckBudgetScale.
func (o Options) checkOptions(minAckShare float64) linearizability.Options {
	scale := o.CheckBudgetScale
	if scale == 0 {
		scale = 1
	}
	scaled := func(d time.Duration) time.Duration { return max(time.Duration(float64(d)*scale), 1) }
	return linearizability.Options{MinAckShare: minAckShare, PorcupineMaxOps: porcupineMaxOps,
		PorcupineTimeout:          scaled(linearizability.DefaultPorcupineTimeout),
		WindowTimeout:             scaled(linearizability.DefaultWindowTimeout),
		ViolationPorcupineTimeout: scaled(linearizability.DefaultViolationPorcupineTimeout)}
}

// Result is one run's outcome.
type Result struct {
	Scenario string
	Seed     int64
	// Passed: the safety verdict is ok, the liveness thresholds are met, every live member's
	// HashKV agreed, and no member failed unexpectedly.
	Passed bool
	// Failure says in one sentence why not, when !Passed.
	Failure        string
	Ops            int // client operations recorded
	SimDuration    time.Duration
	FaultsInjected int
	// Schedule is the run's full fault list before Options.Skip: the scenario's Faults, then
	// the faults drawn for this seed (Options.Skip indexes into it).
	Schedule []scenarios.Fault
	// Knobs are the members' settings: the scenario's, and those the seed drew (knobs.go).
	Knobs Knobs
	// Digest is the hex SHA-256 of the logical trace up to the judgement (messages, faults,
	// client operations and results, the simulator's own checks; never file contents, never
	// the linearizability checker's verdict, which has wall-clock budgets: see Check).
	Digest  string
	History *history.History
	Check   *linearizability.Result
	// Coverage is what the members did: purpose events and rare paths (purpose.go).
	Coverage Coverage
}

// GCPercent is the garbage collector's target for processes that run simulations (ballast-sim
// and BenchmarkSteady1000 set it unless GOGC is set): a run's heap is small (about 100 MB
// resident at 400) and most of it is short-lived Pebble memtable and in-memory FS garbage, so
// collecting at 4x the live heap instead of 2x made BenchmarkSteady1000 about 1.35x faster
// (GOMAXPROCS=1, 4 interleaved pairs: median 17.0 -> 23.6 sim-s/wall-s; 800 and 1600 were
// slower again, with 165 and 215 MB resident). Run itself never changes it: it is a
// process-wide setting.
const GCPercent = 400

// Judging and settling bounds (virtual time).
const (
	hashCheckInterval = 2 * time.Second
	fullHashEvery     = 5
	settleMax         = 10 * time.Second
	settleStep        = 100 * time.Millisecond
	warmupMax         = 10 * time.Second
)

// porcupineMaxOps bounds the histories that also get the whole-history Porcupine search. The
// revision-guided checker decides every history (its own Porcupine windows included); the
// whole-history search is an independent second opinion. Narrowed by the revision checker's
// proofs about unknown outcomes it takes milliseconds on the catalogue's histories (1-3k
// operations, 4-8 clients), but its cost grows with concurrency: on BenchmarkSteady1000's
// 7.4k operations from 50 clients it was 68% of the CPU profile (GOMAXPROCS=1 go test
// -bench Steady1000 -benchtime 2x -cpuprofile), so larger histories get the revision-guided
// checker alone.
const porcupineMaxOps = 4000

// sim is one run.
type sim struct {
	w              *world
	c              *cluster
	rec            *history.Recorder
	wl             *workload
	faultsInjected int
	heals          []func()
	down           []*simMember
	healing        bool
	lastHeal       time.Duration
	lastWriteOK    time.Duration
	failure        string
	hashChecks     int
}

func (s *sim) fail(msg string) {
	if s.failure == "" {
		s.failure = msg
		s.w.tracef("FAIL %s", msg)
	}
}

// Run runs scenario sc with seed: builds the cluster, drives clients and faults for
// sc.Duration, heals everything, lets the cluster settle, and judges the history.
func Run(sc scenarios.Scenario, seed int64, opts Options) (res Result) {
	res = Result{Scenario: sc.Name, Seed: seed}
	w := newWorld(seed, opts.Trace)
	s := &sim{w: w}
	defer func() {
		if p := recover(); p != nil {
			res.Passed = false
			res.Failure = fmt.Sprintf("panic at t=%v: %v", w.now, p)
			w.tracef("PANIC %v\n%s", p, debug.Stack())
			res.Digest = w.digestHex()
			res.SimDuration = w.now
		}
		if s.c != nil {
			s.c.close()
		}
	}()
	if sc.Members < 1 || sc.Duration <= 0 {
		res.Failure = fmt.Sprintf("scenario %q needs Members >= 1 and Duration > 0", sc.Name)
		return res
	}
	faults := append([]scenarios.Fault(nil), sc.Faults...)
	faults = append(faults, drawRandomFaults(s, sc)...)
	res.Schedule = faults
	faults, err := skipFaults(faults, opts.Skip)
	if err != nil {
		res.Failure = err.Error()
		return res
	}
	if err := checkSupported(faults); err != nil {
		res.Failure = err.Error()
		return res
	}
	// every member the run may have: the founding ones and those the faults may add
	names := memberNames(sc.Members, faults)
	s.rec = history.NewRecorder(history.Header{Version: history.FormatVersion, ClusterSize: len(names),
		Members: names, Scenario: sc.Name, Seed: seed, Clock: history.ClockVirtual})
	w.tracef("run scenario=%s seed=%d members=%d", sc.Name, seed, sc.Members)
	res.Knobs = drawKnobs(sc, seed)
	w.tracef("knobs %s", res.Knobs)
	c, err := newCluster(w, sc.Members, res.Knobs, opts.wrapConfig)
	if err != nil {
		res.Failure = err.Error()
		return res
	}
	s.c = c
	// a safety violation stops the run at the step that showed it
	c.safety.onViolation = func(msg string) {
		s.fail(msg)
		w.halted = true
	}
	if c.safety.violation != "" {
		c.safety.onViolation(c.safety.violation)
	}
	// the scenario's clock starts once the cluster has elected its first leader (bounded)
	for w.now < warmupMax && c.leader() == nil && !w.halted {
		w.runUntil(w.now + settleStep)
	}
	if sc.Auth != nil && !w.halted {
		s.authSetup() // users, roles, auth enabled: before the clock starts (auth.go)
		if s.failure != "" {
			res.Failure = s.failure
			return res
		}
	}
	start := w.now
	w.tracef("workload start")
	c.safety.started = true
	wl, err := newWorkload(s, sc)
	if err != nil {
		res.Failure = err.Error()
		return res
	}
	s.wl = wl
	s.startWatchers(0, sc.Watchers)
	if sc.LateWatchers > 0 {
		w.after(sc.LateWatchersAt, func() { s.startWatchers(sc.Watchers, sc.LateWatchers) })
	}
	s.schedule(faults)
	s.periodicHash()

	w.runUntil(start + sc.Duration)
	// stop the clients and the faults, heal everything, and let the cluster settle (unless a
	// safety violation stopped the run: its failure is decided)
	wl.stopped = true
	s.healing = true
	if !w.halted {
		for _, heal := range s.heals {
			heal()
		}
		for _, sm := range c.members {
			c.restart(sm)
		}
		w.tracef("healed")
		s.lastHeal = max(s.lastHeal, w.now)
		// in-flight requests get their answer or their client timeout
		w.runUntil(w.now + clientTimeout + settleStep)
	}
	settled := false
	for deadline := w.now + settleMax; w.now < deadline && !w.halted; {
		w.runUntil(w.now + settleStep)
		if s.converged() {
			settled = true
			break
		}
	}
	res.SimDuration = w.now
	res.FaultsInjected = s.faultsInjected
	res.Ops = wl.ops
	h := s.rec.History()
	res.History = h
	if s.failure == "" && c.fail != "" {
		s.fail(c.fail)
	}
	if s.failure == "" && !settled {
		s.fail(fmt.Sprintf("members did not converge to one applied revision within %v after healing", settleMax))
	}
	if s.failure == "" {
		if msg := s.hashAgree(true); msg != "" {
			s.fail(msg)
		}
	}
	// The judgements that follow from the trace alone (recovery, purposes) are made before
	// the digest is taken; the linearizability checker's, whose search budgets are wall-clock,
	// after it: its verdict is reported beside the digest (Result.Check, Result.Failure), so
	// a slower or busier machine cannot change a seed's digest (digest_test.go).
	var lateFailure string
	if sc.Liveness.MaxRecovery > 0 && len(faults) > 0 {
		lateFailure = s.recovery(h, sc.Liveness.MaxRecovery, start+sc.Duration)
	}
	// each add-member is two changes (add a learner, promote it), a remove-member one, a
	// replace-member three (add, promote, remove)
	due := int64(sc.Duration)
	changes := 2*countFaults(faults, due, scenarios.AddMember) + countFaults(faults, due, scenarios.RemoveMember) +
		3*countFaults(faults, due, scenarios.ReplaceMember)
	cov, missed := s.coverage(changes, countFaults(faults, due, scenarios.SyncFail, scenarios.WriteFail, scenarios.ShortWrite),
		countFaults(faults, due, scenarios.CrashBeforeSync, scenarios.CrashBeforeSend, scenarios.CrashAfterTruncate))
	res.Coverage = cov
	if lateFailure == "" {
		lateFailure = purposeFailure(sc, missed)
	}
	w.tracef("judged failure=%q late=%q", s.failure, lateFailure)
	res.Digest = w.digestHex()

	res.Check = linearizability.Check(h, opts.checkOptions(sc.Liveness.MinAckShare))
	w.tracef("check verdict=%s first=%q", res.Check.Verdict, res.Check.FirstViolation)
	// a safety verdict names the worse failure: it goes before recovery and purposes
	if s.failure == "" && res.Check.Verdict != linearizability.VerdictOK {
		s.fail(fmt.Sprintf("checker verdict %s: %s", res.Check.Verdict, res.Check.FirstViolation))
	}
	if s.failure == "" && lateFailure != "" {
		s.fail(lateFailure)
	}
	res.Failure = s.failure
	res.Passed = s.failure == ""
	return res
}

// converged reports whether every member is up and all applied the same index.
func (s *sim) converged() bool {
	live := s.c.live()
	if len(live) != len(s.c.members) {
		return false
	}
	idx, rev := live[0].m.AppliedIndex(), live[0].m.CurrentRevision()
	for _, sm := range live[1:] {
		if sm.m.AppliedIndex() != idx || sm.m.CurrentRevision() != rev {
			return false
		}
	}
	return true
}

// periodicHash compares HashKV across live members every hashCheckInterval, at the lowest
// revision they all applied: every fullHashEvery-th time (and after healing) reading each
// whole store, in between carrying each member's CRC on from its last check while nothing
// is compacted (Member.HashKVCarried). A whole-store hash costs a seek per revision ever
// written, so checking every store in full every two seconds made a run's cost grow with
// the square of its length (21% of BenchmarkSteady1000's profile); damage at rest in old
// revisions is still found within fullHashEvery checks.
func (s *sim) periodicHash() {
	s.w.after(hashCheckInterval, func() {
		if s.healing {
			// the checks stop once healing begins: the run's last check, after convergence,
			// reads every store in full at the revision they all reached, which covers what
			// a check while the cluster settles would compare (it fell on the same stores
			// at the same revision, and in full whenever the count was a multiple of
			// fullHashEvery: 3% of BenchmarkSteady1000's profile for nothing)
			return
		}
		if msg := s.hashAgree(s.hashChecks%fullHashEvery == 0); msg != "" {
			s.fail(msg)
		}
		s.periodicHash()
	})
}

// hashAgree returns "" when every live member's HashKV agrees at the lowest revision all of
// them applied, else the disagreement in one sentence; full reads every store whole. Only
// members at the same compact revision are compared (as etcd's corruption check does): the
// hash covers what compaction keeps, and a member that applied a later compaction keeps less.
func (s *sim) hashAgree(full bool) string {
	live := s.c.live()
	if len(live) < 2 {
		return ""
	}
	rev := live[0].m.CurrentRevision()
	for _, sm := range live[1:] {
		rev = min(rev, sm.m.CurrentRevision())
	}
	if rev < 1 {
		return ""
	}
	s.hashChecks++
	var first uint32
	type hashed struct {
		hash uint32
		name string
	}
	byCompact := map[int64]hashed{} // the first member's hash at each compact revision
	for i, sm := range live {
		hash := sm.m.HashKVCarried
		if full {
			hash = sm.m.HashKV
		}
		h, err := hash(rev)
		if err != nil {
			return fmt.Sprintf("HashKV(%d) on %s: %v", rev, sm.name, err)
		}
		if i == 0 {
			first = h.Hash
		}
		if prev, ok := byCompact[h.CompactRevision]; !ok {
			byCompact[h.CompactRevision] = hashed{h.Hash, sm.name}
		} else if h.Hash != prev.hash {
			return fmt.Sprintf("HashKV at revision %d differs: %s %08x, %s %08x", rev, prev.name, prev.hash, sm.name, h.Hash)
		}
	}
	s.w.tracef("hashkv rev=%d agree=%08x members=%d full=%v", rev, first, len(live), full)
	return ""
}

// recovery checks that after the last fault healed within the workload, a write succeeded
// within maxRecovery (or the workload ended first).
func (s *sim) recovery(h *history.History, maxRecovery, duration time.Duration) string {
	var lastEnd int64 = -1
	for _, f := range h.Faults {
		if f.EndNs != nil && *f.EndNs <= int64(duration) && *f.EndNs > lastEnd {
			lastEnd = *f.EndNs
		}
	}
	if lastEnd < 0 || lastEnd+int64(maxRecovery) > int64(duration) {
		return ""
	}
	for _, op := range h.Operations {
		if op.ReturnNs == nil || op.Response == nil || *op.ReturnNs < lastEnd {
			continue
		}
		if op.Request.Put != nil || op.Request.DeleteRange != nil || op.Request.Txn != nil {
			if *op.ReturnNs-lastEnd <= int64(maxRecovery) {
				return ""
			}
		}
	}
	return fmt.Sprintf("no write succeeded within %v after the last fault healed at %v", maxRecovery, time.Duration(lastEnd))
}
