package rpc

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/kv/node"
)

// The backend quota (--quota-backend-bytes), the serving side of etcd's NOSPACE alarm; the
// state machine's side (writes refused while the alarm is raised) is kv/node's quota.go.
//
// Before it proposes a put, a txn that puts or a lease grant, a member checks that the
// store's size (node.Driver.StoreBytes: the state machine's key spans as Pebble sizes them,
// not the raft log) plus the request's cost stays within the quota; over it, it raises the
// NOSPACE alarm for itself through the log and answers etcd's "etcdserver: mvcc: database
// space exceeded", as etcd's quota servers do. Reads, deletes and compactions are never
// checked.
//
// Unlike etcd, the alarm does not wait for `etcdctl alarm disarm`: the space monitor (every
// SpaceCheckInterval) looks at this member's own NOSPACE alarm; while it is raised, each new
// MVCC compaction is followed by a Pebble compaction of the store's spans (Pebble gives
// space back only through its compactions), and once the size is under
// spaceClearFraction of the quota the monitor deactivates the alarm through the log, with a
// log line ("NOSPACE alarm cleared by itself") and a count (SpaceAlarmsCleared). The margin
// keeps it from flapping. `alarm disarm` still works.

const (
	// spaceClearPercent: the alarm clears under this share of the quota.
	spaceClearPercent = 90
	// defaultSpaceCheckInterval is the space monitor's period.
	defaultSpaceCheckInterval = time.Second
)

// spaceState is the monitor's memory.
type spaceState struct {
	cleared atomic.Int64 // alarms cleared by the monitor
	// compactedAt is the MVCC compact revision the last store compaction followed.
	compactedAt int64
}

// SpaceAlarmsCleared counts the NOSPACE alarms the space monitor cleared by itself.
func (s *Services) SpaceAlarmsCleared() int64 { return s.space.cleared.Load() }

// checkSpace refuses a request that would take the store over the quota, raising the
// NOSPACE alarm for this member first.
func (s *Services) checkSpace(ctx context.Context, req *pb.InternalRaftRequest) error {
	cost := node.RequestCost(req)
	if cost == 0 || s.d.StoreBytes()+int64(cost) <= s.cfg.QuotaBackendBytes {
		return nil
	}
	alarm := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: s.d.ID(), Alarm: pb.AlarmType_NOSPACE}
	if _, err := s.d.Submit(ctx, &pb.InternalRaftRequest{Alarm: alarm}); err != nil {
		s.cfg.Logger.Warn("failed to raise the NOSPACE alarm", "error", err.Error())
	}
	return rpctypes.ErrGRPCNoSpace
}

// watchSpace runs the space monitor until the services close.
func (s *Services) watchSpace() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SpaceCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.checkSpaceAlarm(s.ctx)
	}
}

// checkSpaceAlarm is one look of the monitor.
func (s *Services) checkSpaceAlarm(ctx context.Context) {
	var (
		raised     bool
		compactRev int64
	)
	ictx, cancel := context.WithTimeout(ctx, s.cfg.SpaceCheckInterval)
	defer cancel()
	err := s.d.Inspect(ictx, func(m *node.Member) {
		for _, a := range m.Alarms() {
			if a.MemberID == m.ID() && a.Alarm == pb.AlarmType_NOSPACE {
				raised = true
			}
		}
		compactRev = m.CompactRevision()
	})
	if err != nil || !raised {
		return
	}
	if compactRev > s.space.compactedAt {
		if err := s.d.CompactStore(ctx); err != nil {
			s.cfg.Logger.Warn("failed to compact the store under the NOSPACE alarm", "error", err.Error())
			return
		}
		s.space.compactedAt = compactRev
	}
	size := s.d.StoreBytes()
	if size*100 >= s.cfg.QuotaBackendBytes*spaceClearPercent {
		return
	}
	alarm := &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: s.d.ID(), Alarm: pb.AlarmType_NOSPACE}
	if _, err := s.d.Submit(ictx, &pb.InternalRaftRequest{Alarm: alarm}); err != nil {
		s.cfg.Logger.Warn("failed to clear the NOSPACE alarm", "error", err.Error())
		return
	}
	s.space.cleared.Add(1)
	s.cfg.Logger.Info("NOSPACE alarm cleared by itself", "member-id", strconv.FormatUint(s.d.ID(), 16), "store-bytes", size,
		"quota-backend-bytes", s.cfg.QuotaBackendBytes, "clear-below-percent", spaceClearPercent)
}
