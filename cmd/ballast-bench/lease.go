package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseKeepaliveCommand is etcd's "benchmark lease-keepalive": each client grants one
// lease (TTL 100 s, as etcd's tool) before the clock starts, then every operation is one
// keep-alive of its client's lease (LeaseKeepAlive, one request and its answer). The
// leases are revoked at the end.
func leaseKeepaliveCommand(_ *flag.FlagSet, cfg *config) runFunc {
	return func(ctx context.Context, args []string) (report, error) {
		if err := noArgs("lease-keepalive", args); err != nil {
			return report{}, err
		}
		conns, err := cfg.dialFor(cfg.clients, "--clients")
		if err != nil {
			return report{}, err
		}
		defer closeAll(conns)
		clients := clientsOver(conns, cfg.clients)
		leases := make([]clientv3.LeaseID, len(clients))
		for i, c := range clients {
			resp, err := c.Grant(ctx, 100)
			if err != nil {
				return report{}, fmt.Errorf("grant client %d's lease: %w", i, err)
			}
			leases[i] = resp.ID
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for i, c := range clients {
				_, _ = c.Revoke(rctx, leases[i])
			}
		}()
		s := runLoad(ctx, cfg, "lease-keepalive", clients, func(ctx context.Context, c *clientv3.Client, w, _ int) error {
			_, err := c.KeepAliveOnce(ctx, leases[w])
			return err
		})
		return report{Workload: "lease-keepalive", Conns: cfg.conns, Clients: cfg.clients, summary: s}, nil
	}
}
