package rpc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// fillForDefrag writes n keys of 1 KiB through cli, overwrites them and deletes half (in
// txns of 64 operations, so the fill stays cheap under -race), then compacts, so a
// defragment has real work (obsolete versions and tombstones) to compact away.
func fillForDefrag(t testing.TB, cli *clientv3.Client, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := strings.Repeat("v", 1024)
	const perTxn = 64
	for round := range 3 {
		for i := 0; i < n; i += perTxn {
			var ops []clientv3.Op
			for j := i; j < min(i+perTxn, n); j++ {
				key := fmt.Sprintf("d/%06d", j)
				switch {
				case round < 2:
					ops = append(ops, clientv3.OpPut(key, value))
				case j%2 == 0:
					ops = append(ops, clientv3.OpDelete(key))
				}
			}
			_, err := cli.Txn(ctx).Then(ops...).Commit()
			require.NoError(t, err)
		}
	}
	r, err := cli.Get(ctx, "d/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	_, err = cli.Compact(ctx, r.Header.Revision, clientv3.WithCompactPhysical())
	require.NoError(t, err)
}

// TestDefragmentDoesNotBlock: while a member defragments (a Pebble compaction of its whole
// key space, on the caller's goroutine beside the driver), puts and reads through that member
// are answered: some start after a defragment began and return before it ended. Defragments
// are repeated (each after more garbage) until that has been seen, at most 10 times: one
// alone may be over before a put's round trip on a loaded machine. etcd's defragment blocks
// the member for its whole duration, so none would ever be seen there.
func TestDefragmentDoesNotBlock(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client(0)
	fillForDefrag(t, cli, 1500)
	ctx := ctxT(t)
	var during atomic.Int64
	var defrags atomic.Int64 // odd while a defragment runs
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				before := defrags.Load()
				_, perr := cli.Put(ctx, fmt.Sprintf("live/%d/%d", w, i%100), "x")
				_, gerr := cli.Get(ctx, "live/0/0")
				if after := defrags.Load(); perr == nil && gerr == nil && before%2 == 1 && after == before {
					during.Add(1)
				}
			}
		}()
	}
	rounds := 0
	for ; rounds < 10 && during.Load() == 0; rounds++ {
		if rounds > 0 {
			fillForDefrag(t, cli, 300)
		}
		defrags.Add(1)
		start := time.Now()
		_, err := cli.Defragment(ctx, c.endpoint(0))
		defrags.Add(1)
		require.NoError(t, err)
		t.Logf("defragment %d took %v", rounds+1, time.Since(start))
	}
	close(stop)
	wg.Wait()
	t.Logf("%d put+get pairs began and ended during a defragment (%d defragments)", during.Load(), rounds)
	require.Positive(t, during.Load(), "writes and reads go on while the member defragments")
}

// BenchmarkDefragmentPutLatency measures put latency on one member without and during its
// defragment (a 3-member cluster, 8 writers, 20,000 keys of 1 KiB written twice, half
// deleted, compacted, in txns of 64): p50 and p99 of each, and their ratio (the target: p99 during
// at most twice p99 without).
func BenchmarkDefragmentPutLatency(b *testing.B) {
	for range b.N {
		c := newCluster(b, 3)
		cli := c.client(0)
		fillForDefrag(b, cli, 20000)
		measure := func(during bool) []time.Duration {
			ctx := context.Background()
			var mu sync.Mutex
			var lat []time.Duration
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						s := time.Now()
						if _, err := cli.Put(ctx, fmt.Sprintf("p/%d/%d", w, i), "x"); err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						lat = append(lat, time.Since(s))
						mu.Unlock()
					}
				}()
			}
			if during {
				if _, err := cli.Defragment(ctx, c.endpoint(0)); err != nil {
					b.Error(err)
				}
			} else {
				time.Sleep(2 * time.Second)
			}
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			return lat
		}
		pct := func(l []time.Duration, p float64) time.Duration { return l[int(float64(len(l)-1)*p)] }
		base := measure(false)
		with := measure(true)
		b.ReportMetric(float64(pct(base, 0.5).Microseconds()), "p50-without-µs")
		b.ReportMetric(float64(pct(base, 0.99).Microseconds()), "p99-without-µs")
		b.ReportMetric(float64(pct(with, 0.5).Microseconds()), "p50-during-µs")
		b.ReportMetric(float64(pct(with, 0.99).Microseconds()), "p99-during-µs")
		b.ReportMetric(float64(pct(with, 0.99))/float64(pct(base, 0.99)), "p99-ratio")
		b.ReportMetric(float64(len(with)), "puts-during")
		c.stopAll()
	}
}
