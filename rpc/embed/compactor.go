package embed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/mvcc"
	"github.com/ballastdb/ballast/kv/node"
)

// This file is etcd's auto compaction (--auto-compaction-mode, --auto-compaction-retention;
// etcd's server/etcdserver/api/v3compactor), run by the leader only (etcd pauses its
// compactor on the others): it proposes an ordinary compaction through raft, as a client's
// Compact would be.
//
//   - revision: every 5 minutes, compact to the current revision minus the retention
//     (when that moved since the last compaction).
//   - periodic: sample the current revision every retention/10 (at most every 6 minutes:
//     the sampling step is min(retention, 1h)/10); once a whole retention has passed since
//     the start (then every min(retention, 1h)), compact to the revision sampled a
//     retention ago.

// The values of --auto-compaction-mode.
const (
	CompactionModePeriodic = "periodic"
	CompactionModeRevision = "revision"
)

// etcd's constants (v3compactor): revision mode's interval, periodic mode's divisor.
const (
	revisionCompactionInterval = 5 * time.Minute
	periodicRetryDivisor       = 10
)

// ParseCompactionRetention is etcd's parseCompactionRetention: a bare integer is hours in
// periodic mode and revisions in revision mode; otherwise a Go duration (periodic only).
// For revision mode the result is the revision count (as etcd, in a time.Duration).
func ParseCompactionRetention(mode, retention string) (time.Duration, error) {
	h, err := strconv.Atoi(retention)
	if err == nil && h >= 0 {
		switch mode {
		case CompactionModeRevision:
			return time.Duration(int64(h)), nil
		case CompactionModePeriodic:
			return time.Duration(int64(h)) * time.Hour, nil
		case "":
			return 0, errors.New("--auto-compaction-mode is undefined")
		}
		return 0, nil
	}
	d, err := time.ParseDuration(retention)
	if err != nil {
		return 0, fmt.Errorf("error parsing CompactionRetention: %w", err)
	}
	return d, nil
}

// compactor runs auto compaction for the server until ctx ends.
type compactor struct {
	s        *Server
	mode     string
	period   time.Duration // periodic: the retention
	keepRevs int64         // revision: the retention
	// revisionInterval is revision mode's interval (etcd's 5 minutes; tests shorten it).
	revisionInterval time.Duration
}

// leaderRevision reads whether the member leads and its current revision.
func (c *compactor) leaderRevision(ctx context.Context) (leader bool, rev int64, err error) {
	err = c.s.driver.Inspect(ctx, func(m *node.Member) {
		leader = m.Status().Lead == m.ID()
		rev = m.CurrentRevision()
	})
	return leader, rev, err
}

// compact proposes a compaction at rev; an already compacted revision counts as done.
func (c *compactor) compact(ctx context.Context, rev int64, fields ...any) bool {
	start := time.Now()
	c.s.lg.Info("starting auto "+c.mode+" compaction", append([]any{"revision", rev}, fields...)...)
	cctx, cancel := context.WithTimeout(ctx, c.s.requestTimeout())
	defer cancel()
	_, err := c.s.driver.Submit(cctx, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}})
	if err == nil || errors.Is(err, mvcc.ErrCompacted) {
		c.s.lg.Info("completed auto "+c.mode+" compaction", append([]any{"revision", rev}, append(fields, "took", time.Since(start).String())...)...)
		return true
	}
	c.s.lg.Warn("failed auto "+c.mode+" compaction", append([]any{"revision", rev}, append(fields, "error", err.Error())...)...)
	return false
}

func (c *compactor) run(ctx context.Context) {
	if c.mode == CompactionModeRevision {
		c.runRevision(ctx)
		return
	}
	c.runPeriodic(ctx)
}

func (c *compactor) runRevision(ctx context.Context) {
	prev := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.revisionInterval):
		}
		leader, cur, err := c.leaderRevision(ctx)
		if err != nil || !leader {
			continue
		}
		rev := cur - c.keepRevs
		if rev <= 0 || rev == prev {
			continue
		}
		if c.compact(ctx, rev, "revision-compaction-retention", c.keepRevs) {
			prev = rev
		}
	}
}

func (c *compactor) runPeriodic(ctx context.Context) {
	step := min(c.period, time.Hour)
	retry := step / periodicRetryDivisor
	retentions := int(c.period/retry) + 1
	var revs []int64
	lastRevision := int64(0)
	lastSuccess := time.Now()
	base := c.period
	for {
		_, cur, err := c.leaderRevision(ctx)
		if err == nil {
			revs = append(revs, cur)
			if len(revs) > retentions {
				revs = revs[1:] // revs[0] is the revision a retention ago
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		leader, _, err := c.leaderRevision(ctx)
		if err != nil || !leader || len(revs) == 0 {
			continue
		}
		rev := revs[0]
		if time.Since(lastSuccess) < base || rev == lastRevision {
			continue
		}
		base = step
		if c.compact(ctx, rev, "compact-period", c.period.String()) {
			lastRevision = rev
			lastSuccess = time.Now()
		}
	}
}
