package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/status"
)

// opFunc is one operation of a closed-loop workload: client c (worker's connection) does
// operation number i. The error is counted by its gRPC code; a nil error's latency is kept.
type opFunc func(ctx context.Context, c *clientv3.Client, worker, i int) error

// runLoad runs a closed loop: len(clients) workers, each with one operation in flight,
// until cfg.total operations have run (each number 0..total-1 once) or, with
// cfg.duration, until the duration is up (no operation starts after it; those in flight
// finish). With cfg.rate, operation i starts no earlier than i/rate after the start (the
// wait is not part of its latency). It returns the summary of the run.
func runLoad(ctx context.Context, cfg *config, name string, clients []*clientv3.Client, op opFunc) summary {
	bar := newBar(cfg, name)
	var next atomic.Int64
	type result struct {
		lat  []time.Duration
		errs map[string]int
	}
	results := make([]result, len(clients))
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var wg sync.WaitGroup
	for w, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := result{errs: map[string]int{}}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if cfg.duration == 0 && i >= cfg.total {
					break
				}
				if cfg.rate > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(int64(i) * int64(time.Second) / int64(cfg.rate)))))
				}
				if cfg.duration > 0 && !time.Now().Before(deadline) {
					break
				}
				t0 := time.Now()
				err := op(ctx, c, w, i)
				d := time.Since(t0)
				if err != nil {
					r.errs[status.Code(err).String()]++
				} else {
					r.lat = append(r.lat, d)
				}
				bar.add()
			}
			results[w] = r
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	bar.finish()
	var lat []time.Duration
	errs := map[string]int{}
	for _, r := range results {
		lat = append(lat, r.lat...)
		for code, n := range r.errs {
			errs[code] += n
		}
	}
	return summarize(lat, errs, elapsed)
}

// bar is the progress bar on stderr (nil-safe: a nil bar draws nothing). With --total it
// counts to the total; with --duration it counts operations under a spinner.
type bar struct {
	pb *progressbar.ProgressBar
	w  io.Writer
}

func newBar(cfg *config, name string) *bar {
	return newBarTo(cfg.progress, cfg.total, name)
}

func newBarTo(w io.Writer, total int, name string) *bar {
	if w == nil {
		return nil
	}
	max := total
	if max == 0 {
		max = -1
	}
	return &bar{w: w, pb: progressbar.NewOptions(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(name),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("ops"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
	)}
}

func (b *bar) add() {
	if b != nil {
		_ = b.pb.Add(1)
	}
}

func (b *bar) finish() {
	if b != nil {
		_ = b.pb.Finish()
		fmt.Fprintln(b.w)
	}
}
