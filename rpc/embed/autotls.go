package embed

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// This file is --auto-tls and --peer-auto-tls, as etcd's transport.SelfCert: when no
// certificate is given, a self-signed one (ECDSA P-521, organization "etcd", valid
// --self-signed-cert-validity years, its SANs the listen URLs' hosts) is generated into
// data-dir/fixtures/client (fixtures/peer) as cert.pem and key.pem, or the pair already there
// is reused. The generated TLSInfo is etcd's: no CA, no client certificates asked for, and
// dials that do not verify the other side's certificate (etcd's selfCert); the cipher suites
// and versions are kept.

// selfCert replaces t by a generated certificate in dir for hosts (host:port), as etcd's
// ClientSelfCert and PeerSelfCert; a t with a certificate is kept, with etcd's warning.
func selfCert(lg *slog.Logger, t TLSInfo, dir string, urls []url.URL, validityYears uint) (TLSInfo, error) {
	side := "client"
	if t.Peer {
		side = "peer"
	}
	if !t.Empty() {
		lg.Warn("ignoring " + side + " auto TLS since certs given")
		return t, nil
	}
	if validityYears == 0 {
		return t, fmt.Errorf("failed to get %s self-signed certs: selfSignedCertValidity is invalid,it should be greater than 0", side)
	}
	out := TLSInfo{Peer: t.Peer, cipherSuites: t.cipherSuites, minVersion: t.minVersion, maxVersion: t.maxVersion, selfCert: true}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return t, fmt.Errorf("failed to get %s self-signed certs: cannot create cert directory: %w", side, err)
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if abs, err := filepath.Abs(certPath); err == nil {
		certPath = abs
	}
	if abs, err := filepath.Abs(keyPath); err == nil {
		keyPath = abs
	}
	out.CertFile, out.KeyFile = certPath, keyPath
	_, errCert := os.Stat(certPath)
	_, errKey := os.Stat(keyPath)
	if errCert == nil && errKey == nil {
		return out, nil
	}
	if err := writeSelfCert(lg, certPath, keyPath, urls, validityYears); err != nil {
		return t, fmt.Errorf("failed to get %s self-signed certs: %w", side, err)
	}
	return out, nil
}

// writeSelfCert generates the pair as etcd's SelfCert does.
func writeSelfCert(lg *slog.Logger, certPath, keyPath string, urls []url.URL, validityYears uint) error {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return fmt.Errorf("cannot generate random number: %w", err)
	}
	now := time.Now()
	tmpl := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"etcd"}},
		NotBefore:             now,
		NotAfter:              now.Add(time.Duration(validityYears) * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	lg.Warn("automatically generate certificates", "certificate-validity-bound-not-after", tmpl.NotAfter.Format(time.RFC3339))
	for _, u := range urls {
		h, _, _ := net.SplitHostPort(u.Host)
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	priv, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		return fmt.Errorf("cannot generate ECDSA key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &priv.PublicKey, priv)
	if err != nil {
		return fmt.Errorf("cannot generate x509 certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return err
	}
	// each file is written whole (a temporary file renamed), the key first: a crash between
	// the two leaves no certificate, so the next start generates both again
	if err := writeWhole(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})); err != nil {
		return fmt.Errorf("cannot write key file: %w", err)
	}
	lg.Info("created key file", "path", keyPath)
	if err := writeWhole(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return errors.Join(fmt.Errorf("cannot write cert file: %w", err), os.Remove(keyPath))
	}
	lg.Info("created cert file", "path", certPath)
	return nil
}

// writeWhole writes data to path (mode 0600) through a temporary file renamed over it.
func writeWhole(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
