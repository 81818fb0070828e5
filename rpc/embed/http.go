package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"path"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/node"
)

// This file is the member's HTTP surface, as etcd's etcdhttp serves it: on the client URLs
// /health, /livez, /readyz (and each check under them), /version, /metrics, /debug/vars
// (debugvars.go) and, with --enable-pprof, /debug/pprof/; on --listen-metrics-urls /metrics,
// /health, /livez and /readyz (kubeadm probes the last two there). The answers are etcd's, byte for byte where
// they are defined (compared with etcd v3.7.3 in http_test.go).

// etcd's /version answer for this release line: the cluster and storage versions are the
// minor version's ("3.7.0"), the server's its own.
const (
	clusterVersion = "3.7.0"
	storageVersion = "3.7.0"
)

// clientMux is the client URLs' HTTP handler.
func (s *Server) clientMux() *http.ServeMux {
	mux := http.NewServeMux()
	s.healthHandlers(mux)
	mux.Handle("/metrics", s.metricsHandler())
	mux.HandleFunc("/version", s.serveVersion)
	mux.HandleFunc("/debug/vars", s.serveDebugVars)
	if s.cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// metricsMux is --listen-metrics-urls' handler.
func (s *Server) metricsMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metricsHandler())
	s.healthHandlers(mux)
	return mux
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

func (s *Server) healthHandlers(mux *http.ServeMux) {
	mux.HandleFunc("/health", s.serveHealth)
	for _, reg := range []checkRegistry{s.livezChecks(), s.readyzChecks()} {
		mux.Handle(reg.root, s.checkHandler(reg.root, func(r *http.Request) checkStatus {
			excluded := r.URL.Query()["exclude"]
			var names []string
			for _, c := range reg.checks {
				if !slices.Contains(excluded, c.name) {
					names = append(names, c.name)
				}
			}
			return reg.run(r.Context(), names...)
		}))
		for _, c := range reg.checks {
			sub := path.Join(reg.root, c.name)
			mux.Handle(sub, s.checkHandler(sub, func(r *http.Request) checkStatus { return reg.run(r.Context(), c.name) }))
		}
	}
}

// serveVersion is etcd's /version.
func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(versionAnswer{Server: s.cfg.Version, Cluster: clusterVersion, Storage: storageVersion})
	_, _ = w.Write(b)
}

// versionAnswer is etcd's version.Versions, in its field order.
type versionAnswer struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
	Storage string `json:"storage"`
}

// health is etcd's /health answer.
type health struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// serveHealth is etcd's /health: false without a leader ("RAFT NO LEADER"), else the answer
// of a linearizable one-key range (false with "RANGE ERROR:..." when it fails); with
// ?serializable=true the local member alone is checked. Ballast raises no alarm yet, so
// ?exclude= has nothing to exclude.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		s.lg.Warn("/health error", "status-code", http.StatusMethodNotAllowed)
		return
	}
	serializable := r.URL.Query().Get("serializable") == "true"
	h := s.checkHealth(r.Context(), serializable)
	d, _ := json.Marshal(h)
	if h.Health != "true" {
		s.metrics.healthFailed.Inc()
		s.lg.Warn("/health error", "output", string(d), "status-code", http.StatusServiceUnavailable)
		http.Error(w, string(d), http.StatusServiceUnavailable)
		return
	}
	s.metrics.healthOK.Inc()
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(d)
}

func (s *Server) checkHealth(ctx context.Context, serializable bool) health {
	var lead uint64
	if err := s.inspect(ctx, func(m *node.Member) { lead = m.Status().Lead }); err != nil {
		return health{"false", fmt.Sprintf("RANGE ERROR:%s", err)}
	}
	if !serializable && lead == 0 {
		return health{"false", "RAFT NO LEADER"}
	}
	if err := s.readCheck(ctx, serializable); err != nil {
		return health{"false", fmt.Sprintf("RANGE ERROR:%s", err)}
	}
	return health{"true", ""}
}

// inspect runs f in the driver within etcd's request timeout.
func (s *Server) inspect(ctx context.Context, f func(m *node.Member)) error {
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout())
	defer cancel()
	return s.driver.Inspect(ctx, f)
}

// requestTimeout is etcd's ReqTimeout: 5s plus two election timeouts.
func (s *Server) requestTimeout() time.Duration { return 5*time.Second + 2*s.cfg.ElectionTimeout }

// readCheck is etcd's: a one-key, keys-only range, serializable or linearizable.
func (s *Server) readCheck(ctx context.Context, serializable bool) error {
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout())
	defer cancel()
	_, err := s.driver.Submit(ctx, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte{0}, KeysOnly: true, Limit: 1, Serializable: serializable}})
	return err
}

// check is one named check of /livez or /readyz.
type check struct {
	name string
	run  func(ctx context.Context) error
}

// checkRegistry is etcd's CheckRegistry: the checks under one root path.
type checkRegistry struct {
	root   string
	checks []check // in etcd's registration order (etcd runs them in map order)
}

// checkStatus is etcd's HealthStatus.
type checkStatus struct {
	failed bool
	reason string
}

func (reg checkRegistry) run(ctx context.Context, names ...string) checkStatus {
	var st checkStatus
	var out bytes.Buffer
	for _, n := range names {
		i := slices.IndexFunc(reg.checks, func(c check) bool { return c.name == n })
		if err := reg.checks[i].run(ctx); err != nil {
			fmt.Fprintf(&out, "[-]%s failed: %v\n", n, err)
			st.failed = true
		} else {
			fmt.Fprintf(&out, "[+]%s ok\n", n)
		}
	}
	st.reason = out.String()
	return st
}

func (s *Server) livezChecks() checkRegistry {
	return checkRegistry{root: "/livez", checks: []check{
		{"serializable_read", func(ctx context.Context) error { return s.readCheck(ctx, true) }},
	}}
}

func (s *Server) readyzChecks() checkRegistry {
	return checkRegistry{root: "/readyz", checks: []check{
		// Ballast raises no CORRUPT alarm (its corruption checks come with the operations
		// issue), so this check passes as etcd's does without the alarm.
		{"data_corruption", func(context.Context) error { return nil }},
		{"serializable_read", func(ctx context.Context) error { return s.readCheck(ctx, true) }},
		{"linearizable_read", func(ctx context.Context) error { return s.readCheck(ctx, false) }},
		{"non_learner", func(context.Context) error {
			if a, ok := s.driver.Member(s.id); ok && a.IsLearner {
				return fmt.Errorf("not supported for learner")
			}
			return nil
		}},
	}}
}

// checkHandler is etcd's newHealthHandler: 200 "ok\n" (the checks' lines before it with
// ?verbose), or 503 with the lines.
func (s *Server) checkHandler(p string, f func(*http.Request) checkStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			s.lg.Warn("Health request error", "path", p, "status-code", http.StatusMethodNotAllowed)
			return
		}
		h := f(r)
		if h.failed {
			http.Error(w, h.reason, http.StatusServiceUnavailable)
			s.lg.Error("Health check error", "path", p, "reason", h.reason, "status-code", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if _, verbose := r.URL.Query()["verbose"]; verbose {
			_, _ = w.Write([]byte(h.reason))
		}
		_, _ = w.Write([]byte("ok\n"))
	}
}
