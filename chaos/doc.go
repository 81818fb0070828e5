// Package chaos runs real Ballast server processes in Docker and kills, pauses and restarts
// them while real etcd clients (go.etcd.io/etcd/client/v3, from the host) record histories in
// linearizability/FORMAT.md's format; then it heals the cluster and checks the run.
//
// A run (Run) is one scenario at one seed:
//  1. Start sweeps what runs of dead processes left behind (every container, network and
//     volume carries LabelRun, the run's id, and LabelOwner, the pid of the process that made
//     it), creates a private network, a volume and a container per member from the image
//     make image builds (by id or tag; a run never pulls, the image must be local), with
//     etcd's flags, each member's client port published on 127.0.0.1 only (a fixed port per
//     member, so clients keep their endpoints across restarts), and waits until every member
//     answers a linearizable read.
//  2. Clients (8 by default) issue puts, whole-bucket gets, CAS txns on a counter per bucket
//     and deletes of their own keys (each in a txn with a marker put, so the final read
//     places an unknown delete at its revision), one request at a time each, at most 16 live
//     keys per client (whole-bucket reads stay small), paced so that MaxOps operations
//     (20,000 by default, for the checker to finish) spread over the whole duration. An error
//     that does not prove the request failed leaves its outcome unknown (history.Classify).
//  3. The scenario's faults run on its schedule, scaled to the run's duration.
//  4. Heal (unpause, start what is stopped), wait until every member serves, read the whole
//     prefix once more (settling unknown outcomes), and check: the revision-guided checker's
//     verdict is ok (unknown fails the run), every acknowledged write is in the store's
//     history (a watch from revision 1 replays it: the event at the write's revision has its
//     key and value), and every member has the same HashKV at the final revision. The
//     history and the checker's report (summary.json, report.html) go to RunConfig.Out.
//
// # Why the docker CLI and not dockertest
//
// The runner drives the engine through the docker CLI (os/exec), as deploy/'s tests do, not
// github.com/ory/dockertest/v3: the handful of calls it needs (create, start, kill with a
// signal, wait, pause, unpause, rm, network and volume create) are one CLI line each; the CLI
// is already a requirement of make image; errors come back as the CLI's own text, which names
// what is wrong; and dockertest's defaults would each need undoing (it publishes every
// port on all interfaces, stops with SIGWINCH, pulls a missing image from a registry this
// machine lacks, and Purge leaves named volumes behind). docker create gets --pull never, and
// CheckImage refuses a missing image before anything is made.
//
// # Fault kinds
//
// A scenario is the catalogue's own (scenarios.ByName: leader-crash) or one of this package's
// Docker-only scenarios (kill-pause-restart). Each fault goes through its kind's descriptor
// (scenarios.Descriptor: target counts, rate, instantaneous or not), scenarios' own: every
// kind this runner applies is one the simulator models too (pause, graceful-restart,
// rolling-restart and kill-all were Docker-only until it did):
//   - crash: docker kill --signal KILL (kill -9), restarted by docker start after Duration
//     when set. Crashes of one instant (the leader and a follower "at once") are resolved
//     first and killed in one docker kill. A plain kill -9 is not the simulator's power loss:
//     the page cache keeps what the process wrote and did not sync. In power-loss mode
//     (RunConfig.PowerLoss, on the chaos image: make chaos-images builds ballast -tags chaos)
//     the members run with --chaos-power-loss, Pebble on kv/powerloss, which holds unsynced
//     writes in process memory, so a kill -9 loses exactly them; the fault is then recorded
//     as power-loss, otherwise as kill.
//   - slow-disk (power-loss mode only): docker cp of a file naming the delay into the
//     member's data dir; the chaos build's FS waits that long before each sync.
//   - restart: docker start of a member that is down.
//   - partition, isolate, bridge, one-way, loss: iptables rules in the members' network
//     namespaces, entered with nsenter from the host (root needed; CheckNetworkFaults says
//     what is missing); network.go says how each is translated, and why one-way cuts the
//     connections a member opens rather than packets one way.
//   - add-member, remove-member, replace-member, transfer-leader: etcd's runbook through the
//     cluster API (MemberAddAsLearner, a container started with --initial-cluster-state
//     existing, MemberPromote once caught up; MemberRemove, after which the member stops
//     itself; MoveLeader asked of the leader). The checks after healing use the members in
//     the configuration then.
//   - latency (power-loss mode, the chaos image): docker cp of a file naming the delay into
//     every member's data dir; the chaos build's peer listener holds back what peers send by
//     that much (this kernel has no netem). Without the chaos image it is recorded as not
//     applied.
//   - duplicate, reorder: recorded as not applied, with the reason (TCP hides both from the
//     application); the rest of the scenario runs.
//   - pause: docker pause (the cgroup freezer: a process that stops without noticing),
//     docker unpause after Duration.
//   - graceful-restart: SIGTERM sent explicitly, exit status 0 required, docker start.
//   - rolling-restart: every member restarted gracefully in turn, followers first and the
//     leader last, each serving again before the next goes down (an operator's upgrade).
//   - kill-all: every member killed in one docker kill (power loss of the whole cluster in
//     power-loss mode), all started again after Duration.
//
// # Canaries
//
// Canaries lists the canaries (scenarios.Canaries) whose own scenarios translate; a run with
// RunConfig.Canary runs the canary image (-tags canary,chaos) with BALLAST_CANARY set, in
// power-loss mode. TestDockerCanaries (-tags docker, make chaos-test) requires ack-before-sync
// and read-no-quorum caught within 5 seeds, and the correct chaos image to pass.
//
// Targets are leader, follower (one drawn from the seed among the running followers not
// already chosen), minority ((n-1)/2 members drawn from the seed), m<i> (the member at index
// i, named m<i> as in the simulator) and random (a member drawn from the seed when the run is
// planned). Scenarios whose faults have no translation (the simulator's disk faults and
// corruption, clock skew) are refused by name; ballast-chaos list prints the ones a run takes. A
// scenario's SnapshotEntries becomes the members' --snapshot-count.
//
// # Against a running cluster
//
// RunEndpoints (ballast-chaos run -endpoints) drives the same traffic against a cluster the
// user runs (etcd, Ballast), under an empty prefix it deletes at the end, with the user's
// kill and restart commands as its only faults, and runs the same checks. The history
// records revisions less the cluster's revision at the start, so it reads as a fresh
// store's; the cluster must have no other writer meanwhile (another writer's revision has no
// recorded writer, and the verdict is then unknown).
//
// Determinism: a Docker run is not reproducible the way a simulator run is (real time, real
// scheduling); the seed fixes the clients' choices and the drawn targets only.
//
// Imports: linearizability and scenarios. Only cmd imports chaos.
package chaos
