package main

import (
	"context"
	"flag"
	"math/rand"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// runPut is etcd's "benchmark put": each operation puts one key of the key space (in
// order with --sequential-keys, else at random) with a value of --val-size bytes.
func runPut(ctx context.Context, cfg *config) (report, error) {
	conns, err := cfg.dialFor(cfg.clients, "--clients")
	if err != nil {
		return report{}, err
	}
	defer closeAll(conns)
	clients := clientsOver(conns, cfg.clients)
	val := strings.Repeat("v", cfg.valSize)
	rngs := make([]*rand.Rand, len(clients))
	for i := range rngs {
		rngs[i] = rand.New(rand.NewSource(int64(i)))
	}
	s := runLoad(ctx, cfg, "put", clients, func(ctx context.Context, c *clientv3.Client, w, i int) error {
		k := i % cfg.keySpace
		if !cfg.seq {
			k = rngs[w].Intn(cfg.keySpace)
		}
		_, err := c.Put(ctx, benchKey(k, cfg.keySize), val)
		return err
	})
	return report{Workload: "put", Conns: cfg.conns, Clients: cfg.clients, summary: s}, nil
}

// putCommand: put has only the shared flags.
func putCommand(_ *flag.FlagSet, cfg *config) runFunc {
	return func(ctx context.Context, args []string) (report, error) {
		if err := noArgs("put", args); err != nil {
			return report{}, err
		}
		return runPut(ctx, cfg)
	}
}
