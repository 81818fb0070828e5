package sim

import (
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/ballastdb/ballast/scenarios"
)

// BenchmarkSteady1000 runs a 3-member cluster under 1,000 client operations per simulated
// second for 10 simulated seconds, no faults, and reports simulated seconds per wall second.
func BenchmarkSteady1000(b *testing.B) {
	sc := scenarios.Scenario{Name: "bench-1000", Members: 3, Duration: 10 * time.Second, Clients: 50,
		OpsPerSecond: 1000, Keys: 100, Mix: scenarios.Mix{Put: 5, Get: 4, SerializableGet: 1, Txn: 1}}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(GCPercent)) // as ballast-sim runs
	}
	var sim time.Duration
	var ops int
	var checker time.Duration
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res := Run(sc, int64(i+1), Options{})
		if !res.Passed {
			b.Fatalf("seed %d: %s", i+1, res.Failure)
		}
		sim += res.SimDuration
		ops += res.Ops
		checker += res.Check.CheckerTime
	}
	wall := time.Since(start)
	b.ReportMetric(sim.Seconds()/wall.Seconds(), "sim-s/wall-s")
	// the world alone: the checker's own measured time taken out
	b.ReportMetric(sim.Seconds()/(wall-checker).Seconds(), "sim-s/wall-s-world")
	b.ReportMetric(float64(ops)/float64(b.N), "ops/run")
}
