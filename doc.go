// Package ballast is the root of Ballast, an etcd-compatible key-value store built on a Raft
// implementation written from scratch, with the harness that proves it: a deterministic
// simulator, Docker chaos runs and linearizability checking of recorded histories.
//
// The root package holds no code. Its test (arch_test.go) guards the import direction of
// ../shared/DESIGN.md:
//
//   - raft imports nothing of ours;
//   - kv/* import raft and kv only; rpc imports kv and raft;
//   - linearizability imports nothing of the store (it reads histories);
//   - scenarios is data and imports nothing of ours but linearizability;
//   - nothing imports sim or chaos but cmd (and their own subpackages);
//   - canary (the switch for the deliberately broken variants) imports nothing of ours, and
//     every package may import it, raft included: in normal builds its guards are constant
//     false and compiled away;
//   - timeq (the event queue ordered by time of sim and linearizability/gen) imports nothing
//     of ours, and every package may import it.
package ballast
