package linearizability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ballastdb/ballast/linearizability/history"
)

// Report files written by WriteReport.
const (
	ReportHTML    = "report.html"
	ReportSummary = "summary.json"
)

// reportVisualizeMaxOps bounds the operations drawn in the HTML timeline: a browser renders a
// few thousand comfortably; beyond that the page lists the violations without the timeline.
var reportVisualizeMaxOps = DefaultPorcupineMaxOps

// reportVisualizeMaxCells bounds operations times keys: Porcupine's page describes the whole
// store at every step it draws, so its size grows with both. A Docker chaos run of 9,480
// operations over some thousand distinct keys (unique keys per put, a marker per delete)
// built a page of more than a gigabyte and ran out of memory; 4,000 operations over the
// simulator's 64 keys are 256k cells.
var reportVisualizeMaxCells = 4 << 20

// writtenKeys counts the distinct keys the operations put: an upper bound on the keys in
// any state the timeline describes.
func writtenKeys(ops []*op) int {
	keys := map[string]bool{}
	var visit func(r *history.Request)
	visit = func(r *history.Request) {
		switch {
		case r == nil:
		case r.Put != nil:
			keys[string(r.Put.Key)] = true
		case r.Txn != nil:
			for i := range r.Txn.Success {
				visit(&r.Txn.Success[i])
			}
			for i := range r.Txn.Failure {
				visit(&r.Txn.Failure[i])
			}
		}
	}
	for _, o := range ops {
		visit(o.req)
	}
	return len(keys)
}

// WriteReport writes the result into dir (created if missing): summary.json, the verdict per
// check, the counts, the checker time and the first violation in one sentence; and
// report.html, Porcupine's timeline of the operations (with the longest linearizable prefix it
// found, or the linearization) and the history's faults and the violations as annotations on
// the same timeline, under a summary of the verdict.
func WriteReport(dir string, r *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	summary, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ReportSummary), append(summary, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	page, err := r.html()
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ReportHTML), page, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

var summaryTemplate = template.Must(template.New("summary").Parse(`
<div id="ballast-summary" style="font-family: sans-serif; margin: 1em;">
<h1>Ballast history check: {{.Verdict}}</h1>
<p>Scenario {{.Scenario}}, seed {{.Seed}}: {{.Operations}} operations, {{.Watches}} watches, checked in {{.CheckerTime}}.</p>
{{if .FirstViolation}}<p id="first-violation"><b>First violation:</b> {{.FirstViolation}}</p>{{end}}
{{if .LinearizablePrefix}}<p>Longest linearizable prefix Porcupine found: {{.LinearizablePrefix}} operations.</p>{{end}}
<table border="1" cellpadding="4" style="border-collapse: collapse;">
<tr><th>check</th><th>verdict</th><th>violations</th><th>note</th></tr>
{{range .Checks}}<tr><td>{{.Name}}</td><td>{{.Verdict}}</td><td>{{range .Violations}}<div class="violation">[{{.Kind}}] {{.Message}}</div>{{end}}</td><td>{{.Note}}</td></tr>
{{end}}</table>
<p>Liveness: {{.Liveness.Acknowledged}} of {{.Liveness.ClientOperations}} operations acknowledged; longest stretch without a successful write: {{.Liveness.LongestNoWriteNs}} ns.</p>
{{if .Faults}}<h2>Faults</h2><ul>{{range .Faults}}<li class="fault">{{.}}</li>{{end}}</ul>{{end}}
{{if .NoTimeline}}<p>{{.NoTimeline}}</p>{{end}}
</div>
`))

func (r *Result) html() ([]byte, error) {
	var faults []string
	for _, f := range r.history.Faults {
		end := "the end"
		if f.EndNs != nil {
			end = fmtNs(*f.EndNs)
		}
		faults = append(faults, fmt.Sprintf("%s %s from %s to %s %s", f.Kind, strings.Join(f.Members, ","), fmtNs(f.StartNs), end, f.Detail))
	}
	data := struct {
		*Result
		Faults      []string
		NoTimeline  string
		CheckerTime time.Duration
	}{Result: r, Faults: faults, CheckerTime: r.CheckerTime}

	info, ok := r.timeline()
	if !ok {
		data.NoTimeline = fmt.Sprintf("The timeline is drawn for histories of up to %d operations and up to %d operations times distinct keys written; this one has %d operations over %d keys.",
			reportVisualizeMaxOps, reportVisualizeMaxCells, len(r.ops), writtenKeys(r.ops))
	}
	var head bytes.Buffer
	if err := summaryTemplate.Execute(&head, data); err != nil {
		return nil, err
	}
	if !ok {
		return []byte("<!doctype html>\n<html><head><meta charset=\"UTF-8\"><title>Ballast check</title></head><body>" + head.String() + "</body></html>\n"), nil
	}
	var page bytes.Buffer
	if err := porcupine.Visualize(etcdModel(), info, &page); err != nil {
		return nil, err
	}
	out := page.String()
	i := strings.Index(out, "<body>")
	if i < 0 {
		return nil, fmt.Errorf("porcupine's page has no <body>")
	}
	i += len("<body>")
	return []byte(out[:i] + head.String() + out[i:]), nil
}

// timeline returns Porcupine's linearization info with the faults and violations annotated,
// running Porcupine now when Check did not.
func (r *Result) timeline() (porcupine.LinearizationInfo, bool) {
	var info porcupine.LinearizationInfo
	if len(r.ops)*writtenKeys(r.ops) > reportVisualizeMaxCells {
		return info, false
	}
	switch {
	case r.porcupine != nil:
		info = r.porcupine.info
	case len(r.ops) <= reportVisualizeMaxOps:
		info = runPorcupine(r.ops, r.porcupineReturn, DefaultPorcupineTimeout).info
	default:
		return info, false
	}
	var end int64
	for _, o := range r.ops {
		if o.returnNs != infinity && o.returnNs > end {
			end = o.returnNs
		}
	}
	var notes []porcupine.Annotation
	for _, f := range r.history.Faults {
		fe := end
		if f.EndNs != nil {
			fe = *f.EndNs
		}
		notes = append(notes, porcupine.Annotation{Tag: "fault: " + f.Kind, Start: f.StartNs, End: fe,
			Description: fmt.Sprintf("%s %s", f.Kind, strings.Join(f.Members, ",")), Details: f.Detail, BackgroundColor: "#ffd27f"})
	}
	for _, c := range r.Checks {
		for _, v := range c.Violations {
			notes = append(notes, porcupine.Annotation{Tag: "violation: " + v.Checker, Start: v.TimeNs,
				Description: v.Kind, Details: v.Message, BackgroundColor: "#ff8080"})
		}
	}
	info.AddAnnotations(notes)
	return info, true
}
