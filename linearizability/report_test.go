package linearizability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWriteReportSummary: the JSON summary carries the verdict per check, the counts, the
// checker time and the first violation in one sentence; the HTML page embeds Porcupine's
// timeline with the fault and violation annotations.
func TestWriteReportSummary(t *testing.T) {
	h := readHistory(t, "testdata/bad-stale-read.jsonl")
	h.Faults = readHistory(t, "testdata/good-basic.jsonl").Faults
	res := Check(h, Options{})
	dir := t.TempDir()
	require.NoError(t, WriteReport(dir, res))

	raw, err := os.ReadFile(filepath.Join(dir, ReportSummary))
	require.NoError(t, err)
	var summary struct {
		Verdict        string `json:"verdict"`
		FirstViolation string `json:"first_violation"`
		Operations     int    `json:"operations"`
		CheckerTimeNs  int64  `json:"checker_time_ns"`
		Checks         []struct {
			Name    string `json:"name"`
			Verdict string `json:"verdict"`
		} `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(raw, &summary))
	require.Equal(t, "violation", summary.Verdict)
	require.Equal(t, 3, summary.Operations)
	require.Positive(t, summary.CheckerTimeNs)
	require.Equal(t, "get k1 at rev 3 returned v1 (mod rev 2), but v2 was written at rev 3 by put k1=v2 and acknowledged before the get was called (line 4)", summary.FirstViolation)
	require.Equal(t, 1, strings.Count(summary.FirstViolation, ". ")+1, "one sentence")
	verdicts := map[string]string{}
	for _, c := range summary.Checks {
		verdicts[c.Name] = c.Verdict
	}
	require.Equal(t, map[string]string{CheckRevision: "violation", CheckPorcupine: "violation", CheckWatch: "ok",
		CheckLease: "ok", CheckDurability: "violation", CheckLiveness: "ok", CheckCompaction: "ok", CheckAuth: "ok"}, verdicts)

	page, err := os.ReadFile(filepath.Join(dir, ReportHTML))
	require.NoError(t, err)
	require.Contains(t, string(page), `"Tag":"fault: partition"`)
	require.Contains(t, string(page), `"Tag":"violation: revision"`)
	require.Contains(t, string(page), "Longest linearizable prefix Porcupine found: 2 operations")
}

// TestWriteReportWithoutTimeline: above the drawing limit the page still states the verdict.
func TestWriteReportWithoutTimeline(t *testing.T) {
	old := reportVisualizeMaxOps
	reportVisualizeMaxOps = 2
	defer func() { reportVisualizeMaxOps = old }()
	res := Check(readHistory(t, "testdata/bad-lost-write.jsonl"), Options{PorcupineMaxOps: -1})
	require.Equal(t, VerdictSkipped, res.Check(CheckPorcupine).Verdict)
	dir := t.TempDir()
	require.NoError(t, WriteReport(dir, res))
	page, err := os.ReadFile(filepath.Join(dir, ReportHTML))
	require.NoError(t, err)
	require.Contains(t, string(page), "The timeline is drawn for histories of up to 2 operations and up to 4194304 operations times distinct keys written; this one has 4 operations over 2 keys.")
	require.Contains(t, string(page), "lost acknowledged write")
	require.Error(t, WriteReport(filepath.Join(dir, ReportHTML, "sub"), res), "a report under a file cannot be written")
}

// TestWriteReportTimelineBoundedByKeys: few operations over many keys are not drawn either
// (Porcupine describes the whole store at every step: a chaos run's page outgrew memory).
func TestWriteReportTimelineBoundedByKeys(t *testing.T) {
	res := Check(readHistory(t, "testdata/bad-lost-write.jsonl"), Options{})
	require.Equal(t, 2, writtenKeys(res.ops), "the file puts k1 and k2")
	old := reportVisualizeMaxCells
	defer func() { reportVisualizeMaxCells = old }()
	for _, tc := range []struct {
		cells    int
		timeline bool
	}{{8, true}, {7, false}} { // 4 operations times 2 keys
		reportVisualizeMaxCells = tc.cells
		dir := t.TempDir()
		require.NoError(t, WriteReport(dir, res))
		page, err := os.ReadFile(filepath.Join(dir, ReportHTML))
		require.NoError(t, err)
		require.Equal(t, !tc.timeline, strings.Contains(string(page), "The timeline is drawn for"), "cells %d", tc.cells)
		require.Equal(t, tc.timeline, strings.Contains(string(page), `"Tag":"violation: revision"`), "cells %d", tc.cells)
	}
}

// TestLivenessThresholds: liveness is measured always and judged only against the caller's
// thresholds.
func TestLivenessThresholds(t *testing.T) {
	h := readHistory(t, "testdata/good-basic.jsonl")
	res := Check(h, Options{})
	require.Equal(t, VerdictOK, res.Verdict)
	l := res.Liveness
	require.Equal(t, 17, l.ClientOperations)
	require.Equal(t, 14, l.Acknowledged, "one put unanswered, one timed out, one refused")
	require.InDelta(t, 14.0/17, l.AckShare, 1e-9)
	require.Equal(t, 5, l.SuccessfulWrites)
	// Successful writes return at 2000, 6000, 7000, 12000, 18000; the run ends at 20000.
	require.Equal(t, int64(6000), l.LongestNoWriteNs)
	require.Equal(t, int64(12000), l.NoWriteFromNs)

	res = Check(h, Options{MinAckShare: 0.9, MaxNoWriteNs: 5000})
	require.Equal(t, VerdictViolation, res.Verdict)
	c := res.Check(CheckLiveness)
	require.Len(t, c.Violations, 2)
	require.Contains(t, c.Violations[0].Message, "only 82.4% of 17 operations were acknowledged")
	require.Contains(t, c.Violations[1].Message, "no write succeeded for 6µs (from 12µs to 18µs), longer than the allowed 5µs")
	require.Equal(t, VerdictOK, res.Check(CheckRevision).Verdict, "liveness does not touch safety")
}
