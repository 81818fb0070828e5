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
