package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/linearizability/history"
)

// Leases: the clients' lease bookkeeping and the record of every lease the cluster expired.
//
// Each grant asks for a TTL drawn from the workload stream in [leaseTTLMin, leaseTTLMax]
// and names its lease ID itself (see leaseGrant): short enough that leases expire, get kept
// alive and get revoked within a run. When the grant is answered the client decides
// (workload stream) whether it keeps the lease alive (at most maxKeptLeases at a time) or
// lets it expire. A kept lease is renewed as etcd's client does: once a third of its TTL has
// passed since the call of its last renewal, the client's next request is a keep-alive of it,
// whatever kind was drawn; the mix's keep-alive weight adds keep-alives of the kept lease
// renewed longest ago. After each renewal the client stops keeping the lease with
// probability 1/dropKeptOneIn, so some leases expire after keep-alives, not only after their
// grant. Puts with a lease and revokes pick any of the client's leases, so keys are attached
// to leases that then expire; a put with a lease writes a shared key or the lease's own key
// (leasedPut), which survives until the lease ends. An abandoned lease is forgotten abandonedMargin before it could
// expire (TTL after the call of its grant or last renewal: the primary counts from later), so
// the workload does not issue requests bound to fail; a lease is also forgotten when
// revoked, or when the cluster answers lease-not-found (a kept lease that expired while its
// keep-alives failed).
//
// Expiry: every member reports each expiry revoke it applies (node.Config.OnLeaseExpired,
// again after a re-apply from a restart); expiryLog records the first report of each lease
// as the history's lease_expiry record, at the virtual time of that first apply, which is
// the earliest moment any member's store lacked the lease's keys. Every later report of the
// same lease must name the same entry and revision (else the members disagree on the log:
// a panic fails the run).

const (
	// leaseTTLMin is kv/node's shortest TTL with the default election timeout (1.5 election
	// timeouts, rounded up to whole seconds); a shorter request would be raised to it.
	leaseTTLMin     = 2 * time.Second
	leaseTTLMax     = 6 * time.Second
	maxKeptLeases   = 2 // per client
	dropKeptOneIn   = 8
	abandonedMargin = 500 * time.Millisecond
)

// clientLease is one lease a client granted and has not seen end.
type clientLease struct {
	id      int64
	ttl     time.Duration // as granted (or renewed) by the cluster
	keep    bool          // the client keeps it alive; otherwise it lets it expire
	renewed time.Duration // call time of the grant or of the last keep-alive answered (virtual)
}

// isLeaseKind reports whether kind is one of the workload's lease kinds.
func isLeaseKind(kind string) bool {
	switch kind {
	case "lease-grant", "lease-keep-alive", "lease-revoke", "put-with-lease":
		return true
	}
	return false
}

// leaseKind returns the kind the client issues instead of the drawn kind: a keep-alive when
// a kept lease is due for renewal; a grant when the drawn lease kind has no lease to use.
// Abandoned leases close to their expiry are forgotten first.
func (wl *workload) leaseKind(c *client, kind string) string {
	now := wl.s.w.now
	kept, due := 0, false
	live := c.leases[:0]
	for _, l := range c.leases {
		if !l.keep && now >= l.renewed+l.ttl-abandonedMargin {
			continue
		}
		if l.keep {
			kept++
			due = due || now-l.renewed >= l.ttl/3
		}
		live = append(live, l)
	}
	clear(c.leases[len(live):])
	c.leases = live
	switch {
	case due:
		return "lease-keep-alive"
	case !isLeaseKind(kind):
		return kind
	case (kind == "lease-keep-alive" && kept == 0) || len(c.leases) == 0:
		return "lease-grant"
	}
	return kind
}

// leaseGrant draws a grant: its TTL, and its ID. The client picks the ID (etcd lets it) so
// that a grant whose outcome the client never learns still names its lease: that lease may
// expire, and the checker can match the expiry to the unknown grant only by its ID.
func (wl *workload) leaseGrant() *history.LeaseGrantRequest {
	r := wl.s.w.workload
	lo, hi := int64(leaseTTLMin/time.Second), int64(leaseTTLMax/time.Second)
	return &history.LeaseGrantRequest{TTLSeconds: lo + r.Int64N(hi-lo+1), ID: 1 + r.Int64N(math.MaxInt64-1)}
}

// leaseToRenew returns the kept lease renewed longest ago (leaseKind made sure there is one).
func (c *client) leaseToRenew() int64 {
	var best *clientLease
	for _, l := range c.leases {
		if l.keep && (best == nil || l.renewed < best.renewed) {
			best = l
		}
	}
	return best.id
}

// leasedPut attaches one of the client's leases (drawn from the workload stream) to a put of
// value: half the time on key, from the shared key space, where later writes detach it
// again; otherwise on the lease's own key (leaseKey), which nothing but this lease's puts
// writes, so it lives until the lease ends and its deletion at the expiry or revoke is seen
// by ranges and watchers.
func (wl *workload) leasedPut(c *client, key, value []byte) *history.PutRequest {
	r := wl.s.w.workload
	id := c.leases[r.IntN(len(c.leases))].id
	if r.IntN(2) == 0 {
		key = leaseKey(id)
	}
	return &history.PutRequest{Key: key, Value: value, Lease: id}
}

// leaseKey is lease id's own key: "kl" and the ID in base 36, within the range [k, l) that
// ranges and watchers cover, and apart from the shared keys k0, k1, ...
func leaseKey(id int64) []byte {
	return strconv.AppendInt([]byte("kl"), id, 36)
}

// takeLease removes one of the client's leases, drawn from the workload stream, to revoke it.
func (wl *workload) takeLease(c *client) int64 {
	i := wl.s.w.workload.IntN(len(c.leases))
	id := c.leases[i].id
	c.leases = append(c.leases[:i], c.leases[i+1:]...)
	return id
}

// leaseAnswered updates the client's leases from the answer to req, called at called (resp
// nil on an error).
func (wl *workload) leaseAnswered(c *client, req history.Request, called time.Duration, resp *history.Response, err error) {
	r := wl.s.w.workload
	switch {
	case err != nil && errors.Is(err, rpctypes.ErrGRPCLeaseNotFound):
		// the lease ended (expired, or revoked by a request whose answer this client missed)
		var id int64
		switch {
		case req.LeaseKeepAlive != nil:
			id = req.LeaseKeepAlive.ID
		case req.Put != nil:
			id = req.Put.Lease
		}
		c.leases = slices.DeleteFunc(c.leases, func(l *clientLease) bool { return l.id == id })
	case resp != nil && resp.LeaseGrant != nil:
		kept := 0
		for _, l := range c.leases {
			if l.keep {
				kept++
			}
		}
		keep := kept < maxKeptLeases && r.IntN(2) == 0
		c.leases = append(c.leases, &clientLease{id: resp.LeaseGrant.ID, ttl: time.Duration(resp.LeaseGrant.TTLSeconds) * time.Second, keep: keep, renewed: called})
		wl.s.w.tracef("%s lease %d ttl=%ds keep=%v", c.name, resp.LeaseGrant.ID, resp.LeaseGrant.TTLSeconds, keep)
	case resp != nil && resp.LeaseKeepAlive != nil:
		for _, l := range c.leases {
			if l.id == resp.LeaseKeepAlive.ID && called > l.renewed {
				l.renewed, l.ttl = called, time.Duration(resp.LeaseKeepAlive.TTLSeconds)*time.Second
				if l.keep && r.IntN(dropKeptOneIn) == 0 {
					l.keep = false
					wl.s.w.tracef("%s lets lease %d expire", c.name, l.id)
				}
			}
		}
	}
}

// expiryLog records each lease the cluster expired, once.
type expiryLog struct {
	s     *sim
	first map[int64]node.LeaseExpiry // the first report of each expired lease
}

func newExpiryLog(s *sim) *expiryLog {
	return &expiryLog{s: s, first: map[int64]node.LeaseExpiry{}}
}

// leaseExpired takes member sm's report of an applied expiry (its Config.OnLeaseExpired).
func (c *cluster) leaseExpired(sm *simMember, e node.LeaseExpiry) {
	if c.expiries == nil {
		panic(fmt.Sprintf("sim: %s applied the expiry of lease %d before the workload started", sm.name, e.ID))
	}
	c.expiries.report(sm, e)
}

func (l *expiryLog) report(sm *simMember, e node.LeaseExpiry) {
	if first, ok := l.first[e.ID]; ok {
		if first != e {
			panic(fmt.Sprintf("sim: %s applied the expiry of lease %d at index %d, revision %d; it first applied at index %d, revision %d",
				sm.name, e.ID, e.Index, e.Revision, first.Index, first.Revision))
		}
		return
	}
	l.first[e.ID] = e
	l.s.rec.LeaseExpired(e.ID, e.Revision, int64(l.s.w.now))
	l.s.w.tracef("lease %d expired rev=%d index=%d (first applied on %s)", e.ID, e.Revision, e.Index, sm.name)
}
