package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// txnPutCommand is etcd's "benchmark txn-put" (its compare-and-swap form): the key space
// is first seeded with one put per key; then operation i takes --txn-ops keys (numbers
// i*txn-ops+j modulo the key space) and commits one txn: if every key's mod revision is
// the one last seen, put them all, else read them back. A failed compare (another client
// wrote between) records the revisions read and retries, so each operation is one
// successful swap and its latency includes its retries (counted as conflicts).
func txnPutCommand(fs *flag.FlagSet, cfg *config) runFunc {
	txnOps := fs.Int("txn-ops", 1, "puts per txn")
	return func(ctx context.Context, args []string) (report, error) {
		if err := noArgs("txn-put", args); err != nil {
			return report{}, err
		}
		if *txnOps < 1 || *txnOps > cfg.keySpace {
			return report{}, usageError{fmt.Sprintf("--txn-ops must be between 1 and --key-space-size (%d), got %d", cfg.keySpace, *txnOps)}
		}
		conns, err := cfg.dialFor(cfg.clients, "--clients")
		if err != nil {
			return report{}, err
		}
		defer closeAll(conns)
		clients := clientsOver(conns, cfg.clients)
		val := strings.Repeat("v", cfg.valSize)
		st, err := seedKeys(ctx, clients, cfg.keySpace, cfg.keySize, val)
		if err != nil {
			return report{}, err
		}
		var conflicts atomic.Int64
		s := runLoad(ctx, cfg, "txn-put", clients, func(ctx context.Context, c *clientv3.Client, _, i int) error {
			idx := make([]int, *txnOps)
			for j := range idx {
				idx[j] = (i**txnOps + j) % cfg.keySpace
			}
			n, err := st.swap(ctx, c, idx, val)
			conflicts.Add(int64(n))
			return err
		})
		return report{Workload: "txn-put", Conns: cfg.conns, Clients: cfg.clients, summary: s, Conflicts: conflicts.Load()}, nil
	}
}

// casState is the mod revision last seen of every key of the key space.
type casState struct {
	keys []string
	mu   sync.Mutex
	revs []int64
}

// seedKeys puts every key once (the clients in parallel) and records their revisions.
func seedKeys(ctx context.Context, clients []*clientv3.Client, n, keySize int, val string) (*casState, error) {
	st := &casState{keys: make([]string, n), revs: make([]int64, n)}
	for i := range st.keys {
		st.keys[i] = benchKey(i, keySize)
	}
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for w, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += len(clients) {
				resp, err := c.Put(ctx, st.keys[i], val)
				if err != nil {
					errs[w] = fmt.Errorf("seed key %q: %w", st.keys[i], err)
					return
				}
				st.mu.Lock()
				st.revs[i] = resp.Header.Revision
				st.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// swap commits one compare-and-swap of the keys idx, retrying with the revisions read back
// until the compare holds; it returns the number of failed compares.
func (st *casState) swap(ctx context.Context, c *clientv3.Client, idx []int, val string) (int, error) {
	cmps := make([]clientv3.Cmp, len(idx))
	puts := make([]clientv3.Op, len(idx))
	gets := make([]clientv3.Op, len(idx))
	for conflicts := 0; ; conflicts++ {
		st.mu.Lock()
		for j, k := range idx {
			key := st.keys[k]
			cmps[j] = clientv3.Compare(clientv3.ModRevision(key), "=", st.revs[k])
			puts[j] = clientv3.OpPut(key, val)
			gets[j] = clientv3.OpGet(key)
		}
		st.mu.Unlock()
		resp, err := c.Txn(ctx).If(cmps...).Then(puts...).Else(gets...).Commit()
		if err != nil {
			return conflicts, err
		}
		st.mu.Lock()
		if resp.Succeeded {
			for _, k := range idx {
				st.revs[k] = max(st.revs[k], resp.Header.Revision)
			}
			st.mu.Unlock()
			return conflicts, nil
		}
		if len(resp.Responses) != len(idx) {
			st.mu.Unlock()
			return conflicts, fmt.Errorf("txn-put: a failed compare answered %d reads, want %d", len(resp.Responses), len(idx))
		}
		for j, k := range idx {
			if kvs := resp.Responses[j].GetResponseRange().GetKvs(); len(kvs) > 0 {
				st.revs[k] = max(st.revs[k], kvs[0].ModRevision)
			}
		}
		st.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return conflicts, err
		}
	}
}
