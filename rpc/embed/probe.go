package embed

import (
	"context"
	"sync"
	"time"
)

// This file is the member's peer prober, etcd's rafthttp prober: every probeInterval it
// probes each other member of its table (peer.Transport.Probe: one timed round trip on a
// call connection) and records the time in etcd_network_peer_round_trip_time_seconds{To}.
// etcd probes every 4 s and records its prober's smoothed RTT every 30 s; Ballast records
// every probe, so the histogram's quantiles are the probes' own. A probe that fails records
// nothing (the peer's sends failing show in etcd_network_peer_sent_failures_total).

// probeIntervalDefault is etcd's proberInterval (its peer read timeout, 5 s, less 1 s).
const probeIntervalDefault = 4 * time.Second

// probePeers probes the other members every interval until ctx ends.
func (s *Server) probePeers(ctx context.Context) {
	interval := s.cfg.probeInterval
	if interval <= 0 {
		interval = probeIntervalDefault
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.driver.Stopped():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for _, m := range s.driver.Members() {
			if m.ID == s.id {
				continue
			}
			wg.Add(1)
			go func(id uint64) {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, interval)
				defer cancel()
				if rtt, err := s.transport.Probe(pctx, id); err == nil {
					s.metrics.peerRTT.WithLabelValues(hexID(id)).Observe(rtt.Seconds())
				}
			}(m.ID)
		}
		wg.Wait()
	}
}
