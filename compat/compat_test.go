package compat

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "run this one seed (also SEED=N); 0: COMPAT_SEEDS seeds from the clock")
	callsFlag = flag.Int("calls", 0, "calls per seed (also COMPAT_CALLS=N; default 300)")
)

func envInt(t *testing.T, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, s, err)
		}
		return v
	}
	return def
}

// seeds are -seed or SEED when given, else COMPAT_SEEDS (default 1) seeds from the clock.
func seeds(t *testing.T) []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	if s := os.Getenv("SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SEED=%q: %v", s, err)
		}
		return []uint64{v}
	}
	base := uint64(time.Now().UnixNano())
	out := make([]uint64, envInt(t, "COMPAT_SEEDS", 1))
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

func calls(t *testing.T) int {
	if *callsFlag != 0 {
		return *callsFlag
	}
	return envInt(t, "COMPAT_CALLS", 300)
}

// TestCompat sends the seeded sequences to a three-member etcd v3.7.3 and a three-member
// Ballast and fails at the first call whose answers differ. Each seed runs on two pairs of
// fresh clusters (a seed's result never depends on what an earlier seed left): one with
// simple tokens and password users, one with JWT tokens (RS256) and --client-cert-auth,
// whose sequence adds certificate users (cluster.go's clusterConfig). The lease expiry and
// etcdctl comparisons run on the last seed's first pair, after its sequence.
func TestCompat(t *testing.T) {
	bin := etcdBinary(t)
	total := &Stats{PerKind: map[string]int{}, ExceptionsUsed: map[string]int{}, Watch: map[string]int{}, Auth: map[string]int{}}
	perConfig := map[string]int{}
	all := seeds(t)
	jwtCerts := newJWTCertConfig(t)
	for i, seed := range all {
		ok := t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			for _, cfg := range []*clusterConfig{simpleConfig, jwtCerts} {
				var etcd, ballast *side
				if !t.Run(cfg.name, func(t *testing.T) {
					etcd, ballast = startEtcd(t, bin, cfg), startBallast(t, nil, cfg)
					stats := runPair(t, etcd, ballast, seed)
					perConfig[cfg.name] += stats.Calls
					total.add(stats)
					if i < len(all)-1 || cfg != simpleConfig {
						return
					}
					t.Run("lease expiry", func(t *testing.T) { testLeaseExpiry(t, etcd, ballast) })
					t.Run("fragments", func(t *testing.T) { testFragments(t, etcd, ballast) })
					t.Run("etcdctl", func(t *testing.T) {
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						defer cancel()
						e, err := newSideState(ctx, etcd)
						if err != nil {
							t.Fatal(err)
						}
						b, err := newSideState(ctx, ballast)
						if err != nil {
							t.Fatal(err)
						}
						testEtcdctl(t, e, b)
					})
				}) {
					return
				}
			}
		})
		if !ok {
			return
		}
	}
	t.Logf("compared %d calls in %d seeds (%s): %s; in watch transcripts: %s; intended differences met: %s; auth: %s", total.Calls, len(all),
		counts(perConfig), counts(total.PerKind), counts(total.Watch), counts(total.ExceptionsUsed), counts(total.Auth))
	if 5*total.FailedOnEtcd < total.Calls {
		t.Fatalf("only %d of %d calls failed on etcd: the sequence must hold at least a fifth meant to fail", total.FailedOnEtcd, total.Calls)
	}
}

// runPair runs the seed's sequence on one pair of clusters and fails the test at a
// difference.
func runPair(t *testing.T, etcd, ballast *side, seed uint64) *Stats {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	start := time.Now()
	stats, d, err := runSequence(ctx, etcd, ballast, seed, calls(t), verbose(t))
	if err != nil {
		t.Fatalf("seed %d, %s: %v (re-run: cd compat && go test -run TestCompat -seed %d)", seed, etcd.cfg.name, err, seed)
	}
	if d != nil {
		t.Fatalf("%s: %s", etcd.cfg.name, d.Error())
	}
	t.Logf("seed %d, %s: %d calls compared in %v, %d failed on etcd (%.0f%%), %d with auth on, no difference", seed, etcd.cfg.name, stats.Calls,
		time.Since(start).Round(time.Millisecond), stats.FailedOnEtcd, 100*float64(stats.FailedOnEtcd)/float64(stats.Calls), stats.Auth["calls with auth on"])
	return stats
}

func (s *Stats) add(o *Stats) {
	s.Calls += o.Calls
	s.FailedOnEtcd += o.FailedOnEtcd
	for _, m := range [][2]map[string]int{{s.PerKind, o.PerKind}, {s.ExceptionsUsed, o.ExceptionsUsed}, {s.Watch, o.Watch}, {s.Auth, o.Auth}} {
		for k, v := range m[1] {
			m[0][k] += v
		}
	}
}

func verbose(t *testing.T) func(string, ...any) {
	if os.Getenv("COMPAT_VERBOSE") == "" {
		return nil
	}
	return t.Logf
}

func counts(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// TestPlantedDifference: a hook on Ballast's side only (a client interceptor of this test)
// flips one field of Range answers; the harness must report it, at the first Range that
// reaches the server, with the seed, the call and both answers.
func TestPlantedDifference(t *testing.T) {
	bin := etcdBinary(t)
	flip := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if r, ok := reply.(*pb.RangeResponse); ok && err == nil && method == "/etcdserverpb.KV/Range" && !strings.HasPrefix(string(req.(*pb.RangeRequest).Key), "sync") {
			r.More = !r.More
		}
		return err
	})
	etcd := startEtcd(t, bin, simpleConfig)
	ballast := startBallast(t, []grpc.DialOption{flip}, simpleConfig)
	const seed = 1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, d, err := runSequence(ctx, etcd, ballast, seed, 200, verbose(t))
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		t.Fatal("the flipped Range field was not reported")
	}
	msg := d.Error()
	t.Logf("reported as:\n%s", msg)
	if !strings.Contains(d.Call, "Range on m") || d.Path != "RangeResponse.more" {
		t.Fatalf("reported at the wrong call or field: %s", msg)
	}
	for _, want := range []string{"seed 1:", fmt.Sprintf("call %d differs", d.Index), "etcd:", "ballast:", "-seed 1"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("report lacks %q:\n%s", want, msg)
		}
	}
}
