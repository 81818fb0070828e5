package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// accessAnswer is what a browser-facing check compares: status, body, content type and the
// CORS headers.
type accessAnswer struct {
	Status                   int
	Body, ContentType        string
	AllowOrigin, AllowMethod string
	AllowHeaders             string
}

// askWithHost sends method base+path with the Host header host (and Origin origin, if any).
func askWithHost(t *testing.T, method, base, path, host, origin string) accessAnswer {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	require.NoError(t, err)
	if host != "" {
		u, err := url.Parse(base)
		require.NoError(t, err)
		req.Host = host + ":" + u.Port()
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return accessAnswer{Status: resp.StatusCode, Body: string(body), ContentType: resp.Header.Get("Content-Type"),
		AllowOrigin: resp.Header.Get("Access-Control-Allow-Origin"), AllowMethod: resp.Header.Get("Access-Control-Allow-Methods"),
		AllowHeaders: resp.Header.Get("Access-Control-Allow-Headers")}
}

// TestAccessControlAsEtcd starts Ballast and etcd v3.7.3 with the same --cors and
// --host-whitelist, and with neither (etcd's defaults, "*"), and requires the same answers
// on the client URL: a Host the whitelist does not name gets etcd's 421 and its
// CVE-2018-5702 text; a named one is served; an allowed Origin gets the CORS headers, another
// none; an OPTIONS preflight is answered 200 whatever the path; the metrics URL has no such
// checks. By default every host is served and every answer carries "*" CORS headers.
func TestAccessControlAsEtcd(t *testing.T) {
	type ask struct {
		method, path, host, origin string
		metrics                    bool
	}
	for _, tc := range []struct {
		name  string
		flags []string
		asks  []ask
	}{
		{"restricted", []string{"--cors", "http://good.example:8080", "--host-whitelist", "localhost,good.example"}, []ask{
			{"GET", "/health", "127.0.0.1", "", false},
			{"GET", "/health", "evil.example", "http://good.example:8080", false},
			{"GET", "/health", "localhost", "", false},
			{"GET", "/health", "localhost", "http://good.example:8080", false},
			{"GET", "/health", "good.example", "http://evil.example:8080", false},
			{"OPTIONS", "/v3/kv/put", "localhost", "http://good.example:8080", false},
			{"OPTIONS", "/no/such/path", "localhost", "", false},
			{"OPTIONS", "/v3/kv/put", "127.0.0.1", "http://good.example:8080", false},
			{"GET", "/health", "127.0.0.1", "", true},
		}},
		{"defaults", nil, []ask{
			{"GET", "/health", "127.0.0.1", "", false},
			{"GET", "/health", "anything.example", "http://evil.example:1", false},
			{"OPTIONS", "/v3/kv/range", "127.0.0.1", "http://evil.example:1", false},
			{"GET", "/health", "127.0.0.1", "", true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			etcd := startEtcdHTTP(t, tc.flags...)
			ballast := startBallastHTTP(t, tc.flags...)
			for _, a := range tc.asks {
				base := func(m httpMember) string {
					if a.metrics {
						return m.metrics
					}
					return m.client
				}
				want := askWithHost(t, a.method, base(etcd), a.path, a.host, a.origin)
				got := askWithHost(t, a.method, base(ballast), a.path, a.host, a.origin)
				require.Equal(t, want, got, "%+v", a)
				if a.host == "127.0.0.1" && !a.metrics && tc.name == "restricted" {
					require.Equal(t, http.StatusMisdirectedRequest, got.Status)
					require.Contains(t, got.Body, `etcd --host-whitelist "127.0.0.1"`)
				}
			}
		})
	}
}

// TestCORSAndHostWhitelistFlags: --cors takes "*" or URLs held to etcd's URL rules (a port
// is required, as etcd's types.NewURLs requires it), --host-whitelist any names; both reach
// the member's Config, also from --config-file (where an empty value is the default, as in
// etcd's file).
func TestCORSAndHostWhitelistFlags(t *testing.T) {
	o, err := parseCommandLine("etcd", nil, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []string{"*"}, o.cfg.CORS)
	require.Equal(t, []string{"*"}, o.cfg.HostWhitelist)
	o, err = parseCommandLine("etcd", []string{"--cors", "https://b.example:443,http://a.example:80", "--host-whitelist", "b,a,b"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []string{"http://a.example:80", "https://b.example:443"}, o.cfg.CORS)
	require.Equal(t, []string{"a", "b"}, o.cfg.HostWhitelist)
	o, err = parseCommandLine("etcd", []string{"--cors", "*"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []string{"*"}, o.cfg.CORS)
	for _, bad := range []struct{ value, want string }{
		{"http://a.example", `URL address does not have the form "host:port": http://a.example`},
		{"a.example:80", "URL scheme must be http, https, unix, or unixs: a.example:80"},
		{"*,http://a.example:80", "URL scheme must be http, https, unix, or unixs: *"},
	} {
		var stderr bytes.Buffer
		_, err := parseCommandLine("etcd", []string{"--cors", bad.value}, nil, &bytes.Buffer{}, &stderr)
		require.Error(t, err, bad.value)
		require.Contains(t, err.Error()+stderr.String(), bad.want)
	}
	dir := t.TempDir()
	p := writeFile(t, dir, "etcd.conf.yml", "cors: http://a.example:80\nhost-whitelist: a,b\n")
	o, err = parseCommandLine("etcd", []string{"--config-file", p}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []string{"http://a.example:80"}, o.cfg.CORS)
	require.Equal(t, []string{"a", "b"}, o.cfg.HostWhitelist)
	p = writeFile(t, dir, "empty.yml", "cors: \"\"\nhost-whitelist: \"\"\n")
	o, err = parseCommandLine("etcd", []string{"--config-file", p}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []string{"*"}, o.cfg.CORS)
	require.Equal(t, []string{"*"}, o.cfg.HostWhitelist)
	p = writeFile(t, dir, "bad.yml", "cors: a.example\n")
	_, err = parseCommandLine("etcd", []string{"--config-file", p}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, `invalid value "a.example" for cors: URL scheme must be http, https, unix, or unixs: a.example`)
}
