// Package quorum is majority arithmetic for Raft, as pure functions: which index a majority of
// voters has acknowledged, and whether an election is won, lost or still open.
//
// Imports: the standard library only. Invariants: the functions never allocate and never
// depend on the order of their inputs.
package quorum
