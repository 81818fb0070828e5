// Package sim is the deterministic world: whole Ballast clusters (the real kv/node members
// on Pebble over in-memory crashable file systems) driven by one event loop in virtual time,
// under simulated clients and the faults of a scenario, with every run judged by
// linearizability.Check and by HashKV agreement.
//
// Imports: what it drives (kv/node, raft), linearizability, scenarios. Only cmd imports sim.
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
// # Members (cluster.go)
//
// Each member runs on its own vfs.NewCrashableMem with the run's knobs (knobs.go: the
// scenario's settings, and per seed, from their own stream, small snapshot thresholds,
// small appends, short election timeouts, tiny Pebble memtables and caches and a tiny raft
// log cache; Pebble's sizes are otherwise 4 MiB and 1 MiB so many members fit), a Clock that follows
// virtual time at its own rate (ClockSkew changes the rate, never the reading at once) and a
// Logger into the trace. After any event that touches a member (a tick, a message, a
// request, a sync) its Work runs as an event 50µs later; a Work output with a SyncToken
// schedules Synced after a disk latency (0.5–3 ms, plus any SlowDisk delay), so a crash can
// land between the write and its sync. A crash closes the member after
// CrashClone(UnsyncedDataPercent: 0) of its FS (power loss); a restart reopens it on the
// clone. A generation number per member voids every event of a crashed process. Members are
// slots: member mI has raft ID I+1 (cluster.index), IDs are never reused, and a member added
// by churn takes the next slot; cluster.members are the current ones (founding and added,
// less the removed and those that refused to serve), the only ones clients, watchers,
// healing and the HashKV and convergence checks consider. Messages
// cross the network as the bytes Work/Synced produced, each with a latency drawn from its
// link's own distribution (uniform in [lo, hi] within 1–10 ms, drawn per directed link from
// the seed and the link's ends; links.go), so links differ and messages reorder; loss,
// duplication and extra reordering at the fault's rate,
// a latency spike, and partitions as a counted cut set of directed links (a message in
// flight when its link is cut is dropped).
//
// # Clients (client.go)
//
// Scenario.Clients clients each issue one request at a time (put, linearizable and
// serializable get, range over all keys, delete, compare-and-swap txn on the value the
// client last saw, lease grant, keep-alive (Member.KeepAlive), revoke, put with one of the
// client's leases; a lease kind with no lease of the client's grants one), at OpsPerSecond overall, to a random live member, with values unique per
// write ("c3-17"), recorded in a history.Recorder in virtual nanoseconds. An error returned
// during Submit itself (no leader known, member stopped) is recorded as definite: the
// member never proposed or forwarded the request. Other errors are classified by
// history.Classify. With no answer within clientTimeout (2 s) the outcome is unknown.
// The workload starts once the cluster elected its first leader (bounded by 10 s), and
// scenario times count from then.
//
// Leases (leases.go) are granted with a TTL of 2–6 s drawn per grant from the workload
// stream, and a lease ID the client picks (so the lease of a grant whose answer never came
// is still named in the history). A client keeps up to two of its leases alive, renewing
// each once a third of its TTL has passed (as etcd's client does) and sometimes stopping,
// and lets the others expire; puts with a lease and revokes pick any of its leases, and a
// put with a lease writes either a shared key or the lease's own key ("kl" and the ID in
// base 36), which only a revoke or the expiry deletes, so ranges and watchers see the lease
// end. Every member reports each expiry revoke it applies (node.Config.OnLeaseExpired); the
// first report of a lease becomes its lease_expiry record (lease, the revision of the
// revoke, the virtual time of that first apply), so the checker sees why the lease's keys
// vanished and judges that no lease expired before its TTL since the call that granted or
// renewed it. Later reports must name the same entry and revision (a panic otherwise).
//
// # Watchers (watcher.go)
//
// Scenario.Watchers watchers each follow the key space [k, l) from revision 1 on a random
// live member, pulling WatchStream.Pending every 20 ms of virtual time (recorded with the
// arrival time); when the stream fails, is canceled or its member crashes, the watcher
// resumes on a live member from the last revision it saw + 1 (recorded as a resume).
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
// only Targets[0] connects), loss, duplicate, reorder, latency, slow-disk, sync-fail (the
// target's next sync fails: it stops at once, before Synced, losing what it had not synced,
// and restarts after Duration; the sync is never retried), clock-skew, transfer-leader,
// corrupt, add-member, remove-member, replace-member (below). Each is recorded as a history
// fault record and a trace line. Any other kind makes Run return a failed Result naming it,
// before anything runs. RandomFaults are drawn from the faults stream (each kind enabled with
// probability one half, then Count faults among them; corrupt, remove-member and
// replace-member target a founding member by index, add-member none).
//
// # Membership churn (membership.go)
//
// add-member opens a new member (next ID, empty disk, founding members it is not among) and
// adds it as a learner, then promotes it once it caught up (etcd's learner-not-ready until
// its log reaches 90% of the leader's), so an empty member never counts towards a quorum it
// would slow down; it catches up from the leader's log or, when that was compacted, from a
// streamed snapshot. remove-member removes Targets[0]: once the removal applied on the
// leader the member leaves cluster.members at once and its process stops 500 ms later (a
// removed leader hands leadership over first); a removal waits while it would leave fewer
// than 3 voters or voters that serve no majority. replace-member adds a new member, then
// removes Targets[0]: adding first keeps the number of voters at least what it was, so a
// replacement under other faults never costs the quorum (removing first would leave a
// 3-member cluster on 2 voters while the new one catches up). Each call goes to whichever
// member leads when it is tried and is retried every 250 ms (no leader, leader changed,
// timeout, learner not ready) for up to 20 s; an answer lost after the change applied makes
// the retry's refusal (member exists, not found, not a learner) count as done. The header
// of the history names every member a run may have: the founding ones, then one per
// add-member and replace-member fault.
//
// # Corruption at rest (corrupt.go)
//
// corrupt crashes Targets[0] if it runs (power loss), opens its disk with node.StoreFiles
// (which flushes the WAL's contents into sstables: damage to the newest WAL would read as a
// torn tail and be silently truncated, so the WAL is never the target) and flips one byte of
// one of its live sstables (outside the unchecksummed footer) or of its MANIFEST (in the
// first 32 KiB record block), chosen by three draws of the disk stream: the stream moves the
// same way whichever files Pebble's background work left. A member it crashed restarts
// after Duration; a stopped one stays down until a restart fault, the end of its crash or
// healing. At restart kv/node finds the damage (a strict MANIFEST read before Pebble opens,
// every sstable block's checksum after) and Open fails with node.ErrCorruption; a
// corruption Pebble reports while a member runs stops it the same way at its next Work.
// Either way the member refuses to serve for good: it leaves cluster.members (never
// restarted, never counted in HashKV or convergence, its raft vote lost), the trace says
// "refuses to serve" (naming no file: which file held the damage is Pebble's layout, not the
// logical run) and the history gets a refuse-to-serve fault, open to the end, whose detail
// is the member's error naming the file. A corruption is skipped (traced) when the voters
// lost to corruption (refused, or corrupted and not yet restarted) would, with this one, no
// longer leave a majority of the voters; remove-member counts them the same way. The
// checker and HashKV stay on: a member that served damaged data fails the run
// (TestSilentCorruptionFailsTheRun rewrites a value validly, so no checksum sees it, and the
// run fails on HashKV).
//
// # Judging (sim.go)
//
// Every hashCheckInterval (2 simulated seconds), every live member's HashKV at the lowest
// revision all of them applied must agree. (Each check scans every stored version on every
// member, so its cost grows with the run; at one per second it was 14.5% of
// BenchmarkSteady1000's profile.) After Duration the clients stop, every fault heals, crashed members
// restart, in-flight requests get their answer or time out, and the cluster must converge
// (every member up, one applied index and revision) within 10 s; then HashKV is compared
// again and the history goes to linearizability.Check with MinAckShare from the scenario. The
// revision-guided checker decides; the whole-history Porcupine search (narrowed by what that
// checker proved about unknown outcomes) runs as a second opinion on histories of up to
// porcupineMaxOps (4,000) operations.
// Liveness.MaxRecovery: when the last fault healed at least MaxRecovery before the workload
// ended, a write must have succeeded within MaxRecovery of it. A panic anywhere (a member's
// invariant) fails the run with its message. Every request a member took must be answered
// (a result, an error or its own timeout) within answerBound while that process runs: a
// dropped request would otherwise pass as a client timeout with an unknown outcome.
//
// # Online safety checker (safety.go)
//
// Every member reports each step to the run's checker (node.Config.Observer, report-only):
// the entries it applied (index, term, hash of the data), its hard state and the leader it
// knows at each Ready, what became durable at each sync, and its state at Open. The checker
// judges across members as the run goes: one entry per committed index (a snapshot names its
// index and term), commit, term, vote and applied index never going back (within a process;
// across a restart, never below what its last sync made durable), at most one leader per term,
// no applied index skipped or beyond the commit index. The first violation stops the run at
// that step (no healing, no settling) with a failure "safety violation (<kind>): ..." naming
// the members, the index or term and both sides; FailureClass keeps the kind. It also counts
// the rare paths the members report (node.EventKind). It traces nothing while all is well, so
// digests of passing runs do not change with it.
//
// # Purposes and coverage (purpose.go)
//
// Result.Coverage says, from the members' Observer reports (counted by the safety checker)
// and the simulator's own crashes at failed syncs, which scenarios.PurposeEvents happened and
// how often each rare path ran (node.EventKind, summed over members: a lease expiry applied
// on three members counts three). leader-change counts elections won after the workload
// started; leader-step-down a member whose last report led and whose next one does not,
// while it runs; snapshot-installed an install on a member that crashed before or joined;
// conf-change-applied as many distinct committed membership changes as the membership faults
// ask for (add-member two, remove-member one, replace-member three);
// sync-fail-crash one crash at a failed sync per sync-fail fault; lease-expiry-under-skew an
// expiry revoke applied while a live member's clock ran skewed. After every other judgement
// a run whose scenario declared a purpose (MinShare 0) that did not happen fails with
// "purpose not reached: <why>". ballast-sim's coverage table shows, per scenario, the share of
// seeds in which each purpose event happened (* marks the declared ones) and the rare-path
// counts, and fails a sweep in which a purpose with a MinShare fell below it.
//
// # Shrinking (shrink.go)
//
// A run's fault list (Result.Schedule, or Schedule without running) is the scenario's Faults
// followed by the faults drawn for the seed. Options.Skip names indices into it that are not
// injected: the whole list is drawn first and the skipped entries dropped afterwards, so the
// others keep their kinds, times, rates and member targets. Role targets (leader, follower,
// minority) are resolved when the fault is injected, drawing from the faults stream, so
// removing an earlier fault can change which member a later role fault hits; the reduced
// run is still exactly reproducible from its Skip.
//
// Shrink(sc, seed, ShrinkOptions{}) reduces a failing run's list until it is 1-minimal:
// it tries removing the whole list, then halves, quarters, ... and ends with passes removing
// one fault at a time until a pass removes none. "Still failing" means failing in the same
// FailureClass: the checker's verdict and its first check that fired (porcupine, revision,
// watch, lease, durability, liveness), or the simulator's own judgement (HashKV, convergence,
// recovery, panic) without times and revisions. The exact sentence would change with every
// removal; any failure would let a safety violation shrink into an unrelated liveness
// shortfall. The search is deterministic and every candidate is a full run.
//
// # Canaries (../canary, ../scenarios/canaries.go, canary_test.go)
//
// A harness that never fails proves nothing. Seven deliberately broken variants of the store
// (package canary, compiled only with -tags canary) each break one rule, and each names the
// scenario sharpened to catch it (scenarios.Canaries, outside the catalogue). `make
// canaries` (ballast-sim canaries) searches seeds 1..200 of each; TestCanaries (-tags
// canary, a line of make unit, 6-8 s on this machine) searches seeds 1..12 of each
// (wideWindows may widen one, with its reason). A catch counts only when
// the same seed passes with no canary, and a checker verdict of unknown never counts. Runs
// are stopped at their first FAIL line (a run whose members' logs diverged can otherwise
// take minutes: they trade appends and rejections in a storm the simulator must play out).
//
//	canary                scenario                    caught at seed  by
//	no-log-check          canary-stale-candidate      2               a raft panic in a member once the stale one won
//	read-no-quorum        canary-stale-leader-reads   2               checker: a linearizable read's revision went backwards
//	ack-before-sync       canary-power-loss-majority  1               safety checker: two members applied different entries at one index
//	apply-twice           canary-crash-loop           1               HashKV disagreement (a revision applied twice)
//	watch-skip            canary-watch-resume         1               watch checker: a gap at the hand-over
//	lease-follower-clock  canary-lease-handover       1               lease checker: a lease expired before a keep-alive's TTL
//	commit-old-term       canary-figure-8             1               safety checker: a leader committed an entry of an earlier term
//	drop-when-full        canary-flood                1               answer check: a request the member took was never answered
//
// Seeds move whenever the traces are reshuffled: with
// uniform 1-10 ms latencies on every link commit-old-term was caught at seed 24 and the
// others at seed 1; with per-link distributions at 20, and no-log-check and read-no-quorum
// at 2. Caught share of seeds 1..10 (`go run -tags canary
// ./cmd/ballast-sim run -canary NAME -seeds 10 -out ""`): no-log-check 6, ack-before-sync 7,
// apply-twice 10, watch-skip 10, lease-follower-clock 10; read-no-quorum 4 of seeds 1..6
// (its violating runs used to spend 60 s in the whole-history Porcupine search; once the
// revision-guided checker has found a violation that search now gets at most 5 s).
//
// commit-old-term (a leader commits an entry of an earlier term by counting replicas) is the
// hard one. Every new leader appends an empty entry of its term and sends it with the old
// ones, followers acknowledge both together, and the leader counts its own entry only once
// synced, so with the default 1 MiB append bound the broken rule fires only while the
// leader's own entry is unsynced, when kv/node hands out nothing (no Ready while a sync is
// outstanding); 200 seeds of a random schedule never failed. canary-figure-8 is therefore a
// script of the paper's Figure 8 with one entry per append (Scenario.MaxAppendBytes 1, so a
// follower can hold old entries without the new leader's own): m0 leads and is cut off with
// m1; m2 and m3 cannot hear each other, so only m4 can win the other side, and its first
// entry is lost when m2 and m3 (slow disks) lose power within 0.5 s of its election while m4
// is cut off; m0 or m1 then commits the old entries on m2 and m3 by counting them; m0 and m1
// are cut off again and m4 wins. Judged by the end of the run (the members never converged
// again once m4 overwrote the entry) it was caught at seed 20 of 200: the election inside a
// 0.5 s window is rare. The online safety checker judges the commit itself (a leader's
// commit index must land on an entry of its own term) at the step it happens, which the
// script reaches far more often than the overwrite: caught at seed 1 of 12.
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
