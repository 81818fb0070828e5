// Package sim is the deterministic world: whole Ballast clusters (the real kv/node members
// on Pebble over in-memory crashable file systems) driven by one event loop in virtual time,
// under simulated clients and the faults of a scenario, with every run judged by
// linearizability.Check and by HashKV agreement.
//
// Imports: what it drives (kv/node, raft; kv/mvcc for its errors), linearizability, scenarios. Only cmd imports sim.
//
// # API
//
//	res := sim.Run(scenario, seed, sim.Options{Trace: w})
//
// Result says whether the run passed (checker verdict ok, liveness thresholds met, HashKV
// agreed, no member failed), why not in one sentence, the history and the checker's result,
// and Digest: the SHA-256 of the logical trace up to the judgement (the trace's "judged"
// line). Same scenario and seed, same digest on any machine: the linearizability checker
// runs after the digest is taken, since its Porcupine searches have wall-clock budgets
// (Options.CheckBudgetScale scales them) and a busy machine may end one early.
//
// # The world (world.go)
//
// A virtual clock and an event queue ordered by (time, sequence number); one goroutine runs
// every event. Randomness comes from separate PCG streams derived from the run's seed:
// workload, network, faults and disk, plus one per member (raft's election timeouts, request
// IDs), so drawing more from one stream does not reshuffle the others. The trace is lines
// "t=<ns> <event>": messages (sender, receiver, length, FNV-32 of the bytes, latency or
// fate), client calls and answers, faults, member log lines, HashKV checks. Pebble's own
// goroutines (flushes, compactions) never appear in it: determinism is judged on this
// logical trace, never on file contents.
//
// # Map (each file's header says how its part works)
//
//	sim.go          Run: set-up, workload, faults, healing, settling, judging, the digest
//	world.go        the virtual clock, the event queue, the seeded streams, the trace
//	cluster.go      members on crashable in-memory disks: Work, sync, crash, restart, network
//	links.go        per-link latency distributions
//	knobs.go        the member settings a scenario sets and a seed draws (BUGGIFY)
//	client.go       the clients and their history; leases.go their leases; auth.go the
//	                auth workload (users, the control client's grants and revokes)
//	watcher.go      watchers that resume across crashes
//	faults.go       scheduling faults; faultkinds.go one applier per fault kind
//	membership.go   add, remove and replace members
//	corrupt.go      damage at rest to a stopped member's files
//	pause.go        frozen processes: what reaches a paused member waits, in order
//	restarts.go     graceful, rolling and whole-cluster restarts
//	safety.go       the online safety checker over the members' Observer reports
//	purpose.go      purpose events and rare-path counts (Result.Coverage)
//	shrink.go       reducing a failing run's fault schedule
//	convert.go, lookup.go  history conversions; scenario lookup for replays
//	canary_test.go  the canary test (-tags canary)
//
// # Faults (faults.go, faultkinds.go)
//
// Each kind's static half (targets, parameters, random draw) is its scenarios.Descriptor;
// faultkinds.go holds the simulator's half, one apply (returning its undo) per kind in the
// appliers registry; TestAppliersMatchDescriptors keeps the two in step and
// TestDocListsEveryFaultKind keeps this list complete. Every kind starts and ends with the
// same trace line (fault KIND start [members] detail / fault KIND end) and history record.
//
// Supported: crash (restarting after Duration when set), restart, partition, isolate,
// one-way, bridge (the members other than Targets[0] split in two halves by index, which
// only Targets[0] connects), loss, duplicate, reorder, latency, slow-disk, sync-fail,
// write-fail and short-write (disk faults beneath Pebble, kv/faultfs: the target's next
// Synced fails in Pebble's WAL sync or write, the member stops, never retrying, and is
// crashed, losing what it had not synced; it restarts after Duration), clock-skew, transfer-leader,
// corrupt, add-member, remove-member, replace-member (below), and the step crashes
// crash-before-sync, crash-before-send and crash-after-truncate (stepcrash.go: the target
// loses power at that step of its next persist cycle, or of the next one that truncated a
// conflicting suffix, and restarts 50 ms later; armed for Duration), pause (pause.go: the
// target's process freezes for Duration: no tick, no Work, its sync completions, the
// messages and the client requests that reach it held and handled in arrival order when it
// resumes, its clock running on), graceful-restart (restarts.go: a clean stop that loses
// nothing, the disk synced whole, and a start 500 ms later), rolling-restart (every member
// restarted so in turn, followers first and the leader last, each serving again before the
// next) and kill-all (every running member crashed at one instant, restarted after
// Duration). Each is recorded as a history
// fault record and a trace line. Any other kind makes Run return a failed Result naming it,
// before anything runs. RandomFaults are drawn from the faults stream (each kind enabled with
// probability one half, then Count faults among them; corrupt, remove-member and
// replace-member target a founding member by index, add-member none).
//
// # Not yet here
//
// Writing the report of a failing run (cmd's job with Result.History and Result.Check). A
// member refused for corruption is not replaced by the simulator (a replace-member fault
// may); corruption of a running member's files (it is always crashed first) and of the WAL.
//
// # Invariants (panics)
//
// An event is never scheduled before the current virtual time.
package sim
