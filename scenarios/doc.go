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
// Canaries (canaries.go) is a separate list, outside the catalogue: for each deliberately
// broken variant of package canary, the scenario sharpened to catch it.
//
// Imports: nothing of Ballast's but linearizability and canary (the canaries' names).
package scenarios
