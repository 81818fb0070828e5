package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/raft"
)

// Each member keeps etcd's member table as state-machine state: every member's ID, name,
// peer and client URLs and learner flag, the IDs of removed members, and the cluster ID
// (Config.ClusterID, written when the DB is created; a restart naming another nonzero ID is
// refused with an error naming both, and a snapshot of another cluster is not installed).
// A membership change carries the member's record in its raft.ConfChange.Context (AddMember;
// UpdateMember is a ConfChangeUpdateNode with the new peer URLs), and the founders' records
// (Config.InitialMemberAttrs) are the contexts of the founding entries, so a member added
// later learns them by replaying the log; a serving member publishes its name and client
// URLs as etcd's ClusterMemberAttrSet request (PublishAttrs, a write like any other). The
// table takes exactly the changes raft takes (it applies each with raft.ApplyConfChange to its
// copy of raft's configuration), is written in the batch of the entry that changes it, and
// moves with snapshots. AddMember refuses an existing ID (etcd's member-exists), a peer URL
// another member has (peer-URL-exists) and a removed ID (member-not-found, as etcd maps its
// ID-removed); UpdateMember an unknown member or a used URL. A member that applies its own
// removal reports Removed at once and stops with ErrRemoved (etcd's "the member has been
// permanently removed from the cluster") one election timeout later, so a removed leader
// can hand over first; restarted, it stays stopped. The Driver copies the table for other
// goroutines after every change (Driver.Members, Member, ClusterID, IsRemoved: the transport
// resolves and refuses peers with them); a joining member's Driver.Member falls back to the
// InitialMemberAttrs it was given (the members it learned from a peer) until its table, which
// only the log or a snapshot fills, knows the member.

// Keys of the member table, all under nodeClusterPrefix (one state-machine span).
var (
	nodeClusterPrefix = []byte("node/cluster/")
	nodeClusterIDKey  = []byte("node/cluster/id")
	nodeMemberPrefix  = []byte("node/cluster/m/") // + 8-byte BE ID -> etcdserverpb.Member
	nodeRemovedPrefix = []byte("node/cluster/r/") // + 8-byte BE ID -> empty
	nodeAlarmPrefix   = []byte("node/cluster/a/") // + 8-byte BE member ID + 4-byte BE type -> empty
)

// ErrClusterIDMismatch: the data dir, or a snapshot, belongs to another cluster than the one
// configured (the error names both IDs).
var ErrClusterIDMismatch = errors.New("node: cluster ID mismatch")

// ErrRemoved: this member applied its own removal from the cluster (or restarted after it):
// it stops serving, and Driver.Run returns this error. etcd's words for it.
var ErrRemoved = errors.New("the member has been permanently removed from the cluster")

// removedStopElections: a member that applied its own removal keeps running this many election
// timeouts before it stops, so a removed leader can hand leadership over and the others
// learn the commit from it (etcd stops such a member after a delay of ten ticks too).
const removedStopElections = 1

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

func (a MemberAttrs) clone() MemberAttrs {
	a.PeerURLs = slices.Clone(a.PeerURLs)
	a.ClientURLs = slices.Clone(a.ClientURLs)
	return a
}

// clusterState is the member table in memory, as of the applied index.
type clusterState struct {
	id      uint64
	members []MemberAttrs     // sorted by ID
	removed []uint64          // sorted
	alarms  []*pb.AlarmMember // sorted by member ID, then type (alarm.go)
	conf    raft.ConfState    // raft's configuration at the applied index
}

func (c *clusterState) clone() *clusterState {
	out := &clusterState{id: c.id, removed: slices.Clone(c.removed), conf: raft.ConfState{
		Voters: slices.Clone(c.conf.Voters), Learners: slices.Clone(c.conf.Learners)}}
	for _, a := range c.members {
		out.members = append(out.members, a.clone())
	}
	for _, a := range c.alarms {
		out.alarms = append(out.alarms, &pb.AlarmMember{MemberID: a.MemberID, Alarm: a.Alarm})
	}
	return out
}

func (c *clusterState) find(id uint64) (int, bool) {
	return slices.BinarySearchFunc(c.members, id, func(a MemberAttrs, id uint64) int {
		switch {
		case a.ID < id:
			return -1
		case a.ID > id:
			return 1
		}
		return 0
	})
}

// peerURLUsed reports whether a member other than except already has one of urls.
func (c *clusterState) peerURLUsed(urls []string, except uint64) bool {
	for _, a := range c.members {
		if a.ID != except && slices.ContainsFunc(urls, func(u string) bool { return slices.Contains(a.PeerURLs, u) }) {
			return true
		}
	}
	return false
}

func memberKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clone(nodeMemberPrefix), id)
}
func removedKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clone(nodeRemovedPrefix), id)
}

func encodeMemberAttrs(a MemberAttrs) ([]byte, error) {
	return marshalDeterministic.Marshal(&pb.Member{ID: a.ID, Name: a.Name, PeerURLs: a.PeerURLs, ClientURLs: a.ClientURLs, IsLearner: a.IsLearner})
}

func decodeMemberAttrs(b []byte) (MemberAttrs, error) {
	var pm pb.Member
	if err := proto.Unmarshal(b, &pm); err != nil {
		return MemberAttrs{}, err
	}
	return MemberAttrs{ID: pm.ID, Name: pm.Name, PeerURLs: pm.PeerURLs, ClientURLs: pm.ClientURLs, IsLearner: pm.IsLearner}, nil
}

// confContext is the Context of a change adding or updating a: none when a carries nothing
// but its ID (the simulator's AddVoter and AddLearner), so those entries stay as they were.
func confContext(a MemberAttrs) ([]byte, error) {
	if a.Name == "" && len(a.PeerURLs) == 0 && len(a.ClientURLs) == 0 {
		return nil, nil
	}
	return encodeMemberAttrs(a)
}

// loadClusterState reads the member table from r (at Open, after a snapshot install).
func loadClusterState(r pebble.Reader, conf raft.ConfState) (*clusterState, error) {
	c := &clusterState{conf: conf}
	var err error
	if c.id, err = readUint64(r, nodeClusterIDKey); err != nil {
		return nil, err
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: nodeClusterPrefix, UpperBound: prefixEnd(nodeClusterPrefix)})
	if err != nil {
		return nil, err
	}
	for valid := it.First(); valid && err == nil; valid = it.Next() {
		k := it.Key()
		switch {
		case string(k) == string(nodeClusterIDKey):
		case len(k) == len(nodeMemberPrefix)+8 && string(k[:len(nodeMemberPrefix)]) == string(nodeMemberPrefix):
			var a MemberAttrs
			if a, err = decodeMemberAttrs(it.Value()); err == nil {
				c.members = append(c.members, a)
			}
		case len(k) == len(nodeRemovedPrefix)+8 && string(k[:len(nodeRemovedPrefix)]) == string(nodeRemovedPrefix):
			c.removed = append(c.removed, binary.BigEndian.Uint64(k[len(nodeRemovedPrefix):]))
		case len(k) == len(nodeAlarmPrefix)+12 && string(k[:len(nodeAlarmPrefix)]) == string(nodeAlarmPrefix):
			rest := k[len(nodeAlarmPrefix):]
			c.alarms = append(c.alarms, &pb.AlarmMember{MemberID: binary.BigEndian.Uint64(rest), Alarm: pb.AlarmType(binary.BigEndian.Uint32(rest[8:]))})
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			err = fmt.Errorf("member table key %q: %w", k, err)
		}
	}
	if err := errors.Join(err, it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("read member table: %w", err)
	}
	return c, nil
}

// checkClusterID writes the cluster ID (Config.ClusterID) into b when the DB holds none (its
// first start), and otherwise refuses a configured ID that is not the stored one.
func (m *Member) checkClusterID(b *pebble.Batch) error {
	v, closer, err := m.db.Get(nodeClusterIDKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return b.Set(nodeClusterIDKey, binary.BigEndian.AppendUint64(nil, m.cfg.ClusterID), nil)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", nodeClusterIDKey, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return fmt.Errorf("%s holds %d bytes, want 8", nodeClusterIDKey, len(v))
	}
	if stored := binary.BigEndian.Uint64(v); m.cfg.ClusterID != 0 && m.cfg.ClusterID != stored {
		return fmt.Errorf("%w: the data dir belongs to cluster %x, the configuration names cluster %x", ErrClusterIDMismatch, stored, m.cfg.ClusterID)
	}
	return nil
}

// checkSnapshotCluster refuses to install a staged snapshot of another cluster.
func (m *Member) checkSnapshotCluster(staged uint64) error {
	if staged != m.cluster.id {
		return fmt.Errorf("%w: the snapshot is of cluster %x, this member is of cluster %x", ErrClusterIDMismatch, staged, m.cluster.id)
	}
	return nil
}

// bootstrapContexts are the founders' AddVoter contexts, from Config.InitialMemberAttrs.
func (c Config) bootstrapContexts() ([][]byte, error) {
	if len(c.InitialMemberAttrs) == 0 {
		return nil, nil
	}
	out := make([][]byte, len(c.InitialMembers))
	for i, id := range c.InitialMembers {
		j := slices.IndexFunc(c.InitialMemberAttrs, func(a MemberAttrs) bool { return a.ID == id })
		if j < 0 {
			return nil, fmt.Errorf("%w: InitialMemberAttrs has no member %d of InitialMembers %v", errConfig, id, c.InitialMembers)
		}
		a := c.InitialMemberAttrs[j].clone()
		a.IsLearner = false
		var err error
		if out[i], err = encodeMemberAttrs(a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// applyConfChangeEntry updates the member table for a committed EntryConfChange, into b; the
// new table is returned (nil: unchanged) and takes effect once b commits.
func (m *Member) applyConfChangeEntry(b *pebble.Batch, e raft.Entry) (*clusterState, error) {
	cc, err := raft.UnmarshalConfChange(e.Data)
	if err != nil {
		return nil, nil // raft skips it too
	}
	conf, err := raft.ApplyConfChange(m.cluster.conf, cc)
	if err != nil {
		return nil, nil // raft skips it too
	}
	next := m.cluster.clone()
	next.conf = conf
	var attrs MemberAttrs
	if len(cc.Context) > 0 {
		if attrs, err = decodeMemberAttrs(cc.Context); err != nil {
			m.logf("entry %d: %s carries an undecodable member record (%v): recording the ID only", e.Index, cc, err)
			attrs = MemberAttrs{}
		}
	}
	attrs.ID = cc.NodeID
	i, found := next.find(cc.NodeID)
	switch cc.Type {
	case raft.ConfChangeAddVoter, raft.ConfChangeAddLearner:
		if found { // a promotion: the record stays, the member votes
			next.members[i].IsLearner = cc.Type == raft.ConfChangeAddLearner
		} else {
			attrs.IsLearner = cc.Type == raft.ConfChangeAddLearner
			next.members = slices.Insert(next.members, i, attrs)
		}
	case raft.ConfChangeRemoveNode:
		if found {
			next.members = slices.Delete(next.members, i, i+1)
		}
		if err := b.Delete(memberKey(cc.NodeID), nil); err != nil {
			return nil, err
		}
		if j, ok := slices.BinarySearch(next.removed, cc.NodeID); !ok {
			next.removed = slices.Insert(next.removed, j, cc.NodeID)
		}
		return next, b.Set(removedKey(cc.NodeID), nil, nil)
	case raft.ConfChangeUpdateNode:
		if !found {
			// An older table (a data dir from before the member table) misses the member.
			next.members = slices.Insert(next.members, i, MemberAttrs{ID: cc.NodeID, IsLearner: slices.Contains(conf.Learners, cc.NodeID)})
		}
		next.members[i].PeerURLs = attrs.PeerURLs
	}
	i, _ = next.find(cc.NodeID)
	return next, m.writeMember(b, next.members[i])
}

func (m *Member) writeMember(b *pebble.Batch, a MemberAttrs) error {
	v, err := encodeMemberAttrs(a)
	if err != nil {
		return err
	}
	return b.Set(memberKey(a.ID), v, nil)
}

// applyMemberAttrSet applies a member's published name and client URLs (etcd's
// ClusterMemberAttrSet). A member not in the table is answered with etcd's member-not-found
// and changes nothing.
func (m *Member) applyMemberAttrSet(b *pebble.Batch, req *membershippb.ClusterMemberAttrSetRequest) (*clusterState, error) {
	i, found := m.cluster.find(req.Member_ID)
	if !found {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	next := m.cluster.clone()
	next.members[i].Name = req.GetMemberAttributes().GetName()
	next.members[i].ClientURLs = slices.Clone(req.GetMemberAttributes().GetClientUrls())
	return next, m.writeMember(b, next.members[i])
}

// setCluster installs the table an applied entry (or a snapshot) produced, and notes this
// member's own removal.
func (m *Member) setCluster(next *clusterState) {
	m.cluster = next
	m.clusterVersion++
	if !m.removedSelf && slices.Contains(next.removed, m.cfg.ID) {
		m.removedSelf = true
		m.removedAtTick = m.ticks
		m.logf("applied its own removal from the cluster: stopping in %d election timeouts", removedStopElections)
	}
}

// stopIfRemoved stops a member that applied its own removal once the grace period passed.
func (m *Member) stopIfRemoved() {
	if m.removedSelf && m.stopped == nil && m.ticks-m.removedAtTick >= uint64(removedStopElections*m.cfg.ElectionTimeoutTicks) {
		m.logf("stopping: %v", ErrRemoved)
		m.stop(ErrRemoved)
	}
}

// ClusterID is the ID of the cluster this member belongs to (Config.ClusterID on its first
// start; 0 when none was given).
func (m *Member) ClusterID() uint64 { return m.cluster.id }

// Members is the member table as of the applied index, sorted by ID (copies).
func (m *Member) Members() []MemberAttrs {
	out := make([]MemberAttrs, len(m.cluster.members))
	for i, a := range m.cluster.members {
		out[i] = a.clone()
	}
	return out
}

// IsRemoved reports whether id was a member and was removed (an ID is never reused).
func (m *Member) IsRemoved(id uint64) bool {
	_, ok := slices.BinarySearch(m.cluster.removed, id)
	return ok
}

// Removed reports whether this member applied its own removal (it stops with ErrRemoved
// shortly after).
func (m *Member) Removed() bool { return m.removedSelf }

// AddMember adds member attrs.ID as a voter, or as a learner if attrs.IsLearner, with its
// attributes (carried in the change's Context, so every member records them when it applies
// the change). Refused with etcd's errors: member exists (also for a peer URL another member
// has: etcd's peer-URL-exists), member not found for an ID that was removed.
func (m *Member) AddMember(attrs MemberAttrs, done ConfDone) {
	typ := raft.ConfChangeAddVoter
	if attrs.IsLearner {
		typ = raft.ConfChangeAddLearner
	}
	ctx, err := confContext(attrs)
	if err != nil {
		done(raft.ConfState{}, err)
		return
	}
	m.changeConfChecked(raft.ConfChange{Type: typ, NodeID: attrs.ID, Context: ctx}, func() error { return m.checkNewMember(attrs) }, done)
}

func (m *Member) checkNewMember(attrs MemberAttrs) error {
	// etcd's exact errors, unwrapped: clients recognise them by their text.
	if m.IsRemoved(attrs.ID) {
		return rpctypes.ErrGRPCMemberNotFound // etcd maps its ID-removed to member-not-found
	}
	if _, found := m.cluster.find(attrs.ID); found {
		return rpctypes.ErrGRPCMemberExist
	}
	if m.cluster.peerURLUsed(attrs.PeerURLs, attrs.ID) {
		return rpctypes.ErrGRPCPeerURLExist
	}
	if attrs.IsLearner && m.cfg.MaxLearners != 0 && len(m.cluster.conf.Learners)+1 > max(m.cfg.MaxLearners, 0) {
		return rpctypes.ErrGRPCTooManyLearners // etcd's --max-learners check, its exact error
	}
	return nil
}

// UpdateMember sets member id's peer URLs (etcd's MemberUpdate), through the log as a
// ConfChangeUpdateNode. Refused with etcd's member-not-found for an unknown ID and
// peer-URL-exists for a URL another member has.
func (m *Member) UpdateMember(id uint64, peerURLs []string, done ConfDone) {
	ctx, err := encodeMemberAttrs(MemberAttrs{ID: id, PeerURLs: peerURLs})
	if err != nil {
		done(raft.ConfState{}, err)
		return
	}
	check := func() error {
		if m.cluster.peerURLUsed(peerURLs, id) {
			return rpctypes.ErrGRPCPeerURLExist // etcd's exact error: clients recognise its text
		}
		return nil
	}
	m.changeConfChecked(raft.ConfChange{Type: raft.ConfChangeUpdateNode, NodeID: id, Context: ctx}, check, done)
}

// PublishAttrs records this member's name and client URLs in the member table, through the
// log as etcd's ClusterMemberAttrSet request (a write: forwarded to the leader from a
// follower). done runs when it applied on this member.
func (m *Member) PublishAttrs(name string, clientURLs []string, done Done) {
	m.Submit(&pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
		Member_ID: m.cfg.ID, MemberAttributes: &membershippb.Attributes{Name: name, ClientUrls: slices.Clone(clientURLs)}}}, done)
}
