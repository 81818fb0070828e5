package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/authpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/kv/mvcc"
)

// ErrInvalid: the file is not a snapshot this package can restore; the error's text names
// the check that failed.
var ErrInvalid = errors.New("invalid snapshot")

// File checks, in the order Open runs them (each failure wraps ErrInvalid and names its check).
const (
	checkReadable = "the file could not be read"
	checkSize     = "size check (a bbolt file is whole 512-byte blocks, plus etcd's 32-byte sha256 trailer)"
	checkHash     = "sha256 check (the trailer against the bytes before it)"
	checkBolt     = "bbolt check (the database's pages, freelist and buckets)"
	checkBuckets  = "bucket check (etcd's key and meta buckets)"
)

// Reader is a snapshot file opened read-only, its trailer checked.
type Reader struct {
	path    string
	db      *bolt.DB
	hasHash bool
}

// Open opens the snapshot at path and checks it: its size, its sha256 trailer (skipped with
// skipHashCheck, and then allowed to be missing, as etcdutl's --skip-hash-check), bbolt's
// consistency check and etcd's buckets. Close it when done.
func Open(path string, skipHashCheck bool) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %v", ErrInvalid, path, checkReadable, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %v", ErrInvalid, path, checkReadable, err)
	}
	size := info.Size()
	hasHash := size%512 == sha256.Size
	switch {
	case size < 2*512:
		return nil, fmt.Errorf("%w: %s: %s failed: %d bytes is too short for a bbolt file", ErrInvalid, path, checkSize, size)
	case !hasHash && size%512 != 0:
		return nil, fmt.Errorf("%w: %s: %s failed: %d bytes (%d %% 512 = %d, want 0 or 32): the file is truncated or damaged",
			ErrInvalid, path, checkSize, size, size, size%512)
	case !hasHash && !skipHashCheck:
		return nil, fmt.Errorf("%w: %s: %s failed: snapshot missing hash but --skip-hash-check=false", ErrInvalid, path, checkHash)
	}
	if hasHash && !skipHashCheck {
		h := sha256.New()
		if _, err := io.CopyN(h, f, size-sha256.Size); err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %v", ErrInvalid, path, checkReadable, err)
		}
		trailer := make([]byte, sha256.Size)
		if _, err := io.ReadFull(f, trailer); err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %v", ErrInvalid, path, checkReadable, err)
		}
		if sum := h.Sum(nil); !bytes.Equal(sum, trailer) {
			return nil, fmt.Errorf("%w: %s: %s failed: expected sha256 %x, got %x", ErrInvalid, path, checkHash, trailer, sum)
		}
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s failed: %v", ErrInvalid, path, checkBolt, err)
	}
	r := &Reader{path: path, db: db, hasHash: hasHash}
	if err := r.check(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return r, nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.db.Close() }

func (r *Reader) check() error {
	return r.db.View(func(tx *bolt.Tx) error {
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, err.Error())
			if len(problems) == 10 {
				break
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%w: %s: %s failed: %s", ErrInvalid, r.path, checkBolt, strings.Join(problems, "; "))
		}
		for _, name := range [][]byte{bucketKey, bucketMeta} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: %s: %s failed: no bucket %q", ErrInvalid, r.path, checkBuckets, name)
			}
		}
		return nil
	})
}

// Status is `etcdutl snapshot status`'s answer, computed as etcdutl computes it.
type Status struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version"`
}

// Status answers etcdutl's snapshot status: the CRC-32C of every bucket's name, keys and
// values in order; the last revision of the key bucket; the keys live at it; the database's
// size; the storage version in meta. It holds one key's name per live key in memory, as
// etcdutl does.
func (r *Reader) Status() (Status, error) {
	var st Status
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	live := map[string]struct{}{}
	err := r.db.View(func(tx *bolt.Tx) error {
		st.TotalSize = tx.Size()
		if v := tx.Bucket(bucketMeta).Get(metaStorageVersion); v != nil {
			st.Version = string(v)
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h.Write(name)
			isKey := bytes.Equal(name, bucketKey)
			return b.ForEach(func(k, v []byte) error {
				h.Write(k)
				h.Write(v)
				if !isKey {
					return nil
				}
				main, _, tombstone, err := mvcc.ParseEtcdRevision(k)
				if err != nil {
					return err
				}
				st.Revision = main
				var kv mvccpb.KeyValue
				if err := proto.Unmarshal(v, &kv); err != nil {
					return fmt.Errorf("revision %x: %w", k, err)
				}
				if tombstone {
					delete(live, string(kv.Key))
				} else {
					live[string(kv.Key)] = struct{}{}
				}
				return nil
			})
		})
	})
	if err != nil {
		return Status{}, fmt.Errorf("%w: %s: %v", ErrInvalid, r.path, err)
	}
	st.TotalKey = len(live)
	st.Hash = h.Sum32()
	return st, nil
}

// Restored is what Import wrote.
type Restored struct {
	Revision, CompactRevision int64
	Versions, Leases          int64
	Users, Roles              int // the auth store's records imported
}

// importBatchBytesMax bounds the bytes of one Pebble batch Import commits.
const importBatchBytesMax = 16 << 20

// Import writes the snapshot's key-value store and leases into db, which must hold neither
// yet, in batches of at most importBatchBytesMax bytes. Every version and lease is checked
// (mvcc.Importer, lease.Import); on an error the caller discards db, which may hold part of
// the snapshot, and its users, roles and permissions (the auth buckets, checked as
// auth.Import checks them), as etcdutl's restore keeps them. The member table and alarms
// are not imported: a restore founds a new cluster from its own flags, as etcdutl's does.
func (r *Reader) Import(db *pebble.DB) (Restored, error) {
	return r.ImportBumped(db, 0)
}

// ImportBumped is Import with etcdutl's --bump-revision bump --mark-compacted: the restored
// store's revision is the snapshot's latest plus bump, and compacted there, so no client
// reads or watches a revision the snapshot's cluster may have moved past (the restore of a
// Kubernetes cluster's etcd: informers must relist). bump 0 is Import.
func (r *Reader) ImportBumped(db *pebble.DB, bump int64) (Restored, error) {
	if bump < 0 {
		return Restored{}, fmt.Errorf("snapshot: bump revision %d: must not be negative", bump)
	}
	for _, empty := range []func(pebble.Reader) (bool, error){mvcc.IsEmpty} {
		ok, err := empty(db)
		if err != nil {
			return Restored{}, err
		}
		if !ok {
			return Restored{}, errors.New("snapshot: import into a store that already holds data")
		}
	}
	var out Restored
	b := db.NewBatch()
	defer func() { _ = b.Close() }()
	flush := func(force bool) error {
		if !force && b.Len() < importBatchBytesMax {
			return nil
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		_ = b.Close()
		b = db.NewBatch()
		return nil
	}
	var im mvcc.Importer
	err := r.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketKey).ForEach(func(k, v []byte) error {
			if err := im.Add(b, k, v); err != nil {
				return err
			}
			out.Versions++
			return flush(false)
		})
		if err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		compact, err := compactRevision(meta)
		if err != nil {
			return err
		}
		if bump > 0 { // etcdutl's modifyLatestRevision: latest + bump, compacted there
			compact = im.LastRevision() + bump
		}
		st, err := im.Finish(b, compact)
		if err != nil {
			return err
		}
		out.Revision, out.CompactRevision = st.CurrentRevision, st.CompactRevision
		if st, err := readAuth(tx); err != nil {
			return err
		} else if st.Revision > 0 {
			out.Users, out.Roles = len(st.Users), len(st.Roles)
			if err := auth.Import(b, st); err != nil {
				return err
			}
		}
		if lb := tx.Bucket(bucketLease); lb != nil {
			err := lb.ForEach(func(k, v []byte) error {
				l, err := decodeLease(v)
				if err != nil {
					return fmt.Errorf("lease %x: %w", k, err)
				}
				if len(k) != 8 || int64(binary.BigEndian.Uint64(k)) != l.ID {
					return fmt.Errorf("lease bucket key %x does not name lease %d", k, l.ID)
				}
				out.Leases++
				if err := lease.Import(b, l); err != nil {
					return err
				}
				return flush(false)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Restored{}, fmt.Errorf("%w: %s: %v", ErrInvalid, r.path, err)
	}
	if err := flush(true); err != nil {
		return Restored{}, err
	}
	if err := db.Flush(); err != nil {
		return Restored{}, err
	}
	return out, nil
}

// compactRevision reads meta's compaction: the scheduled revision (a compaction etcd
// had not finished is finished by the import: the store reads as compacted there).
func compactRevision(meta *bolt.Bucket) (int64, error) {
	v := meta.Get(metaScheduledCompact)
	if v == nil {
		v = meta.Get(metaFinishedCompact)
	}
	if v == nil {
		return -1, nil
	}
	main, _, tombstone, err := mvcc.ParseEtcdRevision(v)
	if err != nil || tombstone {
		return 0, fmt.Errorf("meta compact revision %x: %v", v, err)
	}
	return main, nil
}

// decodeLease decodes leasepb.Lease's wire format (fields 1 ID, 2 TTL, 3 RemainingTTL, each
// a varint; unknown fields skipped, as protobuf does).
func decodeLease(v []byte) (lease.Stored, error) {
	var l lease.Stored
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return l, protowire.ParseError(n)
		}
		v = v[n:]
		if typ == protowire.VarintType && num >= 1 && num <= 3 {
			x, m := protowire.ConsumeVarint(v)
			if m < 0 {
				return l, protowire.ParseError(m)
			}
			v = v[m:]
			switch num {
			case 1:
				l.ID = int64(x)
			case 2:
				l.TTLSeconds = int64(x)
			case 3:
				l.RemainingTTLSeconds = int64(x)
			}
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, v)
		if m < 0 {
			return l, protowire.ParseError(m)
		}
		v = v[m:]
	}
	return l, nil
}

// readAuth reads etcd's auth buckets (revision 0: the snapshot holds no auth revision, as
// one written before auth existed in etcd; nothing to import then).
func readAuth(tx *bolt.Tx) (auth.Stored, error) {
	var st auth.Stored
	ab := tx.Bucket(bucketAuth)
	if ab == nil {
		return st, nil
	}
	if v := ab.Get(authRevisionKey); v != nil {
		if len(v) != 8 {
			return st, fmt.Errorf("auth bucket: authRevision holds %d bytes, not 8", len(v))
		}
		st.Revision = binary.BigEndian.Uint64(v)
	}
	if v := ab.Get(authEnabledKey); v != nil {
		if len(v) != 1 || v[0] > 1 {
			return st, fmt.Errorf("auth bucket: authEnabled holds %x, not 0 or 1", v)
		}
		st.Enabled = v[0] == 1
	}
	if ub := tx.Bucket(bucketAuthUsers); ub != nil {
		err := ub.ForEach(func(k, v []byte) error {
			u := &authpb.User{}
			if err := proto.Unmarshal(v, u); err != nil || !bytes.Equal(u.Name, k) {
				return fmt.Errorf("authUsers: record %q is damaged or names another user", k)
			}
			st.Users = append(st.Users, u)
			return nil
		})
		if err != nil {
			return st, err
		}
	}
	if rb := tx.Bucket(bucketAuthRoles); rb != nil {
		err := rb.ForEach(func(k, v []byte) error {
			ro := &authpb.Role{}
			if err := proto.Unmarshal(v, ro); err != nil || !bytes.Equal(ro.Name, k) {
				return fmt.Errorf("authRoles: record %q is damaged or names another role", k)
			}
			st.Roles = append(st.Roles, ro)
			return nil
		})
		if err != nil {
			return st, err
		}
	}
	if st.Revision == 0 && (len(st.Users) > 0 || len(st.Roles) > 0 || st.Enabled) {
		return st, errors.New("auth bucket: users or roles but no authRevision")
	}
	return st, nil
}
