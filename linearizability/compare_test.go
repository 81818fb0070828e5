package linearizability

import (
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ballastdb/ballast/linearizability/history"
)

// checkerComparison holds the verdicts of Porcupine and of the revision-guided checker on the
// operations both judge.
type checkerComparison struct {
	porcupine porcupine.CheckResult
	revision  Verdict
	revMsgs   []Violation
}

// agree: the same verdict wherever Porcupine finished.
func (c checkerComparison) agree() bool {
	switch c.porcupine {
	case porcupine.Ok:
		return c.revision == VerdictOK
	case porcupine.Illegal:
		return c.revision == VerdictViolation
	}
	return true
}

func compareCheckers(h *history.History) checkerComparison {
	ops := buildOps(h)
	pr := runPorcupine(ops, nil, 10*time.Second)
	rr := checkRevisions(ops, h.Watches, revOptions{porcupineTimeout: 10 * time.Second, comparable: true})
	rc := revisionCheckResult(rr)
	return checkerComparison{porcupine: pr.result, revision: rc.Verdict, revMsgs: rr.violations}
}
