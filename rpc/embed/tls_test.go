package embed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
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
		signer := ca
		if i == 2 {
			signer = other
		}
		cert, key := signer.Issue(t, dir, m.cfg.Name, int64(20+i))
		m.cfg.PeerTLS = TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: caFile, ClientCertAuth: true}
		logs[i] = &embedtest.LockedBuffer{}
		m.cfg.Logger = slog.New(slog.NewJSONHandler(logs[i], nil))
	}

	noCert := ms[0].cfg
	noCert.PeerTLS = TLSInfo{}
	require.ErrorContains(t, noCert.Validate(), "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url "+noCert.ListenPeerURLs[0].String()+" with HTTPS scheme")

	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms[0], ms[1])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := testClient(t, ms[0].srv.ClientURLs()...).Put(ctx, "over", "mtls")
	require.NoError(t, err)
	resp, err := testClient(t, ms[1].srv.ClientURLs()...).Get(ctx, "over")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, "mtls", string(resp.Kvs[0].Value))

	// the intruder's connections are refused by the members it dials
	require.Eventually(t, func() bool {
		for _, l := range logs[:2] {
			for _, line := range strings.Split(l.String(), "\n") {
				if strings.Contains(line, "rejected connection from peer: TLS handshake failed") &&
					strings.Contains(line, `"remote-addr":"127.0.0.1:`) && strings.Contains(line, "certificate") {
					return true
				}
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "no refusal of the foreign-CA member logged:\n%s\n%s", logs[0], logs[1])
	select {
	case <-ms[2].srv.ReadyNotify():
		t.Fatal("the member with a foreign CA's certificate joined the cluster")
	default:
	}
}
