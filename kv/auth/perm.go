package auth

import (
	"bytes"
	"sort"
)

// Perm is one granted permission's key range, encoded as etcd encodes it: RangeEnd empty
// means the single key Key; RangeEnd "\x00" means every key from Key on; otherwise the
// half-open range [Key, RangeEnd).
type Perm struct {
	Key, RangeEnd []byte
}

// interval is a half-open range [start, end); a nil end means unbounded.
type interval struct {
	start, end []byte
}

// toInterval turns etcd's encoding into a half-open interval. A single key k is [k, k+"\x00").
func toInterval(key, rangeEnd []byte) interval {
	switch {
	case len(rangeEnd) == 0:
		return interval{start: key, end: append(append([]byte{}, key...), 0)}
	case len(rangeEnd) == 1 && rangeEnd[0] == 0:
		return interval{start: key, end: nil}
	default:
		return interval{start: key, end: rangeEnd}
	}
}

// endLess orders ends with nil (unbounded) as the largest.
func endLess(a, b []byte) bool {
	if b == nil {
		return a != nil
	}
	if a == nil {
		return false
	}
	return bytes.Compare(a, b) < 0
}

// Permitted says whether the request range (key, rangeEnd), in etcd's encoding, is wholly
// covered by the union of perms, as etcd's IsRangePermitted decides: ranges granted by
// several permissions may together cover a request none covers alone. An empty request range
// (rangeEnd <= key, rangeEnd not "\x00") is permitted exactly when its key is, as in etcd:
// its interval tree counts [key, rangeEnd) as overlapping the grants that hold key, and
// those cover it (found by the differential harness, compat: a Range of "c" to "c" by a user
// without a grant on "c", answered by etcd with permission denied). For an inverted range
// (rangeEnd < key) etcd's tree may also prune a subtree holding such a grant, so its answer
// depends on the tree's shape; this is its answer when it does not (an intended difference
// listed in compat/ignored.go).
func Permitted(perms []Perm, key, rangeEnd []byte) bool {
	want := toInterval(key, rangeEnd)
	if want.end != nil && bytes.Compare(want.end, want.start) <= 0 {
		want.end = append(append([]byte{}, want.start...), 0)
	}
	ivs := make([]interval, 0, len(perms))
	for _, p := range perms {
		iv := toInterval(p.Key, p.RangeEnd)
		if iv.end != nil && bytes.Compare(iv.end, iv.start) <= 0 {
			continue // an inverted or empty grant covers nothing
		}
		ivs = append(ivs, iv)
	}
	sort.Slice(ivs, func(i, j int) bool { return bytes.Compare(ivs[i].start, ivs[j].start) < 0 })
	// Walk the merged union; covered is the end of the contiguous run that contains want.start.
	var covered []byte
	started := false
	for _, iv := range ivs {
		if !started {
			if bytes.Compare(iv.start, want.start) > 0 {
				return false
			}
			if endLess(iv.end, want.start) || bytes.Equal(iv.end, want.start) {
				continue
			}
			covered, started = iv.end, true
		} else {
			if covered != nil && bytes.Compare(iv.start, covered) > 0 {
				break // a gap
			}
			if endLess(covered, iv.end) {
				covered = iv.end
			}
		}
		if !endLess(covered, want.end) {
			return true
		}
	}
	return started && !endLess(covered, want.end)
}
