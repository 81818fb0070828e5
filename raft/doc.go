// Package raft is the Raft consensus protocol as a pure, deterministic state machine.
//
// It has no goroutines, no clock, no I/O and no global randomness: time enters only through
// Tick, randomness only through a seeded source in its configuration, and the application
// persists, sends and applies what Ready hands out before calling Advance.
//
// Imports: the standard library only (never os, net, sync or time beyond durations), and
// nothing of Ballast's.
package raft
