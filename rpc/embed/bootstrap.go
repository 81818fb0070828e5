package embed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// identity is what bootstrap decided: who this member is and how its database starts.
type identity struct {
	id, clusterID uint64
	// founders are the founding members when this member founds the cluster (state new);
	// empty for a member that joined, and ignored by kv/node on a restart.
	founders []Founder
	// remotes are the members a joining member fetched: its transport reaches them by these
	// URLs until the member table it learns from the leader names them (etcd's remotes).
	remotes []Founder
	restart bool
	joined  bool
}

// absWALDir is --wal-dir made absolute ("" stays "": the log inside the database).
func absWALDir(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--wal-dir %q: %w", dir, err)
	}
	return abs, nil
}

// fetchMembers asks the member serving peerURL for the cluster ID and member list (the
// peer transport's Fetch of methodMembers).
type fetchMembers func(ctx context.Context, peerURL string) (clusterID uint64, members []Founder, err error)

// dbDirName is the member's Pebble database under data-dir/member.
const dbDirName = "db"

// bootstrap decides the member's identity, as etcd's bootstrapCluster does: a data dir that
// holds a member is a restart (the --initial-* flags are ignored); otherwise state new forms
// the cluster from --initial-cluster, state existing joins a cluster that member add already
// changed, asking one of the other members listed for the member list. The decision is
// written to data-dir/member/ballast.json before the database is created.
func bootstrap(ctx context.Context, cfg Config, lg *slog.Logger, fetch fetchMembers) (identity, error) {
	memberDir := filepath.Join(cfg.DataDir, "member")
	m, ok, err := readMeta(memberDir)
	if err != nil {
		return identity{}, err
	}
	if ok {
		return restartIdentity(cfg, m, lg)
	}
	if _, err := os.Stat(filepath.Join(memberDir, dbDirName)); err == nil {
		return identity{}, fmt.Errorf("data dir %s holds a member database (%s) but not its identity file %s: refusing to guess the member's ID; restore the file or start from an empty data dir",
			cfg.DataDir, filepath.Join(memberDir, dbDirName), filepath.Join(memberDir, metaFileName))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return identity{}, fmt.Errorf("cannot access member directory: %w", err)
	}
	initial := cfg.InitialCluster
	if cfg.DiscoverySRV != "" {
		// etcd's PeerURLsMapAndToken: the cluster the SRV records list, this member in it.
		strs, err := dnsClusterNames(ctx, cfg, lg)
		if err != nil {
			lg.Warn("failed to resolve during SRV discovery", "error", err.Error())
		}
		if len(strs) == 0 {
			return identity{}, err
		}
		for _, s := range strs {
			lg.Info("got bootstrap from DNS for etcd-server", "node", s)
		}
		initial = strings.Join(strs, ",")
	}
	ic, err := ParseInitialCluster(initial)
	if err != nil {
		return identity{}, err
	}
	if cfg.DiscoverySRV != "" && ic[cfg.Name] == nil {
		return identity{}, fmt.Errorf("cannot find local etcd member %q in SRV records", cfg.Name)
	}
	var id identity
	switch cfg.InitialClusterState {
	case ClusterStateNew:
		id, err = newClusterIdentity(ctx, cfg, ic, lg)
	default:
		if cfg.Discovery.enabled() {
			return identity{}, errors.New("discovery URL should not be set when joining existing initial cluster")
		}
		id, err = joinIdentity(ctx, cfg, ic, lg, fetch)
	}
	if err != nil {
		return identity{}, err
	}
	walDir, err := absWALDir(cfg.WALDir)
	if err != nil {
		return identity{}, err
	}
	mt := meta{Name: cfg.Name, MemberID: hexID(id.id), ClusterID: hexID(id.clusterID), Joined: id.joined, WALDir: walDir}
	for _, f := range id.founders {
		mt.Founders = append(mt.Founders, metaMember{ID: hexID(f.ID), Name: f.Name, PeerURLs: f.PeerURLs})
	}
	for _, f := range id.remotes {
		mt.Remotes = append(mt.Remotes, metaMember{ID: hexID(f.ID), Name: f.Name, PeerURLs: f.PeerURLs})
	}
	if err := writeMeta(memberDir, mt); err != nil {
		return identity{}, fmt.Errorf("cannot write to member directory: %w", err)
	}
	return id, nil
}

// newClusterIdentity is etcd's bootstrapNewClusterNoWAL: the founders are --initial-cluster,
// or, with discovery, the members the discovery service lists once the cluster's size has
// registered (this member's ID is the one its temporary cluster of itself alone gives: the
// same URLs and token).
func newClusterIdentity(ctx context.Context, cfg Config, ic InitialCluster, lg *slog.Logger) (identity, error) {
	if err := verifyBootstrap(ctx, cfg.Name, urlStrings(cfg.AdvertisePeerURLs), ic); err != nil {
		return identity{}, err
	}
	founders, err := Founders(ic, cfg.InitialClusterToken)
	if err != nil {
		return identity{}, err
	}
	var self uint64
	for _, f := range founders {
		if f.Name == cfg.Name {
			self = f.ID
		}
	}
	if cfg.Discovery.enabled() {
		lg.Info("Bootstrapping cluster using v3 discovery.")
		s, err := discoverCluster(ctx, lg, cfg.Discovery, self, ic.String())
		if err != nil {
			return identity{}, &DiscoveryError{Op: "join", Err: err}
		}
		if ic, err = ParseInitialCluster(s); err != nil {
			return identity{}, err
		}
		if hasDuplicateURL(ic) {
			return identity{}, fmt.Errorf("discovery cluster %s has duplicate url", ic)
		}
		if founders, err = Founders(ic, cfg.InitialClusterToken); err != nil {
			return identity{}, err
		}
	}
	var ids []uint64
	for _, f := range founders {
		ids = append(ids, f.ID)
	}
	return identity{id: self, clusterID: ClusterID(ids), founders: founders}, nil
}

// joinIdentity is etcd's bootstrapExistingClusterNoWAL: the member list comes from the first
// other member listed in --initial-cluster that answers, and this member's ID is the one
// member add gave its peer URLs.
func joinIdentity(ctx context.Context, cfg Config, ic InitialCluster, lg *slog.Logger, fetch fetchMembers) (identity, error) {
	if err := verifyJoinExisting(cfg.Name, ic); err != nil {
		return identity{}, err
	}
	var remotes []string
	for name, urls := range ic {
		if name != cfg.Name {
			remotes = append(remotes, urls...)
		}
	}
	slices.Sort(remotes)
	// A member that has not applied the member add yet answers without the new member: ask
	// the others, and again, until one knows it or the bound passes (a few election timeouts).
	deadline := time.Now().Add(10 * cfg.ElectionTimeout)
	for {
		var errs []string
		for _, u := range remotes {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			cid, members, err := fetch(cctx, u)
			cancel()
			if err != nil {
				lg.Warn("failed to get cluster information from peer", "remote-peer-url", u, "error", err.Error())
				errs = append(errs, fmt.Sprintf("%s: %v", u, err))
				continue
			}
			self, err := assignExistingIDs(ctx, cfg.Name, ic, members)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: error validating peerURLs %s: %v", u, describeMembers(cid, members), err))
				continue
			}
			return identity{id: self, clusterID: cid, joined: true, remotes: members}, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return identity{}, fmt.Errorf("cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs (%s)", strings.Join(errs, "; "))
		}
		select {
		case <-ctx.Done():
		case <-time.After(cfg.HeartbeatInterval):
		}
	}
}

// describeMembers writes a fetched cluster as etcd prints one.
func describeMembers(cid uint64, members []Founder) string {
	var parts []string
	for _, m := range members {
		parts = append(parts, fmt.Sprintf("{ID:%x Name:%s PeerURLs:%v}", m.ID, m.Name, m.PeerURLs))
	}
	return fmt.Sprintf("{ClusterID:%x Members:[%s]}", cid, strings.Join(parts, " "))
}

func restartIdentity(cfg Config, m meta, lg *slog.Logger) (identity, error) {
	self, err := parseHexID("member_id", m.MemberID)
	if err != nil {
		return identity{}, err
	}
	cid, err := parseHexID("cluster_id", m.ClusterID)
	if err != nil {
		return identity{}, err
	}
	walDir, err := absWALDir(cfg.WALDir)
	if err != nil {
		return identity{}, err
	}
	if walDir != m.WALDir {
		return identity{}, fmt.Errorf("--wal-dir %q is not the WAL directory this member was created with (%q): Pebble would not find its log there; start with --wal-dir %q",
			cfg.WALDir, m.WALDir, m.WALDir)
	}
	id := identity{id: self, clusterID: cid, restart: true, joined: m.Joined}
	var err2 error
	id.founders, err2 = fromMeta(m.Founders)
	if err2 != nil {
		return identity{}, err2
	}
	id.remotes, err2 = fromMeta(m.Remotes)
	if err2 != nil {
		return identity{}, err2
	}
	lg.Info("server has already been initialized", "data-dir", cfg.DataDir, "dir-type", "member",
		"local-member-id", hexID(self), "cluster-id", hexID(cid))
	if m.Name != cfg.Name {
		lg.Warn("the data dir was initialized under another name; the member keeps its ID and publishes the new name",
			"data-dir-name", m.Name, "name", cfg.Name)
	}
	return id, nil
}

func fromMeta(ms []metaMember) ([]Founder, error) {
	var out []Founder
	for _, f := range ms {
		id, err := parseHexID("member id", f.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, Founder{ID: id, Name: f.Name, PeerURLs: f.PeerURLs})
	}
	return out, nil
}
