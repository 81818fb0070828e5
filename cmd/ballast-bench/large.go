package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The large subcommand is make bench-large's runner: one three-member Ballast cluster on
// loopback (processes, as compare's) filled with --gib-per-member GiB of keys (each member
// holds the whole store), then, at that size:
//   - put throughput: --clients clients putting 1 KiB values for --duration;
//   - snapshot save: Maintenance.Snapshot (etcdctl snapshot save) from one member to a file
//     under --out, its time and size (the file is removed once measured);
//   - restart: a member stopped (SIGTERM) and started again, the time until it serves
//     clients again and until it serves a linearizable read;
//   - catch-up: a fourth member added (MemberAdd) and started empty, the time until it has
//     applied the leader's applied index; the leaders' logs are compacted long before, so
//     it is caught up by a snapshot (the follower's SSTable ingest).
// Before the fill it checks the free disk: three members, the new one and a snapshot file
// need about 5.5 times the store's size (the store, its raft log and compaction headroom);
// when the disk cannot hold that, the size is reduced to what it can and the report says so.
// The data is removed at the end, also on failure.

// largeFillValueBytes is the value size of the fill (16 KiB: few requests per GiB; random,
// so Pebble cannot compress them away).
const largeFillValueBytes = 16 << 10

// largeDiskFactor is the disk the run needs per byte of store (see above).
const largeDiskFactor = 5.5

// largeSize is the GiB per member a run can afford on freeGiB of disk: the asked size, or
// less (to a tenth of a GiB) with the reason, when the disk cannot hold largeDiskFactor
// times it.
func largeSize(asked, freeGiB float64) (gib float64, reduced string) {
	need := asked * largeDiskFactor
	if need <= freeGiB {
		return asked, ""
	}
	gib = float64(int(freeGiB/largeDiskFactor*10)) / 10
	return gib, fmt.Sprintf("the disk has %.1f GiB free; %.1f GiB per member needs about %.0f GiB (three members, a new one, a snapshot file): run at %.1f GiB per member",
		freeGiB, asked, need, gib)
}

func runLarge(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("large", flag.ContinueOnError)
	fset.SetOutput(stderr)
	bin := fset.String("ballast", "", "Ballast's server binary (make bench-large builds it)")
	out := fset.String("out", "reports/bench-large", "results directory (members' data and logs, results.md; the data is removed at the end)")
	gib := fset.Float64("gib-per-member", 16, "GiB of keys (values and keys) the store holds; every member holds it all")
	clients := fset.Int("clients", 32, "concurrent clients for the fill and the put throughput")
	duration := fset.Duration("duration", 20*time.Second, "length of the put-throughput run at the full size")
	timeout := fset.Duration("timeout", 3*time.Hour, "bound on the whole run")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fset.NArg() > 0:
		fmt.Fprintf(stderr, "ballast-bench large: takes no arguments, got %q\n", fset.Args())
		return 2
	case *bin == "":
		fmt.Fprintln(stderr, "ballast-bench large: --ballast (Ballast's server binary) is required")
		return 2
	case *gib <= 0 || *clients < 1 || *duration <= 0:
		fmt.Fprintln(stderr, "ballast-bench large: --gib-per-member, --clients and --duration must be positive")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := large(ctx, *bin, *out, *gib, *clients, *duration, stderr)
	if res != nil {
		md := res.markdown()
		fmt.Fprint(stdout, md)
		if werr := os.WriteFile(filepath.Join(*out, "results.md"), []byte(md), 0o644); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "ballast-bench large: %v\n", err)
		return 1
	}
	return 0
}

type largeResult struct {
	askedGiB, gib       float64
	freeGiB             float64
	keys                int
	fill                summary
	fillBytes           int64
	put                 summary
	snapshotSave        time.Duration
	snapshotBytes       int64
	restartServe        time.Duration
	restartRead         time.Duration
	catchUp             time.Duration
	catchUpIndex        uint64
	diskAfterFill       int64
	diskPeak            int64
	memberBytes         []int64
	reduced             string
	bySnapshot          bool // the new member's log says it applied a snapshot
	loadAvgStart, loadE string
}

func large(ctx context.Context, bin, out string, gib float64, clients int, duration time.Duration, progress io.Writer) (*largeResult, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	res := &largeResult{askedGiB: gib, gib: gib, loadAvgStart: loadAvg()}
	var st syscall.Statfs_t
	if err := syscall.Statfs(out, &st); err != nil {
		return nil, fmt.Errorf("free disk of %s: %w", out, err)
	}
	res.freeGiB = float64(st.Bavail) * float64(st.Bsize) / (1 << 30)
	res.gib, res.reduced = largeSize(gib, res.freeGiB)
	if res.reduced != "" {
		fmt.Fprintf(progress, "large: %s\n", res.reduced)
		if res.gib <= 0 {
			return res, errors.New(res.reduced)
		}
	}
	storeBytes := int64(res.gib * (1 << 30))
	res.keys = int((storeBytes + largeFillValueBytes - 1) / largeFillValueBytes)
	quota := fmt.Sprint(storeBytes*2 + 4<<30)
	dir := filepath.Join(out, "ballast")
	_ = os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	fmt.Fprintf(progress, "large: starting 3 Ballast members in %s (quota %s bytes)\n", dir, quota)
	c, err := startProcCluster(ctx, "ballast", bin, dir, 60*time.Second, "--quota-backend-bytes", quota)
	if err != nil {
		return res, err
	}
	defer c.stop()
	cfg := &config{endpoints: strings.Split(c.endpoints, ","), conns: min(8, clients), clients: clients, dialTimeout: 5 * time.Second, progress: progress}
	conns, err := cfg.dial(cfg.conns)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	cls := clientsOver(conns, clients)

	// The fill: res.keys keys of 16 B with random 16 KiB values (a pool of 64, so each
	// value is incompressible and the pool stays small).
	pool := make([]string, 64)
	rng := rand.New(rand.NewSource(1))
	for i := range pool {
		b := make([]byte, largeFillValueBytes)
		rng.Read(b)
		pool[i] = string(b)
	}
	fmt.Fprintf(progress, "large: filling %d keys of %d KiB (%.1f GiB) with %d clients\n", res.keys, largeFillValueBytes>>10, res.gib, clients)
	cfg.total, cfg.duration = res.keys, 0
	res.fill = runLoad(ctx, cfg, "fill", cls, func(ctx context.Context, cli *clientv3.Client, _, i int) error {
		_, err := cli.Put(ctx, "fill/"+benchKey(i, 11), pool[i%len(pool)])
		return err
	})
	if res.fill.Ops != res.keys || len(res.fill.Errors) > 0 {
		return res, fmt.Errorf("fill: %d of %d puts succeeded (errors %s)", res.fill.Ops, res.keys, formatErrors(res.fill.Errors))
	}
	res.fillBytes = int64(res.keys) * (largeFillValueBytes + 16)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.diskAfterFill = dirBytes(dir)
	res.diskPeak = res.diskAfterFill

	// Put throughput at that size: 1 KiB values over a key space of its own.
	fmt.Fprintf(progress, "large: put throughput at %.1f GiB for %v\n", res.gib, duration)
	val := strings.Repeat("v", 1<<10)
	cfg.total, cfg.duration = 0, duration
	res.put = runLoad(ctx, cfg, "put", cls, func(ctx context.Context, cli *clientv3.Client, _, i int) error {
		_, err := cli.Put(ctx, "put/"+benchKey(i%100000, 12), val)
		return err
	})

	// Snapshot save from the first member.
	snapPath := filepath.Join(out, "large.snapshot")
	fmt.Fprintf(progress, "large: snapshot save to %s\n", snapPath)
	t0 := time.Now()
	res.snapshotBytes, err = saveSnapshot(ctx, c.members[0].client, snapPath)
	res.snapshotSave = time.Since(t0)
	res.diskPeak = max(res.diskPeak, dirBytes(dir)+res.snapshotBytes)
	_ = os.Remove(snapPath)
	if err != nil {
		return res, fmt.Errorf("snapshot save: %w", err)
	}

	// Restart of the third member.
	m := c.members[2]
	fmt.Fprintf(progress, "large: restarting %s\n", m.name)
	m.halt()
	t0 = time.Now()
	if err := m.start(); err != nil {
		return res, err
	}
	if err := m.waitReady(ctx, t0.Add(30*time.Minute)); err != nil {
		return res, fmt.Errorf("restart: %w", err)
	}
	res.restartServe = time.Since(t0)
	if err := linearizableRead(ctx, m.client); err != nil {
		return res, fmt.Errorf("restart: read from %s: %w", m.name, err)
	}
	res.restartRead = time.Since(t0)

	// A new member, caught up by snapshot.
	ports, err := freePorts(2)
	if err != nil {
		return res, err
	}
	nm := &procMember{name: "m4", data: filepath.Join(dir, "m4.data"), log: filepath.Join(dir, "m4.log"), client: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	fmt.Fprintf(progress, "large: adding member m4 (%s)\n", peer)
	add, err := conns[0].MemberAdd(ctx, []string{peer})
	if err != nil {
		return res, fmt.Errorf("member add: %w", err)
	}
	var initial []string
	for _, mem := range add.Members {
		name := mem.Name
		if mem.ID == add.Member.ID {
			name = nm.name
		}
		for _, u := range mem.PeerURLs {
			initial = append(initial, name+"="+u)
		}
	}
	leaderIndex, err := appliedIndex(ctx, c.members[0].client)
	if err != nil {
		return res, err
	}
	nm.bin, nm.env = c.members[0].bin, c.members[0].env
	nm.args = []string{"--name", nm.name, "--data-dir", nm.data,
		"--listen-client-urls", "http://" + nm.client, "--advertise-client-urls", "http://" + nm.client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "existing",
		"--initial-cluster-token", "bench-ballast",
		"--heartbeat-interval", "100", "--election-timeout", "1000", "--snapshot-count", "10000", "--quota-backend-bytes", quota}
	t0 = time.Now()
	if err := nm.start(); err != nil {
		return res, err
	}
	c.members = append(c.members, nm) // stopped and removed with the others
	for {
		idx, err := appliedIndex(ctx, nm.client)
		if err == nil && idx >= leaderIndex {
			res.catchUp, res.catchUpIndex = time.Since(t0), idx
			break
		}
		select {
		case <-nm.exited:
			return res, fmt.Errorf("catch-up: m4 exited; the end of %s:\n%s", nm.log, logTail(nm.log, 10))
		case <-ctx.Done():
			return res, fmt.Errorf("catch-up: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		res.diskPeak = max(res.diskPeak, dirBytes(dir))
	}
	res.diskPeak = max(res.diskPeak, dirBytes(dir))
	if data, err := os.ReadFile(nm.log); err == nil {
		res.bySnapshot = strings.Contains(string(data), `"msg":"applied snapshot"`) // rpc/embed's line for kv/node's install
	}
	for _, mem := range c.members {
		res.memberBytes = append(res.memberBytes, dirBytes(mem.data))
	}
	res.loadE = loadAvg()
	return res, nil
}

// saveSnapshot streams the member's snapshot (etcdctl snapshot save) into path.
func saveSnapshot(ctx context.Context, ep, path string) (int64, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, rc)
	if err == nil {
		err = f.Sync()
	}
	return n, errors.Join(err, f.Close())
}

// linearizableRead reads a key through the member at ep, retrying while it cannot serve.
func linearizableRead(ctx context.Context, ep string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Get(rctx, "fill/"+benchKey(0, 11))
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appliedIndex is the member's applied raft index (Maintenance.Status).
func appliedIndex(ctx context.Context, ep string) (uint64, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := cli.Status(sctx, ep)
	if err != nil {
		return 0, err
	}
	return st.RaftAppliedIndex, nil
}

// dirBytes is the bytes of the files under dir (0 if it is gone).
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func gibOf(n int64) string { return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30)) }

func (r *largeResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# make bench-large\n\n")
	if r.reduced != "" {
		fmt.Fprintf(&b, "Reduced: %s.\n\n", r.reduced)
	}
	fmt.Fprintf(&b, "Store: %d keys of %d KiB random values, %.2f GiB per member (asked %.2f GiB); free disk at the start %.1f GiB; load average %s at the start, %s at the end.\n\n",
		r.keys, largeFillValueBytes>>10, r.gib, r.askedGiB, r.freeGiB, r.loadAvgStart, r.loadE)
	fmt.Fprintf(&b, "| measure | figure |\n| --- | --- |\n")
	if r.fill.Seconds > 0 {
		fmt.Fprintf(&b, "| fill | %v, %.1f MiB/s, %.0f puts/s |\n", (time.Duration(r.fill.Seconds) * time.Second).Round(time.Second), float64(r.fillBytes)/(1<<20)/r.fill.Seconds, r.fill.OpsPerS)
	}
	if r.put.Seconds > 0 {
		fmt.Fprintf(&b, "| put throughput at that size (1 KiB values) | %.0f puts/s, p50 %.1f ms, p99 %.1f ms, errors %s |\n", r.put.OpsPerS, float64(r.put.P50)/1e6, float64(r.put.P99)/1e6, formatErrors(r.put.Errors))
	}
	if r.snapshotBytes > 0 {
		fmt.Fprintf(&b, "| snapshot save | %v for %s (%.1f MiB/s) |\n", r.snapshotSave.Round(100*time.Millisecond), gibOf(r.snapshotBytes), float64(r.snapshotBytes)/(1<<20)/r.snapshotSave.Seconds())
	}
	if r.restartServe > 0 {
		fmt.Fprintf(&b, "| member restart | serving after %v, first linearizable read after %v |\n", r.restartServe.Round(100*time.Millisecond), r.restartRead.Round(100*time.Millisecond))
	}
	if r.catchUp > 0 {
		how := "by snapshot"
		if !r.bySnapshot {
			how = "(its log names no snapshot install)"
		}
		fmt.Fprintf(&b, "| new member's catch-up %s | %v to applied index %d |\n", how, r.catchUp.Round(100*time.Millisecond), r.catchUpIndex)
	}
	fmt.Fprintf(&b, "| disk after the fill (3 members) | %s |\n| disk at the peak (with the snapshot file or the new member) | %s |\n", gibOf(r.diskAfterFill), gibOf(r.diskPeak))
	if len(r.memberBytes) > 0 {
		var parts []string
		for _, n := range r.memberBytes {
			parts = append(parts, gibOf(n))
		}
		fmt.Fprintf(&b, "| each member's data dir at the end | %s |\n", strings.Join(parts, ", "))
	}
	if r.fill.Seconds > 0 && r.gib < 16 {
		perGiB := r.fill.Seconds / r.gib
		fmt.Fprintf(&b, "\nAt the measured fill rate, 16 GiB per member would take about %v to fill.\n", (time.Duration(perGiB*16) * time.Second).Round(time.Minute))
	}
	return b.String()
}
