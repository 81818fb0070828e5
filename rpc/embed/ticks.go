package embed

import (
	"context"
	"sync"
	"time"

	"github.com/ballastdb/ballast/kv/node"
)

// This file is etcd's adjustTicks (etcdserver/server.go), run once as the member starts:
//
//   - a one-member cluster fast-forwards its election timer by election ticks - 1 at once,
//     whatever the flags ("started as single-node; fast-forwarding election ticks");
//   - otherwise, with --initial-election-tick-advance (etcd's default), it looks for its
//     peers every 50 ms for up to 5 s (rafthttp's ConnReadTimeout), and once more than one
//     answers (etcd's ActivePeers() > 1: its peer streams are up) fast-forwards by election
//     ticks - 2 ("initialized peer connections; fast-forwarding election ticks"), so that
//     the first election of a cluster starting together, or a restarted member's campaign
//     if it hears no leader, comes after 2 ticks plus the randomized part of the timeout
//     instead of a whole timeout. Fewer peers found (all down, or a two-member cluster): no
//     advance, as etcd. --initial-election-tick-advance=false logs "skipping initial
//     election tick advance" and does nothing.
//
// Unlike etcd, only a follower that knows no leader advances (kv/node's Member.AdvanceTicks):
// a member that already leads, campaigns or follows a leader when its peers are found logs
// that it skipped the advance instead.
//
// A peer is found when it answers a probe (peer.Transport.Probe): Ballast's peer streams are
// not dialled before there is a message to send, so a stream's state says nothing yet.

const (
	tickAdvanceWait     = 5 * time.Second // rafthttp.ConnReadTimeout
	tickAdvanceInterval = 50 * time.Millisecond
)

func (s *Server) adjustTicks(ctx context.Context) {
	electionTicks := s.cfg.electionTicks()
	advance := func(ticks int, msg string, extra ...any) {
		args := append([]any{"local-member-id", hexID(s.id), "forward-ticks", ticks,
			"forward-duration", (time.Duration(ticks) * s.cfg.HeartbeatInterval).String(),
			"election-ticks", electionTicks, "election-timeout", s.cfg.ElectionTimeout.String()}, extra...)
		var advanced bool
		if err := s.driver.Inspect(ctx, func(m *node.Member) { advanced = m.AdvanceTicks(ticks) }); err != nil || !advanced {
			s.lg.Info("skipping initial election tick advance: the member is no longer a follower without a leader", "election-ticks", electionTicks)
			return
		}
		s.lg.Info(msg, args...)
	}
	// The member table is filled by applying the log's founding entries (a new cluster) or
	// was on disk (a restart); wait for it, as etcd's cluster is known before raft starts.
	members := s.driver.Members()
	for len(members) == 0 {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return
		}
		members = s.driver.Members()
	}
	if len(members) == 1 {
		advance(electionTicks-1, "started as single-node; fast-forwarding election ticks")
		return
	}
	if s.cfg.NoInitialElectionTickAdvance {
		s.lg.Info("skipping initial election tick advance", "election-ticks", electionTicks)
		return
	}
	s.lg.Info("starting initial election tick advance", "election-ticks", electionTicks)
	found := map[uint64]bool{}
	for range int(tickAdvanceWait / tickAdvanceInterval) {
		select {
		case <-time.After(tickAdvanceInterval):
		case <-ctx.Done():
			return
		}
		var probe []uint64
		for _, m := range s.driver.Members() {
			if m.ID != s.id && !found[m.ID] {
				probe = append(probe, m.ID)
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, id := range probe {
			wg.Add(1)
			go func(id uint64) {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				if _, err := s.transport.Probe(pctx, id); err == nil {
					mu.Lock()
					found[id] = true
					mu.Unlock()
				}
			}(id)
		}
		wg.Wait()
		if len(found) > 1 {
			advance(electionTicks-2, "initialized peer connections; fast-forwarding election ticks", "active-remote-members", len(found))
			return
		}
	}
}
