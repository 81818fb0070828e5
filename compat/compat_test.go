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
// Ballast and fails at the first call whose answers differ. Each seed gets a fresh pair of
// clusters (a seed's result never depends on what an earlier seed left); the lease expiry
// and etcdctl comparisons run on the last seed's pair, after its sequence.
func TestCompat(t *testing.T) {
	bin := etcdBinary(t)
	total := &Stats{PerKind: map[string]int{}, ExceptionsUsed: map[string]int{}, Watch: map[string]int{}, Auth: map[string]int{}}
	all := seeds(t)
	for i, seed := range all {
		ok := t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			etcd := startEtcd(t, bin)
			ballast := startBallast(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
			start := time.Now()
			stats, d, err := runSequence(ctx, etcd, ballast, seed, calls(t), verbose(t))
			cancel()
			if err != nil {
				t.Fatalf("seed %d: %v (re-run: cd compat && go test -run TestCompat -seed %d)", seed, err, seed)
			}
			if d != nil {
				t.Fatal(d.Error())
			}
			t.Logf("seed %d: %d calls compared in %v, %d failed on etcd (%.0f%%), no difference", seed, stats.Calls,
				time.Since(start).Round(time.Millisecond), stats.FailedOnEtcd, 100*float64(stats.FailedOnEtcd)/float64(stats.Calls))
			total.Calls += stats.Calls
			total.FailedOnEtcd += stats.FailedOnEtcd
			for k, v := range stats.PerKind {
				total.PerKind[k] += v
			}
			for k, v := range stats.ExceptionsUsed {
				total.ExceptionsUsed[k] += v
			}
			for k, v := range stats.Watch {
				total.Watch[k] += v
			}
			for k, v := range stats.Auth {
				total.Auth[k] += v
			}
			if i < len(all)-1 {
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
		})
		if !ok {
			return
		}
	}
	t.Logf("compared %d calls in %d seeds: %s; in watch transcripts: %s; intended differences met: %s; auth: %s", total.Calls, len(all),
		counts(total.PerKind), counts(total.Watch), counts(total.ExceptionsUsed), counts(total.Auth))
	if 5*total.FailedOnEtcd < total.Calls {
		t.Fatalf("only %d of %d calls failed on etcd: the sequence must hold at least a fifth meant to fail", total.FailedOnEtcd, total.Calls)
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
	etcd := startEtcd(t, bin)
	ballast := startBallast(t, []grpc.DialOption{flip})
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
