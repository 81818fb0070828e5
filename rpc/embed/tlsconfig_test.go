package embed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// handshakeServer serves TLS with cfg on a loopback listener: each connection is handshaken
// and, accepted, answered with one byte, so that a client sees a refusal even where TLS 1.3
// checks its certificate after the client's handshake returned.
func handshakeServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				if conn.(*tls.Conn).Handshake() == nil {
					_, _ = conn.Write([]byte{1})
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// tryTLS dials addr with cfg and reads the server's byte: the connection's state, or why it
// was refused.
func tryTLS(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
		return tls.ConnectionState{}, err
	}
	return conn.ConnectionState(), nil
}

func keyPair(t *testing.T, cert, key string) []tls.Certificate {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(cert, key)
	require.NoError(t, err)
	return []tls.Certificate{kp}
}

// TestClientTLSSettings: one member with an https client URL and an https metrics URL,
// --trusted-ca-file without --client-cert-auth, --client-crl-file, --tls-max-version TLS1.2
// and one cipher suite. A client with a certificate of the CA gets TLS 1.2 and that suite,
// on the client URL and the metrics URL (served with the client URLs' configuration, as
// etcd's); refused: a client without a certificate (a trusted CA requires one, as in etcd),
// one whose certificate the CRL revokes, one asking for TLS 1.3 only, one offering another
// suite. The member's peer dials keep to the same versions.
func TestClientTLSSettings(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	srvCert, srvKey := ca.Issue(t, dir, "server", 10)
	cliCert, cliKey := ca.Issue(t, dir, "client", 11)
	revCert, revKey := ca.Issue(t, dir, "revoked", 13)
	crl := ca.WriteCRL(t, dir, "client.crl", 13)
	const suite = tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256

	ms := testCluster(t, 1)
	m := ms[0]
	u := m.cfg.ListenClientURLs[0]
	u.Scheme = "https"
	m.cfg.ListenClientURLs, m.cfg.AdvertiseClientURLs = []url.URL{u}, []url.URL{u}
	m.cfg.ListenMetricsURLs = mustURL(t, "https://127.0.0.1:0")
	m.cfg.ClientTLS = TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile, CRLFile: crl}
	m.cfg.TLSMaxVersion = "TLS1.2"
	m.cfg.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}
	m.start(t)
	waitReady(t, m)
	require.True(t, strings.HasPrefix(m.srv.MetricsURLs()[0], "https://"), m.srv.MetricsURLs())

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	get := func(url string, cfg *tls.Config) (*http.Response, error) {
		cfg.RootCAs = roots
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		r, err := hc.Get(url)
		if err == nil {
			r.Body.Close()
		}
		return r, err
	}
	for _, endpoint := range []string{m.srv.ClientURLs()[0] + "/health", m.srv.MetricsURLs()[0] + "/metrics"} {
		t.Run(endpoint, func(t *testing.T) {
			r, err := get(endpoint, &tls.Config{Certificates: keyPair(t, cliCert, cliKey), MinVersion: tls.VersionTLS12})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, r.StatusCode)
			require.Equal(t, uint16(tls.VersionTLS12), r.TLS.Version)
			require.Equal(t, uint16(suite), r.TLS.CipherSuite)

			_, err = get(endpoint, &tls.Config{MinVersion: tls.VersionTLS12})
			require.Error(t, err, "no client certificate, with a trusted CA")
			_, err = get(endpoint, &tls.Config{Certificates: keyPair(t, revCert, revKey), MinVersion: tls.VersionTLS12})
			require.Error(t, err, "a revoked certificate")
			_, err = get(endpoint, &tls.Config{Certificates: keyPair(t, cliCert, cliKey), MinVersion: tls.VersionTLS13})
			require.ErrorContains(t, err, "protocol version")
			_, err = get(endpoint, &tls.Config{Certificates: keyPair(t, cliCert, cliKey), MinVersion: tls.VersionTLS12,
				MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}})
			require.ErrorContains(t, err, "handshake failure")
		})
	}

	// the peer dials: to a TLS 1.3-only peer refused, to a TLS 1.2 one with the suite
	dial := m.srv.cfg.PeerTLS
	dial.TrustedCAFile = caFile
	peerCert := keyPair(t, srvCert, srvKey)
	only13 := handshakeServer(t, &tls.Config{Certificates: peerCert, MinVersion: tls.VersionTLS13})
	cfg := dial.peerDialConfig()
	cfg.ServerName = "127.0.0.1"
	_, err := tryTLS(only13, cfg)
	require.ErrorContains(t, err, "protocol version")
	tls12 := handshakeServer(t, &tls.Config{Certificates: peerCert, MinVersion: tls.VersionTLS12})
	cs, err := tryTLS(tls12, cfg)
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS12), cs.Version)
	require.Equal(t, uint16(suite), cs.CipherSuite)
}

// TestTLSMinVersion13: --tls-min-version TLS1.3 refuses a client that offers TLS 1.2 at most
// and negotiates TLS 1.3 with one that offers it.
func TestTLSMinVersion13(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ca")
	cert, key := ca.Issue(t, dir, "server", 10)
	cfg, err := Config{TLSMinVersion: "TLS1.3", ClientTLS: TLSInfo{CertFile: cert, KeyFile: key}}.withDefaults()
	require.NoError(t, err)
	addr := handshakeServer(t, cfg.ClientTLS.listenerConfig())
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	_, err = tryTLS(addr, &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12, MinVersion: tls.VersionTLS12})
	require.ErrorContains(t, err, "protocol version")
	cs, err := tryTLS(addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), cs.Version)
}

// TestCertAllowedNames: --client-cert-allowed-hostname (--peer-cert-allowed-hostname)
// accepts a client certificate valid for one of the names (its SANs are 127.0.0.1 and
// localhost) and refuses the others with etcd's message; the allowed CNs
// (--peer-cert-allowed-cn) match the CN exactly. A peer dial checks the peer's certificate
// the same way, as etcd's does.
func TestCertAllowedNames(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	srvCert, srvKey := ca.Issue(t, dir, "server", 10)
	cliCert, cliKey := ca.Issue(t, dir, "client", 11)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	for _, tc := range []struct {
		name        string
		cns, hosts  []string
		wantRefused bool
	}{
		{"hostname localhost", nil, []string{"localhost"}, false},
		{"hostname among others", nil, []string{"etcd.example", "127.0.0.1"}, false},
		{"hostname not in the SANs", nil, []string{"etcd.example"}, true},
		{"CN", []string{"client", "server"}, nil, false},
		{"CN is exact", []string{"clien", "Client", "serve"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile, ClientCertAuth: true, AllowedCNs: tc.cns, AllowedHostnames: tc.hosts}
			addr := handshakeServer(t, info.listenerConfig())
			_, err := tryTLS(addr, &tls.Config{RootCAs: roots, Certificates: keyPair(t, cliCert, cliKey), MinVersion: tls.VersionTLS12})
			peer := TLSInfo{CertFile: cliCert, KeyFile: cliKey, TrustedCAFile: caFile, AllowedCNs: tc.cns, AllowedHostnames: tc.hosts, Peer: true}
			dialCfg := peer.peerDialConfig()
			dialCfg.ServerName = "127.0.0.1"
			_, dialErr := tryTLS(handshakeServer(t, &tls.Config{Certificates: keyPair(t, srvCert, srvKey), MinVersion: tls.VersionTLS12}), dialCfg)
			if !tc.wantRefused {
				require.NoError(t, err)
				require.NoError(t, dialErr)
				return
			}
			require.ErrorContains(t, err, "bad certificate")
			require.ErrorContains(t, dialErr, "client certificate authentication failed")
			// the listener's reason, as its log would have it
			cfg, err := info.serverConfig(nil)
			require.NoError(t, err)
			leaf, err := x509.ParseCertificate(keyPair(t, cliCert, cliKey)[0].Certificate[0])
			require.NoError(t, err)
			require.EqualError(t, cfg.VerifyPeerCertificate(nil, [][]*x509.Certificate{{leaf}}), "client certificate authentication failed")
		})
	}
}

// TestTLSValidation: etcd's refusals of the TLS settings, with its messages.
func TestTLSValidation(t *testing.T) {
	https := mustURL(t, "https://127.0.0.1:2381")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" accepted
	}{
		{"TLS1.1", Config{TLSMinVersion: "TLS1.1"}, `unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)`},
		{"max TLS1.0", Config{TLSMaxVersion: "TLS1.0"}, `unexpected TLS version "TLS1.0" (must be one of: TLS1.2, TLS1.3)`},
		{"min over max", Config{TLSMinVersion: "TLS1.3", TLSMaxVersion: "TLS1.2"}, "min version (TLS1.3) is greater than max version (TLS1.2)"},
		{"suites with TLS1.3 only", Config{TLSMinVersion: "TLS1.3", CipherSuites: []string{"TLS_AES_128_GCM_SHA256"}}, "cipher suites cannot be configured when only TLS1.3 is enabled"},
		{"unknown suite", Config{CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_NO_SUCH"}}, `unexpected TLS cipher suite "TLS_NO_SUCH"`},
		{"etcd's legacy CHACHA20 name", Config{CipherSuites: []string{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"}}, ""},
		{"an insecure suite by its Go name", Config{CipherSuites: []string{"TLS_RSA_WITH_RC4_128_SHA"}}, ""},
		{"TLS1.2 to TLS1.3", Config{TLSMinVersion: "TLS1.2", TLSMaxVersion: "TLS1.3"}, ""},
		{"allowed CNs and hostnames", Config{PeerTLS: TLSInfo{CertFile: "c", KeyFile: "k", AllowedCNs: []string{"a"}, AllowedHostnames: []string{"b"}}},
			`peer TLS: AllowedCNs and AllowedHostnames are mutually exclusive (cns=["a"], hostnames=["b"])`},
		{"allowed lists without a certificate (etcd builds no TLS configuration)", Config{PeerTLS: TLSInfo{AllowedCNs: []string{"a"}, AllowedHostnames: []string{"b"}}}, ""},
		{"https metrics URL without a certificate", Config{ListenMetricsURLs: https}, "client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url"},
		{"https metrics URL with --auto-tls", Config{ListenMetricsURLs: https, ClientAutoTLS: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}

// TestClientCertFiles: with --peer-client-cert-file and --peer-client-key-file
// (--client-cert-file and --client-key-file for the gateway) the member presents that pair
// when it connects as a client, the --peer-cert-file (--cert-file) pair otherwise, as etcd;
// half a client pair is refused with etcd's message, an unreadable one at start-up.
func TestClientCertFiles(t *testing.T) {
	dir := t.TempDir()
	ca := embedtest.NewCA(t, "ca")
	caFile := ca.WritePEM(t, dir, "ca.pem")
	srvCert, srvKey := ca.Issue(t, dir, "server", 10)
	cliCert, cliKey := ca.Issue(t, dir, "client", 11)
	seen := make(chan int64, 1)
	addr := handshakeServer(t, &tls.Config{Certificates: keyPair(t, srvCert, srvKey), ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error { seen <- cs.PeerCertificates[0].SerialNumber.Int64(); return nil }})
	for _, tc := range []struct {
		info TLSInfo
		want int64 // the serial the server sees
	}{
		{TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile}, 10},
		{TLSInfo{CertFile: srvCert, KeyFile: srvKey, TrustedCAFile: caFile, ClientCertFile: cliCert, ClientKeyFile: cliKey}, 11},
	} {
		dial := tc.info.peerDialConfig()
		dial.ServerName = "127.0.0.1"
		_, err := tryTLS(addr, dial)
		require.NoError(t, err)
		require.Equal(t, tc.want, <-seen, "the peer dial's certificate")
		_, err = tryTLS(addr, tc.info.gatewayConfig())
		require.NoError(t, err)
		require.Equal(t, tc.want, <-seen, "the gateway's certificate")
	}
	half := Config{ClientTLS: TLSInfo{CertFile: srvCert, KeyFile: srvKey, ClientCertFile: cliCert}}
	require.EqualError(t, half.Validate(), "ClientKeyFile and ClientCertFile must both be present or both absent: key: , cert: "+cliCert+"]")
	local := mustURL(t, "http://127.0.0.1:0")
	missing := Config{DataDir: t.TempDir(), ListenClientURLs: local, AdvertiseClientURLs: local, ListenPeerURLs: local, AdvertisePeerURLs: local,
		InitialCluster: "default=http://127.0.0.1:0",
		PeerTLS:        TLSInfo{CertFile: srvCert, KeyFile: srvKey, ClientCertFile: "/nonexistent/c.pem", ClientKeyFile: "/nonexistent/k.pem"}}
	_, err := Start(context.Background(), missing)
	require.ErrorContains(t, err, "TLS client key pair (--peer-client-cert-file /nonexistent/c.pem, --peer-client-key-file /nonexistent/k.pem)")
}
