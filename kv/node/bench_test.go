package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCluster measures the production driver: 3 members in one process, each on the
// real disk in its own temp directory (vfs.Default), connected by a LocalTransport, with the
// default tick (100 ms) and Pebble's default caches. Each client goroutine puts one key at a
// time (128-byte values) through one member (client i through member i%3, so two thirds of
// the writes are forwarded to the leader, as with etcd clients balanced across endpoints)
// and waits for the acknowledgement before the next. Reported: committed proposals per
// second, p50 and p99 latency of an acknowledged put, and fsyncs per committed proposal
// summed over the three members (without batching it would be at least 3: one per member
// per proposal) and on the leader alone.
//
//	go test -run xxx -bench BenchmarkCluster -benchtime=3s ./kv/node/
func BenchmarkCluster(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchmarkCluster(b, clients) })
	}
}

func benchmarkCluster(b *testing.B, clients int) {
	c := newDriverCluster(b, 3, 1, DefaultTickInterval, tempDirFS(b.TempDir()), func(cfg *Config) { cfg.PebbleMemTableBytes, cfg.PebbleCacheBytes = 0, 0 })
	leader := c.leader()
	ctx := context.Background()
	value := strings.Repeat("v", 128)
	if _, err := c.drivers[leader].Submit(ctx, put("warm-up", value)); err != nil {
		b.Fatal(err)
	}
	syncsBefore, leaderSyncsBefore := c.syncs(), c.drivers[leader].Stats().Syncs

	var (
		next      atomic.Int64
		latencies = make([][]time.Duration, clients)
		errs      = make([]error, clients)
		wg        sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := c.drivers[c.ids[i%len(c.ids)]]
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				began := time.Now()
				if _, err := d.Submit(ctx, put(fmt.Sprintf("bench/%d/%d", i, n), value)); err != nil {
					errs[i] = fmt.Errorf("put %d through member %d: %w", n, d.ID(), err)
					return
				}
				latencies[i] = append(latencies[i], time.Since(began))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	ms := func(q float64) float64 {
		return float64(all[min(len(all)-1, int(q*float64(len(all))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "proposals/s")
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(float64(c.syncs()-syncsBefore)/float64(len(all)), "fsyncs/proposal")
	b.ReportMetric(float64(c.drivers[leader].Stats().Syncs-leaderSyncsBefore)/float64(len(all)), "leader-fsyncs/proposal")
}

// syncs sums the fsyncs of every member's driver.
func (c *driverCluster) syncs() uint64 {
	var n uint64
	for _, id := range c.ids {
		n += c.drivers[id].Stats().Syncs
	}
	return n
}
