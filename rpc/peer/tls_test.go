package peer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testTLS makes a self-signed certificate for 127.0.0.1 and the server and client
// configurations that trust it (each member both serves and dials with it).
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ballast peer test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	pair := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	server = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	client = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS13}
	return server, client
}

// TestTLS: with ServerTLS and ClientTLS, streams and calls run over TLS on https URLs; a
// plain dialer on the TLS port is garbage there, and the transport goes on.
func TestTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	withTLS := func(_ *member, cfg *Config) { cfg.ServerTLS, cfg.ClientTLS = serverTLS, clientTLS }
	dir := newDirectory()
	calls := make(chan string, 10)
	one := startMember(t, dir, idOne, clusterA, "", withTLS)
	two := startMember(t, dir, idTwo, clusterA, "", withTLS, func(_ *member, cfg *Config) { cfg.Handle = handler(calls) })
	for _, m := range []*member{one, two} {
		dir.set(m.id, "https://"+m.addr)
	}
	sendUntilReceived(t, one, two, []byte("over TLS"))
	sendUntilReceived(t, two, one, []byte("and back"))

	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	resp, err := one.tr.Call(ctx, idTwo, "echo", []byte("x"))
	require.NoError(t, err)
	require.Equal(t, "echo:x", string(resp))
	resp, err = Fetch(ctx, "https://"+two.addr, clientTLS, "echo", []byte("guest"))
	require.NoError(t, err)
	require.Equal(t, "echo:guest", string(resp))

	before := two.tr.Stats().BadConnections
	_, err = Fetch(ctx, "http://"+two.addr, nil, "echo", nil)
	require.Error(t, err, "a plain-TCP hello on a TLS port must fail")
	require.Eventually(t, func() bool { return two.tr.Stats().BadConnections > before }, waitMax, 5*time.Millisecond)
	// A client without the CA's trust is refused by TLS itself.
	_, err = Fetch(ctx, "https://"+two.addr, &tls.Config{MinVersion: tls.VersionTLS13}, "echo", nil)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "TLS handshake"), "%v", err)
	sendUntilReceived(t, one, two, []byte("still serving"))
}
