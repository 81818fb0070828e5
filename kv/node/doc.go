// Package node is one Ballast member: it drives raft's Ready through storage, transport and
// apply, and serves linearizable reads through ReadIndex. It is the only package that knows
// raft, storage and the state machine together.
//
// Imports: raft and kv/*; never rpc, sim or chaos.
package node
