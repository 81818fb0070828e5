package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
)

// This file is etcd's DNS discovery (--discovery-srv, --discovery-srv-name; embed's
// GetDNSClusterNames and client/pkg's srv.GetCluster): the founding members of a new cluster
// are the targets of the domain's SRV records _etcd-server-ssl<-name>._tcp (https) and
// _etcd-server<-name>._tcp (http). A target that resolves to one of this member's advertised
// peer URLs is this member; the others are named 0, 1, ... until they publish their names.

// dnsClusterNames is etcd's Config.GetDNSClusterNames.
func dnsClusterNames(ctx context.Context, cfg Config, lg *slog.Logger) ([]string, error) {
	suffix := ""
	if cfg.DiscoverySRVName != "" {
		suffix = "-" + cfg.DiscoverySRVName
	}
	r := cfg.resolver
	if r == nil {
		r = net.DefaultResolver
	}
	apurls := urlStrings(cfg.AdvertisePeerURLs)
	strs, cerr := srvCluster(ctx, r, "https", "etcd-server-ssl"+suffix, cfg.Name, cfg.DiscoverySRV, cfg.AdvertisePeerURLs)
	if cerr != nil {
		strs = nil
	}
	lg.Info("get cluster for etcd-server-ssl SRV", "service-scheme", "https", "service-name", "etcd-server-ssl"+suffix,
		"server-name", cfg.Name, "discovery-srv", cfg.DiscoverySRV, "advertise-peer-urls", apurls, "found-cluster", strs, "error", errString(cerr))
	httpStrs, herr := srvCluster(ctx, r, "http", "etcd-server"+suffix, cfg.Name, cfg.DiscoverySRV, cfg.AdvertisePeerURLs)
	if herr == nil {
		strs = append(strs, httpStrs...)
	}
	lg.Info("get cluster for etcd-server SRV", "service-scheme", "http", "service-name", "etcd-server"+suffix,
		"server-name", cfg.Name, "discovery-srv", cfg.DiscoverySRV, "advertise-peer-urls", apurls, "found-cluster", strs, "error", errString(herr))
	return strs, errors.Join(cerr, herr)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// resolveTCP is net.ResolveTCPAddr through r: an IPv4 address first, as Go's.
func resolveTCP(ctx context.Context, r *net.Resolver, hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip != nil {
		return net.JoinHostPort(ip.String(), port), nil
	}
	addrs, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("no addresses for %s", host)
	}
	pick := addrs[0].IP
	for _, a := range addrs {
		if a.IP.To4() != nil {
			pick = a.IP
			break
		}
	}
	return net.JoinHostPort(pick.String(), port), nil
}

// srvCluster is etcd's srv.GetCluster.
func srvCluster(ctx context.Context, r *net.Resolver, scheme, service, name, domain string, apurls []url.URL) ([]string, error) {
	tcp2ap := map[string]url.URL{}
	for _, u := range apurls {
		a, err := resolveTCP(ctx, r, u.Host)
		if err != nil {
			return nil, err
		}
		tcp2ap[a] = u
	}
	_, addrs, err := r.LookupSRV(ctx, service, "tcp", domain)
	if err != nil {
		return nil, fmt.Errorf("error querying DNS SRV records for _%s %w", service, err)
	}
	var parts []string
	temp := 0
	for _, srv := range addrs {
		port := fmt.Sprint(srv.Port)
		a, terr := resolveTCP(ctx, r, net.JoinHostPort(srv.Target, port))
		if terr != nil {
			err = terr
			continue
		}
		n := ""
		u, ok := tcp2ap[a]
		if ok {
			n = name
		}
		if n == "" {
			n = fmt.Sprint(temp)
			temp++
		}
		urlHost := net.JoinHostPort(strings.TrimSuffix(srv.Target, "."), port)
		if ok && u.Scheme != scheme {
			err = fmt.Errorf("bootstrap at %s from DNS for %s has scheme mismatch with expected peer %s", scheme+"://"+urlHost, service, u.String())
		} else {
			parts = append(parts, fmt.Sprintf("%s=%s://%s", n, scheme, urlHost))
		}
	}
	if len(parts) == 0 && err != nil {
		return nil, fmt.Errorf("error querying DNS SRV records for _%s %w", service, err)
	}
	return parts, nil
}
