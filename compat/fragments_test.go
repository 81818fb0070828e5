package compat

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// fragmentKeys and fragmentValueBytes make one revision big enough for etcd to fragment:
// revoking a lease that holds fragmentKeys keys deletes them all in one revision, whose
// events with prev_kv are about 960 KB, over etcd's bound of --max-request-bytes plus 512 KiB
// (576 KiB here), while every request stays under --max-request-bytes.
const (
	fragmentKeys       = 16
	fragmentValueBytes = 60 * 1024
	fragmentLease      = 0x5000
)

// fragmentRun is what one cluster's two watches (with and without fragment) received.
type fragmentRun struct {
	events [2][]proto.Message // per watch, every event in order
	shape  [2]string          // per watch, the responses that held the revoke's events
	pieces int                // responses of the revoke's revision on the fragment watch
}

// runFragments opens the two watches on s, puts the keys under the lease, revokes it and
// reads until every event arrived.
func runFragments(ctx context.Context, s *side) (*fragmentRun, error) {
	conn := s.clients[0].ActiveConnection()
	var streams [2]pb.Watch_WatchClient
	for i, frag := range []bool{true, false} {
		st, err := pb.NewWatchClient(conn).Watch(ctx)
		if err != nil {
			return nil, err
		}
		if err := st.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
			Key: []byte("frag/"), RangeEnd: []byte("frag0"), PrevKv: true, Fragment: frag}}}); err != nil {
			return nil, err
		}
		if r, err := st.Recv(); err != nil || !r.Created {
			return nil, fmt.Errorf("watch %d not created: %v %v", i, r, err)
		}
		streams[i] = st
	}
	kv, lease := pb.NewKVClient(conn), pb.NewLeaseClient(conn)
	if _, err := lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: fragmentLease, TTL: 3600}); err != nil {
		return nil, err
	}
	for i := range fragmentKeys {
		v := bytes.Repeat([]byte{byte('a' + i)}, fragmentValueBytes)
		if _, err := kv.Put(ctx, &pb.PutRequest{Key: fmt.Appendf(nil, "frag/%02d", i), Value: v, Lease: fragmentLease}); err != nil {
			return nil, err
		}
	}
	rv, err := lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: fragmentLease})
	if err != nil {
		return nil, err
	}
	revoked := rv.Header.Revision
	out := &fragmentRun{}
	for i, st := range streams {
		var shape []string
		for len(out.events[i]) < 2*fragmentKeys {
			r, err := st.Recv()
			if err != nil {
				return nil, fmt.Errorf("watch %d after %d events: %w", i, len(out.events[i]), err)
			}
			if len(r.Events) == 0 {
				continue // a progress notification
			}
			n := 0
			for _, ev := range r.Events {
				out.events[i] = append(out.events[i], ev)
				if ev.Kv.ModRevision == revoked {
					n++
				}
			}
			if n > 0 { // a response with the revoke's events (it may hold earlier revisions too)
				shape = append(shape, fmt.Sprintf("%d of its events fragment=%v", n, r.Fragment))
				if i == 0 {
					out.pieces++
				}
			}
		}
		out.shape[i] = strings.Join(shape, "\n")
		_ = st.CloseSend()
	}
	return out, nil
}

// testFragments: the revoke's revision comes in fragments (Fragment set on all but the last)
// to the watch that asked for them and whole to the other, on both; every event is the same.
// How many fragments is not compared: each server fills a fragment by its own measure of a
// response's size (etcd's is the encoded response; both stay under the bound).
func testFragments(t *testing.T, etcd, ballast *side) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := runFragments(ctx, etcd)
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	b, err := runFragments(ctx, ballast)
	if err != nil {
		t.Fatalf("ballast: %v", err)
	}
	t.Logf("the revoke's revision came in %d fragments from etcd, %d from Ballast", e.pieces, b.pieces)
	for i, name := range []string{"with fragment", "without fragment"} {
		for j := range e.events[i] {
			if !proto.Equal(e.events[i][j], b.events[i][j]) {
				t.Fatalf("watch %s: event %d differs\netcd:    %v\nballast: %v", name, j, e.events[i][j], b.events[i][j])
			}
		}
	}
	for _, r := range []*fragmentRun{e, b} {
		if r.shape[1] != fmt.Sprintf("%d of its events fragment=false", fragmentKeys) {
			t.Fatalf("the watch without fragment got the revoke's revision split:\netcd:\n%s\nballast:\n%s", e.shape[1], b.shape[1])
		}
	}
	if e.pieces < 2 || b.pieces < 2 {
		t.Fatalf("the revoke's revision (about %d KB) came whole to the watch with fragment:\netcd:\n%s\nballast:\n%s",
			fragmentKeys*fragmentValueBytes*2/1000, e.shape[0], b.shape[0])
	}
	for _, r := range []*fragmentRun{e, b} {
		lines := strings.Split(r.shape[0], "\n")
		for k, l := range lines {
			last := k == len(lines)-1
			if strings.HasSuffix(l, "fragment=true") == last {
				t.Fatalf("Fragment must be set on every piece but the last:\netcd:\n%s\nballast:\n%s", e.shape[0], b.shape[0])
			}
		}
	}
}
