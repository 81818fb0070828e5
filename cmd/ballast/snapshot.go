package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"

	"github.com/ballastdb/ballast/kv/snapshot"
	"github.com/ballastdb/ballast/rpc/embed"
)

// `ballast snapshot restore FILE [flags]` and `ballast snapshot status FILE [-w FORMAT]`:
// etcdutl's two snapshot commands with its flags, on etcd-format snapshot files (saved by
// `etcdctl snapshot save` from etcd v3.5 to v3.7 or from Ballast). Exit 0 on success, 2 for
// a command line the flag package refuses, 1 for a refused snapshot or a failed restore
// (the message names the check that failed).

const snapshotUsage = `Usage:
  ballast snapshot restore FILE [--data-dir DIR] [--wal-dir DIR] [--name NAME]
      [--initial-cluster NAME=URL,...] [--initial-cluster-token TOKEN]
      [--initial-advertise-peer-urls URL,...] [--skip-hash-check]
  ballast snapshot status FILE [-w simple|table|json|fields]
`

// runSnapshot runs `snapshot ...` (args after "snapshot").
func runSnapshot(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, snapshotUsage)
		return exitUsage
	}
	switch args[0] {
	case "restore":
		return runSnapshotRestore(ctx, args[1:], stdout, stderr)
	case "status":
		return runSnapshotStatus(args[1:], stdout, stderr)
	case "save":
		fmt.Fprintln(stderr, "Error: ballast snapshot save is not a command: save a snapshot with `etcdctl snapshot save FILE` against a running member")
		return 1
	}
	fmt.Fprintf(stderr, "Error: unknown command %q for \"ballast snapshot\"\n%s", args[0], snapshotUsage)
	return exitUsage
}

// parseInterspersed parses fs's flags wherever they are among args (as etcdutl's cobra
// does) and returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func oneFile(cmd string, positional []string) (string, error) {
	if len(positional) != 1 {
		return "", fmt.Errorf("snapshot %s requires exactly one argument (the snapshot file), got %d", cmd, len(positional))
	}
	return positional[0], nil
}

// exitBadArgs is etcdutl's exit code for arguments it refuses itself (cobrautl.ExitBadArgs).
const exitBadArgs = 128

func runSnapshotRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ballast snapshot restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg embed.RestoreConfig
	var peerURLs string
	var mmapSize, bumpRevision uint64
	var markCompacted bool
	fs.StringVar(&cfg.DataDir, "data-dir", "", "Path to the output data directory (default NAME.etcd)")
	fs.StringVar(&cfg.WALDir, "wal-dir", "", "Path to the WAL directory (default: inside the data directory)")
	fs.StringVar(&cfg.InitialCluster, "initial-cluster", "default=http://localhost:2380", "Initial cluster configuration for restore bootstrap")
	fs.StringVar(&cfg.InitialClusterToken, "initial-cluster-token", "etcd-cluster", "Initial cluster token for the cluster during restore bootstrap")
	fs.StringVar(&peerURLs, "initial-advertise-peer-urls", "http://localhost:2380", "List of this member's peer URLs to advertise to the rest of the cluster")
	fs.StringVar(&cfg.Name, "name", "default", "Human-readable name for this member")
	fs.BoolVar(&cfg.SkipHashCheck, "skip-hash-check", false, "Ignore snapshot integrity hash value (required if copied from data directory)")
	fs.Uint64Var(&mmapSize, "initial-memory-map-size", 0, "Accepted for etcdutl's command lines; Ballast's store has no memory map to size")
	fs.Uint64Var(&bumpRevision, "bump-revision", 0, "How much to increase the latest revision after restore")
	fs.BoolVar(&markCompacted, "mark-compacted", false, "Mark the latest revision after restore as the point of scheduled compaction (required if --bump-revision > 0, disallowed otherwise)")
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return exitUsage
	}
	if cfg.SnapshotPath, err = oneFile("restore", positional); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return exitUsage
	}
	if (bumpRevision == 0) == markCompacted {
		fmt.Fprintln(stderr, "Error: --mark-compacted required if --revision-bump > 0") // etcdutl's text (and exit code 128)
		return exitBadArgs
	}
	cfg.BumpRevision = bumpRevision
	if peerURLs != "" {
		cfg.InitialAdvertisePeerURLs = strings.Split(peerURLs, ",")
	}
	cfg.Logger = newLogger(stderr, slog.LevelInfo, logFormatConsole) // etcdutl logs as zap's console
	restored, err := embed.Restore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored snapshot %s into %s: revision %d, compact revision %d, %d versions, %d leases\n",
		cfg.SnapshotPath, dataDirOf(cfg), restored.Revision, restored.CompactRevision, restored.Versions, restored.Leases)
	return 0
}

func dataDirOf(cfg embed.RestoreConfig) string {
	if cfg.DataDir != "" {
		return cfg.DataDir
	}
	return cfg.Name + ".etcd"
}

func runSnapshotStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ballast snapshot status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var format string
	fs.StringVar(&format, "w", "simple", "set the output format (fields, json, simple, table)")
	fs.StringVar(&format, "write-out", "simple", "set the output format (fields, json, simple, table)")
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return exitUsage
	}
	path, err := oneFile("status", positional)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return exitUsage
	}
	switch format {
	case "simple", "table", "json", "fields":
	default:
		fmt.Fprintf(stderr, "Error: unknown output format %q (want simple, table, json or fields)\n", format)
		return exitUsage
	}
	// status reads a file as it is, like etcdutl: the hash trailer is checked by restore.
	r, err := snapshot.Open(path, true)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	defer r.Close()
	st, err := r.Status()
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	printStatus(stdout, format, st)
	return 0
}

// printStatus prints st as etcdutl's printers do.
func printStatus(w io.Writer, format string, st snapshot.Status) {
	row := []string{fmt.Sprintf("%x", st.Hash), fmt.Sprint(st.Revision), fmt.Sprint(st.TotalKey), humanBytes(uint64(st.TotalSize)), st.Version}
	switch format {
	case "json":
		b, _ := json.Marshal(st)
		fmt.Fprintln(w, string(b))
	case "fields":
		fmt.Fprintln(w, `"Hash" :`, st.Hash)
		fmt.Fprintln(w, `"Revision" :`, st.Revision)
		fmt.Fprintln(w, `"Keys" :`, st.TotalKey)
		fmt.Fprintln(w, `"Size" :`, st.TotalSize)
		fmt.Fprintln(w, `"Version" :`, st.Version)
	case "table":
		printTable(w, []string{"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE", "VERSION"}, row)
	default:
		fmt.Fprintln(w, strings.Join(row, ", "))
	}
}

// printTable draws one header and one row in the box style of etcd's table printer, the
// row aligned right.
func printTable(w io.Writer, hdr, row []string) {
	widths := make([]int, len(hdr))
	for i := range hdr {
		widths[i] = max(len(hdr[i]), len(row[i])) + 2
	}
	line := func(l, m, r string) {
		parts := make([]string, len(widths))
		for i, n := range widths {
			parts[i] = strings.Repeat("─", n)
		}
		fmt.Fprintln(w, l+strings.Join(parts, m)+r)
	}
	cells := func(vals []string, center bool) {
		parts := make([]string, len(vals))
		for i, v := range vals {
			pad := widths[i] - 2 - len(v)
			left := pad
			if center {
				left = pad / 2
			}
			parts[i] = " " + strings.Repeat(" ", left) + v + strings.Repeat(" ", pad-left) + " "
		}
		fmt.Fprintln(w, "│"+strings.Join(parts, "│")+"│")
	}
	line("┌", "┬", "┐")
	cells(hdr, true)
	line("├", "┼", "┤")
	cells(row, false)
	line("└", "┴", "┘")
}

// humanBytes is go-humanize's Bytes (SI units), which etcdutl prints sizes with: "20 kB",
// "2.1 MB".
func humanBytes(s uint64) string {
	if s < 10 {
		return fmt.Sprintf("%d B", s)
	}
	sizes := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := math.Floor(math.Log(float64(s)) / math.Log(1000))
	val := math.Floor(float64(s)/math.Pow(1000, e)*10+0.5) / 10
	f := "%.0f %s"
	if val < 10 {
		f = "%.1f %s"
	}
	return fmt.Sprintf(f, val, sizes[int(e)])
}
