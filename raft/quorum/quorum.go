package quorum

import "slices"

// CommittedIndex returns the largest index that a majority of voters has acknowledged, given
// each voter's acknowledged (match) index. It sorts acked in place (the caller passes scratch
// space, so the function does not allocate). With no voters it returns 0: an empty
// configuration commits nothing.
func CommittedIndex(acked []uint64) uint64 {
	if len(acked) == 0 {
		return 0
	}
	slices.Sort(acked)
	// Sorted ascending, the element at position n-(n/2+1) is acknowledged by itself and every
	// larger one: n/2+1 voters, a majority.
	return acked[len(acked)-(len(acked)/2+1)]
}

// VoteResult is the outcome of an election so far.
type VoteResult uint8

// The outcomes.
const (
	// VotePending: neither a majority of grants nor of rejections yet.
	VotePending VoteResult = iota + 1
	// VoteLost: a majority rejected.
	VoteLost
	// VoteWon: a majority granted.
	VoteWon
)

// String names the result.
func (r VoteResult) String() string {
	switch r {
	case VotePending:
		return "VotePending"
	case VoteLost:
		return "VoteLost"
	case VoteWon:
		return "VoteWon"
	}
	return "VoteResult(?)"
}

// Tally decides an election among voters members, of which granted granted their vote and
// rejected refused it (the rest have not answered).
func Tally(voters, granted, rejected int) VoteResult {
	majority := voters/2 + 1
	switch {
	case voters == 0:
		// An empty configuration cannot elect anybody.
		return VoteLost
	case granted >= majority:
		return VoteWon
	case voters-rejected < majority:
		return VoteLost
	}
	return VotePending
}

// Majority returns how many of voters members make a majority.
func Majority(voters int) int { return voters/2 + 1 }
