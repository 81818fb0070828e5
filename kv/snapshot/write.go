package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/kv/mvcc"
)

// Bucket and key names of etcd's schema.
var (
	bucketKey            = []byte("key")
	bucketMeta           = []byte("meta")
	bucketLease          = []byte("lease")
	bucketAlarm          = []byte("alarm")
	bucketCluster        = []byte("cluster")
	bucketMembers        = []byte("members")
	bucketMembersRemoved = []byte("members_removed")
	bucketAuth           = []byte("auth")
	bucketAuthUsers      = []byte("authUsers")
	bucketAuthRoles      = []byte("authRoles")

	allBuckets = [][]byte{bucketKey, bucketMeta, bucketLease, bucketAlarm, bucketCluster,
		bucketMembers, bucketMembersRemoved, bucketAuth, bucketAuthUsers, bucketAuthRoles}

	metaConsistentIndex  = []byte("consistent_index")
	metaTerm             = []byte("term")
	metaConfState        = []byte("confState")
	metaStorageVersion   = []byte("storageVersion")
	metaScheduledCompact = []byte("scheduledCompactRev")
	metaFinishedCompact  = []byte("finishedCompactRev")
	clusterVersionKey    = []byte("clusterVersion")
	authRevisionKey      = []byte("authRevision")
	authEnabledKey       = []byte("authEnabled")
)

// StorageVersion is what a snapshot's meta bucket and its Snapshot responses name (etcd
// v3.7's storage schema).
const StorageVersion = "3.7.0"

// writeBatchBytesMax bounds the key and value bytes one bbolt transaction of Write holds
// (bbolt keeps a transaction's dirty pages in memory until it commits).
const writeBatchBytesMax = 16 << 20

// Member is one member as etcd's members bucket records it.
type Member struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// Source is what Write puts into a snapshot: the store in Reader (mvcc and lease keys) and
// the member table, both as of the applied index ConsistentIndex.
type Source struct {
	Reader                pebble.Reader
	ConsistentIndex, Term uint64
	Members               []Member
	Removed               []uint64
	Alarms                []*pb.AlarmMember
	Voters, Learners      []uint64
}

// File is a snapshot Write built: the bbolt database at Path (DBSize bytes) and its sha256,
// which the file does not hold: Stream sends it after the database, as etcd's server does.
type File struct {
	Path     string
	DBSize   int64
	SHA256   [sha256.Size]byte
	Revision int64
	Keys     int64 // versions in the key bucket
}

// Remove deletes the file.
func (f *File) Remove() error { return os.Remove(f.Path) }

// Write builds the snapshot of src in a new temporary file in dir (named
// "ballast-snapshot-*.db"; removed again on an error) and returns it. ctx ends the build
// early.
func Write(ctx context.Context, dir string, src Source) (_ *File, err error) {
	tmp, err := os.CreateTemp(dir, "ballast-snapshot-*.db")
	if err != nil {
		return nil, fmt.Errorf("snapshot: temporary file: %w", err)
	}
	path := tmp.Name()
	_ = tmp.Close()
	defer func() {
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true, NoGrowSync: true})
	if err != nil {
		return nil, fmt.Errorf("snapshot: create bbolt file %s: %w", path, err)
	}
	w := &writer{db: db}
	f, err := w.write(ctx, src)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("snapshot: close bbolt file: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	f.Path = path
	if err := checksum(f); err != nil {
		return nil, err
	}
	return f, nil
}

// writer fills a bbolt file in transactions of at most writeBatchBytesMax bytes.
type writer struct {
	db    *bolt.DB
	tx    *bolt.Tx
	bytes int
}

func (w *writer) begin() error {
	tx, err := w.db.Begin(true)
	if err != nil {
		return fmt.Errorf("snapshot: bbolt transaction: %w", err)
	}
	w.tx, w.bytes = tx, 0
	return nil
}

func (w *writer) commit() error {
	tx := w.tx
	w.tx = nil
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("snapshot: bbolt commit: %w", err)
	}
	return nil
}

// put writes k -> v into bucket, committing first when the transaction is full.
func (w *writer) put(ctx context.Context, bucket, k, v []byte) error {
	if w.bytes >= writeBatchBytesMax {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.commit(); err != nil {
			return err
		}
		if err := w.begin(); err != nil {
			return err
		}
	}
	b := w.tx.Bucket(bucket)
	if bytesEqual(bucket, bucketKey) {
		b.FillPercent = 0.9 // keys arrive in order, as etcd's UnsafeSeqPut writes them
	}
	w.bytes += len(k) + len(v)
	// bbolt keeps the value (not the key) it is given until the transaction commits, and the
	// export reuses its buffers: a copy each (the transaction's bytes are bounded above).
	return b.Put(k, bytes.Clone(v))
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func (w *writer) write(ctx context.Context, src Source) (*File, error) {
	if err := w.begin(); err != nil {
		return nil, err
	}
	defer func() {
		if w.tx != nil {
			_ = w.tx.Rollback()
		}
	}()
	for _, name := range allBuckets {
		if _, err := w.tx.CreateBucket(name); err != nil {
			return nil, fmt.Errorf("snapshot: create bucket %q: %w", name, err)
		}
	}
	f := &File{}
	st, err := mvcc.Export(src.Reader, func(k, v []byte) error {
		f.Keys++
		return w.put(ctx, bucketKey, k, v)
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: export the key-value store: %w", err)
	}
	f.Revision = st.CurrentRevision
	if err := lease.Export(src.Reader, func(l lease.Stored) error {
		return w.put(ctx, bucketLease, binary.BigEndian.AppendUint64(nil, uint64(l.ID)), encodeLease(l))
	}); err != nil {
		return nil, fmt.Errorf("snapshot: export the leases: %w", err)
	}
	if err := w.putMeta(ctx, src, st); err != nil {
		return nil, err
	}
	if err := w.putAuth(ctx, src); err != nil {
		return nil, err
	}
	if err := w.putMembers(ctx, src); err != nil {
		return nil, err
	}
	if err := w.commit(); err != nil {
		return nil, err
	}
	if err := w.db.Sync(); err != nil {
		return nil, fmt.Errorf("snapshot: sync bbolt file: %w", err)
	}
	return f, nil
}

func (w *writer) putMeta(ctx context.Context, src Source, st mvcc.ExportState) error {
	conf, err := json.Marshal(confStateJSON{Voters: src.Voters, Learners: src.Learners})
	if err != nil {
		return err
	}
	puts := []struct{ bucket, k, v []byte }{
		{bucketMeta, metaConsistentIndex, binary.BigEndian.AppendUint64(nil, src.ConsistentIndex)},
		{bucketMeta, metaTerm, binary.BigEndian.AppendUint64(nil, src.Term)},
		{bucketMeta, metaConfState, conf},
		{bucketMeta, metaStorageVersion, []byte(StorageVersion)},
		{bucketCluster, clusterVersionKey, []byte(StorageVersion)},
	}
	if st.CompactRevision > 0 {
		rev := compactRevisionBytes(st.CompactRevision)
		puts = append(puts,
			struct{ bucket, k, v []byte }{bucketMeta, metaScheduledCompact, rev},
			struct{ bucket, k, v []byte }{bucketMeta, metaFinishedCompact, rev})
	}
	for _, p := range puts {
		if err := w.put(ctx, p.bucket, p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}

// putAuth writes the auth store as etcd's schema holds it: "auth" (authEnabled: 1 or 0,
// authRevision: 8 bytes big-endian), "authUsers" and "authRoles" (name -> etcd's protobuf
// record), so users, roles and permissions survive `etcdutl snapshot restore` into etcd.
func (w *writer) putAuth(ctx context.Context, src Source) error {
	st, err := auth.Export(src.Reader)
	if err != nil {
		return fmt.Errorf("snapshot: export the auth store: %w", err)
	}
	enabled := []byte{0}
	if st.Enabled {
		enabled = []byte{1}
	}
	if err := w.put(ctx, bucketAuth, authEnabledKey, enabled); err != nil {
		return err
	}
	if err := w.put(ctx, bucketAuth, authRevisionKey, binary.BigEndian.AppendUint64(nil, st.Revision)); err != nil {
		return err
	}
	for _, u := range st.Users {
		v, err := proto.MarshalOptions{Deterministic: true}.Marshal(u)
		if err != nil {
			return err
		}
		if err := w.put(ctx, bucketAuthUsers, u.Name, v); err != nil {
			return err
		}
	}
	for _, ro := range st.Roles {
		v, err := proto.MarshalOptions{Deterministic: true}.Marshal(ro)
		if err != nil {
			return err
		}
		if err := w.put(ctx, bucketAuthRoles, ro.Name, v); err != nil {
			return err
		}
	}
	return nil
}

// compactRevisionBytes is a compact revision as etcd stores it: the key bucket's layout with
// sub revision 0.
func compactRevisionBytes(rev int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(rev))
	b = append(b, '_')
	return binary.BigEndian.AppendUint64(b, 0)
}

func (w *writer) putMembers(ctx context.Context, src Source) error {
	for _, m := range src.Members {
		v, err := json.Marshal(memberJSON{ID: m.ID, PeerURLs: m.PeerURLs, IsLearner: m.IsLearner, Name: m.Name, ClientURLs: m.ClientURLs})
		if err != nil {
			return err
		}
		if err := w.put(ctx, bucketMembers, []byte(strconv.FormatUint(m.ID, 16)), v); err != nil {
			return err
		}
	}
	for _, id := range src.Removed {
		if err := w.put(ctx, bucketMembersRemoved, []byte(strconv.FormatUint(id, 16)), []byte("removed")); err != nil {
			return err
		}
	}
	for _, a := range src.Alarms {
		k, err := proto.Marshal(a)
		if err != nil {
			return err
		}
		if err := w.put(ctx, bucketAlarm, k, nil); err != nil {
			return err
		}
	}
	return nil
}

// confStateJSON is raftpb.ConfState as etcd stores it in meta (encoding/json of the gogo
// type: these field names, auto_leave always present).
type confStateJSON struct {
	Voters    []uint64 `json:"voters"`
	Learners  []uint64 `json:"learners,omitempty"`
	AutoLeave bool     `json:"auto_leave"`
}

// memberJSON is etcd's membership.Member as its members bucket stores it.
type memberJSON struct {
	ID         uint64   `json:"id"`
	PeerURLs   []string `json:"peerURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
}

// encodeLease is leasepb.Lease{ID, TTL, RemainingTTL} in protobuf's wire format (fields 1,
// 2, 3, varint; zero fields omitted, as proto3 writes them).
func encodeLease(l lease.Stored) []byte {
	var b []byte
	for i, v := range []int64{l.ID, l.TTLSeconds, l.RemainingTTLSeconds} {
		if v != 0 {
			b = protowire.AppendTag(b, protowire.Number(i+1), protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	}
	return b
}

// checksum reads the file's database and records its sha256 and size.
func checksum(f *File) error {
	in, err := os.Open(f.Path)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer in.Close()
	h := sha256.New()
	n, err := io.Copy(h, in)
	if err != nil {
		return fmt.Errorf("snapshot: read back %s: %w", f.Path, err)
	}
	if n%512 != 0 {
		return fmt.Errorf("snapshot: bbolt file %s has %d bytes, not a whole number of 512-byte blocks", f.Path, n)
	}
	f.DBSize = n
	copy(f.SHA256[:], h.Sum(nil))
	return nil
}

// SendBufferBytes is the blob size of one Snapshot response (etcd's
// snapshotSendBufferSize).
const SendBufferBytes = 32 * 1024

// Stream sends the file as etcd's Maintenance.Snapshot does: the database in blobs of
// SendBufferBytes, each with the bytes remaining after it, then one blob holding the
// sha256 (remaining 0).
func (f *File) Stream(ctx context.Context, send func(blob []byte, remaining uint64) error) error {
	in, err := os.Open(f.Path)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer in.Close()
	sent := int64(0)
	for sent < f.DBSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf := make([]byte, min(SendBufferBytes, f.DBSize-sent)) // gRPC may keep it after Send
		if _, err := io.ReadFull(in, buf); err != nil {
			return fmt.Errorf("snapshot: read %s: %w", f.Path, err)
		}
		sent += int64(len(buf))
		if err := send(buf, uint64(f.DBSize-sent)); err != nil {
			return err
		}
	}
	return send(f.SHA256[:], 0)
}
