package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The leader's steady state (propose, hand out, persist, acknowledge, commit) allocates
// nothing per entry: slices are reused or grown in chunks. Allocation counts, not timings.
func TestLeaderSteadyStateAllocatesNothingPerEntry(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, func(c *Config) { c.MaxInflightMsgs = 1024 })
	n.elect(1)
	leader := n.member(1)
	rn := leader.rn
	data := make([]byte, 100)
	var failures int
	step := func() {
		if rn.Propose(data) != nil {
			failures++
		}
		rd := rn.Ready()
		if leader.storage.Append(rd.Entries) != nil || len(rd.Entries) != 1 {
			failures++
		}
		last := rd.Entries[len(rd.Entries)-1]
		rn.Advance(rd)
		for _, id := range [...]uint64{2, 3} {
			if rn.Step(Message{From: id, To: 1, Type: MsgAppResp, Term: last.Term, Index: last.Index}) != nil {
				failures++
			}
		}
		rd = rn.Ready()
		if len(rd.CommittedEntries) != 1 {
			failures++
		}
		rn.Advance(rd)
	}
	for range 100 {
		step() // warm up the reused buffers
	}
	allocs := testing.AllocsPerRun(2000, step)
	require.Zero(t, failures, "the steady-state loop itself went wrong")
	require.Zero(t, allocs, "allocations per proposed and committed entry")
}

// States is Status's hard and soft state, without its allocations (it is asked on every
// forwarded proposal and every sync, where Status's copies were a measurable cost).
func TestStatesIsStatusWithoutAllocating(t *testing.T) {
	n := newNetwork(t, []uint64{1, 2, 3}, nil)
	n.elect(1)
	for _, id := range []uint64{1, 2} {
		rn := n.member(id).rn
		hs, ss := rn.States()
		st := rn.Status()
		require.Equal(t, st.HardState, hs, "member %d", id)
		require.Equal(t, st.SoftState, ss, "member %d", id)
		require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = rn.States() }), "member %d", id)
	}
	_, ss := n.member(1).rn.States()
	require.Equal(t, StateLeader, ss.RaftState)
}
