package canary

import "errors"

// ErrNotCanaryBuild is Set's answer in a normal build.
var ErrNotCanaryBuild = errors.New("canary: this is not a canary build (build with -tags canary)")

// The canaries' names.
const (
	CommitOldTerm        = "commit-old-term"
	NoLogCheck           = "no-log-check"
	ReadNoQuorum         = "read-no-quorum"
	AckBeforeSync        = "ack-before-sync"
	ApplyTwice           = "apply-twice"
	WatchSkip            = "watch-skip"
	LeaseFollowerClock   = "lease-follower-clock"
	DropWhenFull         = "drop-when-full"
	SyncErrorIgnored     = "sync-error-ignored"
	SnapshotKeepsCovered = "snapshot-keeps-covered"
	SnapshotDropsNext    = "snapshot-drops-next"
	// The raft-path classes of issue 16 point 2b.
	FollowerCommitBeyondMatch = "follower-commit-beyond-match"
	VoteNotDurable            = "vote-not-durable"
	NewLeaderRead             = "new-leader-read"
	TruncationNotDurable      = "truncation-not-durable"
	// The storage-side classes of issue 16 point 2b.
	LeaseNoDriftMargin     = "lease-no-drift-margin"
	TruncationRangePartial = "truncation-range-partial"
	WatchCutDropsLast      = "watch-cut-drops-last"
	// The snapshot-across-membership and compaction classes of issue 16 point 2b.
	SnapshotKeepsConf   = "snapshot-keeps-conf"
	WatchCompactedSkips = "watch-compacted-skips"
)

// Names lists every canary, in the order of issue 10 (the order `make canaries` reports).
func Names() []string {
	return []string{CommitOldTerm, NoLogCheck, ReadNoQuorum, AckBeforeSync, ApplyTwice, WatchSkip, LeaseFollowerClock, DropWhenFull, SyncErrorIgnored, SnapshotKeepsCovered, SnapshotDropsNext,
		FollowerCommitBeyondMatch, VoteNotDurable, NewLeaderRead, TruncationNotDurable,
		LeaseNoDriftMargin, TruncationRangePartial, WatchCutDropsLast,
		SnapshotKeepsConf, WatchCompactedSkips}
}

// Known reports whether name is one of Names.
func Known(name string) bool {
	for _, n := range Names() {
		if n == name {
			return true
		}
	}
	return false
}
