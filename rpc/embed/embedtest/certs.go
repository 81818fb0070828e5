package embedtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// CA is a certificate authority made in the test, and certificates it signs.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	PEM  []byte // the CA certificate, PEM-encoded
}

// NewCA makes a CA named cn (ECDSA P-256, valid for an hour either side of now).
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Issue writes a certificate for 127.0.0.1 (server and client use, as etcd's docs ask) and
// its key into dir, returning their paths.
func (ca *CA) Issue(t testing.TB, dir, name string, serial int64) (certFile, keyFile string) {
	t.Helper()
	return ca.IssueCN(t, dir, name, name, serial)
}

// IssueCN is Issue with a CN other than the files' name (cn may be empty: a certificate
// that names no user under --client-cert-auth).
func (ca *CA) IssueCN(t testing.TB, dir, name, cn string, serial int64) (certFile, keyFile string) {
	t.Helper()
	return ca.issue(t, dir, name, cn, serial, []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"})
}

// IssueSANs is Issue with the certificate's IP and DNS SANs given.
func (ca *CA) IssueSANs(t testing.TB, dir, name string, serial int64, ips []net.IP, dnsNames []string) (certFile, keyFile string) {
	t.Helper()
	return ca.issue(t, dir, name, name, serial, ips, dnsNames)
}

func (ca *CA) issue(t testing.TB, dir, name, cn string, serial int64, ips []net.IP, dnsNames []string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: ips, DNSNames: dnsNames,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

// WritePEM writes the CA certificate into dir/name and returns the path.
func (ca *CA) WritePEM(t testing.TB, dir, name string) string {
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, ca.PEM, 0o600))
	return p
}

// WriteCRL writes into dir/name a certificate revocation list the CA signed that revokes the
// certificates of the serials given, DER-encoded (as etcd's --client-crl-file reads it), and
// returns the path.
func (ca *CA) WriteCRL(t testing.TB, dir, name string, serials ...int64) string {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	require.NoError(t, err)
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, der, 0o600))
	return p
}
