package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// This file is etcd's v3 discovery (server/etcdserver/api/v3discovery): a member of a new
// cluster started with --discovery-token and --discovery-endpoints instead of
// --initial-cluster registers itself in an etcd-API cluster that serves as the discovery
// service, under etcd's key layout, waits until as many members as the size key asks for
// have registered, and founds the cluster they form:
//
//	/_etcd/registry/<token>/_config/size     the cluster's size (set beforehand by the operator)
//	/_etcd/registry/<token>/members/<id>     "name=peerURL,..." of each member (its ID in hex)
//
// The members are taken in the order of their keys' create revisions; one registering after
// the size is reached is refused with "discovery: cluster is full". A failed read or write
// is retried after 2, 4, ... 256 seconds (then every 256 s), as etcd; the start's context
// ends the wait.

// The defaults of etcd's --discovery-* flags (embed.NewConfig).
const (
	DefaultDiscoveryDialTimeout      = 2 * time.Second
	DefaultDiscoveryRequestTimeout   = 5 * time.Second
	DefaultDiscoveryKeepAliveTime    = 2 * time.Second
	DefaultDiscoveryKeepAliveTimeout = 6 * time.Second
)

// DiscoveryConfig is etcd's v3 discovery flags (--discovery-*).
type DiscoveryConfig struct {
	// Token names the cluster in the discovery service (--discovery-token); it is also the
	// cluster token the member IDs are computed with, as etcd's.
	Token string
	// Endpoints are the discovery service's gRPC endpoints (--discovery-endpoints).
	Endpoints []string
	// DialTimeout, RequestTimeout, KeepAliveTime and KeepAliveTimeout are
	// --discovery-dial-timeout, -request-timeout, -keepalive-time and -keepalive-timeout
	// (zero: etcd's defaults above).
	DialTimeout, RequestTimeout, KeepAliveTime, KeepAliveTimeout time.Duration
	// InsecureTransport is --discovery-insecure-transport (cmd/ballast's default is true, as
	// etcd's; false dials with TLS). InsecureSkipVerify is
	// --discovery-insecure-skip-tls-verify.
	InsecureTransport, InsecureSkipVerify bool
	// Cert, Key and CACert are --discovery-cert, --discovery-key and --discovery-cacert.
	Cert, Key, CACert string
	// User and Password are --discovery-user and --discovery-password.
	User, Password string
}

// enabled: the member discovers its cluster (etcd's ShouldDiscover).
func (d DiscoveryConfig) enabled() bool { return len(d.Endpoints) > 0 }

// etcd's discovery errors, with its messages.
var (
	ErrDiscoveryInvalidURL   = errors.New("discovery: invalid peer URL")
	ErrDiscoveryBadSizeKey   = errors.New("discovery: size key is bad")
	ErrDiscoverySizeNotFound = errors.New("discovery: size key not found")
	ErrDiscoveryFullCluster  = errors.New("discovery: cluster is full")
)

// ErrConflictBootstrapFlags is etcd's: --initial-cluster and --discovery-endpoints both set.
var ErrConflictBootstrapFlags = errors.New("multiple discovery or bootstrap flags are set. " +
	"Choose one of \"initial-cluster\", \"discovery-endpoints\" or \"discovery-srv\"")

// DiscoveryError is etcd's: the discovery of the cluster failed (Start returns it; cmd/ballast
// exits with etcd's "failed to bootstrap; discovery token was already used").
type DiscoveryError struct {
	Op  string
	Err error
}

func (e *DiscoveryError) Error() string {
	return fmt.Sprintf("failed to %s discovery cluster (%v)", e.Op, e.Err)
}

func (e *DiscoveryError) Unwrap() error { return e.Err }

// checkDiscovery is etcd's Config.Validate for the discovery flags.
func (c Config) checkDiscovery() error {
	set := 0
	for _, on := range []bool{c.InitialCluster != "", c.DiscoverySRV != "", len(c.Discovery.Endpoints) > 0} {
		if on {
			set++
		}
	}
	if set > 1 {
		return ErrConflictBootstrapFlags
	}
	if (c.Discovery.Token != "") != (len(c.Discovery.Endpoints) > 0) {
		return errors.New("both --discovery-token and --discovery-endpoints must be set")
	}
	for _, ep := range c.Discovery.Endpoints {
		if strings.TrimSpace(ep) == "" {
			return errors.New("--discovery-endpoints must not contain empty endpoints")
		}
	}
	return nil
}

const discoveryPrefix = "/_etcd/registry"

// discoveredMember is one registration: its key, its "name=url,..." and its create revision.
type discoveredMember struct {
	key, peers string
	createRev  int64
}

type discovery struct {
	lg      *slog.Logger
	cfg     DiscoveryConfig
	c       *clientv3.Client
	self    string // this member's key
	retries uint
	sleep   func(ctx context.Context, d time.Duration) error
}

// discoverCluster is etcd's v3discovery.JoinCluster: it registers this member (ID self,
// peers its "name=url,..." line) under the token, waits for the cluster's size of members
// and returns their --initial-cluster string.
func discoverCluster(ctx context.Context, lg *slog.Logger, cfg DiscoveryConfig, self uint64, peers string) (cluster string, err error) {
	lg = lg.With("discovery-token", cfg.Token, "discovery-endpoints", strings.Join(cfg.Endpoints, ","))
	ccfg, err := clientv3.NewClientConfig(&clientv3.ConfigSpec{
		Endpoints:        cfg.Endpoints,
		DialTimeout:      cfg.DialTimeout,
		KeepAliveTime:    cfg.KeepAliveTime,
		KeepAliveTimeout: cfg.KeepAliveTimeout,
		Secure: &clientv3.SecureConfig{Cert: cfg.Cert, Key: cfg.Key, Cacert: cfg.CACert,
			InsecureTransport: cfg.InsecureTransport, InsecureSkipVerify: cfg.InsecureSkipVerify},
		Auth: &clientv3.AuthConfig{Username: cfg.User, Password: cfg.Password},
	}, zap.NewNop())
	if err != nil {
		return "", err
	}
	ccfg.Logger = zap.NewNop() // the client's own lines would not be in the member's shape
	ccfg.Context = ctx
	c, err := clientv3.New(*ccfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	d := &discovery{lg: lg, cfg: cfg, c: c, self: path.Join(discoveryPrefix, cfg.Token, "members", hexID(self)), sleep: sleepCtx}
	defer func() {
		if err != nil {
			lg.Error("discovery failed to join cluster", "cluster", cluster, "error", err.Error())
		} else {
			lg.Info("discovery joined cluster successfully", "cluster", cluster)
		}
	}()
	return d.join(ctx, peers)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (d *discovery) join(ctx context.Context, peers string) (string, error) {
	if _, _, _, err := d.checkCluster(ctx); err != nil {
		return "", err
	}
	if err := d.registerSelf(ctx, peers); err != nil {
		return "", err
	}
	members, size, rev, err := d.checkCluster(ctx)
	if err != nil {
		return "", err
	}
	for len(members) < size {
		if members, rev, err = d.waitPeers(ctx, members, size, rev); err != nil {
			return "", err
		}
	}
	return initClusterString(members, size)
}

func (d *discovery) membersPrefix() string {
	return path.Join(discoveryPrefix, d.cfg.Token, "members")
}

// backoff is etcd's logAndBackoffForRetry: 2^retries seconds, at most 2^8.
func (d *discovery) backoff(ctx context.Context, step string) error {
	d.retries++
	wait := time.Duration(1<<min(d.retries, 8)) * time.Second
	d.lg.Warn("retry connecting to discovery service", "reason", step, "backoff", wait.String())
	return d.sleep(ctx, wait)
}

func (d *discovery) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.cfg.RequestTimeout)
}

// checkCluster reads the size and the members registered so far (sorted by create
// revision); a full cluster without this member is ErrDiscoveryFullCluster.
func (d *discovery) checkCluster(ctx context.Context) ([]discoveredMember, int, int64, error) {
	for {
		size, err := d.clusterSize(ctx)
		if errors.Is(err, ErrDiscoverySizeNotFound) || errors.Is(err, ErrDiscoveryBadSizeKey) {
			return nil, 0, 0, err
		}
		var members []discoveredMember
		var rev int64
		if err == nil {
			members, rev, err = d.clusterMembers(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, 0, ctx.Err()
			}
			if berr := d.backoff(ctx, "cluster status check"); berr != nil {
				return nil, 0, 0, berr
			}
			continue
		}
		d.retries = 0
		for i, m := range members {
			if m.key == d.self {
				break
			}
			if i >= size-1 {
				return members, size, rev, ErrDiscoveryFullCluster
			}
		}
		return members, size, rev, nil
	}
}

func (d *discovery) clusterSize(ctx context.Context) (int, error) {
	key := path.Join(discoveryPrefix, d.cfg.Token, "_config/size")
	rctx, cancel := d.request(ctx)
	defer cancel()
	resp, err := d.c.Get(rctx, key)
	if err != nil {
		d.lg.Warn("failed to get cluster size from discovery service", "clusterSizeKey", key, "error", err.Error())
		return 0, err
	}
	if len(resp.Kvs) == 0 {
		return 0, ErrDiscoverySizeNotFound
	}
	size, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 0)
	if err != nil || size <= 0 {
		return 0, ErrDiscoveryBadSizeKey
	}
	return int(size), nil
}

func (d *discovery) clusterMembers(ctx context.Context) ([]discoveredMember, int64, error) {
	prefix := d.membersPrefix()
	rctx, cancel := d.request(ctx)
	defer cancel()
	resp, err := d.c.Get(rctx, prefix, clientv3.WithPrefix())
	if err != nil {
		d.lg.Warn("failed to get cluster members from discovery service", "membersKeyPrefix", prefix, "error", err.Error())
		return nil, 0, err
	}
	var members []discoveredMember
	for _, kv := range resp.Kvs {
		members = d.add(members, string(kv.Key), string(kv.Value), kv.CreateRevision)
	}
	return members, resp.Header.Revision, nil
}

// add is etcd's clusterInfo.add: a well-formed registration not seen yet joins members,
// kept sorted by create revision (members registering at once may outnumber the size: the
// first ones count).
func (d *discovery) add(members []discoveredMember, key, value string, rev int64) []discoveredMember {
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	var problem string
	switch {
	case !strings.HasPrefix(key, d.membersPrefix()):
		problem = "invalid peer registry key"
	case !strings.ContainsRune(value, '='):
		problem = "invalid peer info returned from discovery service"
	case slices.ContainsFunc(members, func(m discoveredMember) bool { return m.key == key }):
		problem = "found duplicate peer from discovery service"
	}
	if problem != "" {
		d.lg.Warn(problem, "memberKey", key, "memberInfo", value)
		return members
	}
	d.lg.Info("found peer from discovery service", "memberKey", key, "memberInfo", value)
	members = append(members, discoveredMember{key: key, peers: value, createRev: rev})
	slices.SortStableFunc(members, func(a, b discoveredMember) int { return int(a.createRev - b.createRev) })
	return members
}

func (d *discovery) registerSelf(ctx context.Context, peers string) error {
	for {
		rctx, cancel := d.request(ctx)
		_, err := d.c.Put(rctx, d.self, peers)
		cancel()
		if err == nil {
			d.retries = 0
			d.lg.Info("register member itself successfully", "memberKey", d.self, "memberInfo", peers)
			return nil
		}
		d.lg.Warn("failed to register members itself to the discovery service", "memberKey", d.self, "error", err.Error())
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if berr := d.backoff(ctx, "register member itself"); berr != nil {
			return berr
		}
	}
}

// waitPeers watches the members' prefix from after rev until size members are known (or the
// watch ends: the caller watches again from the last revision seen).
func (d *discovery) waitPeers(ctx context.Context, members []discoveredMember, size int, rev int64) ([]discoveredMember, int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := d.c.Watch(wctx, d.membersPrefix(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	d.lg.Info("waiting for peers from discovery service", "clusterSize", size, "found-peers", len(members))
	for wresp := range w {
		if err := wresp.Err(); err != nil {
			d.lg.Warn("watch of the discovery service failed", "error", err.Error())
			break
		}
		for _, ev := range wresp.Events {
			rev = max(rev, ev.Kv.ModRevision)
			members = d.add(members, string(ev.Kv.Key), string(ev.Kv.Value), ev.Kv.CreateRevision)
		}
		if len(members) >= size {
			break
		}
	}
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	if len(members) >= size {
		d.lg.Info("found all needed peers from discovery service", "clusterSize", size, "found-peers", len(members))
	}
	return members, rev, nil
}

// initClusterString is etcd's getInitClusterStr: the first size registrations' lines,
// joined, checked as --initial-cluster is.
func initClusterString(members []discoveredMember, size int) (string, error) {
	var parts []string
	for _, m := range members {
		parts = append(parts, m.peers)
	}
	if len(parts) > size {
		parts = parts[:size]
	}
	s := strings.Join(parts, ",")
	if _, err := ParseInitialCluster(s); err != nil {
		return s, ErrDiscoveryInvalidURL
	}
	return s, nil
}
