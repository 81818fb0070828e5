package compat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// leaseExpiryTTL is the TTL of the lease left to expire: above both clusters' minimum (etcd's
// 1.5 election timeouts, rounded up to 2 s here).
const leaseExpiryTTL = 3

// expiryTolerance is how much later than the other one side may expire a lease: etcd's
// leader looks for expired leases every 500 ms and revokes them through raft; Ballast's
// leader waits the TTL stretched by its drift margin (1%) and revokes through its log too.
const expiryTolerance = 2 * time.Second

// expire grants a lease on s (ID id, leaseExpiryTTL), attaches a key, and returns how long
// after the grant was sent the key's DELETE event arrived on a watch.
func expire(ctx context.Context, s *side, id int64) (time.Duration, error) {
	conn := s.clients[0].ActiveConnection()
	key := []byte(fmt.Sprintf("expiry/%x", id))
	w, err := pb.NewWatchClient(conn).Watch(ctx)
	if err != nil {
		return 0, err
	}
	if err := w.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: key}}}); err != nil {
		return 0, err
	}
	if r, err := w.Recv(); err != nil || !r.Created {
		return 0, fmt.Errorf("watch not created: %v %v", r, err)
	}
	start := time.Now()
	if _, err := pb.NewLeaseClient(conn).LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: id, TTL: leaseExpiryTTL}); err != nil {
		return 0, err
	}
	if _, err := pb.NewKVClient(conn).Put(ctx, &pb.PutRequest{Key: key, Value: []byte("v"), Lease: id}); err != nil {
		return 0, err
	}
	for {
		r, err := w.Recv()
		if err != nil {
			return 0, fmt.Errorf("no DELETE of %s: %w", key, err)
		}
		for _, ev := range r.Events {
			if ev.Type == mvccpb.DELETE {
				return time.Since(start), nil
			}
		}
	}
}

// testLeaseExpiry: a lease left alone expires on both clusters, not before its TTL, within
// expiryTolerance of each other (the sequences never let a lease expire: expiry happens at
// different instants on two clusters, so it is compared here, with a tolerance).
func testLeaseExpiry(t *testing.T, etcd, ballast *side) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := time.Now().UnixNano() & 0xffffff
	var wg sync.WaitGroup
	var took [2]time.Duration
	var errs [2]error
	for i, s := range []*side{etcd, ballast} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took[i], errs[i] = expire(ctx, s, 0xe000000+id)
		}()
	}
	wg.Wait()
	for i, name := range []string{"etcd", "ballast"} {
		if errs[i] != nil {
			t.Fatalf("%s: %v", name, errs[i])
		}
		if took[i] < leaseExpiryTTL*time.Second {
			t.Fatalf("%s expired a %d s lease after %v", name, leaseExpiryTTL, took[i])
		}
	}
	t.Logf("a %d s lease expired after %v on etcd, %v on Ballast", leaseExpiryTTL, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond))
	if d := took[1] - took[0]; d > expiryTolerance || d < -expiryTolerance {
		t.Fatalf("lease expiry differs by %v (tolerance %v): etcd %v, Ballast %v", d, expiryTolerance, took[0], took[1])
	}
}
