// Package auth is the start of Ballast's auth store (issue 22, etcd's Auth service): for now
// the permission model of etcd's roles, i.e. which key ranges a set of granted permissions
// covers and whether a request's key or range is permitted, with etcd's encoding of a
// permission's range (empty range end: one key; "\x00": from the key on; otherwise the
// half-open range [key, range end)). Users, roles, passwords and persistence are not here yet.
//
// Imports: the standard library only. It is deterministic (no clock, no randomness, no map
// iteration), so the simulator may run it.
package auth
