package embed

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// meta is the member's identity, written once into data-dir/member/ballast.json before the
// member's database is first opened, and read on every restart. It is etcd's WAL metadata
// (member ID and cluster ID) plus the bootstrap decision: a member that crashed after
// writing it but before its database was created bootstraps again from the same founders,
// so the decision is made once and never from flags that changed meanwhile.
type meta struct {
	// Version of this file's format, metaVersion.
	Version   int    `json:"version"`
	Name      string `json:"name"`
	MemberID  string `json:"member_id"`  // hex, as etcd prints IDs
	ClusterID string `json:"cluster_id"` // hex
	// Founders are the founding members (state new), empty for a member that joined an
	// existing cluster.
	Founders []metaMember `json:"founders,omitempty"`
	// Remotes are the members a joining member fetched (see identity.remotes).
	Remotes []metaMember `json:"remotes,omitempty"`
	// WALDir is the absolute --wal-dir the database was created with ("": inside it): Pebble
	// finds its log only there, so a restart must name the same one.
	WALDir string `json:"wal_dir,omitempty"`
	// Joined is true for a member that joined with --initial-cluster-state existing.
	Joined bool `json:"joined,omitempty"`
}

type metaMember struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	PeerURLs []string `json:"peer_urls"`
}

const (
	metaVersion  = 1
	metaFileName = "ballast.json"
)

func hexID(id uint64) string { return strconv.FormatUint(id, 16) }

func parseHexID(field, s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%s %q is not a nonzero hex ID", field, s)
	}
	return id, nil
}

// readMeta reads dir/ballast.json; ok is false when it does not exist.
func readMeta(dir string) (m meta, ok bool, err error) {
	path := filepath.Join(dir, metaFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, false, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version != metaVersion {
		return m, false, fmt.Errorf("%s: unknown format version %d (this binary knows %d)", path, m.Version, metaVersion)
	}
	return m, true, nil
}

// writeMeta writes dir/ballast.json durably: a temporary file, synced, renamed, and the
// directory synced, so a crash leaves either no file or the whole one.
func writeMeta(dir string, m meta) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	m.Version = metaVersion
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, metaFileName+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, metaFileName)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
