package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ballastdb/ballast/linearizability"
)

// historyFile is the name of a run's history inside its report directory.
const historyFile = "history.jsonl"

// execute runs a parsed invocation and prints its table, reports and JSON line.
func execute(cfg runConfig, stdout, stderr io.Writer) int {
	var jobs []job
	for _, sc := range cfg.scenarios {
		for _, seed := range cfg.seeds {
			jobs = append(jobs, job{sc: sc, seed: seed, skip: cfg.skip})
		}
	}
	var trace io.Writer
	table := stdout
	if cfg.trace {
		trace, table = stdout, stderr
	}
	start := time.Now()
	results := runAll(jobs, cfg.parallel, trace, stderr)
	wall := time.Since(start)
	status := report(results, cfg.outDir, cfg.json, wall, true, stdout, table, stderr)
	if cfg.results != "" {
		if err := writeResults(cfg.results, results); err != nil {
			fmt.Fprintf(stderr, "ballast-sim: writing results: %v\n", err)
			status = exitFailed
		}
	}
	return status
}

// report prints the table of results (in (scenario, seed) order) to table, writes the index
// page into outDir (with the linked runs' reports when writeRuns; merge has none to write and
// links what the shards wrote), and the -json line to stdout. It returns the exit status.
func report(results []runResult, outDir string, asJSON bool, wall time.Duration, writeRuns bool, stdout, table, stderr io.Writer) int {
	sums := summarize(results)
	printTable(table, sums, results)
	status := exitOK
	if sums.total.failed > 0 {
		status = exitFailed
	}
	if short := printCoverage(table, sums); short > 0 {
		status = exitFailed
	}
	if outDir != "" {
		if err := writeIndex(outDir, sums, results, writeRuns); err != nil {
			fmt.Fprintf(stderr, "ballast-sim: writing reports: %v\n", err)
			status = exitFailed
		} else {
			fmt.Fprintf(table, "reports: %s\n", filepath.Join(outDir, "index.html"))
		}
	}
	if asJSON {
		line, _ := json.Marshal(jsonSummary{
			Runs:        sums.total.runs,
			Failed:      sums.total.failed,
			Ops:         sums.total.ops,
			SimSeconds:  sums.total.sim.Seconds(),
			WallSeconds: wall.Seconds(),
			Digest:      digest(results),
		})
		fmt.Fprintf(stdout, "%s\n", line)
	}
	return status
}

// jsonSummary is the -json line.
type jsonSummary struct {
	Runs        int     `json:"runs"`
	Failed      int     `json:"failed"`
	Ops         int     `json:"ops"`
	SimSeconds  float64 `json:"sim_seconds"`
	WallSeconds float64 `json:"wall_seconds"`
	Digest      string  `json:"digest"`
}

// digest hashes every run's trace digest in (scenario, seed) order, which is results' order.
func digest(results []runResult) string {
	h := sha256.New()
	for _, r := range results {
		fmt.Fprintf(h, "%s\x00%d\x00%s\n", r.Scenario, r.Seed, r.Digest)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tally sums a set of runs.
type tally struct {
	name       string
	runs       int
	failed     int
	sim        time.Duration
	ops        int
	faults     int
	wall       time.Duration
	first      *runResult   // the scenario's first seed
	failedRuns []*runResult // in seed order
	all        []*runResult // in seed order
}

func (t *tally) add(r *runResult) {
	t.runs++
	t.all = append(t.all, r)
	if !r.Passed {
		t.failed++
		t.failedRuns = append(t.failedRuns, r)
	}
	t.sim += r.SimDuration
	t.ops += r.Ops
	t.faults += r.FaultsInjected
	t.wall += r.Wall
}

type summary struct {
	perScenario []*tally // in catalogue order
	total       tally
}

func summarize(results []runResult) summary {
	var s summary
	byName := map[string]*tally{}
	for i := range results {
		r := &results[i]
		t := byName[r.Scenario]
		if t == nil {
			t = &tally{name: r.Scenario, first: r}
			byName[r.Scenario] = t
			s.perScenario = append(s.perScenario, t)
		}
		t.add(r)
		s.total.add(r)
	}
	return s
}

func printTable(w io.Writer, s summary, results []runResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\truns\tfailed\tsimulated\tops checked\tfaults\twall\t")
	row := func(t *tally, name string) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%s\t\n", name, t.runs, t.failed,
			t.sim.Round(time.Millisecond), t.ops, t.faults, t.wall.Round(time.Millisecond))
	}
	for _, t := range s.perScenario {
		row(t, t.name)
	}
	row(&s.total, "total")
	_ = tw.Flush()
	for _, r := range results {
		if !r.Passed {
			fmt.Fprintf(w, "FAIL %s seed %d: %s\n  replay: %s -trace\n",
				r.Scenario, r.Seed, firstLine(r.Failure), replayCommand(r.Scenario, r.Seed, r.Skip))
		}
	}
}

func firstLine(s string) string {
	if s == "" {
		return "(no reason given)"
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// runDir is a run's report directory, relative to the output directory; a run with skipped
// faults gets its own, beside the full run's.
func runDir(r *runResult) string {
	if len(r.Skip) > 0 {
		return fmt.Sprintf("%s-%d-skip%s", r.Scenario, r.Seed, formatSkip(r.Skip))
	}
	return fmt.Sprintf("%s-%d", r.Scenario, r.Seed)
}

// writeRun writes one run's report: report.html and summary.json when the run was checked,
// its history, and failure.txt with the whole failure message when it failed.
func writeRun(outDir string, r *runResult) error {
	dir := filepath.Join(outDir, runDir(r))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if r.Check != nil {
		if err := linearizability.WriteReport(dir, r.Check); err != nil {
			return fmt.Errorf("%s seed %d: %w", r.Scenario, r.Seed, err)
		}
	}
	if r.History != nil {
		f, err := os.Create(filepath.Join(dir, historyFile))
		if err != nil {
			return err
		}
		_, werr := r.History.WriteTo(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("%s seed %d: history: %w", r.Scenario, r.Seed, werr)
		}
	}
	if !r.Passed {
		if err := os.WriteFile(filepath.Join(dir, "failure.txt"), []byte(r.Failure+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// indexRun is one linked run on the index page.
type indexRun struct {
	Scenario string
	Seed     int64
	Passed   bool
	Failure  string
	Replay   string // the command that replays it
	Dir      string
	Report   bool // report.html exists
	History  bool
}

type indexRow struct {
	Name                      string
	Runs, Failed, Ops, Faults int
	Simulated                 string
	First                     indexRun
	Failures                  []indexRun
}

var indexTemplate = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ballast-sim: {{.Runs}} runs, {{.Failed}} failed</title>
<style>body{font-family:sans-serif;margin:1em} td,th{padding:4px 8px;border:1px solid #999}
table{border-collapse:collapse} .fail{color:#b00;font-weight:bold} .ok{color:#070}</style></head>
<body>
<h1>ballast-sim: {{.Runs}} runs, <span class="{{if .Failed}}fail{{else}}ok{{end}}">{{.Failed}} failed</span></h1>
<p>Each row is one scenario of the catalogue run over its seeds in the deterministic simulator.
The first seed's report shows what the harness did to the cluster even when it passed; every
failing run links to its report, its history and the command that replays it.</p>
<table id="scenarios">
<tr><th>scenario</th><th>runs</th><th>failures</th><th>operations checked</th><th>simulated time</th><th>faults injected</th><th>first seed</th><th>failing runs</th></tr>
{{range .Rows}}<tr class="scenario" id="row-{{.Name}}"><td>{{.Name}}</td><td>{{.Runs}}</td><td{{if .Failed}} class="fail"{{end}}>{{.Failed}}</td><td>{{.Ops}}</td><td>{{.Simulated}}</td><td>{{.Faults}}</td>
<td>{{template "run" .First}}</td>
<td>{{range .Failures}}<div>{{template "run" .}}<br><code>{{.Replay}} -trace</code><br>{{.Failure}}</div>{{end}}</td></tr>
{{end}}</table>
</body></html>
{{define "run"}}{{if .Report}}<a href="{{.Dir}}/report.html">seed {{.Seed}}</a>{{else}}seed {{.Seed}}{{end}}{{if .History}} (<a href="{{.Dir}}/history.jsonl">history</a>){{end}}{{if not .Passed}} <a class="fail" href="{{.Dir}}/failure.txt">failed</a>{{end}}{{end}}
`))

// writeIndex writes the first seed's and every failing run's report (when writeRuns), then
// index.html.
func writeIndex(outDir string, s summary, results []runResult, writeRuns bool) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	linked := func(r *runResult) (indexRun, error) {
		hasReport, hasHistory := r.Check != nil, r.History != nil
		if writeRuns {
			if err := writeRun(outDir, r); err != nil {
				return indexRun{}, err
			}
		} else {
			hasReport, hasHistory = linkedFiles(outDir, r)
		}
		return indexRun{Scenario: r.Scenario, Seed: r.Seed, Passed: r.Passed, Failure: firstLine(r.Failure),
			Replay: replayCommand(r.Scenario, r.Seed, r.Skip), Dir: runDir(r),
			Report: hasReport, History: hasHistory}, nil
	}
	page := struct {
		Runs, Failed int
		Rows         []indexRow
	}{Runs: s.total.runs, Failed: s.total.failed}
	for _, t := range s.perScenario {
		row := indexRow{Name: t.name, Runs: t.runs, Failed: t.failed, Ops: t.ops, Faults: t.faults,
			Simulated: t.sim.Round(time.Millisecond).String()}
		var err error
		if row.First, err = linked(t.first); err != nil {
			return err
		}
		for _, r := range t.failedRuns {
			if r == t.first {
				row.Failures = append(row.Failures, row.First)
				continue
			}
			ir, err := linked(r)
			if err != nil {
				return err
			}
			row.Failures = append(row.Failures, ir)
		}
		page.Rows = append(page.Rows, row)
	}
	f, err := os.Create(filepath.Join(outDir, "index.html"))
	if err != nil {
		return err
	}
	if err := indexTemplate.Execute(f, page); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
