package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/ballastdb/ballast/linearizability"
	"github.com/ballastdb/ballast/linearizability/history"
	"github.com/ballastdb/ballast/scenarios"
	"github.com/ballastdb/ballast/sim"
)

// runResult is what the command needs of one sim.Run (see simrun.go), plus the wall time.
type runResult struct {
	Scenario       string
	Seed           int64
	Skip           []int // faults left out (sim.Options.Skip)
	Passed         bool
	Failure        string
	Ops            int
	SimDuration    time.Duration
	FaultsInjected int
	Digest         string
	History        *history.History
	Check          *linearizability.Result
	Wall           time.Duration
	// Coverage is what the members did (purpose events, rare paths); nil when the run did
	// not start.
	Coverage *sim.Coverage
}

// job is one run: a scenario, a seed and the faults it leaves out.
type job struct {
	sc   scenarios.Scenario
	seed int64
	skip []int
}

// runAll executes every job, parallel at a time, and returns the results in job order. The
// progress bar is driven from this goroutine only; workers hand results back over a channel.
func runAll(jobs []job, parallel int, trace io.Writer, progress io.Writer) []runResult {
	results := make([]runResult, len(jobs))
	next := make(chan int)
	done := make(chan int)
	var wg sync.WaitGroup
	for range min(parallel, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = runOne(jobs[i], trace)
				done <- i
			}
		}()
	}
	go func() {
		for i := range jobs {
			next <- i
		}
		close(next)
		wg.Wait()
		close(done)
	}()

	bar := progressbar.NewOptions(len(jobs),
		progressbar.OptionSetWriter(progress),
		progressbar.OptionSetDescription("failures 0"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("runs"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
	)
	failed := 0
	for i := range done {
		if !results[i].Passed {
			failed++
			bar.Describe(fmt.Sprintf("failures %d", failed))
		}
		_ = bar.Add(1)
	}
	_ = bar.Finish()
	fmt.Fprintln(progress)
	return results
}

// runOne runs one job; a panic in the simulated world fails that run rather than the whole
// command, with the stack in the failure (the other runs are independent of it).
func runOne(j job, trace io.Writer) (r runResult) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			r = runResult{Scenario: j.sc.Name, Seed: j.seed, Skip: j.skip,
				Failure: fmt.Sprintf("panic: %v\n%s", p, debug.Stack())}
		}
		r.Wall = time.Since(start)
	}()
	return simulate(j.sc, j.seed, j.skip, trace)
}
