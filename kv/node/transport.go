package node

import (
	"bytes"
	"sync"
	"sync/atomic"
)

// LocalTransport connects Drivers in one process (tests, benchmarks): a message sent to a
// member is copied (members never share memory) and delivered into its Driver's bounded
// inbox, or dropped when that inbox is full, the member is not attached, or the link is cut.
// It is safe for concurrent use.
//
//	net := node.NewLocalTransport()
//	d, _ := node.NewDriver(m, net.Endpoint(m.ID()), node.RunOptions{})
//	net.Attach(d)
type LocalTransport struct {
	mu      sync.RWMutex
	drivers map[uint64]*Driver
	cut     map[[2]uint64]bool // (from, to) links that drop messages

	dropped atomic.Uint64
}

// NewLocalTransport returns a transport with no member attached.
func NewLocalTransport() *LocalTransport {
	return &LocalTransport{drivers: map[uint64]*Driver{}, cut: map[[2]uint64]bool{}}
}

// Attach makes d receive the messages sent to its member, replacing an earlier driver of the
// same member.
func (t *LocalTransport) Attach(d *Driver) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drivers[d.ID()] = d
}

// Detach stops delivering to member id; its messages are dropped from now on.
func (t *LocalTransport) Detach(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.drivers, id)
}

// Cut drops (cut=true) or restores the messages from member a to member b and back.
func (t *LocalTransport) Cut(a, b uint64, cut bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cut[[2]uint64{a, b}] = cut
	t.cut[[2]uint64{b, a}] = cut
}

// Dropped counts the messages sent to a member that was detached or behind a cut link (a full
// inbox counts in the receiving Driver's MessagesDropped instead).
func (t *LocalTransport) Dropped() uint64 { return t.dropped.Load() }

// Endpoint is the Transport member from sends through.
func (t *LocalTransport) Endpoint(from uint64) Transport { return localEndpoint{t: t, from: from} }

type localEndpoint struct {
	t    *LocalTransport
	from uint64
}

func (e localEndpoint) Send(env Envelope) {
	e.t.mu.RLock()
	d := e.t.drivers[env.To]
	cut := e.t.cut[[2]uint64{e.from, env.To}]
	e.t.mu.RUnlock()
	if d == nil || cut {
		e.t.dropped.Add(1)
		return
	}
	d.Deliver(bytes.Clone(env.Data))
}
