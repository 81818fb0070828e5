package embed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
	"github.com/ballastdb/ballast/rpc/v3lock/v3lockpb"
)

// TestCertIdentityNotTheMembers: with --client-cert-auth and auth enabled, the calls the
// member makes to itself for a client (the JSON gateway's, and the lock and election
// services' through their client of the member) present the member's own certificate; its
// common name must never become the caller's identity. Here the member's certificate is
// issued for "root": a client with alice's certificate (no permissions) and no token may not
// read through the gateway (Go's HTTP client sends no Accept header, so the gateway adds no
// marker of its own) nor take a lock, while its own gRPC calls are alice's.
func TestCertIdentityNotTheMembers(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ca")
	srvCert, srvKey := ca.Issue(t, dir, "root", 10)
	cliCert, cliKey := ca.Issue(t, dir, "alice", 11)
	caFile := ca.WritePEM(t, dir, "ca.pem")

	ms := testCluster(t, 1)
	u := ms[0].cfg.ListenClientURLs[0]
	u.Scheme = "https"
	ms[0].cfg.ListenClientURLs, ms[0].cfg.AdvertiseClientURLs = []url.URL{u}, []url.URL{u}
	ms[0].cfg.ClientTLS = TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile, ClientCertAuth: true}
	ms[0].cfg.BcryptCost = 4
	ms[0].start(t)
	waitReady(t, ms[0])
	endpoint := ms[0].srv.ClientURLs()[0]

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	kp, err := tls.LoadX509KeyPair(cliCert, cliKey)
	require.NoError(t, err)
	tlsCfg := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 10 * time.Second, TLS: tlsCfg, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cli.UserAdd(ctx, "root", "rootpw")
	require.NoError(t, err)
	_, err = cli.UserGrantRole(ctx, "root", "root")
	require.NoError(t, err)
	_, err = cli.UserAdd(ctx, "alice", "alicepw")
	require.NoError(t, err)
	_, err = cli.Put(ctx, "secret", "s3cr3t")
	require.NoError(t, err)
	_, err = cli.AuthEnable(ctx)
	require.NoError(t, err)

	_, err = cli.Get(ctx, "secret")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied, "alice's own gRPC call is alice's")

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	hr, err := hc.Post(endpoint+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"c2VjcmV0"}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	require.NotContains(t, string(body), "czNjcjN0", "the gateway read the secret as the member's certificate")
	require.Contains(t, string(body), "user name is empty")

	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	defer lcancel()
	_, err = v3lockpb.NewLockClient(cli.ActiveConnection()).Lock(lctx, &v3lockpb.LockRequest{Name: []byte("L")})
	require.ErrorContains(t, err, "user name is empty", "the lock service acted as the member's certificate")
}

// TestEmptyCNCertificate: under --client-cert-auth a verified certificate with an empty
// common name is credentials naming no user, as in etcd (its AuthInfoFromTLS gives an
// AuthInfo with an empty user name): the calls etcd guards only by asking for credentials
// (LeaseGrant, LeaseRevoke, MemberList) go through, a permission check refuses it as an
// unknown user ("permission denied"), a root-only call as naming no one ("user name is
// empty"). Found by compat/ (a LeaseRevoke of an unknown lease: etcd "requested lease not
// found", Ballast "user name is empty").
func TestEmptyCNCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ca")
	srvCert, srvKey := ca.Issue(t, dir, "server", 10)
	rootCert, rootKey := ca.Issue(t, dir, "root", 11)
	anonCert, anonKey := ca.IssueCN(t, dir, "anon", "", 12)
	caFile := ca.WritePEM(t, dir, "ca.pem")

	ms := testCluster(t, 1)
	u := ms[0].cfg.ListenClientURLs[0]
	u.Scheme = "https"
	ms[0].cfg.ListenClientURLs, ms[0].cfg.AdvertiseClientURLs = []url.URL{u}, []url.URL{u}
	ms[0].cfg.ClientTLS = TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile, ClientCertAuth: true}
	ms[0].cfg.BcryptCost = 4
	ms[0].start(t)
	waitReady(t, ms[0])
	endpoint := ms[0].srv.ClientURLs()[0]
	client := func(certFile, keyFile string) *clientv3.Client {
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(ca.PEM)
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		require.NoError(t, err)
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop(),
			TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = cli.Close() })
		return cli
	}
	root, anon := client(rootCert, rootKey), client(anonCert, anonKey)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := root.UserAdd(ctx, "root", "rootpw")
	require.NoError(t, err)
	_, err = root.UserGrantRole(ctx, "root", "root")
	require.NoError(t, err)
	_, err = root.AuthEnable(ctx)
	require.NoError(t, err)

	_, err = anon.Get(ctx, "k")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = anon.Put(ctx, "k", "v")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	_, err = anon.Compact(ctx, 1)
	require.ErrorIs(t, err, rpctypes.ErrUserEmpty)
	_, err = anon.Revoke(ctx, 0x7000)
	require.ErrorIs(t, err, rpctypes.ErrLeaseNotFound)
	_, err = anon.MemberList(ctx)
	require.NoError(t, err)
	g, err := anon.Grant(ctx, 600)
	require.NoError(t, err)
	_, err = anon.Revoke(ctx, g.ID)
	require.NoError(t, err)
	_, err = root.Get(ctx, "k")
	require.NoError(t, err, "root's certificate is root's")
}
