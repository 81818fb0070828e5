package snapshot

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/kvtest"
	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/kv/mvcc"
)

type leaseIDs map[int64]bool

func (l leaseIDs) LeaseExists(id int64) bool { return l[id] }

// newStore writes a small history (puts, overwrites, a delete, a leased key, a compaction)
// into an in-memory DB.
func newStore(t *testing.T) *pebble.DB {
	db := kvtest.MustOpenMem(t)
	s, err := mvcc.Open(db, mvcc.Config{})
	require.NoError(t, err)
	leases := leaseIDs{7: true}
	write := func(fn func(b *pebble.Batch) error) {
		b := db.NewIndexedBatch()
		defer b.Close()
		require.NoError(t, fn(b))
		require.NoError(t, b.Commit(pebble.Sync))
	}
	write(func(b *pebble.Batch) error { return lease.Import(b, lease.Stored{ID: 7, TTLSeconds: 60}) })
	for i := range 30 {
		write(func(b *pebble.Batch) error {
			_, _, err := s.Put(b, &pb.PutRequest{Key: fmt.Appendf(nil, "k%02d", i%10), Value: fmt.Appendf(nil, "v%d", i)}, leases)
			return err
		})
	}
	write(func(b *pebble.Batch) error {
		_, _, err := s.DeleteRange(b, &pb.DeleteRangeRequest{Key: []byte("k03")})
		return err
	})
	write(func(b *pebble.Batch) error {
		_, _, err := s.Put(b, &pb.PutRequest{Key: []byte("leased"), Value: []byte("x"), Lease: 7}, leases)
		return err
	})
	write(func(b *pebble.Batch) error {
		_, err := s.Compact(b, 25)
		return err
	})
	return db
}

// saved writes src's snapshot as a client saves it: the database, then the sha256.
func saved(t *testing.T, src Source) string {
	f, err := Write(context.Background(), t.TempDir(), src)
	require.NoError(t, err)
	defer f.Remove()
	data, err := os.ReadFile(f.Path)
	require.NoError(t, err)
	require.EqualValues(t, f.DBSize, len(data))
	path := filepath.Join(t.TempDir(), "snap.db")
	require.NoError(t, os.WriteFile(path, append(data, f.SHA256[:]...), 0o600))
	return path
}

func exportAll(t *testing.T, r pebble.Reader) []string {
	var out []string
	_, err := mvcc.Export(r, func(k, v []byte) error {
		out = append(out, fmt.Sprintf("%x=%x", k, v))
		return nil
	})
	require.NoError(t, err)
	return out
}

// TestWriteOpenImport: a written snapshot passes every check, its status names the store's
// revision and live keys, and importing it gives back the same versions, compact revision
// and leases.
func TestWriteOpenImport(t *testing.T) {
	db := newStore(t)
	snap := db.NewSnapshot()
	defer snap.Close()
	path := saved(t, Source{Reader: snap, ConsistentIndex: 40, Term: 3, Voters: []uint64{1},
		Members: []Member{{ID: 1, Name: "m1", PeerURLs: []string{"http://127.0.0.1:2380"}}}})
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.EqualValues(t, sha256.Size, info.Size()%512)

	r, err := Open(path, false)
	require.NoError(t, err)
	defer r.Close()
	st, err := r.Status()
	require.NoError(t, err)
	require.EqualValues(t, 33, st.Revision, "30 puts, a delete and a leased put after the initial revision 1")
	require.Equal(t, 10, st.TotalKey, "k00..k09 without k03, and leased")
	require.Equal(t, StorageVersion, st.Version)

	dst := kvtest.MustOpenMem(t)
	got, err := r.Import(dst)
	require.NoError(t, err)
	require.Equal(t, Restored{Revision: 33, CompactRevision: 25, Versions: int64(len(exportAll(t, snap))), Leases: 1}, got)
	require.Equal(t, exportAll(t, snap), exportAll(t, dst))
	var leases []lease.Stored
	require.NoError(t, lease.Export(dst, func(l lease.Stored) error { leases = append(leases, l); return nil }))
	require.Equal(t, []lease.Stored{{ID: 7, TTLSeconds: 60}}, leases)

	_, err = r.Import(dst)
	require.ErrorContains(t, err, "already holds data", "a second import into the same store is refused")
}

// TestOpenRefuses: each kind of damage is refused by the check that finds it, named in the
// error.
func TestOpenRefuses(t *testing.T) {
	db := newStore(t)
	good, err := os.ReadFile(saved(t, Source{Reader: db}))
	require.NoError(t, err)
	dbBytes := good[:len(good)-sha256.Size]
	flipped := func(b []byte, at int) []byte {
		out := append([]byte(nil), b...)
		out[at] ^= 0xff
		return out
	}
	// both meta pages (0 and 1, of 4096 bytes) with a damaged checksum
	badMeta := flipped(flipped(dbBytes, 60), 4096+60)
	noKeyBucket := func() []byte {
		path := filepath.Join(t.TempDir(), "nokey.db")
		bdb, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucketMeta); return err }))
		require.NoError(t, bdb.Close())
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		return append(data, sum[:]...)
	}()
	for _, tc := range []struct {
		name     string
		data     []byte
		skipHash bool
		check    string
	}{
		{"empty file", nil, false, checkSize},
		{"truncated mid-block", good[:len(good)-100], false, checkSize},
		{"truncated to whole blocks: no trailer", dbBytes[:len(dbBytes)-4096], false, checkHash},
		{"a flipped byte", flipped(good, len(good)/2), false, checkHash},
		{"damaged meta pages, hash skipped", badMeta, true, checkBolt},
		{"no key bucket", noKeyBucket, false, checkBuckets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snap.db")
			require.NoError(t, os.WriteFile(path, tc.data, 0o600))
			r, err := Open(path, tc.skipHash)
			if err == nil {
				r.Close()
			}
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, tc.check)
		})
	}
}

// TestWriteManyVersions: a store of more versions than the export's window (1,024) and than
// one bbolt transaction holds comes back whole and unchanged (the export reuses its buffers;
// bbolt keeps the values it is given until its transaction commits).
func TestWriteManyVersions(t *testing.T) {
	db := kvtest.MustOpenMem(t)
	s, err := mvcc.Open(db, mvcc.Config{})
	require.NoError(t, err)
	value := make([]byte, 8<<10) // 5,000 of 8 KiB: 40 MiB, past writeBatchBytesMax
	for i := range 5000 {
		b := db.NewIndexedBatch()
		value[i%len(value)] = byte(i)
		_, _, err := s.Put(b, &pb.PutRequest{Key: fmt.Appendf(nil, "k%05d", i%1500), Value: value}, nil)
		require.NoError(t, err)
		require.NoError(t, b.Commit(pebble.NoSync))
		b.Close()
	}
	r, err := Open(saved(t, Source{Reader: db}), false)
	require.NoError(t, err)
	defer r.Close()
	dst := kvtest.MustOpenMem(t)
	got, err := r.Import(dst)
	require.NoError(t, err)
	require.EqualValues(t, 5000, got.Versions)
	require.Equal(t, exportAll(t, db), exportAll(t, dst))
}

// TestAuthRoundTrip: the auth store goes into etcd's auth buckets and comes back from them
// (users with their password hashes and roles, roles with their permissions, the enabled
// flag, the auth revision); a damaged user record or a user holding a role the snapshot
// does not define is refused, naming it.
func TestAuthRoundTrip(t *testing.T) {
	db := newStore(t)
	want := auth.Stored{Enabled: true, Revision: 9,
		Users: []*authpb.User{
			{Name: []byte("alice"), Password: []byte("$2a$04$hash"), Roles: []string{"reader"}},
			{Name: []byte("root"), Password: []byte("$2a$04$root"), Roles: []string{"root"}},
			{Name: []byte("svc"), Options: &authpb.UserAddOptions{NoPassword: true}},
		},
		Roles: []*authpb.Role{{Name: []byte("reader"), KeyPermission: []*authpb.Permission{
			{PermType: authpb.READ, Key: []byte("pub/"), RangeEnd: []byte("pub0")},
			{PermType: authpb.READWRITE, Key: []byte("own")},
		}}},
	}
	b := db.NewBatch()
	require.NoError(t, auth.Import(b, want))
	require.NoError(t, b.Commit(pebble.Sync))
	snap := db.NewSnapshot()
	defer snap.Close()
	path := saved(t, Source{Reader: snap, ConsistentIndex: 40, Term: 3, Voters: []uint64{1}})

	r, err := Open(path, false)
	require.NoError(t, err)
	dst := kvtest.MustOpenMem(t)
	got, err := r.Import(dst)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, 3, got.Users)
	require.Equal(t, 1, got.Roles)
	back, err := auth.Export(dst)
	require.NoError(t, err)
	require.Equal(t, want.Enabled, back.Enabled)
	require.Equal(t, want.Revision, back.Revision)
	require.Len(t, back.Users, 3)
	for i := range want.Users {
		require.True(t, proto.Equal(want.Users[i], back.Users[i]), "user %s: %v", want.Users[i].Name, back.Users[i])
	}
	require.True(t, proto.Equal(want.Roles[0], back.Roles[0]), "role: %v", back.Roles[0])

	for name, damage := range map[string]func(tx *bolt.Tx) error{
		`authUsers: record "bob"`: func(tx *bolt.Tx) error { return tx.Bucket(bucketAuthUsers).Put([]byte("bob"), []byte{0xff, 0xff}) },
		`holds role "ghost"`: func(tx *bolt.Tx) error {
			v, err := proto.Marshal(&authpb.User{Name: []byte("eve"), Roles: []string{"ghost"}})
			if err != nil {
				return err
			}
			return tx.Bucket(bucketAuthUsers).Put([]byte("eve"), v)
		},
		"authEnabled holds": func(tx *bolt.Tx) error { return tx.Bucket(bucketAuth).Put(authEnabledKey, []byte{7}) },
	} {
		t.Run(name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.db")
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(bad, data, 0o600))
			bdb, err := bolt.Open(bad, 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, bdb.Update(damage))
			require.NoError(t, bdb.Close())
			r, err := Open(bad, true) // the hash no longer matches: skipped, as etcdutl's --skip-hash-check
			require.NoError(t, err)
			defer r.Close()
			_, err = r.Import(kvtest.MustOpenMem(t))
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, name)
		})
	}
}

// TestImportBumped: etcdutl's --bump-revision N --mark-compacted: the restored store's
// revision is the snapshot's latest plus N and compacted there; the versions are all kept
// (readable at the current revision), and the next write takes latest + N + 1.
func TestImportBumped(t *testing.T) {
	db := newStore(t)
	snap := db.NewSnapshot()
	defer snap.Close()
	path := saved(t, Source{Reader: snap, ConsistentIndex: 40, Term: 3, Voters: []uint64{1}})
	r, err := Open(path, false)
	require.NoError(t, err)
	defer r.Close()
	dst := kvtest.MustOpenMem(t)
	got, err := r.ImportBumped(dst, 1000)
	require.NoError(t, err)
	require.EqualValues(t, 1033, got.Revision, "latest 33 + 1000")
	require.EqualValues(t, 1033, got.CompactRevision, "marked compacted at the new latest")
	s, err := mvcc.Open(dst, mvcc.Config{})
	require.NoError(t, err)
	require.EqualValues(t, 1033, s.CurrentRevision())
	require.EqualValues(t, 1033, s.CompactRevision())
	resp, err := s.Range(dst, &pb.RangeRequest{Key: []byte("k00"), RangeEnd: []byte("k99")})
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 9, "k00..k09 without k03")
	_, err = s.Range(dst, &pb.RangeRequest{Key: []byte("k00"), Revision: 33})
	require.ErrorIs(t, err, mvcc.ErrCompacted, "a read at the snapshot's latest revision is compacted")
	b := dst.NewIndexedBatch()
	p, _, err := s.Put(b, &pb.PutRequest{Key: []byte("after"), Value: []byte("x")}, leaseIDs{})
	require.NoError(t, err)
	require.NoError(t, b.Commit(pebble.Sync))
	require.EqualValues(t, 1034, p.Header.GetRevision(), "the next write")
	_, err = r.ImportBumped(kvtest.MustOpenMem(t), -1)
	require.ErrorContains(t, err, "must not be negative")
}
