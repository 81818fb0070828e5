package embed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// TestClientTLS: a member with an https client URL, --client-cert-auth and a trusted CA
// serves clientv3 with a certificate from that CA (gRPC) and /health over HTTPS; a client
// without a certificate, and one whose certificate another CA signed, are refused at the
// handshake; a client that does not trust the member's CA refuses it; the certificate files
// rewritten are served at the next handshake without a restart.
func TestClientTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := embedtest.NewCA(t, "ca"), embedtest.NewCA(t, "other-ca")
	srvCert, srvKey := ca.Issue(t, dir, "server", 10)
	cliCert, cliKey := ca.Issue(t, dir, "client", 11)
	badCert, badKey := other.Issue(t, dir, "intruder", 12)
	caFile := ca.WritePEM(t, dir, "ca.PEM")

	ms := testCluster(t, 1)
	u := ms[0].cfg.ListenClientURLs[0]
	u.Scheme = "https"
	ms[0].cfg.ListenClientURLs, ms[0].cfg.AdvertiseClientURLs = []url.URL{u}, []url.URL{u}
	ms[0].cfg.ClientTLS = TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile, ClientCertAuth: true}
	ms[0].start(t)
	waitReady(t, ms[0])
	endpoint := ms[0].srv.ClientURLs()[0]
	require.True(t, strings.HasPrefix(endpoint, "https://"), endpoint)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	pair := func(c, k string) []tls.Certificate {
		kp, err := tls.LoadX509KeyPair(c, k)
		require.NoError(t, err)
		return []tls.Certificate{kp}
	}
	dial := func(cfg *tls.Config) (*clientv3.Client, error) {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second, TLS: cfg, Logger: zap.NewNop()})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = c.Put(ctx, "k", "v")
		return c, err
	}

	c, err := dial(&tls.Config{RootCAs: roots, Certificates: pair(cliCert, cliKey), MinVersion: tls.VersionTLS12})
	require.NoError(t, err, "a client with a certificate from the trusted CA")
	resp, err := c.Get(context.Background(), "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(resp.Kvs[0].Value))

	_, err = dial(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	require.Error(t, err, "no client certificate under --client-cert-auth")
	_, err = dial(&tls.Config{RootCAs: roots, Certificates: pair(badCert, badKey), MinVersion: tls.VersionTLS12})
	require.Error(t, err, "a client certificate another CA signed")
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(other.PEM)
	_, err = dial(&tls.Config{RootCAs: otherRoots, Certificates: pair(cliCert, cliKey), MinVersion: tls.VersionTLS12})
	require.Error(t, err, "a client that does not trust the member's CA")
	_, err = tls.Dial("tcp", strings.TrimPrefix(endpoint, "https://"), &tls.Config{RootCAs: otherRoots, Certificates: pair(cliCert, cliKey), MinVersion: tls.VersionTLS12})
	require.ErrorContains(t, err, "certificate signed by unknown authority")

	// /health over HTTPS on the same port.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: pair(cliCert, cliKey), MinVersion: tls.VersionTLS12}}}
	hr, err := hc.Get(endpoint + "/health")
	require.NoError(t, err)
	hr.Body.Close()
	require.Equal(t, http.StatusOK, hr.StatusCode)

	// Rotation: new files under the same names, served at the next handshake.
	_, _ = ca.Issue(t, dir, "server", 99)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(endpoint, "https://"), &tls.Config{RootCAs: roots, Certificates: pair(cliCert, cliKey), MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer conn.Close()
	require.Equal(t, int64(99), conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), "the rotated certificate")
}

// TestClientTLSRefusals: an https client URL needs a key pair, as etcd's check says.
func TestClientTLSRefusals(t *testing.T) {
	u, _ := url.Parse("https://127.0.0.1:2379")
	base := Config{ListenClientURLs: []url.URL{*u}, AdvertiseClientURLs: []url.URL{*u}, InitialClusterState: ClusterStateNew}
	require.EqualError(t, base.Validate(), "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme")
	half := base
	half.ClientTLS = TLSInfo{CertFile: "c.pem"}
	require.EqualError(t, half.Validate(), "KeyFile and CertFile must both be present[key: , cert: c.pem]")
	missing := base
	missing.ClientTLS = TLSInfo{CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}
	missing.DataDir = t.TempDir()
	_, err := Start(context.Background(), missing)
	require.ErrorContains(t, err, "TLS key pair (--cert-file /nonexistent/c.pem, --key-file /nonexistent/k.pem)")
}

// httpsPeers makes the members' peer URLs https with the TLSInfo tlsFor gives each, and
// their logs readable by the test.
func httpsPeers(t *testing.T, ms []*testMember, tlsFor func(i int, m *testMember) TLSInfo) []*embedtest.LockedBuffer {
	t.Helper()
	https := func(us []url.URL) []url.URL {
		out := slices.Clone(us)
		for i := range out {
			out[i].Scheme = "https"
		}
		return out
	}
	logs := make([]*embedtest.LockedBuffer, len(ms))
	for i, m := range ms {
		m.cfg.ListenPeerURLs, m.cfg.AdvertisePeerURLs = https(m.cfg.ListenPeerURLs), https(m.cfg.AdvertisePeerURLs)
		m.cfg.InitialCluster = strings.ReplaceAll(m.cfg.InitialCluster, "http://", "https://")
		m.cfg.PeerTLS = tlsFor(i, m)
		logs[i] = &embedtest.LockedBuffer{}
		m.cfg.Logger = slog.New(slog.NewJSONHandler(logs[i], nil))
	}
	return logs
}

// replicates writes through a and reads the value back from b.
func replicates(t *testing.T, a, b *testMember, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := testClient(t, a.srv.ClientURLs()...).Put(ctx, key, value)
	require.NoError(t, err)
	resp, err := testClient(t, b.srv.ClientURLs()...).Get(ctx, key)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, value, string(resp.Kvs[0].Value))
}

// refusalLogged waits for a line of one of logs saying a peer's TLS handshake from 127.0.0.1
// was refused for reason.
func refusalLogged(t *testing.T, logs []*embedtest.LockedBuffer, reason string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, l := range logs {
			for _, line := range strings.Split(l.String(), "\n") {
				if strings.Contains(line, "rejected connection from peer: TLS handshake failed") &&
					strings.Contains(line, `"remote-addr":"127.0.0.1:`) && strings.Contains(line, reason) {
					return true
				}
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "no refusal for %q logged:\n%s", reason, logs)
}

// neverJoined fails if m became ready.
func neverJoined(t *testing.T, m *testMember) {
	t.Helper()
	select {
	case <-m.srv.ReadyNotify():
		t.Fatalf("%s joined the cluster", m.cfg.Name)
	default:
	}
}

// TestPeerTLS: three members whose peer URLs are https, with --peer-client-cert-auth and a
// trusted CA (mutual TLS between members). The two whose certificates that CA signed form
// the cluster and replicate a write; the third, whose certificate another CA signed, is
// refused at the handshake (a log line on the others names its address and the reason) and
// never joins. An https peer URL without a peer certificate is refused with etcd's message.
func TestPeerTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := embedtest.NewCA(t, "peer-ca"), embedtest.NewCA(t, "other-ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	ms := testCluster(t, 3)
	logs := httpsPeers(t, ms, func(i int, m *testMember) TLSInfo {
		signer := ca
		if i == 2 {
			signer = other
		}
		cert, key := signer.Issue(t, dir, m.cfg.Name, int64(20+i))
		return TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: caFile, ClientCertAuth: true}
	})

	noCert := ms[0].cfg
	noCert.PeerTLS = TLSInfo{}
	require.ErrorContains(t, noCert.Validate(), "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url "+noCert.ListenPeerURLs[0].String()+" with HTTPS scheme")

	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms[0], ms[1])
	replicates(t, ms[0], ms[1], "over", "mtls")
	refusalLogged(t, logs[:2], "certificate")
	neverJoined(t, ms[2])
}

// TestPeerTLSAllowedCN: with --peer-cert-allowed-cn m1,m2 on every member, the third member,
// whose certificate the same trusted CA signed but for the CN "stranger", is refused with
// etcd's "client certificate authentication failed" and never joins; the two named form the
// cluster.
func TestPeerTLSAllowedCN(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "peer-ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	ms := testCluster(t, 3)
	logs := httpsPeers(t, ms, func(i int, m *testMember) TLSInfo {
		cn := m.cfg.Name
		if i == 2 {
			cn = "stranger"
		}
		cert, key := ca.Issue(t, dir, cn, int64(30+i))
		return TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: caFile, ClientCertAuth: true, AllowedCNs: []string{"m1", "m2"}}
	})
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms[0], ms[1])
	replicates(t, ms[0], ms[1], "cn", "allowed")
	refusalLogged(t, logs[:2], "client certificate authentication failed")
	neverJoined(t, ms[2])
}

// TestPeerTLSRevoked: with --peer-crl-file naming the third member's certificate, that
// member is refused with etcd's "certificate serial ... revoked" and never joins.
func TestPeerTLSRevoked(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "peer-ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	crl := ca.WriteCRL(t, dir, "peer.crl", 42)
	ms := testCluster(t, 3)
	logs := httpsPeers(t, ms, func(i int, m *testMember) TLSInfo {
		cert, key := ca.Issue(t, dir, m.cfg.Name, int64(40+i)) // the third's serial is 42
		return TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: caFile, ClientCertAuth: true, CRLFile: crl}
	})
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms[0], ms[1])
	replicates(t, ms[0], ms[1], "crl", "checked")
	refusalLogged(t, logs[:2], "transport: certificate serial 2a revoked")
	neverJoined(t, ms[2])
}

// TestPeerTLSRotation: a member's peer certificate files replaced while it runs are what
// its next connections present and serve. m1's pair is replaced by one another CA signed and
// m2 restarted: m2 refuses m1's connections (and does not become ready: it needs m1 for a
// quorum); m1's pair replaced again by a new one of the trusted CA, m2 becomes ready and a
// write replicates, m1 never restarted; its peer listener serves the new certificate.
func TestPeerTLSRotation(t *testing.T) {
	dir := t.TempDir()
	ca, other := embedtest.NewCA(t, "peer-ca"), embedtest.NewCA(t, "other-ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	ms := testCluster(t, 2)
	logs := httpsPeers(t, ms, func(i int, m *testMember) TLSInfo {
		cert, key := ca.Issue(t, dir, m.cfg.Name, int64(50+i))
		return TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: caFile, ClientCertAuth: true}
	})
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)
	replicates(t, ms[0], ms[1], "before", "rotation")

	other.Issue(t, dir, "m1", 60) // m1's files, now another CA's
	ms[1].srv.Stop()
	ms[1].start(t)
	refusalLogged(t, logs[1:], "certificate")
	neverJoined(t, ms[1])

	ca.Issue(t, dir, "m1", 61) // and now a new one of the trusted CA
	waitReady(t, ms[1])
	replicates(t, ms[1], ms[0], "after", "rotation")

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	cert, err := tls.LoadX509KeyPair(ms[1].cfg.PeerTLS.CertFile, ms[1].cfg.PeerTLS.KeyFile)
	require.NoError(t, err)
	conn, err := tls.Dial("tcp", ms[0].cfg.ListenPeerURLs[0].Host, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer conn.Close()
	require.Equal(t, int64(61), conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), "m1 serves its rotated certificate")
}

// TestPeerTLSClientSAN: etcd's peer listener checks that a connecting peer's client
// certificate names the address it comes from. The third member presents (as
// --peer-client-cert-file) a certificate of the trusted CA whose only SAN is 10.0.0.3, from
// 127.0.0.1: the others refuse it with a line naming its address and the reason, and it
// never joins. Restarted with --peer-skip-client-san-verification, they accept it and it
// joins.
func TestPeerTLSClientSAN(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "peer-ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	ms := testCluster(t, 3)
	logs := httpsPeers(t, ms, func(i int, m *testMember) TLSInfo {
		cert, key := ca.Issue(t, dir, m.cfg.Name, int64(70+i))
		info := TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: caFile, ClientCertAuth: true}
		if i == 2 {
			info.ClientCertFile, info.ClientKeyFile = ca.IssueSANs(t, dir, "m3-client", 79, []net.IP{net.ParseIP("10.0.0.3")}, nil)
		}
		return info
	})
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms[0], ms[1])
	refusalLogged(t, logs[:2], "x509: certificate is valid for 10.0.0.3, not 127.0.0.1")
	neverJoined(t, ms[2])

	for _, m := range ms[:2] {
		m.srv.Stop()
		m.cfg.PeerTLS.SkipClientSANVerify = true
		m.start(t)
	}
	waitReady(t, ms...)
	replicates(t, ms[2], ms[0], "san", "skipped")
}

// TestPeerTLSJoin: a member added to a cluster whose peer URLs are https joins with
// --initial-cluster-state existing: its bootstrap asks a member for the member list over TLS
// with its own peer certificate (it asked without TLS configuration before and could not
// join; etcd's TestCtlV3MemberPromoteWithAuth* found it), then replicates like the others.
func TestPeerTLSJoin(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "peer-ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	peerTLS := func(name string, serial int64) TLSInfo {
		cert, key := ca.Issue(t, dir, name, serial)
		return TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: caFile, ClientCertAuth: true}
	}
	ms := testCluster(t, 3)
	httpsPeers(t, ms, func(i int, m *testMember) TLSInfo { return peerTLS(m.cfg.Name, int64(40+i)) })
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := testClient(t, ms[0].srv.ClientURLs()...)
	_, err := c.Put(ctx, "before", "join")
	require.NoError(t, err)

	m4, client4 := addJoiningMember(t, ctx, c, ms[0], "https", peerTLS("m4", 44))
	replicates(t, ms[1], m4, "after", "join")
	resp, err := testClient(t, client4).Get(ctx, "before")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
}

// TestClientTLSAndPlainOnOnePort: --listen-client-urls with http:// and https:// on one port
// binds one listener, as etcd does (its TestConnectionMultiplexing's ServerTLSAndNonTLS
// case): clientv3 over TLS and without, and /health over https and http, all reach the member
// on that port (the second bind failed with "address already in use" before).
func TestClientTLSAndPlainOnOnePort(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ca")
	srvCert, srvKey := ca.Issue(t, dir, "server", 30)
	ms := testCluster(t, 1)
	plain := ms[0].cfg.ListenClientURLs[0]
	secure := plain
	secure.Scheme = "https"
	ms[0].cfg.ListenClientURLs, ms[0].cfg.AdvertiseClientURLs = []url.URL{plain, secure}, []url.URL{plain, secure}
	ms[0].cfg.ClientTLS = TLSInfo{CertFile: srvCert, KeyFile: srvKey}
	ms[0].start(t)
	waitReady(t, ms[0])
	require.Equal(t, []string{plain.String(), secure.String()}, ms[0].srv.ClientURLs())

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	tlsCfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, cfg := range []*tls.Config{nil, tlsCfg} {
		endpoint := []string{plain.String(), secure.String()}[i]
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, TLS: cfg, Logger: zap.NewNop()})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = c.Put(ctx, "k", endpoint)
		require.NoError(t, err, endpoint)
		resp, err := c.Get(ctx, "k")
		require.NoError(t, err, endpoint)
		require.Equal(t, endpoint, string(resp.Kvs[0].Value))
	}
	for i, hc := range []*http.Client{{}, {Transport: &http.Transport{TLSClientConfig: tlsCfg}}} {
		base := []string{plain.String(), secure.String()}[i]
		r, err := hc.Get(base + "/health")
		require.NoError(t, err, base)
		r.Body.Close()
		require.Equal(t, http.StatusOK, r.StatusCode, base)
	}
}
