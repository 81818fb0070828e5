package gen

import "fmt"

// Config shapes a generated history. Start from DefaultConfig and change what a test needs;
// rates are probabilities per operation in [0, 1].
type Config struct {
	// ClusterSize and the member names m1..mN appear in the header and in faults.
	ClusterSize int
	// Clients is the number of concurrent KV clients, c0..c{n-1} (and their replacements).
	Clients int
	// Operations is the total number of client operations (over all clients).
	Operations int
	// Keys is the size of the key space: k0..k{n-1}.
	Keys int
	// BinaryKey adds one key that is not valid UTF-8 ("\xffbin"), so files carry key_b64.
	BinaryKey bool
	// Watchers is the number of watchers, w0..w{n-1}: most watch every key, some one key or
	// a prefix.
	Watchers int
	// ResumesPerWatcher bounds how often a watcher's stream breaks and is resumed.
	ResumesPerWatcher int
	// UnknownRate: the client never hears back (no return); the request applies or not
	// (half each), possibly long after the call. The client carries on.
	UnknownRate float64
	// IndeterminateRate: the client gets a timeout error; the request applies or not (half
	// each), possibly after the error.
	IndeterminateRate float64
	// DefiniteErrorRate: the client sends a request etcd rejects (empty key, duplicate key in a
	// txn, a future revision, a too-large request, revoking a lease that does not exist); it
	// never applies. Other definite errors arise by themselves (a put with an expired lease).
	DefiniteErrorRate float64
	// CrashRate: the client crashes with its request in flight (unknown outcome, applied or
	// not) and issues nothing more; a new client with a new id (c3.1 after c3) takes its place.
	CrashRate float64
	// SerializableStaleRevisions: a serializable read answers from a state up to this many
	// revisions old (as a lagging member would), with that state's revision in its header.
	// 0: serializable reads are fresh.
	SerializableStaleRevisions int64
	// LeaseTTLSeconds is the TTL of granted leases; keep-alives come at random, so some
	// leases expire (recorded as cluster expiries) and some are revoked.
	LeaseTTLSeconds int64
	// ThinkNsMax bounds a client's pause between operations; ServiceNsMax bounds the time
	// from call to apply and from apply to return.
	ThinkNsMax, ServiceNsMax int64
	// Faults is the number of fault records (they only decorate the history: the generated
	// execution is correct whatever they say).
	Faults int
}

// DefaultConfig is a small, busy history: 3 members, 4 clients, 200 operations on 5 keys, 2
// watchers, a few unknown outcomes, errors and crashes, leases of 1 s.
func DefaultConfig() Config {
	return Config{
		ClusterSize:                3,
		Clients:                    4,
		Operations:                 200,
		Keys:                       5,
		BinaryKey:                  true,
		Watchers:                   2,
		ResumesPerWatcher:          2,
		UnknownRate:                0.04,
		IndeterminateRate:          0.03,
		DefiniteErrorRate:          0.03,
		CrashRate:                  0.005,
		SerializableStaleRevisions: 2,
		LeaseTTLSeconds:            1,
		ThinkNsMax:                 40_000_000,
		ServiceNsMax:               4_000_000,
		Faults:                     2,
	}
}

// Validate names the first field out of range.
func (c Config) Validate() error {
	switch {
	case c.ClusterSize < 1:
		return fmt.Errorf("gen.Config: ClusterSize %d: must be at least 1", c.ClusterSize)
	case c.Clients < 1:
		return fmt.Errorf("gen.Config: Clients %d: must be at least 1", c.Clients)
	case c.Operations < 0:
		return fmt.Errorf("gen.Config: Operations %d: must not be negative", c.Operations)
	case c.Keys < 1:
		return fmt.Errorf("gen.Config: Keys %d: must be at least 1", c.Keys)
	case c.Watchers < 0 || c.ResumesPerWatcher < 0 || c.Faults < 0:
		return fmt.Errorf("gen.Config: Watchers, ResumesPerWatcher and Faults must not be negative")
	case c.SerializableStaleRevisions < 0:
		return fmt.Errorf("gen.Config: SerializableStaleRevisions %d: must not be negative", c.SerializableStaleRevisions)
	case c.LeaseTTLSeconds < 1:
		return fmt.Errorf("gen.Config: LeaseTTLSeconds %d: must be at least 1", c.LeaseTTLSeconds)
	case c.ThinkNsMax < 1 || c.ServiceNsMax < 1:
		return fmt.Errorf("gen.Config: ThinkNsMax and ServiceNsMax must be at least 1")
	}
	for _, r := range []struct {
		name string
		rate float64
	}{{"UnknownRate", c.UnknownRate}, {"IndeterminateRate", c.IndeterminateRate},
		{"DefiniteErrorRate", c.DefiniteErrorRate}, {"CrashRate", c.CrashRate}} {
		if r.rate < 0 || r.rate > 1 {
			return fmt.Errorf("gen.Config: %s %v: must be in [0, 1]", r.name, r.rate)
		}
	}
	if sum := c.UnknownRate + c.IndeterminateRate + c.DefiniteErrorRate + c.CrashRate; sum > 1 {
		return fmt.Errorf("gen.Config: the error rates add up to %v, more than 1", sum)
	}
	return nil
}
