package main

import (
	"context"
	"flag"
	"fmt"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// rangeCommand is etcd's "benchmark range KEY [END]": every operation is the same range,
// linearizable (--consistency l, etcd's default: a read index round through the leader)
// or serializable (s: the member's own state), with --limit keys at most (0: all) and
// --prefix to range over every key under KEY.
func rangeCommand(fs *flag.FlagSet, cfg *config) runFunc {
	consistency := fs.String("consistency", "l", "linearizable (l) or serializable (s)")
	limit := fs.Int64("limit", 0, "most keys one range returns (0: no limit)")
	prefix := fs.Bool("prefix", false, "range over every key that starts with KEY (END must not be given)")
	return func(ctx context.Context, args []string) (report, error) {
		if len(args) < 1 || len(args) > 2 {
			return report{}, usageError{fmt.Sprintf("range takes KEY [END], got %d arguments", len(args))}
		}
		var opts []clientv3.OpOption
		switch *consistency {
		case "l":
		case "s":
			opts = append(opts, clientv3.WithSerializable())
		default:
			return report{}, usageError{fmt.Sprintf("--consistency is l (linearizable) or s (serializable), got %q", *consistency)}
		}
		if *limit < 0 {
			return report{}, usageError{fmt.Sprintf("--limit must not be negative, got %d", *limit)}
		}
		if *limit > 0 {
			opts = append(opts, clientv3.WithLimit(*limit))
		}
		switch {
		case *prefix && len(args) == 2:
			return report{}, usageError{"range: --prefix and END exclude each other"}
		case *prefix:
			opts = append(opts, clientv3.WithPrefix())
		case len(args) == 2:
			opts = append(opts, clientv3.WithRange(args[1]))
		}
		key := args[0]
		conns, err := cfg.dialFor(cfg.clients, "--clients")
		if err != nil {
			return report{}, err
		}
		defer closeAll(conns)
		var keys atomic.Int64
		s := runLoad(ctx, cfg, "range", clientsOver(conns, cfg.clients), func(ctx context.Context, c *clientv3.Client, _, _ int) error {
			resp, err := c.Get(ctx, key, opts...)
			if err == nil {
				keys.Add(int64(len(resp.Kvs)))
			}
			return err
		})
		return report{Workload: "range", Conns: cfg.conns, Clients: cfg.clients, summary: s, Keys: keys.Load()}, nil
	}
}
