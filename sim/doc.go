// Package sim is the deterministic world: a virtual clock and event queue, seeded random
// streams, a simulated network and disk, crashes with loss of unsynced writes, and simulated
// clients that record histories.
//
// Imports: what it drives (kv, raft), linearizability and scenarios. Only cmd imports sim.
package sim
