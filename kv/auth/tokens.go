package auth

import (
	"fmt"
	"strconv"
	"strings"
)

// Tokens are etcd's simple tokens (--auth-token simple): "<prefix>.<index>", the prefix
// drawn at random by the API layer that proposes the Authenticate and the index the raft
// index it applied at. Every member assigns the token when it applies the entry, so a token
// works on every member that has applied it; tokens live in memory only (a restarted member
// has none, and clients authenticate again, as with etcd). A token unused for the TTL
// expires; each use restarts its TTL (etcd's simpleTokenTTLKeeper). Time is in the member's
// ticks, so the simulator's runs are reproducible.
type Tokens struct {
	ttl     uint64 // in ticks; 0: never expire
	byToken map[string]*tokenEntry
}

type tokenEntry struct {
	user    string
	expires uint64
}

// NewTokens returns an empty token table whose tokens expire after ttlTicks unused.
func NewTokens(ttlTicks uint64) *Tokens {
	return &Tokens{ttl: ttlTicks, byToken: map[string]*tokenEntry{}}
}

// SimpleToken is the token an Authenticate with prefix gets when it applies at index.
func SimpleToken(prefix string, index uint64) string {
	return prefix + "." + strconv.FormatUint(index, 10)
}

// TokenIndex parses a simple token's index: a token that is not "<prefix>.<index>" is
// malformed (etcd's isValidSimpleToken).
func TokenIndex(token string) (uint64, error) {
	prefix, idx, ok := strings.Cut(token, ".")
	if !ok || prefix == "" || strings.Contains(idx, ".") {
		return 0, ErrInvalidAuthToken
	}
	n, err := strconv.ParseUint(idx, 10, 64)
	if err != nil || n == 0 {
		return 0, ErrInvalidAuthToken
	}
	return n, nil
}

// Assign records token for user at tick now. A token assigned twice is a bug (prefixes are
// random and indexes unique), as in etcd, which panics there too.
func (t *Tokens) Assign(token, user string, now uint64) {
	if _, ok := t.byToken[token]; ok {
		panic(fmt.Sprintf("auth: simple token assigned twice (user %q)", user))
	}
	t.byToken[token] = &tokenEntry{user: user, expires: now + t.ttl}
}

// Lookup returns token's user and restarts its TTL; false when it is unknown or expired.
func (t *Tokens) Lookup(token string, now uint64) (string, bool) {
	e, ok := t.byToken[token]
	if !ok || (t.ttl > 0 && e.expires <= now) {
		return "", false
	}
	e.expires = now + t.ttl
	return e.user, true
}

// InvalidateUser drops every token of user (its password changed or it was deleted).
func (t *Tokens) InvalidateUser(user string) {
	for tok, e := range t.byToken { // deletion only: the order does not matter
		if e.user == user {
			delete(t.byToken, tok)
		}
	}
}

// Expire drops the tokens unused for the TTL at tick now.
func (t *Tokens) Expire(now uint64) {
	if t.ttl == 0 {
		return
	}
	for tok, e := range t.byToken { // deletion only: the order does not matter
		if e.expires <= now {
			delete(t.byToken, tok)
		}
	}
}

// Clear drops every token (auth disabled).
func (t *Tokens) Clear() { clear(t.byToken) }

// Len is the number of live tokens.
func (t *Tokens) Len() int { return len(t.byToken) }
