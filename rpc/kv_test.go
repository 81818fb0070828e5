package rpc_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestKV drives every KV call and option through clientv3 against a three-member cluster,
// checking the answers against what the writes before them imply.
func TestKV(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client()
	ctx := ctxT(t)

	// Headers carry the cluster, the member and the raft term.
	put, err := cli.Put(ctx, "k/a", "1")
	require.NoError(t, err)
	require.NotZero(t, put.Header.ClusterId)
	require.NotZero(t, put.Header.MemberId)
	require.NotZero(t, put.Header.RaftTerm)
	first := put.Header.Revision

	for i, k := range []string{"k/b", "k/c", "k/d", "k/e"} {
		_, err := cli.Put(ctx, k, fmt.Sprint(i+2))
		require.NoError(t, err)
	}
	// Overwrite k/a: version 2, create revision unchanged; prev_kv gives the old value.
	over, err := cli.Put(ctx, "k/a", "1b", clientv3.WithPrevKV())
	require.NoError(t, err)
	require.Equal(t, "1", string(over.PrevKv.Value))
	last := over.Header.Revision
	require.Equal(t, first+5, last)

	t.Run("get", func(t *testing.T) {
		g, err := cli.Get(ctx, "k/a")
		require.NoError(t, err)
		require.Len(t, g.Kvs, 1)
		kv := g.Kvs[0]
		require.Equal(t, "1b", string(kv.Value))
		require.Equal(t, first, kv.CreateRevision)
		require.Equal(t, last, kv.ModRevision)
		require.EqualValues(t, 2, kv.Version)
		require.Equal(t, last, g.Header.Revision)
	})
	t.Run("prefix limit more count", func(t *testing.T) {
		g, err := cli.Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithLimit(2))
		require.NoError(t, err)
		require.Len(t, g.Kvs, 2)
		require.True(t, g.More)
		require.EqualValues(t, 5, g.Count)
		require.Equal(t, "k/a", string(g.Kvs[0].Key))
	})
	t.Run("sort descending by key", func(t *testing.T) {
		g, err := cli.Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
		require.NoError(t, err)
		require.Equal(t, "k/e", string(g.Kvs[0].Key))
		require.Equal(t, "k/a", string(g.Kvs[4].Key))
	})
	t.Run("sort by mod revision", func(t *testing.T) {
		g, err := cli.Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
		require.NoError(t, err)
		require.Equal(t, "k/a", string(g.Kvs[4].Key), "k/a was written last")
	})
	t.Run("at a revision", func(t *testing.T) {
		g, err := cli.Get(ctx, "k/a", clientv3.WithRev(first))
		require.NoError(t, err)
		require.Equal(t, "1", string(g.Kvs[0].Value))
	})
	t.Run("keys only, count only, serializable", func(t *testing.T) {
		g, err := cli.Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		require.NoError(t, err)
		require.Len(t, g.Kvs, 5)
		require.Empty(t, g.Kvs[0].Value)
		g, err = cli.Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		require.NoError(t, err)
		require.Empty(t, g.Kvs)
		require.EqualValues(t, 5, g.Count)
		g, err = cli.Get(ctx, "k/b", clientv3.WithSerializable())
		require.NoError(t, err)
		require.Equal(t, "2", string(g.Kvs[0].Value))
	})
	t.Run("mod and create revision filters", func(t *testing.T) {
		g, err := cli.Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithMinModRev(last))
		require.NoError(t, err)
		require.Len(t, g.Kvs, 1)
		g, err = cli.Get(ctx, "k/", clientv3.WithPrefix(), clientv3.WithMaxCreateRev(first+1))
		require.NoError(t, err)
		require.Len(t, g.Kvs, 2)
	})
	t.Run("future revision", func(t *testing.T) {
		_, err := cli.Get(ctx, "k/a", clientv3.WithRev(last+100))
		require.ErrorIs(t, err, rpctypes.ErrFutureRev)
	})
	t.Run("ignore value and lease", func(t *testing.T) {
		_, err := cli.Put(ctx, "k/b", "", clientv3.WithIgnoreValue())
		require.NoError(t, err)
		g, err := cli.Get(ctx, "k/b")
		require.NoError(t, err)
		require.Equal(t, "2", string(g.Kvs[0].Value))
		_, err = cli.Put(ctx, "k/none", "", clientv3.WithIgnoreValue())
		require.ErrorIs(t, err, rpctypes.ErrKeyNotFound)
	})
	t.Run("nested txn", func(t *testing.T) {
		g, err := cli.Get(ctx, "k/c")
		require.NoError(t, err)
		modRev := g.Kvs[0].ModRevision
		resp, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision("k/c"), "=", modRev), clientv3.Compare(clientv3.Value("k/d"), "=", "4")).
			Then(
				clientv3.OpPut("k/c", "cas"),
				clientv3.OpTxn(
					[]clientv3.Cmp{clientv3.Compare(clientv3.Version("k/e"), ">", 5)},
					[]clientv3.Op{clientv3.OpPut("k/never", "x")},
					[]clientv3.Op{clientv3.OpGet("k/e"), clientv3.OpDelete("k/d", clientv3.WithPrevKV())},
				),
			).
			Else(clientv3.OpGet("k/c")).
			Commit()
		require.NoError(t, err)
		require.True(t, resp.Succeeded)
		inner := resp.Responses[1].GetResponseTxn()
		require.False(t, inner.Succeeded)
		require.Equal(t, "5", string(inner.Responses[0].GetResponseRange().Kvs[0].Value))
		require.Equal(t, "4", string(inner.Responses[1].GetResponseDeleteRange().PrevKvs[0].Value))
		// One revision for the whole txn.
		g, err = cli.Get(ctx, "k/c")
		require.NoError(t, err)
		require.Equal(t, resp.Header.Revision, g.Kvs[0].ModRevision)
		// A failed compare takes the else branch and writes nothing.
		resp, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision("k/c"), "=", 0)).Then(clientv3.OpPut("k/c", "no")).Else(clientv3.OpGet("k/c")).Commit()
		require.NoError(t, err)
		require.False(t, resp.Succeeded)
		require.Equal(t, "cas", string(resp.Responses[0].GetResponseRange().Kvs[0].Value))
	})
	t.Run("txn duplicate key", func(t *testing.T) {
		_, err := cli.Txn(ctx).Then(clientv3.OpPut("k/x", "1"), clientv3.OpPut("k/x", "2")).Commit()
		require.ErrorIs(t, err, rpctypes.ErrDuplicateKey)
	})
	t.Run("delete prefix with prev kv", func(t *testing.T) {
		for _, k := range []string{"del/1", "del/2", "del/3"} {
			_, err := cli.Put(ctx, k, "v")
			require.NoError(t, err)
		}
		d, err := cli.Delete(ctx, "del/", clientv3.WithPrefix(), clientv3.WithPrevKV())
		require.NoError(t, err)
		require.EqualValues(t, 3, d.Deleted)
		require.Len(t, d.PrevKvs, 3)
		g, err := cli.Get(ctx, "del/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		require.NoError(t, err)
		require.Zero(t, g.Count)
	})
	t.Run("compact physical then compacted reads", func(t *testing.T) {
		_, err := cli.Compact(ctx, first+1, clientv3.WithCompactPhysical())
		require.NoError(t, err)
		_, err = cli.Get(ctx, "k/a", clientv3.WithRev(first))
		require.ErrorIs(t, err, rpctypes.ErrCompacted)
		_, err = cli.Compact(ctx, first)
		require.ErrorIs(t, err, rpctypes.ErrCompacted)
	})
	t.Run("empty key", func(t *testing.T) {
		_, err := cli.Put(ctx, "", "v")
		require.ErrorIs(t, err, rpctypes.ErrEmptyKey)
		_, err = cli.Get(ctx, "")
		require.ErrorIs(t, err, rpctypes.ErrEmptyKey)
	})
}

// TestBadRequests: oversized requests, txns over --max-txn-ops and unknown leases get etcd's
// errors, and nothing stored changes.
func TestBadRequests(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client()
	ctx := ctxT(t)
	_, err := cli.Put(ctx, "keep", "me")
	require.NoError(t, err)
	before, err := cli.Get(ctx, "keep")
	require.NoError(t, err)

	// Over --max-request-bytes (1.5 MiB) but under gRPC's limit with etcd's overhead: the
	// server's own error.
	_, err = cli.Put(ctx, "big", strings.Repeat("x", 1572864+1000))
	require.ErrorIs(t, err, rpctypes.ErrRequestTooLarge)
	// Far over it: gRPC refuses the message itself.
	_, err = cli.Put(ctx, "huge", strings.Repeat("x", 3<<20))
	require.Error(t, err)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)

	var ops []clientv3.Op
	for i := range 129 {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("op/%d", i), "v"))
	}
	_, err = cli.Txn(ctx).Then(ops...).Commit()
	require.ErrorIs(t, err, rpctypes.ErrTooManyOps)

	_, err = cli.Put(ctx, "leased", "v", clientv3.WithLease(0x1234))
	require.ErrorIs(t, err, rpctypes.ErrLeaseNotFound)
	_, err = cli.Revoke(ctx, 0x1234)
	require.ErrorIs(t, err, rpctypes.ErrLeaseNotFound)

	after, err := cli.Get(ctx, "keep")
	require.NoError(t, err)
	require.Equal(t, before.Header.Revision, after.Header.Revision, "a refused request made a revision")
	for _, k := range []string{"big", "huge", "op/0", "leased"} {
		g, err := cli.Get(ctx, k)
		require.NoError(t, err)
		require.Empty(t, g.Kvs, k)
	}
	// The cluster keeps serving.
	_, err = cli.Put(ctx, "still", "here")
	require.NoError(t, err)
}

// TestFollowerLinearizableRead: a write acknowledged through one member is seen at once by a
// linearizable read on a follower, and the follower's serializable read never goes back.
func TestFollowerLinearizableRead(t *testing.T) {
	c := newCluster(t, 3)
	l, f := c.leader(), c.follower()
	writer, reader := c.client(l), c.client(f)
	ctx := ctxT(t)
	for i := range 50 {
		p, err := writer.Put(ctx, "lin", fmt.Sprint(i))
		require.NoError(t, err)
		g, err := reader.Get(ctx, "lin")
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), string(g.Kvs[0].Value), "follower read missed write %d", i)
		require.GreaterOrEqual(t, g.Header.Revision, p.Header.Revision)
	}
}
