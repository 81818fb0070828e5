package embed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestAutoTLS: two members with --auto-tls and --peer-auto-tls and https client and peer
// URLs, no certificate given: each generates its pairs into data-dir/fixtures/client and
// fixtures/peer as etcd does (self-signed, organization etcd, the listen hosts as SANs,
// valid --self-signed-cert-validity years), the members replicate over the generated peer
// certificates, and a client that skips verification reads and writes. A restart reuses the
// pairs on disk.
func TestAutoTLS(t *testing.T) {
	ms := testCluster(t, 2)
	httpsPeers(t, ms, func(int, *testMember) TLSInfo { return TLSInfo{} })
	for _, m := range ms {
		u := m.cfg.ListenClientURLs[0]
		u.Scheme = "https"
		m.cfg.ListenClientURLs, m.cfg.AdvertiseClientURLs = []url.URL{u}, []url.URL{u}
		m.cfg.ClientAutoTLS, m.cfg.PeerAutoTLS = true, true
		m.cfg.SelfSignedCertValidity = 3
	}
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	insecure := func(m *testMember) *clientv3.Client {
		c, err := clientv3.New(clientv3.Config{Endpoints: m.srv.ClientURLs(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
			TLS: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}) //nolint:gosec // --insecure-skip-tls-verify, as etcdctl against --auto-tls
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	_, err := insecure(ms[0]).Put(ctx, "auto", "tls")
	require.NoError(t, err)
	resp, err := insecure(ms[1]).Get(ctx, "auto")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, "tls", string(resp.Kvs[0].Value))

	serials := map[string]string{}
	for _, side := range []string{"client", "peer"} {
		dir := filepath.Join(ms[0].cfg.DataDir, "fixtures", side)
		kp, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
		require.NoError(t, err, side)
		cert, err := x509.ParseCertificate(kp.Certificate[0])
		require.NoError(t, err)
		require.Equal(t, []string{"etcd"}, cert.Subject.Organization)
		require.Equal(t, cert.Subject.String(), cert.Issuer.String(), "self-signed")
		require.Len(t, cert.IPAddresses, 1)
		require.Equal(t, "127.0.0.1", cert.IPAddresses[0].String())
		require.WithinDuration(t, cert.NotBefore.Add(3*365*24*time.Hour), cert.NotAfter, time.Second, "--self-signed-cert-validity 3")
		serials[side] = cert.SerialNumber.String()
		info, err := os.Stat(filepath.Join(dir, "key.pem"))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the key is the member's alone")
	}
	// the client listener serves the client pair
	conn, err := tls.Dial("tcp", ms[0].cfg.ListenClientURLs[0].Host, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // checking what is served
	require.NoError(t, err)
	require.Equal(t, serials["client"], conn.ConnectionState().PeerCertificates[0].SerialNumber.String())
	conn.Close()

	// a restart reuses the pairs
	ms[0].srv.Stop()
	ms[0].start(t)
	waitReady(t, ms[0])
	conn, err = tls.Dial("tcp", ms[0].cfg.ListenClientURLs[0].Host, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // checking what is served
	require.NoError(t, err)
	defer conn.Close()
	require.Equal(t, serials["client"], conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), "the same certificate after a restart")
}
