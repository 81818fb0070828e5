// Command etcde2e runs etcd v3.7.3's own end-to-end test suites against Ballast and against
// etcd itself, side by side, and reports every test that passes on etcd and fails on Ballast.
//
// etcd's suites start the etcd binary they find in -bin-dir with etcd's flags and drive it
// through etcdctl and clientv3 (tests/common with the e2e build tag: KV, leases, watches,
// auth, members, maintenance, each against several cluster shapes; tests/e2e: etcdctl command
// lines, TLS, gateway, metrics, ...). Giving them a directory whose `etcd` is Ballast's binary
// runs etcd's own expectations against Ballast, unchanged: the way etcd's users run etcd,
// written by etcd's developers, not by us. Each suite runs twice, first with the reference
// etcd (the baseline: a test that fails there, such as one needing etcd's gofail build, says
// nothing about Ballast), then with Ballast.
//
// The module (a nested one, like tools/etcd, so etcd's test framework never enters Ballast's
// own module graph) pins go.etcd.io/etcd/tests/v3 v3.7.3; the suites are compiled from the
// module cache with `go test -c`, and run with their package directory as the working
// directory, where they find their fixtures (certificates) as in etcd's repository.
//
// known.txt lists the tests that fail on Ballast by design or until an issue lands, one
// "TestName: reason" per line; a failure not listed there, on a test etcd passes, makes the
// run exit 1. A listed test that passes is reported, so the list shrinks as Ballast grows.
//
// It may import only the standard library.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// suites are the test packages this tool runs, by short name.
var suites = map[string]string{
	"common": "go.etcd.io/etcd/tests/v3/common",
	"e2e":    "go.etcd.io/etcd/tests/v3/e2e",
}

func main() {
	ballast := flag.String("ballast", "", "Ballast's binary (run as etcd)")
	etcd := flag.String("etcd", "", "etcd v3.7.3's binary (the baseline); empty: Ballast only")
	etcdctl := flag.String("etcdctl", "", "etcdctl v3.7.3's binary")
	etcdutl := flag.String("etcdutl", "", "etcdutl v3.7.3's binary")
	suite := flag.String("suite", "common", "the suites to run, comma-separated: common, e2e")
	run := flag.String("run", "", "only tests matching this regular expression (go test -run)")
	timeout := flag.Duration("timeout", 90*time.Minute, "the whole run's bound per suite and side")
	out := flag.String("out", "reports/etcd-e2e", "where the logs and the summary go")
	known := flag.String("known", "known.txt", "the known differences")
	flag.Parse()
	if *ballast == "" || *etcdctl == "" || *etcdutl == "" {
		fmt.Fprintln(os.Stderr, "etcde2e: -ballast, -etcdctl and -etcdutl are required")
		os.Exit(2)
	}
	code, err := runAll(config{ballast: *ballast, etcd: *etcd, etcdctl: *etcdctl, etcdutl: *etcdutl,
		suites: strings.Split(*suite, ","), run: *run, timeout: *timeout, out: *out, known: *known})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcde2e:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

type config struct {
	ballast, etcd, etcdctl, etcdutl string
	suites                          []string
	run                             string
	timeout                         time.Duration
	out, known                      string
}

// outcome is one top-level test's result on one side.
type outcome string

const (
	pass    outcome = "PASS"
	fail    outcome = "FAIL"
	skip    outcome = "SKIP"
	missing outcome = "-" // not reached (the run stopped, or the side was not run)
)

func runAll(cfg config) (int, error) {
	knownDiffs, err := readKnown(cfg.known)
	if err != nil {
		return 2, err
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return 2, err
	}
	out, err := filepath.Abs(cfg.out)
	if err != nil {
		return 2, err
	}
	sides := []string{"ballast"}
	if cfg.etcd != "" {
		sides = []string{"etcd", "ballast"}
	}
	bins := map[string]string{"etcd": cfg.etcd, "ballast": cfg.ballast}
	for _, side := range sides {
		if err := makeBinDir(filepath.Join(out, "bin-"+side), bins[side], cfg.etcdctl, cfg.etcdutl); err != nil {
			return 2, err
		}
	}
	var summary bytes.Buffer
	code := 0
	for _, name := range cfg.suites {
		pkg, ok := suites[name]
		if !ok {
			return 2, fmt.Errorf("unknown suite %q (common, e2e)", name)
		}
		bin := filepath.Join(out, name+".test")
		fmt.Printf("building %s\n", pkg)
		if err := command("", "go", "test", "-tags", "e2e", "-c", "-o", bin, pkg).Run(); err != nil {
			return 2, fmt.Errorf("building %s: %w", pkg, err)
		}
		dir, err := packageDir(pkg)
		if err != nil {
			return 2, err
		}
		results := map[string]map[string]outcome{}
		for _, side := range sides {
			fmt.Printf("%s on %s: running (log in %s)\n", name, side, filepath.Join(out, name+"-"+side+".log"))
			start := time.Now()
			res, err := runSuite(bin, dir, filepath.Join(out, "bin-"+side), filepath.Join(out, name+"-"+side+".log"), cfg.run, cfg.timeout)
			if err != nil {
				return 2, err
			}
			results[side] = res
			fmt.Printf("%s on %s: %s in %v\n", name, side, tally(res), time.Since(start).Round(time.Second))
		}
		code = max(code, report(&summary, name, results, knownDiffs))
	}
	if err := os.WriteFile(filepath.Join(out, "summary.md"), summary.Bytes(), 0o644); err != nil {
		return 2, err
	}
	fmt.Print(summary.String())
	return code, nil
}

// makeBinDir is a -bin-dir for etcd's suites: server as `etcd`, beside etcdctl and etcdutl.
func makeBinDir(dir, server, etcdctl, etcdutl string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, src := range map[string]string{"etcd": server, "etcdctl": etcdctl, "etcdutl": etcdutl} {
		if err := copyFile(src, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	o, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	if err := o.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// packageDir is where the go command keeps pkg's source (in the module cache).
func packageDir(pkg string) (string, error) {
	var b bytes.Buffer
	c := command("", "go", "list", "-tags", "e2e", "-f", "{{.Dir}}", pkg)
	c.Stdout = &b
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("go list %s: %w", pkg, err)
	}
	return strings.TrimSpace(b.String()), nil
}

func command(dir, name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Dir, c.Stdout, c.Stderr = dir, os.Stdout, os.Stderr
	return c
}

// topLevel matches a top-level test's result line in go test -v output.
var topLevel = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (Test\S+) \(`)

// runSuite runs one suite binary with binDir and returns each top-level test's outcome; the
// whole output goes to logPath. A failing test is not an error; a binary that cannot start is.
func runSuite(bin, dir, binDir, logPath, run string, timeout time.Duration) (map[string]outcome, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{"-test.v", "-test.timeout", timeout.String(), "-bin-dir", binDir, "-cert-dir", filepath.Join(dir, "..", "fixtures")}
	if run != "" {
		args = append(args, "-test.run", run)
	}
	c := exec.Command(bin, args...)
	c.Dir = dir
	pr, pw := io.Pipe()
	c.Stdout, c.Stderr = pw, pw
	if err := c.Start(); err != nil {
		return nil, err
	}
	res := map[string]outcome{}
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := topLevel.FindStringSubmatch(line); m != nil {
				res[m[2]] = outcome(m[1])
				fmt.Printf("  %s %s\n", m[1], m[2])
			}
		}
		done <- sc.Err()
	}()
	waitErr := c.Wait()
	pw.Close()
	if err := <-done; err != nil {
		return nil, err
	}
	var exit *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exit) {
		return nil, waitErr
	}
	return res, nil
}

func tally(res map[string]outcome) string {
	n := map[outcome]int{}
	for _, o := range res {
		n[o]++
	}
	return fmt.Sprintf("%d passed, %d failed, %d skipped", n[pass], n[fail], n[skip])
}

// report writes one suite's table and returns 1 when Ballast fails a test that etcd passes
// (or, without a baseline, any test) and known.txt does not list it.
func report(w io.Writer, suite string, results map[string]map[string]outcome, knownDiffs map[string]string) int {
	names := map[string]bool{}
	for _, res := range results {
		for n := range res {
			names[n] = true
		}
	}
	sorted := slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	})
	get := func(side, name string) outcome {
		if o, ok := results[side][name]; ok {
			return o
		}
		return missing
	}
	_, baseline := results["etcd"]
	fmt.Fprintf(w, "\n## %s\n\n", suite)
	fmt.Fprintf(w, "%s on Ballast; %s on etcd v3.7.3\n\n", tally(results["ballast"]), tally(results["etcd"]))
	fmt.Fprintln(w, "| test | etcd | Ballast | verdict |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	code := 0
	for _, n := range sorted {
		e, b := get("etcd", n), get("ballast", n)
		verdict := ""
		switch {
		case b == pass || b == skip:
			if reason, ok := knownDiffs[n]; ok && b == pass {
				verdict = "passes now: remove from known.txt (" + reason + ")"
			}
		case baseline && e != pass:
			verdict = "fails on etcd too"
		default:
			if reason, ok := knownDiffs[n]; ok {
				verdict = "known: " + reason
			} else {
				verdict = "DIFFERENCE"
				code = 1
			}
		}
		if verdict == "" && e == b {
			continue // the same on both: the table lists what differs
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", n, e, b, verdict)
	}
	return code
}

// readKnown reads "TestName: reason" lines ("#" starts a comment).
func readKnown(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "Test") || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: want \"TestName: reason\", got %q", path, i+1, line)
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(reason)
	}
	return out, nil
}
