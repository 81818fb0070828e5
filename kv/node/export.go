package node

import (
	"slices"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// StoreView is a consistent, read-only view of the member's state machine at one applied
// index, for an etcd-format snapshot (kv/snapshot): a Pebble snapshot of the store and the
// member table as of the same index. The snapshot pins the data it sees until Close; it is
// read from any goroutine while the member goes on serving.
type StoreView struct {
	// Reader is the store (mvcc and lease keys) at AppliedIndex.
	Reader *pebble.Snapshot
	// AppliedIndex and Term are the index of the last applied entry and its term (etcd's
	// consistent index and term).
	AppliedIndex, Term uint64
	ClusterID          uint64
	Members            []MemberAttrs // sorted by ID
	Removed            []uint64      // sorted
	Alarms             []*pb.AlarmMember
	Voters, Learners   []uint64
}

// Close releases the Pebble snapshot.
func (v *StoreView) Close() error { return v.Reader.Close() }

// View takes a StoreView of the applied state. Like every Member method it runs on the
// member's goroutine (Driver.Inspect): between Readies, where the DB holds exactly the applied
// state; the snapshot is then read elsewhere.
func (m *Member) View() (*StoreView, error) {
	if m.stopped != nil {
		return nil, m.stopped
	}
	term, err := m.log.Term(m.applied)
	if err != nil {
		// the applied entry was compacted into the log's snapshot: its term is the snapshot's
		snap, serr := m.log.Snapshot()
		if serr != nil {
			return nil, serr
		}
		term = snap.Metadata.Term
	}
	c := m.cluster.clone()
	return &StoreView{
		Reader:       m.db.NewSnapshot(),
		AppliedIndex: m.applied,
		Term:         term,
		ClusterID:    c.id,
		Members:      c.members,
		Removed:      c.removed,
		Alarms:       c.alarms,
		Voters:       slices.Clone(c.conf.Voters),
		Learners:     slices.Clone(c.conf.Learners),
	}, nil
}
