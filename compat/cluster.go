package compat

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ballastdb/ballast/rpc/embed"
	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// Flags both clusters run with (etcd's flags of the same names). The limits are small so that
// requests over them are cheap to send: a value of a few hundred KiB crosses both.
const (
	maxRequestBytes   = 64 * 1024
	maxTxnOps         = 16
	heartbeatInterval = 100 * time.Millisecond
	electionTimeout   = time.Second
	clusterToken      = "compat"
	memberCount       = 3
	// watchProgressInterval is --watch-progress-notify-interval (etcd's default is 10
	// minutes): short, so that a watch with progress_notify gets its periodic notification
	// within the sequence.
	watchProgressInterval = 300 * time.Millisecond
	// bcryptCost is --bcrypt-cost: bcrypt's least, so that the users' logins are cheap.
	bcryptCost = 4
	// authTokenTTL is --auth-token-ttl (and the JWTs' ttl): longer than any sequence, so no
	// simple token a user holds expires during one (expiry would happen at different
	// instants on the two clusters).
	authTokenTTL = time.Hour
)

// grpcOverheadBytes is what etcd adds to --max-request-bytes for gRPC's receive limit
// (embed.grpcOverheadBytes in etcd): a request between the two is refused by etcd's check
// ("request is too large"), one above both by gRPC itself.
const grpcOverheadBytes = 512 * 1024

// side is one cluster the sequence runs against: etcd's or Ballast's.
type side struct {
	name    string // "etcd" or "ballast"
	names   []string
	cfg     *clusterConfig
	clients []*clientv3.Client // one per member, each with that member's endpoint only
	// users are the clients of the identities that have them (auth.go: clientUsers with
	// passwords, certUsers with certificates): made before the users exist (with auth off,
	// clientv3's login is skipped), each password user's logs in when auth is turned on.
	users map[string][]*clientv3.Client
	// raw are tokenUsers' connections, one per member, without clientv3 (which would log in
	// again on a refused token): each sends tokens[identity], the token that side answered
	// the user's last successful Authenticate of the sequence with.
	raw    map[string][]*grpc.ClientConn
	tokens map[string]*heldToken
	stop   func()
}

// clusterConfig is how both clusters of a pair run, and so through which identities the
// sequence's calls are made.
type clusterConfig struct {
	name string
	// jwt: --auth-token jwt,pub-key=...,priv-key=...,sign-method=RS256,ttl=1h (an RSA key
	// pair made in the test, the same for both clusters), else --auth-token simple.
	jwt bool
	// certs: https client URLs with --client-cert-auth (a CA and certificates made in the
	// test); every client presents a certificate: certUsers' and password users' have the
	// user as CN, the others (token users, no one) one with an empty CN.
	certs bool

	jwtPub, jwtPriv           string
	jwtKey                    *rsa.PublicKey
	ca, serverCert, serverKey string
	clientCert, clientKey     map[string]string // CN -> file ("" : the empty CN)
}

// simpleConfig is the pair TestCompat always runs: simple tokens, password users, http.
var simpleConfig = &clusterConfig{name: "simple tokens"}

// newJWTCertConfig makes the keys and certificates of a pair with JWT tokens and
// certificate users.
func newJWTCertConfig(t testing.TB) *clusterConfig {
	dir := t.TempDir()
	c := &clusterConfig{name: "jwt and certificates", jwt: true, certs: true,
		clientCert: map[string]string{}, clientKey: map[string]string{}}
	c.jwtPub, c.jwtPriv = embedtest.WriteRSAKeys(t, dir)
	data, err := os.ReadFile(c.jwtPub)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", c.jwtPub)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	c.jwtKey = k.(*rsa.PublicKey)
	ca := embedtest.NewCA(t, "compat-ca")
	c.ca = ca.WritePEM(t, dir, "ca.pem")
	c.serverCert, c.serverKey = ca.Issue(t, dir, "server", 2)
	for i, cn := range append([]string{""}, certCNs()...) {
		c.clientCert[cn], c.clientKey[cn] = ca.IssueCN(t, dir, fmt.Sprintf("client%d", i), cn, int64(10+i))
	}
	return c
}

// scheme is the client URLs' scheme.
func (c *clusterConfig) scheme() string {
	if c.certs {
		return "https"
	}
	return "http"
}

// authToken is --auth-token's value.
func (c *clusterConfig) authToken() string {
	if c.jwt {
		return fmt.Sprintf("jwt,pub-key=%s,priv-key=%s,sign-method=RS256,ttl=1h", c.jwtPub, c.jwtPriv)
	}
	return "simple"
}

// tlsFor is the TLS configuration of a client presenting the certificate of cn (nil without
// certs).
func (c *clusterConfig) tlsFor(cn string) (*tls.Config, error) {
	if !c.certs {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(c.clientCert[cn], c.clientKey[cn])
	if err != nil {
		return nil, fmt.Errorf("client certificate of CN %q: %w", cn, err)
	}
	pool := x509.NewCertPool()
	data, err := os.ReadFile(c.ca)
	if err != nil {
		return nil, err
	}
	pool.AppendCertsFromPEM(data)
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// etcdTool is etcd v3.7.3's program name: .bin/NAME-v3.7.3 at the repository root, or the
// variable env. Missing, the test fails under CI=true naming it (make test builds it) and
// is skipped elsewhere.
func etcdTool(t testing.TB, name, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		abs, err := filepath.Abs(filepath.Join("..", ".bin", name+"-v3.7.3"))
		if err != nil {
			t.Fatal(err)
		}
		path = abs
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("%s v3.7.3 is not built: %s is missing (%v): run `make etcd-tools` at the repository root (make test builds it), or set %s", name, path, err, env)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// etcdBinary is etcd v3.7.3's server (or $ETCD_BIN).
func etcdBinary(t testing.TB) string { return etcdTool(t, "etcd", "ETCD_BIN") }

type member struct {
	name, clientURL, peerURL, dataDir, log string
}

// layout picks free loopback ports for n members and names them m1..mn.
func layout(t testing.TB, dir string, cfg *clusterConfig) ([]member, string) {
	ports := embedtest.FreePorts(t, 2*memberCount)
	var ms []member
	var initial []string
	for i := range memberCount {
		m := member{name: fmt.Sprintf("m%d", i+1), clientURL: fmt.Sprintf("%s://127.0.0.1:%d", cfg.scheme(), ports[2*i]),
			peerURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])}
		m.dataDir = filepath.Join(dir, m.name+".etcd")
		m.log = filepath.Join(dir, m.name+".log")
		ms = append(ms, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	return ms, strings.Join(initial, ",")
}

// tailLogs prints the end of each member's log (on a failed test, with COMPAT_LOGS=1: a
// difference is the answers', and the logs would bury it).
func tailLogs(t testing.TB, sideName string, ms []member) {
	for _, m := range ms {
		data, _ := os.ReadFile(m.log)
		if len(data) > 8000 {
			data = data[len(data)-8000:]
		}
		t.Logf("--- %s %s log (tail) ---\n%s", sideName, m.name, data)
	}
}

// newClients opens one clientv3 per member (its endpoint only, so a call goes to the member
// the sequence chose), with the given extra dial options.
func newClients(ms []member, opts []grpc.DialOption, user string, tlsCfg *tls.Config) ([]*clientv3.Client, error) {
	var cs []*clientv3.Client
	for _, m := range ms {
		cfg := clientv3.Config{Endpoints: []string{m.clientURL}, DialTimeout: 10 * time.Second,
			Logger: zap.NewNop(), DialOptions: opts, MaxCallSendMsgSize: 4 << 20, TLS: tlsCfg}
		if user != "" {
			cfg.Username, cfg.Password = user, password(user)
		}
		c, err := clientv3.New(cfg)
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

const readyLine = `"msg":"ready to serve client requests"`

// startEtcd starts three etcd processes; they are killed when the test ends (also when it
// fails), after a SIGTERM and 10 s.
func startEtcd(t testing.TB, bin string, cfg *clusterConfig) *side {
	dir := t.TempDir()
	ms, initial := layout(t, dir, cfg)
	type proc struct {
		cmd    *exec.Cmd
		exited chan struct{}
	}
	var procs []*proc
	stop := func() {
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() && os.Getenv("COMPAT_LOGS") != "" {
			tailLogs(t, "etcd", ms)
		}
	})
	for _, m := range ms {
		f, err := os.Create(m.log)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"--name", m.name, "--data-dir", m.dataDir,
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", clusterToken,
			"--heartbeat-interval", fmt.Sprint(heartbeatInterval.Milliseconds()), "--election-timeout", fmt.Sprint(electionTimeout.Milliseconds()),
			"--max-request-bytes", fmt.Sprint(maxRequestBytes), "--max-txn-ops", fmt.Sprint(maxTxnOps),
			"--watch-progress-notify-interval", watchProgressInterval.String(),
			"--auth-token", cfg.authToken(), "--auth-token-ttl", fmt.Sprint(int(authTokenTTL.Seconds())), "--bcrypt-cost", fmt.Sprint(bcryptCost)}
		if cfg.certs {
			args = append(args, "--cert-file", cfg.serverCert, "--key-file", cfg.serverKey, "--trusted-ca-file", cfg.ca, "--client-cert-auth")
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = withoutPrefix(os.Environ(), "ETCD_")
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			f.Close()
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, exited: make(chan struct{})}
		go func() {
			_ = cmd.Wait()
			f.Close()
			close(p.exited)
		}()
		procs = append(procs, p)
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, m := range ms {
		for {
			data, _ := os.ReadFile(m.log)
			if bytes.Contains(data, []byte(readyLine)) {
				break
			}
			select {
			case <-procs[i].exited:
				t.Fatalf("etcd %s exited before it was ready", m.name)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("etcd %s not ready after 60 s", m.name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return connectSide(t, "etcd", ms, nil, cfg)
}

// startBallast starts three Ballast members in this process with the flags etcd gets;
// opts are extra dial options of its clients (the planted-difference test's hook).
func startBallast(t testing.TB, opts []grpc.DialOption, cfg *clusterConfig) *side {
	dir := t.TempDir()
	ms, initial := layout(t, dir, cfg)
	srvs := make([]*embed.Server, len(ms))
	var files []*os.File
	t.Cleanup(func() {
		for _, s := range srvs {
			if s != nil {
				s.Stop()
			}
		}
		for _, f := range files {
			f.Close()
		}
		if t.Failed() && os.Getenv("COMPAT_LOGS") != "" {
			tailLogs(t, "ballast", ms)
		}
	})
	for i, m := range ms {
		f, err := os.Create(m.log)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		ecfg := embed.Config{Name: m.name, DataDir: m.dataDir,
			ListenClientURLs: mustURL(t, m.clientURL), AdvertiseClientURLs: mustURL(t, m.clientURL),
			ListenPeerURLs: mustURL(t, m.peerURL), AdvertisePeerURLs: mustURL(t, m.peerURL),
			InitialCluster: initial, InitialClusterState: embed.ClusterStateNew, InitialClusterToken: clusterToken,
			HeartbeatInterval: heartbeatInterval, ElectionTimeout: electionTimeout,
			MaxRequestBytes: maxRequestBytes, MaxTxnOps: maxTxnOps, Version: "3.7.3",
			WatchProgressNotifyInterval: watchProgressInterval, AuthToken: cfg.authToken(), AuthTokenTTL: authTokenTTL, BcryptCost: bcryptCost,
			Logger: slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))}
		if cfg.certs {
			ecfg.ClientTLS = embed.TLSInfo{CertFile: cfg.serverCert, KeyFile: cfg.serverKey, TrustedCAFile: cfg.ca, ClientCertAuth: true}
		}
		srv, err := embed.Start(context.Background(), ecfg)
		if err != nil {
			t.Fatalf("start ballast %s: %v", m.name, err)
		}
		srvs[i] = srv
	}
	var wg sync.WaitGroup
	errs := make([]error, len(srvs))
	for i, srv := range srvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-srv.ReadyNotify():
			case err := <-srv.Err():
				errs[i] = fmt.Errorf("ballast %s failed: %w", ms[i].name, err)
			case <-time.After(60 * time.Second):
				errs[i] = fmt.Errorf("ballast %s not ready after 60 s", ms[i].name)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return connectSide(t, "ballast", ms, opts, cfg)
}

func names(ms []member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.name)
	}
	return out
}

func mustURL(t testing.TB, s string) []url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return []url.URL{*u}
}

// withoutPrefix drops the variables of prefix: etcd takes flags from ETCD_* and refuses a
// flag a variable also sets.
func withoutPrefix(env []string, prefix string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// connectSide connects a client to each member of one side, for no one and for each
// identity of cfg; the test's cleanup closes them.
func connectSide(t testing.TB, name string, ms []member, opts []grpc.DialOption, cfg *clusterConfig) *side {
	anon, err := cfg.tlsFor("")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := newClients(ms, opts, "", anon)
	if err != nil {
		t.Fatal(err)
	}
	s := &side{name: name, names: names(ms), cfg: cfg, clients: cs, users: map[string][]*clientv3.Client{},
		raw: map[string][]*grpc.ClientConn{}, tokens: map[string]*heldToken{}}
	all := cs
	var conns []*grpc.ClientConn
	s.stop = func() {
		for _, c := range all {
			c.Close()
		}
		for _, c := range conns {
			c.Close()
		}
	}
	t.Cleanup(s.stop)
	for _, u := range clientUsers {
		// With certificates, a password user's certificate names the user too: until its
		// client has logged in (auth turned on), the server takes the CN (etcd answers a
		// certificate that names no user "permission denied", which clientv3 takes as an
		// answer, not as a reason to log in).
		tc, err := cfg.tlsFor(u)
		if err != nil {
			t.Fatal(err)
		}
		us, err := newClients(ms, opts, u, tc)
		if err != nil {
			t.Fatalf("%s: clients of %s: %v", name, u, err)
		}
		s.users[u] = us
		all = append(all, us...)
	}
	if cfg.certs {
		for _, cn := range certCNs() {
			tc, err := cfg.tlsFor(cn)
			if err != nil {
				t.Fatal(err)
			}
			us, err := newClients(ms, opts, "", tc)
			if err != nil {
				t.Fatalf("%s: clients of certificate %q: %v", name, cn, err)
			}
			s.users[certPrefix+cn] = us
			all = append(all, us...)
		}
	}
	creds := insecure.NewCredentials()
	if anon != nil {
		creds = credentials.NewTLS(anon)
	}
	for _, u := range tokenUsers {
		h := &heldToken{}
		s.tokens[u] = h
		if u == tokenPrefix+"bogus" {
			h.set("not-a-token")
		}
		for _, m := range ms {
			target := strings.TrimPrefix(strings.TrimPrefix(m.clientURL, "https://"), "http://")
			dial := append([]grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(h),
				grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(4 << 20))}, opts...)
			conn, err := grpc.NewClient(target, dial...)
			if err != nil {
				t.Fatalf("%s: connection of %s: %v", name, u, err)
			}
			conns = append(conns, conn)
			s.raw[u] = append(s.raw[u], conn)
		}
	}
	return s
}

// heldToken is the token a token user's connections send (none: no token metadata).
type heldToken struct {
	mu  sync.Mutex
	tok string
}

func (h *heldToken) set(tok string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tok = tok
}

func (h *heldToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tok == "" {
		return nil, nil
	}
	return map[string]string{"token": h.tok}, nil
}

func (*heldToken) RequireTransportSecurity() bool { return false }
