package linearizability

import (
	"fmt"
	"sort"

	"github.com/ballastdb/ballast/linearizability/history"
)

// The durability validator: every acknowledged write is in the final state or superseded by a
// later change in the linearization. What a run observes of the state are its reads, so each
// read is held to it: for every key it covers, the read must show the latest acknowledged
// change to that key at or below its header revision, or something newer. A read showing an
// older value (or no value where an acknowledged put is the latest change) has lost that
// write. Reads the replay did not reach are not judged.

// keyChange is one change of a key in the linearization.
type keyChange struct {
	rev    int64
	delete bool
	kv     history.KeyValue
	writer *op
}

func validateDurability(ops []*op, rev *revResult) []Violation {
	changes := map[string][]keyChange{}
	for r := int64(1); r <= rev.replayedThrough && r < int64(len(rev.events)); r++ {
		for _, m := range rev.events[r] {
			k := string(m.kv.Key)
			changes[k] = append(changes[k], keyChange{rev: r, delete: m.delete, kv: m.kv, writer: rev.writers[r]})
		}
	}
	var vs []Violation
	for _, o := range ops {
		if !o.known() || o.req.Range == nil || o.isReadAtRevision() || o.resp.Range == nil {
			continue
		}
		h := o.resp.Header.Revision
		if h > rev.replayedThrough {
			continue
		}
		seen := map[string]bool{}
		for _, kv := range o.resp.Range.KVs {
			seen[string(kv.Key)] = true
			if lost := latestAcked(changes[string(kv.Key)], kv.ModRevision, h); lost != nil {
				vs = append(vs, lostWrite(o, lost, fmt.Sprintf("%s (mod rev %d)", kv.Value, kv.ModRevision)))
			}
		}
		r := o.req.Range
		if len(r.RangeEnd) == 0 && !r.CountOnly && len(o.resp.Range.KVs) == 0 {
			cs := changes[string(r.Key)]
			i := sort.Search(len(cs), func(i int) bool { return cs[i].rev > h }) - 1
			if i >= 0 && !cs[i].delete && cs[i].writer != nil && cs[i].writer.known() {
				vs = append(vs, lostWrite(o, &cs[i], "no value"))
			}
		}
	}
	return vs
}

// latestAcked returns the latest acknowledged change in (after, upTo], or nil.
func latestAcked(cs []keyChange, after, upTo int64) *keyChange {
	i := sort.Search(len(cs), func(i int) bool { return cs[i].rev > after })
	var found *keyChange
	for ; i < len(cs) && cs[i].rev <= upTo; i++ {
		if cs[i].writer != nil && cs[i].writer.known() {
			found = &cs[i]
		}
	}
	return found
}

func lostWrite(o *op, c *keyChange, got string) Violation {
	what := fmt.Sprintf("%s=%s", c.kv.Key, c.kv.Value)
	if c.delete {
		what = fmt.Sprintf("the delete of %s", c.kv.Key)
	}
	return Violation{Checker: CheckDurability, Kind: "lost-write", Lines: []int{o.line, c.writer.line}, TimeNs: o.callNs,
		Message: fmt.Sprintf("lost acknowledged write: %s, acknowledged at rev %d by %s (%s), is missing from get %s at rev %d (%s), which returned %s",
			what, c.rev, describeRequest(c.writer.req), c.writer.where(), describeRange(o.req.Range.Key, o.req.Range.RangeEnd), o.resp.Header.Revision, o.where(), got)}
}
