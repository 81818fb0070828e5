package embed

import (
	"fmt"
	"net"
	"net/http"
	"slices"
)

// This file is etcd's access controller on the client HTTP surface (embed/serve.go's
// accessController, on --listen-client-urls and --listen-client-http-urls, not on
// --listen-metrics-urls): --host-whitelist, checked only on connections without TLS (plain
// http:// and unix:// URLs), refuses a request whose Host header names another host with
// 421 Misdirected Request and etcd's CVE-2018-5702 text, against DNS rebinding; --cors adds
// etcd's CORS headers for an allowed Origin (every origin by default, etcd's "*"), and an
// OPTIONS request (a browser's preflight) is answered 200 at once, whatever its path.

// allowsAll is etcd's reading of --cors and --host-whitelist: no value, or "*" among them,
// allows everything.
func allowsAll(list []string) bool { return len(list) == 0 || slices.Contains(list, "*") }

// accessControl wraps the client URLs' HTTP handler with etcd's host and CORS checks.
func (s *Server) accessControl(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil { // etcd checks the host only when the connection is not secure
			host := requestHostname(r)
			if !allowsAll(s.cfg.HostWhitelist) && !slices.Contains(s.cfg.HostWhitelist, host) {
				s.lg.Warn("rejecting HTTP request to prevent DNS rebinding attacks", "host", host)
				http.Error(w, cve20185702(host), http.StatusMisdirectedRequest)
				return
			}
		}
		if allowsAll(s.cfg.CORS) {
			addCORSHeader(w, "*")
		} else if origin := r.Header.Get("Origin"); slices.Contains(s.cfg.CORS, origin) {
			addCORSHeader(w, origin)
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requestHostname is the Host header without its port (etcd's httputil.GetHostname).
func requestHostname(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		return r.Host
	}
	return h
}

// addCORSHeader is etcd's: the methods, the origin and the headers a browser may use.
func addCORSHeader(w http.ResponseWriter, origin string) {
	w.Header().Add("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE")
	w.Header().Add("Access-Control-Allow-Origin", origin)
	w.Header().Add("Access-Control-Allow-Headers", "accept, content-type, authorization")
}

// cve20185702 is etcd's answer to a request for a host not in --host-whitelist.
func cve20185702(host string) string {
	return fmt.Sprintf(`
etcd received your request, but the Host header was unrecognized.

To fix this, choose one of the following options:
- Enable TLS, then any HTTPS request will be allowed.
- Add the hostname you want to use to the whitelist in settings.
  - e.g. etcd --host-whitelist %q

This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).
`, host)
}
