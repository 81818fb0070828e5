package linearizability

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ballastdb/ballast/linearizability/gen"
	"github.com/ballastdb/ballast/linearizability/history"
)

// Figures for the checkers' speed and memory. Not pass/fail tests: run them with
//
//	go test -run '^$' -bench 'PorcupineModel' -benchtime 1x -timeout 30m ./linearizability/
//	go test -run '^$' -bench 'RevisionChecker|PorcupineScale' -benchtime 1x -timeout 60m ./linearizability/
//
// Each reports ops/s (operations of the history per second of checking, wall time), cpu-s
// (CPU seconds the process used, GC included) and peak-MB (the most live heap the check held
// above what the history itself takes).

// peakHeap samples the heap (runtime/metrics, which does not stop the world) while fn runs
// and returns the highest live-object size seen above the level before fn started, and the
// CPU time the process spent meanwhile (the machine may be shared: wall time alone misleads).
func peakHeap(fn func()) (peakBytes uint64, cpu time.Duration) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if h := read(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	cpuBefore := processCPU()
	fn()
	cpu = processCPU() - cpuBefore
	close(done)
	<-stopped
	if p := peak.Load(); p > base {
		return p - base, cpu
	}
	return 0, cpu
}

// processCPU is the CPU time (user + system) the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportFigures(b *testing.B, ops int, elapsed time.Duration, peak uint64, cpu time.Duration) {
	b.ReportMetric(float64(ops)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(cpu.Seconds(), "cpu-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
}

// BenchmarkPorcupineModel: the Porcupine model alone on gen histories of 3 members, 8
// clients and 10,000 operations: gen's default mix (unknown outcomes, errors, crashes,
// leases), and the same mix with every outcome known. A search that times out (5 minutes)
// says so in the log; its ops/s then only bounds the speed from below.
func BenchmarkPorcupineModel(b *testing.B) {
	for _, known := range []bool{false, true} {
		name := "gen-default"
		if known {
			name = "gen-known-outcomes"
		}
		b.Run(name, func(b *testing.B) {
			cfg := gen.DefaultConfig()
			cfg.ClusterSize, cfg.Clients, cfg.Operations = 3, 8, 10000
			if known {
				cfg.UnknownRate, cfg.IndeterminateRate, cfg.CrashRate = 0, 0, 0
			}
			h := gen.Generate(1, cfg)
			ops := buildOps(h)
			for i := 0; i < b.N; i++ {
				var pr porcupineResult
				peak, cpu := peakHeap(func() { pr = runPorcupine(ops, nil, 5*time.Minute) })
				reportFigures(b, len(h.Operations), pr.duration, peak, cpu)
				b.Logf("porcupine on %d operations (%d judged): %s in %s", len(h.Operations), len(pr.ops), pr.result, pr.duration)
			}
		})
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
					peak, cpu := peakHeap(func() { res = Check(h, Options{PorcupineMaxOps: -1}) })
					elapsed := time.Since(start)
					if res.Verdict != VerdictOK {
						b.Fatalf("verdict %s: %s", res.Verdict, res.FirstViolation)
					}
					reportFigures(b, n, elapsed, peak, cpu)
				}
			})
		}
	}
}

// BenchmarkPorcupineScale: Porcupine alone on the same histories (10k and 100k), with a
// 5-minute timeout whose expiry is reported, not hidden. A 1M search is not attempted: at
// 100k operations and 64 clients Porcupine already held 24 GB after 150 s and was killed by
// the kernel's OOM killer on the 24 GiB machine; run that case alone
// (-bench 'PorcupineScale/ops=100000/clients=64').
func BenchmarkPorcupineScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, clients := range []int{8, 64} {
			b.Run(fmt.Sprintf("ops=%d/clients=%d", n, clients), func(b *testing.B) {
				h := scaleHistory(clients, n)
				ops := buildOps(h)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var pr porcupineResult
					peak, cpu := peakHeap(func() { pr = runPorcupine(ops, nil, 5*time.Minute) })
					reportFigures(b, n, pr.duration, peak, cpu)
					b.Logf("porcupine: %s in %s", pr.result, pr.duration)
					if pr.result == porcupine.Illegal {
						b.Fatalf("porcupine says a correct history is illegal")
					}
				}
			})
		}
	}
}
