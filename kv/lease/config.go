package lease

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Clock is the lessor's only source of time: a monotonic reading since an arbitrary origin
// (each member may have its own origin and rate). Production passes time.Since(start); the
// simulator passes its virtual clock, skewed per member. The lessor panics if it ever sees
// the reading go backwards.
type Clock interface {
	Now() time.Duration
}

// IDSource yields the random bits of generated lease IDs. math/rand/v2's sources and
// *rand.Rand satisfy it; the simulator passes one seeded from the run's seed.
type IDSource interface {
	Uint64() uint64
}

// MaxTTLSeconds is etcd's largest grantable TTL (server/lease.MaxLeaseTTL).
const MaxTTLSeconds int64 = 9_000_000_000

// Defaults used when a Config leaves a field zero.
const (
	DefaultCheckpointInterval   = 5 * time.Minute // etcd's default lease checkpoint interval
	DefaultExpiredRetryInterval = 3 * time.Second // etcd's default expired-lease retry
)

// Config configures a Lessor. Every member of a cluster must use the same MinTTLSeconds:
// applying a grant raises a short TTL to it, and all members must agree on the result.
type Config struct {
	// Clock decides every deadline on the primary and stamps applied checkpoints. Required.
	Clock Clock
	// IDs generates lease IDs for grants that ask for ID 0. Without it such grants fail.
	IDs IDSource
	// MinTTLSeconds is the shortest TTL granted; shorter requests are raised to it, as in
	// etcd. etcd derives it from the election timeout: see MinTTLSecondsForElection.
	MinTTLSeconds int64
	// MaxDriftRate is ρ, the largest rate by which a member's clock may run fast or slow
	// relative to real time (0.01 = 1%). The primary waits TTL·(1+ρ) on its own clock so a
	// fast clock never expires a lease early. 0 ≤ ρ < 1.
	MaxDriftRate float64
	// CheckpointInterval bounds how long a remaining TTL goes without being recorded in the
	// log after a keep-alive or grant; a new primary loses at most this much progress.
	CheckpointInterval time.Duration
	// ExpiredRetryInterval is how long Expired waits before naming again a lease it already
	// returned whose revoke has not applied (the proposal may have been dropped).
	ExpiredRetryInterval time.Duration
	// ClearRetryInterval is how long KeepAlive answers WaitForClear for a lease whose
	// checkpoint-clear is in flight before asking for another (the first may have been
	// dropped). Defaults to ExpiredRetryInterval.
	ClearRetryInterval time.Duration
}

// MinTTLSecondsForElection is etcd's minimum lease TTL for an election timeout: one and a half
// election timeouts, rounded up to whole seconds, so a lease outlives a leader election.
func MinTTLSecondsForElection(electionTimeout time.Duration) int64 {
	return int64(math.Ceil(1.5 * electionTimeout.Seconds()))
}

// withDefaults validates cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Clock == nil {
		return cfg, errors.New("lease: config has no Clock")
	}
	if cfg.MinTTLSeconds < 1 || cfg.MinTTLSeconds > MaxTTLSeconds {
		return cfg, fmt.Errorf("lease: MinTTLSeconds %d is outside [1, %d]", cfg.MinTTLSeconds, MaxTTLSeconds)
	}
	if !(cfg.MaxDriftRate >= 0 && cfg.MaxDriftRate < 1) {
		return cfg, fmt.Errorf("lease: MaxDriftRate %v is outside [0, 1)", cfg.MaxDriftRate)
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.ExpiredRetryInterval == 0 {
		cfg.ExpiredRetryInterval = DefaultExpiredRetryInterval
	}
	if cfg.ClearRetryInterval == 0 {
		cfg.ClearRetryInterval = cfg.ExpiredRetryInterval
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"CheckpointInterval", cfg.CheckpointInterval},
		{"ExpiredRetryInterval", cfg.ExpiredRetryInterval},
		{"ClearRetryInterval", cfg.ClearRetryInterval},
	} {
		if d.value < 0 {
			return cfg, fmt.Errorf("lease: %s %v is negative", d.name, d.value)
		}
	}
	return cfg, nil
}
