// Package auth is Ballast's auth store, etcd's users, roles and key-range permissions:
//
//	perm.go      which key ranges a set of granted permissions covers (etcd's
//	             IsRangePermitted: the union of the grants must cover the request)
//	store.go     the Store: enabled flag, auth revision, users, roles under "auth/" in the
//	             member's Pebble DB; Apply for every auth request (etcd's authStore and its
//	             admin checks), Check and CheckAdmin for the permission checks kv/node makes
//	tokens.go    simple tokens ("<random prefix>.<raft index>"), assigned when an
//	             Authenticate applies, expiring after a TTL counted in the member's ticks
//	password.go  bcrypt hashing and checking, done by the API layer outside the state machine
//
// The store changes only by Apply, from committed entries, so every member holds the same
// store at the same applied index; it is part of the state machine (raft snapshots carry
// "auth/"). Permissions use etcd's encoding of a range (empty range end: one key; "\x00":
// from the key on; otherwise the half-open range [key, range end)). Errors are etcd's gRPC
// errors (rpctypes), so kv/node counts them as a request's own answer and rpc sends them
// unchanged.
//
// Imports: the standard library, Pebble, etcd's api/v3 protobufs and errors, grpc's status,
// golang.org/x/crypto/bcrypt; nothing of Ballast's. Store and Tokens are deterministic (no
// clock, no randomness, no map iteration whose order matters), so the simulator runs them;
// password.go's bcrypt salts are random and are never called by the state machine.
package auth
