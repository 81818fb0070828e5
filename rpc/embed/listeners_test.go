package embed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// tlsClientPair loads a certificate pair for a client's tls.Config.
func tlsClientPair(t *testing.T, certFile, keyFile string) []tls.Certificate {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	return []tls.Certificate{kp}
}

// TestClientHTTPURLsTLS: an https --listen-client-http-urls URL serves the HTTP surface
// (/health, the gateway) with the client certificate and --client-cert-auth, as etcd's: a
// client that verifies the member against the CA and presents a certificate of it is
// answered; one without a certificate is refused at the handshake, one that does not trust
// the CA refuses the member. The https client URL serves gRPC only. --host-whitelist is not
// checked over TLS (etcd's rule), --cors is.
func TestClientHTTPURLsTLS(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ca")
	srvCert, srvKey := ca.Issue(t, dir, "server", 10)
	cliCert, cliKey := ca.Issue(t, dir, "client", 11)
	caFile := ca.WritePEM(t, dir, "ca.pem")
	ms := testCluster(t, 1)
	m := ms[0]
	u := m.cfg.ListenClientURLs[0]
	u.Scheme = "https"
	m.cfg.ListenClientURLs, m.cfg.AdvertiseClientURLs = []url.URL{u}, []url.URL{u}
	port := embedtest.FreePorts(t, 1)[0]
	m.cfg.ListenClientHTTPURLs = mustURL(t, fmt.Sprintf("https://127.0.0.1:%d", port))
	m.cfg.ClientTLS = TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile, ClientCertAuth: true}
	// etcd checks --host-whitelist only without TLS: 127.0.0.1 is served over https
	m.cfg.HostWhitelist = []string{"only.example"}
	m.cfg.CORS = []string{"http://ui.example:8080"}

	plain := m.cfg
	plain.ClientTLS = TLSInfo{}
	plain.ListenClientURLs = mustURL(t, "http://"+u.Host)
	require.EqualError(t, plain.Validate(), fmt.Sprintf("TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:%d with HTTPS scheme", port))

	m.start(t)
	waitReady(t, m)
	httpURL := m.srv.ClientHTTPURLs()[0]
	require.Equal(t, fmt.Sprintf("https://127.0.0.1:%d", port), httpURL)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	get := func(cfg *tls.Config, path string) (int, string, error) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(httpURL + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	good := &tls.Config{RootCAs: roots, Certificates: tlsClientPair(t, cliCert, cliKey), MinVersion: tls.VersionTLS12}
	code, body, err := get(good, "/health")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"health":"true","reason":""}`, body)
	req, err := http.NewRequest(http.MethodGet, httpURL+"/health", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "http://ui.example:8080")
	hr, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: good}}).Do(req)
	require.NoError(t, err)
	hr.Body.Close()
	require.Equal(t, http.StatusOK, hr.StatusCode)
	require.Equal(t, "http://ui.example:8080", hr.Header.Get("Access-Control-Allow-Origin"), "--cors on the https HTTP URL")

	c, err := clientv3.New(clientv3.Config{Endpoints: m.srv.ClientURLs(), DialTimeout: 5 * time.Second, TLS: good, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Put(ctx, "over", "https")
	require.NoError(t, err)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: good}}
	resp, err := hc.Post(httpURL+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"b3Zlcg=="}`)) // "over"
	require.NoError(t, err)
	gw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(gw))
	require.Contains(t, string(gw), `"value":"aHR0cHM="`, "the gateway answers over https") // "https"

	_, _, err = get(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, "/health")
	require.Error(t, err, "no client certificate under --client-cert-auth")
	_, _, err = get(&tls.Config{Certificates: good.Certificates, MinVersion: tls.VersionTLS12}, "/health")
	require.ErrorContains(t, err, "certificate signed by unknown authority", "a client that verifies the CA")
	code, _, err = get(&tls.Config{RootCAs: roots, Certificates: good.Certificates, MinVersion: tls.VersionTLS12}, "/health")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)

	// The client URL serves gRPC only once HTTP has URLs of its own.
	cr, err := hc.Get(m.srv.ClientURLs()[0] + "/health")
	require.NoError(t, err)
	cr.Body.Close()
	require.Equal(t, http.StatusNotFound, cr.StatusCode)
}

// unixHTTPClient is an HTTP client that reaches the unix socket at path whatever the URL's
// host (TLS with cfg when it is not nil).
func unixHTTPClient(path string, cfg *tls.Config) *http.Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial, TLSClientConfig: cfg}}
}

// TestUnixSockets: unix:// and unixs:// URLs, as etcd takes them. m1 serves clients on a
// unix socket (a stale file left at its path is removed first, as etcd does) and on a
// unixs one (TLS with the client certificate), and its peers on a unix socket; m2's peer URL
// is unixs (TLS over the socket, mutual with the peer certificates). The two form a cluster
// over the sockets; clientv3 with etcd's unix:///path and unixs:///path endpoints reads and
// writes, /health answers over the sockets; stopped, the member removes its socket files.
func TestUnixSockets(t *testing.T) {
	sock, err := os.MkdirTemp("", "bsock") // short: a socket path is at most 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(sock) })
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	ms := testCluster(t, 2)
	paths := map[string]string{}
	for _, n := range []string{"c1", "cs1", "p1", "p2"} {
		paths[n] = filepath.Join(sock, n+".sock")
	}
	require.NoError(t, os.WriteFile(paths["c1"], []byte("stale"), 0o600), "a file a killed member left")
	ms[0].cfg.ListenClientURLs = append(mustURL(t, "unix://"+paths["c1"]), mustURL(t, "unixs://"+paths["cs1"])...)
	ms[0].cfg.AdvertiseClientURLs = ms[0].cfg.ListenClientURLs
	ms[0].cfg.ListenPeerURLs, ms[0].cfg.AdvertisePeerURLs = mustURL(t, "unix://"+paths["p1"]), mustURL(t, "unix://"+paths["p1"])
	ms[1].cfg.ListenPeerURLs, ms[1].cfg.AdvertisePeerURLs = mustURL(t, "unixs://"+paths["p2"]), mustURL(t, "unixs://"+paths["p2"])
	for i, m := range ms {
		m.cfg.InitialCluster = "m1=unix://" + paths["p1"] + ",m2=unixs://" + paths["p2"]
		cert, key := ca.Issue(t, dir, m.cfg.Name, int64(80+i))
		m.cfg.PeerTLS = TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: caFile, ClientCertAuth: true}
	}
	// clientv3 verifies a unixs:///dir/NAME endpoint's certificate for the host name NAME
	srvCert, srvKey := ca.IssueSANs(t, dir, "server", 85, nil, []string{"localhost", "cs1.sock"})
	ms[0].cfg.ClientTLS = TLSInfo{CertFile: srvCert, KeyFile: srvKey}
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)
	require.Equal(t, []string{"unix://" + paths["c1"], "unixs://" + paths["cs1"]}, ms[0].srv.ClientURLs())
	require.Equal(t, []string{"unixs://" + paths["p2"]}, ms[1].srv.PeerURLs())

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	plain := testClient(t, "unix://"+paths["c1"])
	_, err = plain.Put(ctx, "over", "unix")
	require.NoError(t, err)
	secure, err := clientv3.New(clientv3.Config{Endpoints: []string{"unixs://" + paths["cs1"]}, DialTimeout: 5 * time.Second,
		TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer secure.Close()
	resp, err := secure.Get(ctx, "over")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, "unix", string(resp.Kvs[0].Value))
	// the write went through raft over the peer sockets: m2 (on TCP for clients) has it
	resp, err = testClient(t, ms[1].srv.ClientURLs()...).Get(ctx, "over")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	st, err := plain.Status(ctx, "unix://"+paths["c1"])
	require.NoError(t, err)
	require.NotZero(t, st.Leader)

	for _, c := range []struct {
		path string
		cfg  *tls.Config
		url  string
	}{
		{paths["c1"], nil, "http://localhost/health"},
		{paths["cs1"], &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}, "https://localhost/health"},
	} {
		hc := unixHTTPClient(c.path, c.cfg)
		hr, err := hc.Get(c.url)
		require.NoError(t, err, c.path)
		body, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		hc.CloseIdleConnections()
		require.Equal(t, http.StatusOK, hr.StatusCode, string(body))
	}
	hr, err := unixHTTPClient(paths["cs1"], nil).Get("http://localhost/health")
	require.NoError(t, err)
	hr.Body.Close()
	require.Equal(t, http.StatusBadRequest, hr.StatusCode, "the unixs socket speaks TLS only (net/http's answer to plain HTTP)")

	for _, m := range ms {
		m.srv.Stop()
	}
	for n, p := range paths {
		_, err := os.Stat(p)
		require.ErrorIs(t, err, os.ErrNotExist, "%s: the socket file is removed on stop", n)
	}
}
