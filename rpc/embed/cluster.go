package embed

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ballastdb/ballast/rpc"
)

// This file holds the pure rules of bootstrap, as etcd states them: the parsing of
// --initial-cluster (types.NewURLsMap), member and cluster IDs (membership.computeMemberID
// and RaftCluster.genID), and the checks of config.ServerConfig.VerifyBootstrap and
// VerifyJoinExisting, with etcd's wording, so a person moving from etcd reads the same
// messages and every member derives the same IDs as etcd would from the same flags.

// InitialCluster is a parsed --initial-cluster: each member name with its peer URLs, sorted
// (etcd's types.URLsMap; a name may be given several times, one URL each time).
type InitialCluster map[string][]string

// ParseInitialCluster parses "name=url,name=url,...", as etcd's types.NewURLsMap does: empty
// items are skipped, an item without "=" is a name with an empty URL (refused by the URL
// rules), every URL must be http, https, unix or unixs, http(s) ones "host:port" without a
// path.
func ParseInitialCluster(s string) (InitialCluster, error) {
	raw := map[string][]string{}
	for item := range strings.SplitSeq(s, ",") {
		if item == "" {
			continue
		}
		name, value, _ := strings.Cut(item, "=")
		raw[name] = append(raw[name], value)
	}
	ic := InitialCluster{}
	for name, urls := range raw {
		parsed, err := ParseURLs(urls)
		if err != nil {
			return nil, err
		}
		ic[name] = parsed
	}
	return ic, nil
}

// ParseURLs checks and normalizes a list of URLs as etcd's types.NewURLs does (the same
// rules and messages), and returns them sorted.
func ParseURLs(strs []string) ([]string, error) {
	if len(strs) == 0 {
		return nil, errors.New("no valid URLs given")
	}
	out := make([]string, 0, len(strs))
	for _, in := range strs {
		in = strings.TrimSpace(in)
		u, err := url.Parse(in)
		if err != nil {
			return nil, err
		}
		switch u.Scheme {
		case "http", "https":
			if _, _, err := net.SplitHostPort(u.Host); err != nil {
				return nil, fmt.Errorf(`URL address does not have the form "host:port": %s`, in)
			}
			if u.Path != "" {
				return nil, fmt.Errorf("URL must not contain a path: %s", in)
			}
		case "unix", "unixs":
		default:
			return nil, fmt.Errorf("URL scheme must be http, https, unix, or unixs: %s", in)
		}
		out = append(out, u.String())
	}
	sort.Strings(out)
	return out, nil
}

// String is etcd's URLsMap.String: "name=url" pairs sorted.
func (c InitialCluster) String() string {
	var pairs []string
	for name, urls := range c {
		for _, u := range urls {
			pairs = append(pairs, name+"="+u)
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// MemberID is etcd's computeMemberID: the first 8 bytes (big endian) of the SHA-1 of the
// sorted peer URLs joined without separator, then the cluster token, then, for a member
// added at run time (member add), the decimal Unix time of the addition. The founders of a
// cluster (now == nil) therefore get the same IDs on every member, and a member removed and
// added back with the same URLs gets a new one.
func MemberID(peerURLs []string, token string, now *time.Time) uint64 {
	return rpc.MemberID(peerURLs, token, now) // one computation, shared with Cluster.MemberAdd
}

// ClusterID is etcd's RaftCluster.genID: the first 8 bytes (big endian) of the SHA-1 of the
// founding members' IDs, sorted, each as 8 bytes big endian.
func ClusterID(memberIDs []uint64) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// Founder is one member of --initial-cluster with its computed ID.
type Founder struct {
	ID       uint64
	Name     string
	PeerURLs []string
}

// Founders computes the members --initial-cluster describes, sorted by ID, as etcd's
// NewClusterFromURLsMap: the same ID twice, or ID 0, is refused.
func Founders(ic InitialCluster, token string) ([]Founder, error) {
	var out []Founder
	seen := map[uint64]string{}
	for name, urls := range ic {
		id := MemberID(urls, token, nil)
		if _, dup := seen[id]; dup {
			return nil, fmt.Errorf("member exists with identical ID %x (name %q, peer URLs %v)", id, name, urls)
		}
		if id == 0 {
			return nil, fmt.Errorf("cannot use %x as member id", 0)
		}
		seen[id] = name
		out = append(out, Founder{ID: id, Name: name, PeerURLs: slices.Clone(urls)})
	}
	slices.SortFunc(out, func(a, b Founder) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// hasDuplicateURL is etcd's config.CheckDuplicateURL: a peer URL named twice, by one member
// or two.
func hasDuplicateURL(ic InitialCluster) bool {
	seen := map[string]bool{}
	for _, urls := range ic {
		for _, u := range urls {
			if seen[u] {
				return true
			}
			seen[u] = true
		}
	}
	return false
}

// verifyBootstrap is etcd's ServerConfig.VerifyBootstrap (--initial-cluster-state new): the
// member's name is in --initial-cluster, its advertised peer URLs are exactly the ones
// listed under its name, and no peer URL is listed twice.
func verifyBootstrap(ctx context.Context, name string, advertisePeerURLs []string, ic InitialCluster) error {
	if err := hasLocalMember(name, ic); err != nil {
		return err
	}
	if err := advertiseMatchesCluster(ctx, name, advertisePeerURLs, ic); err != nil {
		return err
	}
	if hasDuplicateURL(ic) {
		return fmt.Errorf("initial cluster %s has duplicate url", ic)
	}
	if ic.String() == "" {
		return errors.New("initial cluster unset and no discovery endpoints found")
	}
	return nil
}

// verifyJoinExisting is etcd's ServerConfig.VerifyJoinExisting (--initial-cluster-state
// existing).
func verifyJoinExisting(name string, ic InitialCluster) error {
	if err := hasLocalMember(name, ic); err != nil {
		return err
	}
	if hasDuplicateURL(ic) {
		return fmt.Errorf("initial cluster %s has duplicate url", ic)
	}
	return nil
}

func hasLocalMember(name string, ic InitialCluster) error {
	if ic[name] == nil {
		return fmt.Errorf("couldn't find local name %q in the initial cluster configuration", name)
	}
	return nil
}

// advertiseMatchesCluster is etcd's check of the same name: the URLs must be equal as
// strings or, failing that, after resolving their hosts (localhost and 127.0.0.1 match).
func advertiseMatchesCluster(ctx context.Context, name string, advertisePeerURLs []string, ic InitialCluster) error {
	urls := slices.Clone(ic[name])
	apurls := slices.Clone(advertisePeerURLs)
	sort.Strings(urls)
	sort.Strings(apurls)
	ok, err := urlStringsEqual(ctx, apurls, urls)
	if ok {
		return nil
	}
	initSet, apSet := map[string]bool{}, map[string]bool{}
	for _, u := range apurls {
		apSet[u] = true
	}
	for _, u := range urls {
		initSet[u] = true
	}
	var missing []string
	for _, u := range urls {
		if !apSet[u] {
			missing = append(missing, name+"="+u)
		}
	}
	apStr := strings.Join(apurls, ",")
	own := InitialCluster{name: apurls}.String()
	if len(missing) > 0 {
		return fmt.Errorf("--initial-cluster has %s but missing from --initial-advertise-peer-urls=%s (%w)", strings.Join(missing, ","), apStr, err)
	}
	for _, u := range apurls {
		if !initSet[u] {
			missing = append(missing, u)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--initial-advertise-peer-urls has %s but missing from --initial-cluster=%s", strings.Join(missing, ","), own)
	}
	return fmt.Errorf("failed to resolve %s to match --initial-cluster=%s (%w)", apStr, own, err)
}

// urlStringsEqual is etcd's netutil.URLStringsEqual: equal lengths, then equal strings
// after sorting, else equal after resolving each host to an IP address (the first one the
// resolver gives, as etcd's resolveTCPAddrs takes), with etcd's messages.
func urlStringsEqual(ctx context.Context, a, b []string) (bool, error) {
	if len(a) != len(b) {
		return false, fmt.Errorf("len(%q) != len(%q)", a, b)
	}
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	if slices.Equal(a, b) {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ra, err := resolveURLs(ctx, a)
	if err != nil {
		return false, err
	}
	rb, err := resolveURLs(ctx, b)
	if err != nil {
		return false, err
	}
	sort.Strings(ra)
	sort.Strings(rb)
	for i := range ra {
		if ra[i] != rb[i] {
			return false, fmt.Errorf("resolved urls: %q != %q", ra[i], rb[i])
		}
	}
	return true, nil
}

func resolveURLs(ctx context.Context, urls []string) ([]string, error) {
	out := make([]string, 0, len(urls))
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("failed to parse string to URL: %q", s)
		}
		if u.Scheme == "unix" || u.Scheme == "unixs" {
			out = append(out, s)
			continue
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil {
			return nil, err
		}
		if net.ParseIP(host) == nil {
			addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
			if err != nil {
				return nil, err
			}
			if len(addrs) == 0 {
				return nil, fmt.Errorf("%q resolved to no address", host)
			}
			host = addrs[0].IP.String()
		}
		u.Host = net.JoinHostPort(host, port)
		out = append(out, u.String())
	}
	return out, nil
}

// assignExistingIDs is etcd's membership.ValidateClusterAndAssignIDs for a member joining
// with --initial-cluster-state existing: --initial-cluster must list exactly the cluster's
// members (as member add left them), each matched by its peer URLs; the joining member's ID
// is the one the cluster gave the entry with its name.
func assignExistingIDs(ctx context.Context, name string, ic InitialCluster, existing []Founder) (uint64, error) {
	if len(existing) != len(ic) {
		return 0, errors.New("member count is unequal")
	}
	ids := map[string]uint64{}
	for _, em := range existing {
		var lastErr error
		matched := false
		for lname, lurls := range ic {
			ok, err := urlStringsEqual(ctx, em.PeerURLs, lurls)
			if ok {
				ids[lname] = em.ID
				matched = true
				break
			}
			lastErr = err
		}
		if !matched {
			return 0, fmt.Errorf("PeerURLs: no match found for existing member (%x, %v), last resolver error (%w)", em.ID, em.PeerURLs, lastErr)
		}
	}
	id, ok := ids[name]
	if !ok {
		return 0, fmt.Errorf("couldn't find local name %q in the initial cluster configuration", name)
	}
	return id, nil
}
