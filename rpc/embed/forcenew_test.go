package embed

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestForceNewCluster: etcd's --force-new-cluster disaster recovery. A three-member cluster
// with data is stopped; one member restarted with ForceNewCluster serves every acknowledged
// key at the same revisions, the member list shows it alone, it takes writes, a new member
// can be added (and joins with the data), and a restart without the flag stays that cluster.
func TestForceNewCluster(t *testing.T) {
	ms := testCluster(t, 3)
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := testClient(t, ms[1].srv.ClientURLs()[0], ms[2].srv.ClientURLs()[0])
	revs := map[string]int64{}
	for i := range 30 {
		k := fmt.Sprintf("k%02d", i%20) // some keys written twice: several versions
		resp, err := c.Put(ctx, k, fmt.Sprint(i))
		require.NoError(t, err)
		revs[k] = resp.Header.Revision
	}
	_, err := c.Delete(ctx, "k19")
	require.NoError(t, err)
	delete(revs, "k19")
	// m1 has applied every acknowledged write once a linearizable read through it answers.
	one := testClient(t, ms[0].srv.ClientURLs()[0])
	last, err := one.Get(ctx, "k00")
	require.NoError(t, err)
	for _, m := range ms {
		m.srv.Stop()
	}

	ms[0].cfg.ForceNewCluster = true
	ms[0].start(t)
	waitReady(t, ms[0])
	one = testClient(t, ms[0].srv.ClientURLs()[0])
	list, err := one.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, list.Members, 1)
	require.Equal(t, ms[0].srv.ID(), list.Members[0].ID)
	all, err := one.Get(ctx, "k", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Equal(t, last.Header.Revision, all.Header.Revision, "the same store revision")
	require.Len(t, all.Kvs, len(revs))
	for _, kv := range all.Kvs {
		require.Equal(t, revs[string(kv.Key)], kv.ModRevision, "%s at its revision", kv.Key)
	}
	put, err := one.Put(ctx, "after", "force")
	require.NoError(t, err, "serves writes alone")
	require.Equal(t, last.Header.Revision+1, put.Header.Revision)

	// A new member is added (one member: the strict reconfig check lets it) and catches up.
	client4, peer4 := joiningURLs(t, "http")
	added, err := one.MemberAdd(ctx, []string{peer4})
	require.NoError(t, err)
	m4 := startJoiningMember(t, ms[0], "m1="+ms[0].srv.PeerURLs()[0], client4, peer4, TLSInfo{})
	require.Equal(t, added.Member.ID, m4.srv.ID())
	got, err := testClient(t, client4).Get(ctx, "after")
	require.NoError(t, err)
	require.Equal(t, "force", string(got.Kvs[0].Value))

	// Restarted without the flag: still the two-member cluster.
	ms[0].srv.Stop()
	ms[0].cfg.ForceNewCluster = false
	ms[0].start(t)
	waitReady(t, ms[0])
	list, err = testClient(t, ms[0].srv.ClientURLs()[0]).MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, list.Members, 2)
}
