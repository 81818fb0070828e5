package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// discoveryMembers makes the flags of n members that find each other through the discovery
// service at endpoint under token (only --discovery-token and --discovery-endpoints, no
// --initial-cluster); started by the caller.
func discoveryMembers(t *testing.T, n int, first int, token, endpoint string) []*processMember {
	t.Helper()
	members := processCluster(t, n, "unused")
	for i, m := range members {
		m.name = fmt.Sprintf("d%d", first+i)
		m.dataDir = filepath.Join(filepath.Dir(m.dataDir), m.name+".etcd")
		m.args = []string{"--name", m.name, "--data-dir", m.dataDir,
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--discovery-token", token, "--discovery-endpoints", endpoint,
			"--heartbeat-interval", "100", "--election-timeout", fmt.Sprint(processElectionTimeout.Milliseconds())}
	}
	return members
}

// TestDiscovery: etcd's v3 discovery. A one-member Ballast is the discovery service, with
// /_etcd/registry/<token>/_config/size = 3; three members started with only
// --discovery-token and --discovery-endpoints register under /members/<id>, wait for each
// other and form one cluster of the three (each member's ID is the one etcd computes from
// its peer URL and the token); a fourth member with the same token is refused with etcd's
// "cluster is full" and exits 1, writing nothing. A token without a size key, or with a bad
// one, is refused with etcd's errors.
func TestDiscovery(t *testing.T) {
	bin := processBinary(t)
	svc := processCluster(t, 1, "discovery-service")[0]
	svc.start(t, bin)
	svc.waitReady(t, 60*time.Second)
	c := processClient(t, svc.clientURL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const token = "tok-3"
	_, err := c.Put(ctx, "/_etcd/registry/"+token+"/_config/size", "3")
	require.NoError(t, err)

	members := discoveryMembers(t, 3, 1, token, svc.clientURL)
	for _, m := range members {
		m.start(t, bin)
	}
	for _, m := range members {
		m.waitReady(t, 90*time.Second)
	}
	var endpoints []string
	for _, m := range members {
		endpoints = append(endpoints, m.clientURL)
	}
	cc := processClient(t, endpoints...)
	list, err := cc.MemberList(ctx)
	require.NoError(t, err)
	var names []string
	for _, pm := range list.Members {
		names = append(names, pm.Name)
	}
	slices.Sort(names)
	require.Equal(t, []string{"d1", "d2", "d3"}, names, "the three discovered each other")
	// The registrations are etcd's: /members/<ID in hex> = "name=peerURL", the ID the member has.
	reg, err := c.Get(ctx, "/_etcd/registry/"+token+"/members/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Len(t, reg.Kvs, 3)
	for _, pm := range list.Members {
		var found bool
		for _, kv := range reg.Kvs {
			if string(kv.Key) == fmt.Sprintf("/_etcd/registry/%s/members/%x", token, pm.ID) {
				require.Equal(t, pm.Name+"="+pm.PeerURLs[0], string(kv.Value))
				found = true
			}
		}
		require.True(t, found, "member %s (%x) registered under its ID", pm.Name, pm.ID)
	}
	_, err = processClient(t, members[0].clientURL).Put(ctx, "k", "v")
	require.NoError(t, err)
	got, err := processClient(t, members[2].clientURL).Get(ctx, "k")
	require.NoError(t, err)
	require.Len(t, got.Kvs, 1, "one cluster: a write on d1 is read on d3")
	for _, m := range members {
		data, err := os.ReadFile(m.log)
		require.NoError(t, err)
		require.Contains(t, string(data), `"msg":"discovery joined cluster successfully"`)
		require.Contains(t, string(data), `"msg":"register member itself successfully"`)
	}

	refused := func(t *testing.T, m *processMember, want string) {
		t.Helper()
		m.start(t, bin)
		select {
		case <-m.exited:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s still running", m.name)
		}
		data, _ := os.ReadFile(m.log)
		var ee *exec.ExitError
		require.True(t, errors.As(m.exitErr, &ee), "%v\n%s", m.exitErr, data)
		require.Equal(t, 1, ee.ExitCode(), string(data))
		require.Contains(t, string(data), `"msg":"failed to bootstrap; discovery token was already used"`)
		require.Contains(t, string(data), want)
		require.Contains(t, string(data), `"msg":"do not reuse discovery token; generate a new one to bootstrap a cluster"`)
		_, err := os.Stat(filepath.Join(m.dataDir, "member", "ballast.json"))
		require.True(t, os.IsNotExist(err), "a refused member writes no identity: %v", err)
	}
	t.Run("full", func(t *testing.T) {
		late := discoveryMembers(t, 1, 4, token, svc.clientURL)[0]
		refused(t, late, `"error":"failed to join discovery cluster (discovery: cluster is full)"`)
		reg, err := c.Get(ctx, "/_etcd/registry/"+token+"/members/", clientv3.WithPrefix())
		require.NoError(t, err)
		require.Len(t, reg.Kvs, 3, "a member refused as the cluster is full does not register")
	})
	t.Run("no size key", func(t *testing.T) {
		m := discoveryMembers(t, 1, 5, "tok-nosize", svc.clientURL)[0]
		refused(t, m, `"error":"failed to join discovery cluster (discovery: size key not found)"`)
	})
	t.Run("bad size key", func(t *testing.T) {
		_, err := c.Put(ctx, "/_etcd/registry/tok-bad/_config/size", "three")
		require.NoError(t, err)
		m := discoveryMembers(t, 1, 6, "tok-bad", svc.clientURL)[0]
		refused(t, m, `"error":"failed to join discovery cluster (discovery: size key is bad)"`)
	})
}

// TestDiscoveryFlags: etcd's checks of the discovery flags and its config file's
// discovery-config block.
func TestDiscoveryFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" accepted
	}{
		{[]string{"--discovery-token", "t", "--discovery-endpoints", "http://127.0.0.1:2379"}, ""},
		{[]string{"--discovery-token", "t", "--discovery-endpoints", "http://127.0.0.1:2379", "--initial-cluster", "default=http://localhost:2380"},
			`multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery-endpoints" or "discovery-srv"`},
		{[]string{"--discovery-token", "t"}, "both --discovery-token and --discovery-endpoints must be set"},
		{[]string{"--discovery-endpoints", "http://127.0.0.1:2379"}, "both --discovery-token and --discovery-endpoints must be set"},
		{[]string{"--discovery-token", "t", "--discovery-endpoints", "a,,b"}, "--discovery-endpoints must not contain empty endpoints"},
		{[]string{"--discovery-dial-timeout", "soon"}, `invalid value "soon" for flag -discovery-dial-timeout`},
		{[]string{"--discovery-srv", "example.test", "--initial-cluster", "default=http://localhost:2380"},
			`multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery-endpoints" or "discovery-srv"`},
		{[]string{"--discovery-srv", "example.test", "--discovery-token", "t", "--discovery-endpoints", "http://127.0.0.1:2379"},
			`multiple discovery or bootstrap flags are set.`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseCommandLine("etcd", tc.args, nil, &bytes.Buffer{}, &stderr)
			if tc.want == "" {
				require.NoError(t, err, stderr.String())
				require.Equal(t, "", o.cfg.InitialCluster, "discovery clears the default --initial-cluster")
				require.True(t, o.cfg.Discovery.InsecureTransport, "etcd's default")
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error()+stderr.String(), tc.want)
		})
	}
	o, err := parseCommandLine("etcd", []string{"--discovery-srv", "example.test", "--discovery-srv-name", "x"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []string{"example.test", "x", ""}, []string{o.cfg.DiscoverySRV, o.cfg.DiscoverySRVName, o.cfg.InitialCluster},
		"--discovery-srv clears the default --initial-cluster (rpc/embed's TestDiscoverySRV observes the discovery)")
	path := writeFile(t, t.TempDir(), "etcd.conf.yml", `
name: d1
discovery-config:
  token: tok
  client:
    endpoints: [http://127.0.0.1:1, http://127.0.0.1:2]
    dial-timeout: 3000000000
    request-timeout: 4000000000
    keepalive-time: 5000000000
    keepalive-timeout: 7000000000
    secure:
      cert: c.pem
      key: k.pem
      cacert: ca.pem
      insecure-transport: false
      insecure-skip-tls-verify: true
    auth:
      username: u
      password: p
`)
	o, err = parseCommandLine("etcd", []string{"--config-file", path}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	d := o.cfg.Discovery
	require.Equal(t, "tok", d.Token)
	require.Equal(t, []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}, d.Endpoints)
	require.Equal(t, []time.Duration{3 * time.Second, 4 * time.Second, 5 * time.Second, 7 * time.Second},
		[]time.Duration{d.DialTimeout, d.RequestTimeout, d.KeepAliveTime, d.KeepAliveTimeout})
	require.Equal(t, []string{"c.pem", "k.pem", "ca.pem", "u", "p"}, []string{d.Cert, d.Key, d.CACert, d.User, d.Password})
	require.False(t, d.InsecureTransport)
	require.True(t, d.InsecureSkipVerify)
	require.Empty(t, o.cfg.InitialCluster)
}

// TestDiscoveryClientSettings: the discovery client dials as the --discovery-* flags say. A
// discovery service on https that requires client certificates is reached with
// --discovery-insecure-transport=false, --discovery-cert, --discovery-key and
// --discovery-cacert; one with authentication enabled with --discovery-user and
// --discovery-password (without them the member could not register: the service refuses
// the write). Each time a one-member cluster (size 1) forms through it.
func TestDiscoveryClientSettings(t *testing.T) {
	bin := processBinary(t)
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "discovery-ca")
	cert, key := ca.Issue(t, dir, "svc", 2)
	caFile := ca.WritePEM(t, dir, "ca")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	for _, tc := range []struct {
		name       string
		svcArgs    []string // besides the member's own
		scheme     string
		memberArgs []string
		setup      func(t *testing.T, c *clientv3.Client)
	}{
		{"TLS with a client certificate", []string{"--cert-file", cert, "--key-file", key, "--trusted-ca-file", caFile, "--client-cert-auth"}, "https",
			[]string{"--discovery-insecure-transport=false", "--discovery-cert", cert, "--discovery-key", key, "--discovery-cacert", caFile}, nil},
		{"TLS without verification", []string{"--cert-file", cert, "--key-file", key}, "https",
			[]string{"--discovery-insecure-transport=false", "--discovery-insecure-skip-tls-verify"}, nil},
		{"user and password", nil, "http",
			[]string{"--discovery-user", "root", "--discovery-password", "pw",
				"--discovery-dial-timeout", "3s", "--discovery-request-timeout", "4s",
				"--discovery-keepalive-time", "3s", "--discovery-keepalive-timeout", "7s"},
			func(t *testing.T, c *clientv3.Client) {
				_, err := c.UserAdd(ctx, "root", "pw")
				require.NoError(t, err)
				_, err = c.UserGrantRole(ctx, "root", "root")
				require.NoError(t, err)
				_, err = c.AuthEnable(ctx)
				require.NoError(t, err)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := processCluster(t, 1, "discovery-service")[0]
			https := strings.Replace(svc.clientURL, "http://", tc.scheme+"://", 1)
			for i, a := range svc.args {
				if a == svc.clientURL {
					svc.args[i] = https
				}
			}
			svc.args = append(svc.args, tc.svcArgs...)
			svc.start(t, bin)
			svc.waitReady(t, 60*time.Second)
			ccfg := clientv3.Config{Endpoints: []string{https}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
			if tc.scheme == "https" {
				pair, err := tls.LoadX509KeyPair(cert, key)
				require.NoError(t, err)
				pool := x509.NewCertPool()
				pem, err := os.ReadFile(caFile)
				require.NoError(t, err)
				pool.AppendCertsFromPEM(pem)
				ccfg.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool}
			}
			c, err := clientv3.New(ccfg)
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Put(ctx, "/_etcd/registry/tok-1/_config/size", "1")
			require.NoError(t, err)
			if tc.setup != nil {
				tc.setup(t, c)
			}
			m := discoveryMembers(t, 1, 1, "tok-1", https)[0]
			m.args = append(m.args, tc.memberArgs...)
			m.start(t, bin)
			m.waitReady(t, 90*time.Second)
			data, err := os.ReadFile(m.log)
			require.NoError(t, err)
			require.Contains(t, string(data), `"msg":"discovery joined cluster successfully"`)
		})
	}
}
