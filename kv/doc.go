// Package kv groups the replicated store of one member: mvcc (revisions on Pebble), watch,
// lease, raftlog (the raft log on the same Pebble DB) and node (the member that ties raft,
// storage and the state machine together); faultfs is the disk beneath Pebble that fails a
// member's WAL write or sync on demand, for the simulator and node's tests.
//
// Imports: packages under kv may import raft and each other; never rpc, sim or chaos.
package kv
