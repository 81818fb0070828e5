package peer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// clusterMember is one kv/node member driven over a real peer transport.
type clusterMember struct {
	id     uint64
	m      *node.Member
	d      *node.Driver
	tr     *Transport
	addr   string
	cancel context.CancelFunc
	ran    chan error
	served chan error
}

// startDriver drives m with a new Driver and a new Transport listening on addr.
func startDriver(t *testing.T, dir *directory, cm *clusterMember, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	require.Eventually(t, func() bool { ln, err = net.Listen("tcp", addr); return err == nil }, waitMax, 10*time.Millisecond, "%v", err)
	cm.addr = ln.Addr().String()
	var d *node.Driver
	cm.tr = New(Config{
		LocalID:   func() uint64 { return cm.id },
		ClusterID: func() uint64 { return clusterA },
		Resolve:   dir.resolve,
		Deliver:   func(data []byte) bool { return d.Deliver(data) },
		IsBulk:    node.IsBulkFrame,
	})
	d, err = node.NewDriver(cm.m, cm.tr, node.RunOptions{})
	require.NoError(t, err)
	cm.d = d
	ctx, cancel := context.WithCancel(context.Background())
	cm.cancel, cm.ran, cm.served = cancel, make(chan error, 1), make(chan error, 1)
	go func() { cm.ran <- d.Run(ctx) }()
	go func() { cm.served <- cm.tr.Serve(ln) }()
	dir.set(cm.id, "http://"+cm.addr)
}

func (cm *clusterMember) stopDriver(t *testing.T) {
	cm.cancel()
	require.NoError(t, <-cm.ran)
	require.NoError(t, cm.tr.Close())
	require.NoError(t, <-cm.served)
}

func putReq(key, value string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}
}

func getReq(key string, serializable bool) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(key), Serializable: serializable}}
}

// submitRetry submits until the member answers something other than "no leader yet" or a
// timeout (an election under way).
func submitRetry(ctx context.Context, d *node.Driver, req func() *pb.InternalRaftRequest) (node.Response, error) {
	for {
		resp, err := d.Submit(ctx, req())
		if err == nil || !(errors.Is(err, node.ErrNoLeader) || errors.Is(err, node.ErrTimeout)) || ctx.Err() != nil {
			return resp, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterOverTransport: three kv/node members over real loopback TCP through this
// transport elect a leader and commit; a member stopped while the others write far past
// their log compaction comes back (new driver, new transport, same port) and catches up
// from a snapshot whose chunks travel on the bulk stream.
func TestClusterOverTransport(t *testing.T) {
	dir := newDirectory()
	ids := []uint64{idOne, idTwo, idThree}
	members := map[uint64]*clusterMember{}
	for _, id := range ids {
		m, err := node.Open(node.Config{
			ID: id, InitialMembers: ids, ClusterID: clusterA, FS: vfs.NewMem(), Clock: node.NewRealClock(),
			Rand: rand.New(rand.NewPCG(7, id)), TickInterval: 10 * time.Millisecond, PebbleMemTableBytes: 4 << 20, PebbleCacheBytes: 1 << 20,
			SnapshotEntries: 40, SnapshotCatchUpEntries: 5,
		})
		require.NoError(t, err)
		cm := &clusterMember{id: id, m: m}
		members[id] = cm
		startDriver(t, dir, cm, "")
	}
	t.Cleanup(func() {
		for _, cm := range members {
			if cm.d != nil {
				cm.stopDriver(t)
			}
			require.NoError(t, cm.m.Close())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	_, err := submitRetry(ctx, members[idOne].d, func() *pb.InternalRaftRequest { return putReq("k", "v1") })
	require.NoError(t, err)
	resp, err := submitRetry(ctx, members[idThree].d, func() *pb.InternalRaftRequest { return getReq("k", false) })
	require.NoError(t, err)
	require.Equal(t, "v1", string(resp.Range.Kvs[0].Value))

	// Stop member three; the others write well past their snapshot threshold.
	three := members[idThree]
	three.stopDriver(t)
	three.d = nil
	for i := range 200 {
		_, err := submitRetry(ctx, members[idOne].d, func() *pb.InternalRaftRequest { return putReq(fmt.Sprintf("k%03d", i), "v") })
		require.NoError(t, err)
	}
	startDriver(t, dir, three, three.addr)
	require.Eventually(t, func() bool {
		resp, err := three.d.Submit(ctx, getReq("k199", true))
		return err == nil && len(resp.Range.Kvs) == 1
	}, 30*time.Second, 20*time.Millisecond, "member three never caught up")

	var bulkSent, controlSent uint64
	for _, id := range []uint64{idOne, idTwo} {
		st := members[id].tr.Stats().Peers[idThree]
		bulkSent += st.Bulk.Sent
		controlSent += st.Control.Sent
	}
	require.NotZero(t, bulkSent, "the catch-up must have gone through a snapshot on the bulk stream")
	require.NotZero(t, controlSent)
	t.Logf("to member three, before and after its restart: %d control frames, %d bulk frames (snapshot chunks)", controlSent, bulkSent)
}
