//go:build browser

package linearizability

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReportInBrowser renders the report of a failing history in headless Chromium and checks
// that the rendered page (after Porcupine's script ran) shows the operations, the fault on the
// timeline and the violation. Run with: go test -tags browser -run TestReportInBrowser
// ./linearizability/... In CI (CI=true) a missing chromium fails the test.
func TestReportInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed (Debian package chromium; make test installs it with apt-get): %v", err)
		}
		t.Skip("chromium is not installed; apt-get install -y chromium (this test never skips with CI=true)")
	}
	h := readHistory(t, "testdata/bad-stale-read.jsonl")
	h.Faults = append(h.Faults, readHistory(t, "testdata/good-basic.jsonl").Faults...)
	res := Check(h, Options{})
	require.Equal(t, VerdictViolation, res.Verdict)
	dir := t.TempDir()
	require.NoError(t, WriteReport(dir, res))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--virtual-time-budget=5000", "--dump-dom",
		"file://"+filepath.Join(dir, ReportHTML))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	page := string(dom)

	// Drawn by Porcupine's script from the embedded data: the operations and annotations are
	// SVG text elements only once the page ran (the data alone sits in a <script>).
	drawn := func(text string) bool {
		return regexp.MustCompile(`<text[^>]*>` + regexp.QuoteMeta(text) + `</text>`).MatchString(page)
	}
	require.True(t, drawn("put k1=v2 -&gt; rev 3"), "the operations are not drawn")
	require.True(t, drawn("get k1 -&gt; rev 3: [k1=v1@2] count 1"), "the stale get is not drawn")
	require.True(t, drawn("fault: partition") && drawn("partition m1"), "the fault is not on the timeline")
	require.True(t, drawn("violation: revision") && drawn("stale-read"), "the violation is not on the timeline")
	require.Contains(t, page, "acknowledged before the get was called", "the first violation is not stated")
}
