package node

import (
	"github.com/ballastdb/ballast/raft"
)

// MemberAttrs is one member of the cluster as the member table records it.
type MemberAttrs struct {
	ID uint64
	// Name is empty until the member publishes it (an added member that has not started).
	Name     string
	PeerURLs []string
	// ClientURLs are empty until the member published them through raft.
	ClientURLs []string
	IsLearner  bool
}

// AddMember adds member attrs.ID as a voter, or as a learner if attrs.IsLearner.
func (m *Member) AddMember(attrs MemberAttrs, done ConfDone) {
	typ := raft.ConfChangeAddVoter
	if attrs.IsLearner {
		typ = raft.ConfChangeAddLearner
	}
	m.changeConf(raft.ConfChange{Type: typ, NodeID: attrs.ID}, done)
}
