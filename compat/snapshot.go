package compat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// snapshotDigest receives a member's Maintenance.Snapshot whole, checks its sha256 trailer,
// and reads the parts of the bbolt file both sides must agree on into one message the
// comparison takes field by field: the key bucket in its order (each version's KeyValue; a
// tombstone as a KeyValue with only its key and, in mod_revision, its revision) and, after
// it, the lease bucket (each lease as a KeyValue whose lease is the ID and version the TTL),
// with the compact revision of meta in the header's revision. The pages, the meta bucket's
// raft fields and the member table are each side's own.
func snapshotDigest(ctx context.Context, maint pb.MaintenanceClient, dir string) (proto.Message, error) {
	stream, err := maint.Snapshot(ctx, &pb.SnapshotRequest{})
	if err != nil {
		return nil, err
	}
	var data []byte
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		data = append(data, resp.Blob...)
	}
	if len(data)%512 != sha256.Size {
		return nil, fmt.Errorf("snapshot of %d bytes has no sha256 trailer", len(data))
	}
	db, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if want := sha256.Sum256(db); !bytes.Equal(want[:], sum) {
		return nil, errors.New("snapshot's sha256 trailer does not match its bytes")
	}
	f, err := os.CreateTemp(dir, "snapshot-*.db")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	defer os.Remove(path)
	if _, err := f.Write(db); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	bdb, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer bdb.Close()
	keys, leases := &pb.RangeResponse{}, &pb.RangeResponse{}
	out := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: true}
	err = bdb.View(func(tx *bolt.Tx) error {
		kb, lb, mb := tx.Bucket([]byte("key")), tx.Bucket([]byte("lease")), tx.Bucket([]byte("meta"))
		if kb == nil || lb == nil || mb == nil {
			return errors.New("snapshot lacks the key, lease or meta bucket")
		}
		if v := mb.Get([]byte("finishedCompactRev")); len(v) >= 8 {
			out.Header.Revision = int64(binary.BigEndian.Uint64(v))
		}
		if err := kb.ForEach(func(k, v []byte) error {
			kv := &mvccpb.KeyValue{}
			if err := proto.Unmarshal(v, kv); err != nil {
				return err
			}
			if len(k) == 18 && k[17] == 't' {
				kv.ModRevision = int64(binary.BigEndian.Uint64(k))
			}
			keys.Kvs = append(keys.Kvs, kv)
			return nil
		}); err != nil {
			return err
		}
		return lb.ForEach(func(k, v []byte) error {
			kv := &mvccpb.KeyValue{Key: append([]byte(nil), k...)}
			for len(v) > 0 {
				num, typ, n := protowire.ConsumeTag(v)
				if n < 0 || typ != protowire.VarintType {
					return fmt.Errorf("lease %x: not a leasepb.Lease", k)
				}
				x, m := protowire.ConsumeVarint(v[n:])
				if m < 0 {
					return fmt.Errorf("lease %x: not a leasepb.Lease", k)
				}
				v = v[n+m:]
				switch num {
				case 1:
					kv.Lease = int64(x)
				case 2:
					kv.Version = int64(x)
				}
			}
			leases.Kvs = append(leases.Kvs, kv)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	keys.Count, leases.Count = int64(len(keys.Kvs)), int64(len(leases.Kvs))
	out.Responses = []*pb.ResponseOp{
		{Response: &pb.ResponseOp_ResponseRange{ResponseRange: keys}},
		{Response: &pb.ResponseOp_ResponseRange{ResponseRange: leases}},
	}
	return out, nil
}

// snapshotDir is where snapshotDigest writes its temporary files.
func snapshotDir() string { return filepath.Join(os.TempDir()) }
