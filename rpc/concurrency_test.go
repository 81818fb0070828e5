package rpc_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestConcurrency: clientv3's concurrency package (mutexes, elections, STM), with clients on
// different members contending.
func TestConcurrency(t *testing.T) {
	c := newCluster(t, 3)
	ctx := ctxT(t)
	const workers, rounds = 6, 5

	t.Run("mutex", func(t *testing.T) {
		// Each holder reads a counter and writes it back incremented: without mutual
		// exclusion, increments are lost.
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cli := c.client(w % 3)
				s, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				mu := concurrency.NewMutex(s, "/lock/counter")
				for range rounds {
					if err := mu.Lock(ctx); err != nil {
						errs <- err
						return
					}
					g, err := cli.Get(ctx, "counter")
					if err != nil {
						errs <- err
						return
					}
					n := 0
					if len(g.Kvs) == 1 {
						n, _ = strconv.Atoi(string(g.Kvs[0].Value))
					}
					if _, err := cli.Put(ctx, "counter", strconv.Itoa(n+1)); err != nil {
						errs <- err
						return
					}
					if err := mu.Unlock(ctx); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		g, err := c.client().Get(ctx, "counter")
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(workers*rounds), string(g.Kvs[0].Value))
	})
	t.Run("election", func(t *testing.T) {
		var sessions []*concurrency.Session
		var elections []*concurrency.Election
		for w := range 3 {
			s, err := concurrency.NewSession(c.client(w), concurrency.WithTTL(5))
			require.NoError(t, err)
			sessions = append(sessions, s)
			elections = append(elections, concurrency.NewElection(s, "/election/test"))
		}
		require.NoError(t, elections[0].Campaign(ctx, "first"))
		won := make(chan int, 2)
		for w := 1; w < 3; w++ {
			go func() {
				if elections[w].Campaign(ctx, fmt.Sprintf("candidate-%d", w)) == nil {
					won <- w
				}
			}()
		}
		leader, err := elections[1].Leader(ctx)
		require.NoError(t, err)
		require.Equal(t, "first", string(leader.Kvs[0].Value))
		obs := elections[2].Observe(ctx)
		require.Equal(t, "first", string((<-obs).Kvs[0].Value))
		require.NoError(t, elections[0].Resign(ctx))
		next := <-won
		leader, err = elections[0].Leader(ctx)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("candidate-%d", next), string(leader.Kvs[0].Value))
		for _, s := range sessions {
			require.NoError(t, s.Close())
		}
	})
	t.Run("stm", func(t *testing.T) {
		// Transfers between two accounts under contention keep the total.
		cli := c.client()
		_, err := cli.Put(ctx, "acct/a", "100")
		require.NoError(t, err)
		_, err = cli.Put(ctx, "acct/b", "100")
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wcli := c.client(w % 3)
				for i := range rounds {
					_, err := concurrency.NewSTM(wcli, func(stm concurrency.STM) error {
						from, to := "acct/a", "acct/b"
						if (w+i)%2 == 1 {
							from, to = to, from
						}
						fv, _ := strconv.Atoi(stm.Get(from))
						tv, _ := strconv.Atoi(stm.Get(to))
						stm.Put(from, strconv.Itoa(fv-1))
						stm.Put(to, strconv.Itoa(tv+1))
						return nil
					}, concurrency.WithAbortContext(ctx))
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		g, err := cli.Get(ctx, "acct/", clientv3.WithPrefix())
		require.NoError(t, err)
		total := 0
		for _, kv := range g.Kvs {
			n, _ := strconv.Atoi(string(kv.Value))
			total += n
		}
		require.Equal(t, 200, total)
	})
}
