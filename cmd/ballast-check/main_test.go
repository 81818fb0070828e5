package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability/history"
)

const testdata = "../../linearizability/testdata/"

func runCheck(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestExitOKOnGoodHistory(t *testing.T) {
	code, out, _ := runCheck(testdata + "good-basic.jsonl")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "good-basic.jsonl: ok")
}

func TestExitViolationWritesReport(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := runCheck(testdata+"bad-stale-read.jsonl", "-out", dir, "-json")
	require.Equal(t, exitViolation, code)
	var summary struct {
		File           string `json:"file"`
		Verdict        string `json:"verdict"`
		FirstViolation string `json:"first_violation"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &summary))
	require.Equal(t, "violation", summary.Verdict)
	require.Contains(t, summary.FirstViolation, "get k1 at rev 3 returned v1")
	for _, f := range []string{"report.html", "summary.json"} {
		_, err := os.Stat(filepath.Join(dir, "bad-stale-read", f))
		require.NoError(t, err, f)
	}
}

func TestExitBadInputNamesTheLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.jsonl")
	good, err := os.ReadFile(testdata + "good-basic.jsonl")
	require.NoError(t, err)
	lines := strings.Split(string(good), "\n")
	lines[3] = `{"kind":"op","client":"c1","call_ns":"soon"}`
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644))
	code, _, errOut := runCheck(path)
	require.Equal(t, exitBadInput, code)
	require.Contains(t, errOut, "line 4")

	code, _, errOut = runCheck(filepath.Join(t.TempDir(), "missing.jsonl"))
	require.Equal(t, exitBadInput, code)
	require.Contains(t, errOut, "missing.jsonl")

	code, _, _ = runCheck()
	require.Equal(t, exitBadInput, code, "no history given")
	code, _, _ = runCheck("-no-such-flag", testdata+"good-basic.jsonl")
	require.Equal(t, exitBadInput, code)
}

// TestExitUnknownOnTimeout: a history whose revisions no write explains forces a Porcupine
// search too large for a 1ms timeout; the verdict is unknown (3), never ok.
func TestExitUnknownOnTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hard.jsonl")
	rec := history.NewRecorder(history.Header{Version: history.FormatVersion, ClusterSize: 3, Clock: history.ClockVirtual})
	const unknownPuts = 24
	for i := 0; i < unknownPuts; i++ {
		rec.Call(fmt.Sprintf("c%d", i), history.Request{Put: &history.PutRequest{Key: history.Bytes("k"), Value: history.Bytes(fmt.Sprintf("v%d", i))}}, int64(i)).Unknown()
	}
	// A single-key get claiming two keys: no subset of the puts explains it, so the search
	// must try them all.
	rec.Call("reader", history.Request{Range: &history.RangeRequest{Key: history.Bytes("k"), CountOnly: true}}, 1000).
		Return(history.Response{Header: history.ResponseHeader{Revision: 14}, Range: &history.RangeResponse{Count: 2}}, 2000)
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = rec.WriteTo(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	code, out, errOut := runCheck("-timeout", "1ms", path)
	require.Equal(t, exitUnknown, code, "stdout %s stderr %s", out, errOut)
	require.Contains(t, out, ": unknown")
}

func TestSeveralHistoriesWorstStatusWins(t *testing.T) {
	code, out, _ := runCheck(testdata+"good-basic.jsonl", testdata+"bad-watch-duplicate-event.jsonl")
	require.Equal(t, exitViolation, code)
	require.Equal(t, 2, strings.Count(out, "\n"))
	require.Equal(t, exitBadInput, worse(exitViolation, exitBadInput))
	require.Equal(t, exitViolation, worse(exitUnknown, exitViolation))
	require.Equal(t, exitUnknown, worse(exitOK, exitUnknown))
}

func TestLivenessThresholdFlags(t *testing.T) {
	code, out, _ := runCheck("-min-ack-share", "0.99", testdata+"good-basic.jsonl")
	require.Equal(t, exitViolation, code)
	require.Contains(t, out, "operations were acknowledged, below the required 99.0%")
	code, _, _ = runCheck("-min-ack-share", "0.5", "-max-no-write", "1s", testdata+"good-basic.jsonl")
	require.Equal(t, exitOK, code)
}
