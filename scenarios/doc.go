// Package scenarios is the catalogue of named workloads and fault schedules, written once and
// run by both sim and chaos. It is data: a Scenario says the cluster size, the workload mix
// and rate, the fault schedule (fixed, or drawn per seed for swarm testing), the duration and
// the liveness thresholds; the runner decides how to inflict each fault on its world.
//
// A scenario also declares its purposes (purpose.go): the events it exists to produce
// (a leader change after a leader crash, a minority leader stepping down, a snapshot
// installed on a returning member, ...). The runner counts them from what the members
// report, not from the schedule; a run that missed one fails, or, for a purpose random by
// design (MinShare), a sweep below its share.
//
// Each fault kind has one Descriptor (kinds.go): its target bounds, the parameters it reads,
// how a random fault of the kind is drawn, and its summary line. The descriptor is the static
// half of the kind, the part every runner shares: Validate checks schedules against it, the
// simulator draws random faults from it, and the Docker chaos runner reuses it unchanged. The
// dynamic half (apply, undo) needs the runner's world, so each runner keeps a registry keyed
// by FaultKind (sim/faultkinds.go) with a test that both halves list the same kinds; the
// alternative, an Apply func in the descriptor, would make scenarios import the simulator
// (forbidden by arch_test.go) or make every runner share one world interface too wide for
// either (links and disks here, containers and iptables there).
//
// Canaries (canaries.go) is a separate list, outside the catalogue: for each deliberately
// broken variant of package canary, the scenario sharpened to catch it.
//
// Imports: nothing of Ballast's but linearizability and canary (the canaries' names).
package scenarios
