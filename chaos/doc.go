// Package chaos runs real Ballast server processes in Docker and kills, pauses and restarts
// them while real etcd clients (go.etcd.io/etcd/client/v3, from the host) record histories in
// linearizability/FORMAT.md's format; then it heals the cluster and checks the run.
//
// A run (Run) is one scenario at one seed:
//  1. Start sweeps what runs of dead processes left behind (every container, network and
//     volume carries LabelRun, the run's id, and LabelOwner, the pid of the process that made
//     it), creates a private network, a volume and a container per member from the image
//     make image stages (by id or tag, or BuildImage's tag; a run never pulls, the image must
//     be local), with
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
// # The Docker engine through dockertest
//
// Every engine call goes through github.com/ory/dockertest/v3's client (its
// github.com/ory/dockertest/v3/docker, go-dockerclient): dockertest.NewPool finds the endpoint
// (DOCKER_HOST, else the local socket), and the client is made again pinned to the API version
// the engine reports (GET /version: 1.41 for Debian's engine 20.10 here; an engine older than
// 1.25 is refused, naming it), so no request carries a version the engine does not serve.
// The runner uses the client's calls, not dockertest's Run helpers, because each of their
// defaults would be wrong here, and is undone:
//   - Images: BuildImage (ballast-chaos -stage, the tests) sends make image's staged context
//     (.bin/image, .bin/image-ballast-chaos, .bin/image-ballast-canary) with the project's
//     Dockerfile to the API's build, classic builder (Version 1: this engine has no BuildKit),
//     no pull; the tag is the sha256 of the context (a new ballast binary is a new tag), and a
//     tag that exists is run as it is, so an image is built once per binary (dockertest's
//     BuildAndRunWithOptions builds on every call). Containers run by tag or id; Start's
//     CheckImage refuses an image the engine lacks before anything is made, and the API's
//     create never pulls (dockertest's RunWithOptions pulls a missing image from a registry,
//     and this machine has none).
//   - Ports: the container is made with CreateContainer, not RunWithOptions (which publishes
//     every exposed port, on all interfaces): only the client port 2379 is bound, on
//     127.0.0.1, PublishAllPorts off; the peer port stays on the run's network.
//   - Stops: the container's StopSignal is SIGTERM (dockertest's default is SIGWINCH, which
//     the member ignores), and Stop sends SIGTERM itself with KillContainer, then waits for
//     status 0. kill -9 is KillContainer with SIGKILL; after any restart memberPID inspects the
//     container again (a new process, whose namespace nsenter enters).
//   - Clean-up: every network, volume and container is created with LabelRun and LabelOwner;
//     Start sweeps by LabelOwner (owners that are gone), Close removes by LabelRun containers
//     (forced, which also ends paused ones), then the named volumes (dockertest's Purge, and
//     RemoveVolumes, remove only anonymous volumes), then the network, also after a failed
//     Start and on an interrupt (cmd/ballast-chaos cancels the run, and Close has a context
//     of its own).
//   - Also through the client: pause and unpause, the control files copied into a data dir
//     (UploadToContainer with a one-file tar, what docker cp does), logs, wait.
//
// nsenter and the host's iptables (network.go) are host commands, not engine calls.
//
// # Fault kinds
//
// A scenario is the catalogue's own (scenarios.ByName: leader-crash) or one of this package's
// Docker-only scenarios (kill-pause-restart). Each fault goes through its kind's descriptor
// (scenarios.Descriptor: target counts, rate, instantaneous or not), scenarios' own: every
// kind this runner applies is one the simulator models too (pause, graceful-restart,
// rolling-restart and kill-all were Docker-only until it did):
//   - crash: SIGKILL through the API (kill -9), the container started again after Duration
//     when set. Crashes of one instant (the leader and a follower "at once") are resolved
//     first and killed one right after the other, before any wait. A plain kill -9 is not the simulator's power loss:
//     the page cache keeps what the process wrote and did not sync. In power-loss mode
//     (RunConfig.PowerLoss, on the chaos image: make chaos-images builds ballast -tags chaos)
//     the members run with --chaos-power-loss, Pebble on kv/powerloss, which holds unsynced
//     writes in process memory, so a kill -9 loses exactly them; the fault is then recorded
//     as power-loss, otherwise as kill.
//   - slow-disk (power-loss mode only): a file naming the delay copied into the member's data
//     dir (UploadToContainer); the chaos build's FS waits that long before each sync.
//   - restart: the API's start of a member that is down.
//   - partition, isolate, bridge, one-way, loss: iptables rules in the members' network
//     namespaces, entered with nsenter from the host (root needed; CheckNetworkFaults says
//     what is missing); network.go says how each is translated, and why one-way cuts the
//     connections a member opens rather than packets one way.
//   - add-member, remove-member, replace-member, transfer-leader: etcd's runbook through the
//     cluster API (MemberAddAsLearner, a container started with --initial-cluster-state
//     existing, MemberPromote once caught up; MemberRemove, after which the member stops
//     itself; MoveLeader asked of the leader). The checks after healing use the members in
//     the configuration then.
//   - latency (power-loss mode, the chaos image): a file naming the delay copied into every
//     member's data dir (UploadToContainer); the chaos build's peer listener holds back what peers send by
//     that much (this kernel has no netem). Without the chaos image it is recorded as not
//     applied.
//   - duplicate, reorder: recorded as not applied, with the reason (TCP hides both from the
//     application); the rest of the scenario runs.
//   - pause: the API's pause (the cgroup freezer: a process that stops without noticing),
//     unpause after Duration.
//   - graceful-restart: SIGTERM sent explicitly, exit status 0 required, started again.
//   - rolling-restart: every member restarted gracefully in turn, followers first and the
//     leader last, each serving again before the next goes down (an operator's upgrade).
//   - kill-all: every member killed at once (power loss of the whole cluster in
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
// Imports: linearizability and scenarios of the project; github.com/ory/dockertest/v3 and its
// docker client for the engine, go.etcd.io/etcd/client/v3 for the members. Only cmd imports
// chaos.
package chaos
