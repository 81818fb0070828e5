package linearizability

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ballastdb/ballast/linearizability/history"
)

// Names of the checks, as they appear in results and reports.
const (
	CheckPorcupine  = "porcupine"
	CheckRevision   = "revision"
	CheckWatch      = "watch"
	CheckLease      = "lease"
	CheckDurability = "durability"
	CheckLiveness   = "liveness"
	CheckCompaction = "compaction"
	CheckAuth       = "auth"
)

// Verdict is the outcome of a check or of a whole run.
type Verdict string

const (
	// VerdictOK: no violation found, and the check finished.
	VerdictOK Verdict = "ok"
	// VerdictViolation: at least one violation.
	VerdictViolation Verdict = "violation"
	// VerdictUnknown: the check did not finish (Porcupine's timeout expired) and found nothing.
	// Never to be read as ok.
	VerdictUnknown Verdict = "unknown"
	// VerdictSkipped: the check did not run (see the result's Note).
	VerdictSkipped Verdict = "skipped"
)

// Violation is one broken guarantee, described in one sentence.
type Violation struct {
	Checker string `json:"checker"`
	// Kind is a short tag: stale-read, revision-backwards, lost-write, watch-duplicate, ...
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Lines are the history file's lines of the records involved (0: unknown).
	Lines []int `json:"lines,omitempty"`
	// TimeNs is when it happened, as best known, for placing it on the report's timeline.
	TimeNs int64 `json:"time_ns"`
}

// CheckResult is one checker's or validator's verdict.
type CheckResult struct {
	Name       string        `json:"name"`
	Verdict    Verdict       `json:"verdict"`
	Violations []Violation   `json:"violations,omitempty"`
	Note       string        `json:"note,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
}

// Options tunes Check. The zero value is a sensible default.
type Options struct {
	// PorcupineTimeout bounds each Porcupine search (the whole history, and any stretch the
	// revision-guided checker hands over). 0 means DefaultPorcupineTimeout.
	PorcupineTimeout time.Duration
	// WindowTimeout bounds each window the revision-guided checker hands to Porcupine (capped
	// by PorcupineTimeout); ViolationPorcupineTimeout caps the whole-history search once a
	// violation is already found. 0 means DefaultWindowTimeout, DefaultViolationPorcupineTimeout.
	// These three are the checker's only wall-clock budgets (the simulator scales them all in
	// its digest test).
	WindowTimeout             time.Duration
	ViolationPorcupineTimeout time.Duration
	// PorcupineMaxOps: histories with more operations skip the whole-history Porcupine search,
	// whose cost grows exponentially in the worst case; the revision-guided checker still
	// runs. 0 means DefaultPorcupineMaxOps; negative means never run it.
	PorcupineMaxOps int
	// Liveness thresholds, set by the caller (simulator, chaos): zero disables each.
	// MinAckShare is the least share of client operations that must be acknowledged;
	// MaxNoWriteNs the longest allowed stretch without a successful write.
	MinAckShare  float64
	MaxNoWriteNs int64
}

// Defaults of Options.
const (
	DefaultPorcupineTimeout = 60 * time.Second
	DefaultPorcupineMaxOps  = 20000
	// DefaultWindowTimeout: a window that is hard (or, after a wrong guess, impossible) is
	// left to the strict run rather than searched at length.
	DefaultWindowTimeout = time.Second
	// DefaultViolationPorcupineTimeout caps the whole-history search once the
	// revision-guided checker has found a violation.
	DefaultViolationPorcupineTimeout = 5 * time.Second
)

// Result is the whole judgement of one history.
type Result struct {
	// Verdict is VerdictViolation when any check found a violation, VerdictUnknown when none
	// did but a check needed to finish did not, else VerdictOK.
	Verdict Verdict       `json:"verdict"`
	Checks  []CheckResult `json:"checks"`
	// FirstViolation is the earliest violation, in one sentence ("" when none).
	FirstViolation string   `json:"first_violation,omitempty"`
	Operations     int      `json:"operations"`
	Watches        int      `json:"watches"`
	Liveness       Liveness `json:"liveness"`
	// LinearizablePrefix is the length of the longest linearizable prefix Porcupine found
	// (operations), when it ran and failed.
	LinearizablePrefix int           `json:"linearizable_prefix,omitempty"`
	CheckerTime        time.Duration `json:"checker_time_ns"`
	Scenario           string        `json:"scenario,omitempty"`
	Seed               int64         `json:"seed"`

	history   *history.History
	ops       []*op
	porcupine *porcupineResult
	// porcupineReturn is the revision-guided checker's narrowing of unknown outcomes for a
	// whole-history Porcupine search (see porcupineBounds).
	porcupineReturn []int64
}

// Check judges a history with every checker and validator.
func Check(h *history.History, opts Options) *Result {
	start := time.Now()
	if opts.PorcupineTimeout == 0 {
		opts.PorcupineTimeout = DefaultPorcupineTimeout
	}
	if opts.PorcupineMaxOps == 0 {
		opts.PorcupineMaxOps = DefaultPorcupineMaxOps
	}
	if opts.WindowTimeout == 0 {
		opts.WindowTimeout = DefaultWindowTimeout
	}
	if opts.ViolationPorcupineTimeout == 0 {
		opts.ViolationPorcupineTimeout = DefaultViolationPorcupineTimeout
	}
	ops := buildOps(h)
	res := &Result{Operations: len(h.Operations), Watches: len(h.Watches), history: h, ops: ops,
		Scenario: h.Header.Scenario, Seed: h.Header.Seed}

	var watchVs, durabilityVs []Violation
	validate := func(rev *revResult) bool {
		watchVs, durabilityVs = validateWatches(h, ops, rev), validateDurability(ops, rev)
		return len(watchVs)+len(durabilityVs) > 0
	}
	rev := checkRevisionsGuessing(ops, h.Watches, revOptions{porcupineTimeout: opts.PorcupineTimeout, windowTimeout: opts.WindowTimeout}, validate)
	if rev.guessed {
		validate(rev) // the result kept may be the strict run's
	}
	res.Checks = append(res.Checks, revisionCheckResult(rev))
	res.porcupineReturn = rev.porcupineReturn

	// The whole-history Porcupine search, when the history is small enough.
	pc := CheckResult{Name: CheckPorcupine}
	switch {
	case opts.PorcupineMaxOps < 0 || len(ops) > opts.PorcupineMaxOps:
		pc.Verdict = VerdictSkipped
		pc.Note = fmt.Sprintf("%d operations: above the limit of %d for a whole-history search; the revision-guided checker decides", len(ops), opts.PorcupineMaxOps)
	default:
		timeout := opts.PorcupineTimeout
		if len(rev.violations) > 0 {
			// The verdict is already a violation; the search only adds the longest
			// linearizable prefix to the report, and on a broken history it tends to run to
			// its timeout (a canary's run waited the full 60 s on it).
			timeout = min(timeout, opts.ViolationPorcupineTimeout)
		}
		pr := runPorcupine(ops, rev.porcupineReturn, timeout)
		res.porcupine = &pr
		pc.Duration = pr.duration
		switch pr.result {
		case porcupine.Ok:
			pc.Verdict = VerdictOK
		case porcupine.Illegal:
			pc.Verdict = VerdictViolation
			res.LinearizablePrefix = longestPrefix(pr.info)
			pc.Violations = []Violation{{Checker: CheckPorcupine, Kind: "not-linearizable",
				Message: fmt.Sprintf("no linearization of the %d operations exists; the longest linearizable prefix has %d", len(pr.ops), res.LinearizablePrefix)}}
		default:
			pc.Verdict = VerdictUnknown
			pc.Note = fmt.Sprintf("the search did not finish within %s", timeout)
		}
	}
	res.Checks = append(res.Checks, pc)

	if !rev.guessed {
		validate(rev)
	}
	res.Checks = append(res.Checks, timed(CheckWatch, func() []Violation { return watchVs }))
	res.Checks = append(res.Checks, timed(CheckLease, func() []Violation { return validateLeases(h, ops) }))
	res.Checks = append(res.Checks, timed(CheckDurability, func() []Violation { return durabilityVs }))
	res.Checks = append(res.Checks, timed(CheckCompaction, func() []Violation { return validateCompactions(h) }))
	var authN authCounts
	authCheck := timed(CheckAuth, func() (vs []Violation) { vs, authN = validateAuth(h); return vs })
	authCheck.Note = authN.note()
	res.Checks = append(res.Checks, authCheck)
	live := measureLiveness(ops)
	res.Liveness = live
	res.Checks = append(res.Checks, timed(CheckLiveness, func() []Violation { return live.judge(opts) }))

	res.Verdict = overallVerdict(res.Checks, rev)
	res.FirstViolation = firstViolation(res.Checks)
	res.CheckerTime = time.Since(start)
	return res
}

func revisionCheckResult(rev *revResult) CheckResult {
	cr := CheckResult{Name: CheckRevision, Violations: rev.violations, Duration: rev.duration, Verdict: VerdictOK}
	switch {
	case len(rev.violations) > 0:
		cr.Verdict = VerdictViolation
	case rev.gapRev != 0 && rev.fallback == porcupine.Unknown:
		cr.Verdict = VerdictUnknown
	}
	cr.Note = fmt.Sprintf("replayed revisions up to %d of %d; %d unknown outcomes pinned to a revision by the record, %d settled as never applied",
		rev.replayedThrough, rev.maxRev, rev.resolvedAt, rev.resolvedOut)
	if rev.windows > 0 {
		cr.Note += fmt.Sprintf("; %d stretches after revisions without a known writer judged by Porcupine, the replay following the linearization it found", rev.windows)
	}
	if rev.gapRev != 0 {
		cr.Note += fmt.Sprintf("; revision %d has no known writer, so Porcupine judged the %d operations from there on (%s)", rev.gapRev, rev.fallbackN, rev.fallback)
	}
	return cr
}

func timed(name string, fn func() []Violation) CheckResult {
	start := time.Now()
	vs := fn()
	cr := CheckResult{Name: name, Violations: vs, Verdict: VerdictOK, Duration: time.Since(start)}
	if len(vs) > 0 {
		cr.Verdict = VerdictViolation
	}
	return cr
}

// overallVerdict: any violation wins; then, if the revision-guided checker finished, its
// word stands (it decides the whole history, so a Porcupine timeout does not make the run
// unknown); else unknown.
func overallVerdict(checks []CheckResult, rev *revResult) Verdict {
	unknown := false
	for _, c := range checks {
		switch c.Verdict {
		case VerdictViolation:
			return VerdictViolation
		case VerdictUnknown:
			if c.Name == CheckRevision {
				unknown = true
			}
		}
	}
	if unknown {
		return VerdictUnknown
	}
	return VerdictOK
}

// firstViolation picks the violation earliest in time, preferring the revision-guided
// checker's precise sentences over Porcupine's summary.
func firstViolation(checks []CheckResult) string {
	var best *Violation
	for i := range checks {
		for j := range checks[i].Violations {
			v := &checks[i].Violations[j]
			if v.Checker == CheckPorcupine || v.Checker == CheckLiveness {
				continue
			}
			if best == nil || v.TimeNs < best.TimeNs {
				best = v
			}
		}
	}
	if best == nil {
		for i := range checks {
			if len(checks[i].Violations) > 0 {
				return checks[i].Violations[0].Message
			}
		}
		return ""
	}
	return best.Message
}

// longestPrefix is the length of the longest partial linearization Porcupine found.
func longestPrefix(info porcupine.LinearizationInfo) int {
	longest := 0
	for _, partition := range info.PartialLinearizations() {
		for _, l := range partition {
			if len(l) > longest {
				longest = len(l)
			}
		}
	}
	return longest
}

// Check returns the named check's result, or nil.
func (r *Result) Check(name string) *CheckResult {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}
