package embed

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// This file is TLS on the client listeners (https:// in --listen-client-urls), as etcd's:
// --cert-file and --key-file are the server's certificate, --trusted-ca-file the CAs a
// client certificate must chain to, --client-cert-auth requires one. The files are re-read
// at every handshake (etcd's transport.TLSInfo does the same), so a rotated certificate is
// served to the next client without a restart. An https listener serves gRPC and HTTP on one
// port as etcd's secure listener does: one HTTP server (HTTP/2 negotiated by ALPN) that hands
// requests whose content type is application/grpc to the gRPC server.

// TLSInfo is the TLS configuration of one kind of listener (etcd's transport.TLSInfo).
type TLSInfo struct {
	CertFile, KeyFile string
	TrustedCAFile     string
	ClientCertAuth    bool
	// Peer marks the peer listener's TLSInfo (--peer-*): errors name the --peer- flags.
	Peer bool
}

// flag is the name of one of t's flags (cert-file, key-file, trusted-ca-file) as the
// operator typed it.
func (t TLSInfo) flag(name string) string {
	if t.Peer {
		return "--peer-" + name
	}
	return "--" + name
}

// Empty reports whether no certificate was given (etcd's TLSInfo.Empty).
func (t TLSInfo) Empty() bool { return t.CertFile == "" && t.KeyFile == "" }

// check refuses half a key pair, as etcd's flag validation does (the files are read by Start).
func (t TLSInfo) check() error {
	if !t.Empty() && (t.CertFile == "" || t.KeyFile == "") {
		return fmt.Errorf("KeyFile and CertFile must both be present[key: %v, cert: %v]", t.KeyFile, t.CertFile)
	}
	return nil
}

// keyPair reads the certificate and key files, naming the flags in its error.
func (t TLSInfo) keyPair() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS key pair (%s %s, %s %s): %w", t.flag("cert-file"), t.CertFile, t.flag("key-file"), t.KeyFile, err)
	}
	return &cert, nil
}

// serverConfig reads the files and builds the configuration of one handshake.
func (t TLSInfo) serverConfig(*tls.ClientHelloInfo) (*tls.Config, error) {
	cert, err := t.keyPair()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{*cert},
		MinVersion:   tls.VersionTLS12, // etcd's default --tls-min-version
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if t.TrustedCAFile != "" {
		pool, err := loadCAs(t.flag("trusted-ca-file"), t.TrustedCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
	}
	if t.ClientCertAuth {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	} else if cfg.ClientCAs != nil {
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// listenerConfig is the listener's tls.Config: every handshake re-reads the files.
func (t TLSInfo) listenerConfig() *tls.Config {
	return &tls.Config{GetConfigForClient: t.serverConfig, MinVersion: tls.VersionTLS12}
}

// gatewayConfig is how the member's own gateway dials its https client listener, as etcd's:
// with the server's certificate as its client certificate, without verifying the name.
func (t TLSInfo) gatewayConfig() *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the member's own listener, on its own address
		MinVersion:         tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			return &cert, err
		},
	}
}

// peerDialConfig is how the member dials its peers' https URLs, as etcd's peer transport
// does: the peer certificate as its client certificate (members authenticate each other
// both ways), the peer's server certificate verified against --peer-trusted-ca-file (the
// system's roots when none is given). The files are re-read at every dial, so a rotated
// certificate is presented on the next connection without a restart.
func (t TLSInfo) peerDialConfig() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return t.keyPair() },
		// verification is done by hand so that the CA file, like the key pair, is re-read
		// at every dial (crypto/tls reads RootCAs once per Config)
		InsecureSkipVerify: true, //nolint:gosec // VerifyConnection below verifies the chain and the name
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("peer presented no certificate")
			}
			opts := x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
			if t.TrustedCAFile != "" {
				pool, err := loadCAs(t.flag("trusted-ca-file"), t.TrustedCAFile)
				if err != nil {
					return err
				}
				opts.Roots = pool
			}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		},
	}
}

func loadCAs(flag, path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flag, path)
	}
	return pool, nil
}

// grpcOrHTTP is etcd's grpcHandlerFunc: gRPC's requests to the gRPC server, the rest to h
// (nil: 404, for a listener that serves gRPC only).
func grpcOrHTTP(grpcH, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			grpcH.ServeHTTP(w, r)
			return
		}
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
