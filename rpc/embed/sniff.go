package embed

import "net"

// http:// and https:// on one port, as etcd serves them: `--listen-client-urls
// http://localhost:2379,https://localhost:2379` binds one listener, and etcd's cmux tells a
// TLS connection from a plain one by its first bytes. Ballast does the same with mux.go's
// splitListener: each connection's first byte, peeked and replayed, sends it to the plain half
// or to the TLS half (a TLS record of type handshake starts with 0x16; no HTTP/1 method,
// HTTP/2 preface or gRPC stream starts so). The halves then serve as two listeners would.

// tlsRecordHandshake is the first byte of a TLS ClientHello record.
const tlsRecordHandshake = 0x16

// splitByTLS returns ln's plain and TLS halves. Closing either closes ln (and so both).
func splitByTLS(ln net.Listener) (plain, secure net.Listener) {
	s := newSplitListener(ln, pickByTLS)
	go s.run()
	return s.halves[halfPlain], s.halves[halfTLS]
}

// pickByTLS reads one byte: a TLS handshake record's goes to the TLS half.
func pickByTLS(c net.Conn) ([]byte, int, bool) {
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		return nil, 0, false
	}
	if b[0] == tlsRecordHandshake {
		return b[:], halfTLS, true
	}
	return b[:], halfPlain, true
}
