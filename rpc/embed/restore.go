package embed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ballastdb/ballast/kv/snapshot"
)

// RestoreConfig is `ballast snapshot restore`'s flags, those of `etcdutl snapshot restore`.
type RestoreConfig struct {
	SnapshotPath string
	// Name is --name (default "default"); DataDir --data-dir (default Name + ".etcd").
	Name, DataDir string
	// WALDir is --wal-dir: where the restored member's Pebble keeps its write-ahead log
	// (empty: inside the database); the member must then be started with the same flag.
	WALDir string
	// InitialCluster, InitialClusterToken and InitialAdvertisePeerURLs found the new cluster,
	// as the same flags of a first start do (defaults as etcd's: "default=http://localhost:2380",
	// "etcd-cluster", "http://localhost:2380").
	InitialCluster, InitialClusterToken string
	InitialAdvertisePeerURLs            []string
	// SkipHashCheck accepts a file without (or with a wrong) sha256 trailer, as a database
	// copied from a data dir (etcdutl's --skip-hash-check).
	SkipHashCheck bool
	// BumpRevision is etcdutl's --bump-revision (with --mark-compacted): the restored
	// revision is the snapshot's latest plus this, compacted there (0: as saved).
	BumpRevision uint64
	Logger       *slog.Logger
}

// Restore writes a new member's data dir from an etcd-format snapshot (saved from etcd v3.5
// to v3.7 or from Ballast): the key-value store at the snapshot's revisions and its leases,
// and the identity of a member of the new cluster --initial-cluster describes, so that
// `ballast` started on the data dir founds that cluster (each member restored from the same
// file, as with etcdutl). The snapshot is checked first (kv/snapshot.Open), and the data dir
// is built beside the target and renamed into place only when complete: a refused or failed
// restore leaves the target as it was. The target must not exist or be empty (etcdutl's
// rule). It returns what was restored.
func Restore(ctx context.Context, cfg RestoreConfig) (snapshot.Restored, error) {
	if cfg.Name == "" {
		cfg.Name = "default"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = cfg.Name + ".etcd"
	}
	if cfg.InitialClusterToken == "" {
		cfg.InitialClusterToken = "etcd-cluster"
	}
	if len(cfg.InitialAdvertisePeerURLs) == 0 {
		cfg.InitialAdvertisePeerURLs = []string{"http://localhost:2380"}
	}
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = cfg.Name + "=" + cfg.InitialAdvertisePeerURLs[0]
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	var none snapshot.Restored
	peerURLs, err := ParseURLs(cfg.InitialAdvertisePeerURLs)
	if err != nil {
		return none, fmt.Errorf("--initial-advertise-peer-urls: %w", err)
	}
	ic, err := ParseInitialCluster(cfg.InitialCluster)
	if err != nil {
		return none, fmt.Errorf("--initial-cluster: %w", err)
	}
	if err := verifyBootstrap(ctx, cfg.Name, peerURLs, ic); err != nil {
		return none, err
	}
	founders, err := Founders(ic, cfg.InitialClusterToken)
	if err != nil {
		return none, err
	}
	var ids []uint64
	var self uint64
	for _, f := range founders {
		ids = append(ids, f.ID)
		if f.Name == cfg.Name {
			self = f.ID
		}
	}
	if entries, err := os.ReadDir(cfg.DataDir); err == nil && len(entries) > 0 {
		return none, fmt.Errorf("data-dir %q not empty or could not be read", cfg.DataDir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return none, fmt.Errorf("data-dir %q not empty or could not be read: %w", cfg.DataDir, err)
	}
	walDir, err := absWALDir(cfg.WALDir)
	if err != nil {
		return none, err
	}
	if walDir != "" {
		if _, err := os.Stat(walDir); err == nil {
			return none, fmt.Errorf("wal-dir %q exists", cfg.WALDir)
		}
	}

	r, err := snapshot.Open(cfg.SnapshotPath, cfg.SkipHashCheck)
	if err != nil {
		return none, err
	}
	defer r.Close()

	parent := filepath.Dir(filepath.Clean(cfg.DataDir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return none, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(cfg.DataDir)+".restoring-")
	if err != nil {
		return none, err
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(tmp)
			if walDir != "" {
				_ = os.RemoveAll(walDir)
			}
		}
	}()
	memberDir := filepath.Join(tmp, "member")
	db, err := pebble.Open(filepath.Join(memberDir, dbDirName), &pebble.Options{WALDir: walDir})
	if err != nil {
		return none, fmt.Errorf("create the member database: %w", err)
	}
	if cfg.BumpRevision > math.MaxInt64/2 {
		_ = db.Close()
		return none, fmt.Errorf("--bump-revision %d is too large", cfg.BumpRevision)
	}
	restored, err := r.ImportBumped(db, int64(cfg.BumpRevision))
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return none, err
	}
	mt := meta{Name: cfg.Name, MemberID: hexID(self), ClusterID: hexID(ClusterID(ids)), WALDir: walDir}
	for _, f := range founders {
		mt.Founders = append(mt.Founders, metaMember{ID: hexID(f.ID), Name: f.Name, PeerURLs: f.PeerURLs})
	}
	if err := writeMeta(memberDir, mt); err != nil {
		return none, err
	}
	// An empty target directory is replaced by the complete one (rename onto an empty
	// directory), a missing one created by it.
	if err := os.Rename(tmp, cfg.DataDir); err != nil {
		return none, fmt.Errorf("move the restored data dir into place: %w", err)
	}
	done = true
	lg.Info("restored snapshot", "path", cfg.SnapshotPath, "data-dir", cfg.DataDir, "wal-dir", cfg.WALDir,
		"revision", restored.Revision, "compact-revision", restored.CompactRevision,
		"versions", restored.Versions, "leases", restored.Leases,
		"member-id", hexID(self), "cluster-id", hexID(ClusterID(ids)))
	return restored, nil
}
