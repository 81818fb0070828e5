package raft

import (
	"errors"
	"fmt"
)

// RandomSource is the seeded randomness raft draws election timeouts from. *rand.Rand of
// math/rand/v2 (built by the caller from a seeded source) satisfies it; raft never touches
// global randomness.
type RandomSource interface {
	Uint64() uint64
}

// Config configures one member.
type Config struct {
	// ID identifies this member; it must not be None (0).
	ID uint64
	// Storage is the application's durable log (see Storage).
	Storage Storage
	// Applied is the last index the application had applied before this start (0 for a new
	// member: everything up to the storage's snapshot counts as applied).
	Applied uint64

	// ElectionTimeoutTicks: a follower that hears no leader for a random number of ticks in
	// [ElectionTimeoutTicks, 2*ElectionTimeoutTicks) campaigns; a leader with CheckQuorum
	// steps down after this many ticks without hearing from a quorum.
	ElectionTimeoutTicks int
	// HeartbeatIntervalTicks: a leader sends heartbeats every this many ticks. Must be less
	// than ElectionTimeoutTicks.
	HeartbeatIntervalTicks int
	// Rand draws the randomized election timeouts. Required: pass a seeded source.
	Rand RandomSource

	// PreVote makes a member ask whether it could win before raising its term, so that a
	// member rejoining after a partition does not disrupt a working leader.
	PreVote bool
	// CheckQuorum makes a leader step down when it has not heard from a quorum within an
	// election timeout, and makes followers that heard from a leader within one ignore
	// (pre)vote requests (the leader lease), except those of a leadership transfer.
	CheckQuorum bool

	// MaxBytesPerMsg bounds the entries of one append message (at least one entry is sent, so
	// 0 means one entry per message).
	MaxBytesPerMsg uint64
	// MaxInflightMsgs bounds the appends in flight to one follower. Must be positive.
	MaxInflightMsgs int
	// MaxInflightBytes bounds the bytes of entries in flight to one follower (0: no bound
	// beyond MaxInflightMsgs).
	MaxInflightBytes uint64
	// MaxUncommittedEntries makes a leader refuse proposals (ErrProposalDropped) that would
	// leave more than this many entries of its log uncommitted (0: no bound).
	MaxUncommittedEntries uint64
	// MaxApplyBytesPerReady bounds the committed entries handed out in one Ready (at least
	// one entry is handed out). 0 means no bound.
	MaxApplyBytesPerReady uint64
	// MaxPendingReads bounds the read-index requests waiting for confirmation (0: 4096).
	MaxPendingReads int
}

// ErrInvalidConfig wraps every Config validation failure.
var ErrInvalidConfig = errors.New("raft: invalid config")

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ID == None:
		return bad("ID must not be 0")
	case c.Storage == nil:
		return bad("Storage is required")
	case c.Rand == nil:
		return bad("Rand is required (a seeded random source)")
	case c.HeartbeatIntervalTicks <= 0:
		return bad("HeartbeatIntervalTicks must be positive, got %d", c.HeartbeatIntervalTicks)
	case c.ElectionTimeoutTicks <= c.HeartbeatIntervalTicks:
		return bad("ElectionTimeoutTicks (%d) must exceed HeartbeatIntervalTicks (%d)", c.ElectionTimeoutTicks, c.HeartbeatIntervalTicks)
	case c.MaxInflightMsgs <= 0:
		return bad("MaxInflightMsgs must be positive, got %d", c.MaxInflightMsgs)
	case c.MaxPendingReads < 0:
		return bad("MaxPendingReads must not be negative, got %d", c.MaxPendingReads)
	}
	return nil
}
