package linearizability

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ballastdb/ballast/linearizability/gen"
	"github.com/ballastdb/ballast/linearizability/history"
)

// Figures for the checkers' speed and memory. Not pass/fail tests: run them with
//
//	go test -run '^$' -bench 'PorcupineModel' -benchtime 1x ./linearizability/
//	go test -run '^$' -bench 'RevisionChecker|PorcupineScale' -benchtime 1x -timeout 60m ./linearizability/
//
// Each reports ops/s (operations of the history per second of checking) and peak-MB (the
// most heap the check held above what the history itself takes).

// peakHeap samples the heap while fn runs and returns the highest HeapAlloc seen above the
// level before fn started.
func peakHeap(fn func()) (peakBytes uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

func reportFigures(b *testing.B, ops int, elapsed time.Duration, peak uint64) {
	b.ReportMetric(float64(ops)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
}

// BenchmarkPorcupineModel: the Porcupine model alone on a gen history of 3 members, 8
// clients and 10,000 operations (gen's default mix: unknown outcomes, errors, leases).
func BenchmarkPorcupineModel(b *testing.B) {
	cfg := gen.DefaultConfig()
	cfg.ClusterSize, cfg.Clients, cfg.Operations = 3, 8, 10000
	h := gen.Generate(1, cfg)
	ops := buildOps(h)
	for i := 0; i < b.N; i++ {
		var pr porcupineResult
		peak := peakHeap(func() { pr = runPorcupine(ops, 5*time.Minute) })
		reportFigures(b, len(h.Operations), pr.duration, peak)
		b.Logf("porcupine on %d operations (%d judged): %s in %s", len(h.Operations), len(pr.ops), pr.result, pr.duration)
	}
}

// scaleHistory is a history of n operations by the given number of clients on 100 keys, with
// no unknown outcomes (every revision's writer known: the checker's O(n log n) path).
func scaleHistory(clients, n int) *history.History { return generateWith(1, clients, 100, n, 0) }

// BenchmarkRevisionChecker: the revision-guided checker (and the validators, through Check
// without the whole-history Porcupine search) on 10k, 100k and 1M operations.
func BenchmarkRevisionChecker(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		for _, clients := range []int{8, 64} {
			b.Run(fmt.Sprintf("ops=%d/clients=%d", n, clients), func(b *testing.B) {
				h := scaleHistory(clients, n)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var res *Result
					start := time.Now()
					peak := peakHeap(func() { res = Check(h, Options{PorcupineMaxOps: -1}) })
					elapsed := time.Since(start)
					if res.Verdict != VerdictOK {
						b.Fatalf("verdict %s: %s", res.Verdict, res.FirstViolation)
					}
					reportFigures(b, n, elapsed, peak)
				}
			})
		}
	}
}

// BenchmarkPorcupineScale: Porcupine alone on the same histories (10k and 100k; a 1M search
// is not attempted), with a 5-minute timeout whose expiry is reported, not hidden.
func BenchmarkPorcupineScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, clients := range []int{8, 64} {
			b.Run(fmt.Sprintf("ops=%d/clients=%d", n, clients), func(b *testing.B) {
				h := scaleHistory(clients, n)
				ops := buildOps(h)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var pr porcupineResult
					peak := peakHeap(func() { pr = runPorcupine(ops, 5*time.Minute) })
					reportFigures(b, n, pr.duration, peak)
					b.Logf("porcupine: %s in %s", pr.result, pr.duration)
					if pr.result == porcupine.Illegal {
						b.Fatalf("porcupine says a correct history is illegal")
					}
				}
			})
		}
	}
}
