package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportVerdicts: a test etcd passes and Ballast fails is a difference (exit 1) unless
// known.txt lists it; a failure on both sides is the baseline's; a listed test that passes
// is flagged for removal.
func TestReportVerdicts(t *testing.T) {
	cases := []struct {
		name          string
		etcd, ballast outcome
		known         bool
		wantCode      int
		wantVerdict   string
	}{
		{"both pass", pass, pass, false, 0, ""},
		{"ballast fails", pass, fail, false, 1, "DIFFERENCE"},
		{"ballast fails, known", pass, fail, true, 0, "known: why"},
		{"both fail", fail, fail, false, 0, "fails on etcd too"},
		{"known passes now", pass, pass, true, 0, "passes now: remove from known.txt (why)"},
		{"not reached on ballast", pass, missing, false, 1, "DIFFERENCE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			results := map[string]map[string]outcome{"etcd": {"TestX": c.etcd}, "ballast": {}}
			if c.ballast != missing {
				results["ballast"]["TestX"] = c.ballast
			}
			known := map[string]string{}
			if c.known {
				known["TestX"] = "why"
			}
			var b bytes.Buffer
			code := report(&b, "common", results, known)
			if code != c.wantCode {
				t.Fatalf("code %d, want %d:\n%s", code, c.wantCode, b.String())
			}
			row := ""
			for _, line := range strings.Split(b.String(), "\n") {
				if strings.HasPrefix(line, "| TestX |") {
					row = line
				}
			}
			if c.wantVerdict == "" {
				if row != "" {
					t.Fatalf("a test alike on both sides is listed: %q", row)
				}
				return
			}
			if !strings.HasSuffix(row, "| "+c.wantVerdict+" |") {
				t.Fatalf("row %q, want verdict %q", row, c.wantVerdict)
			}
		})
	}
}

func TestTopLevelLines(t *testing.T) {
	for line, want := range map[string]string{
		"--- PASS: TestKVPut (12.30s)":          "PASS TestKVPut",
		"--- FAIL: TestAlarm (10.04s)":          "FAIL TestAlarm",
		"    --- FAIL: TestAlarm/NoTLS (1.00s)": "",
		"--- SKIP: TestDowngrade (0.00s)":       "SKIP TestDowngrade",
	} {
		got := ""
		if m := topLevel.FindStringSubmatch(line); m != nil {
			got = m[1] + " " + m[2]
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", line, got, want)
		}
	}
}

func TestReadKnownRefusesMalformedLines(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("# comment\n\nTestA: a reason\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := readKnown(good)
	if err != nil || k["TestA"] != "a reason" || len(k) != 1 {
		t.Fatalf("readKnown = %v, %v", k, err)
	}
	for _, bad := range []string{"TestA\n", "TestA:\n", "NotATest: reason\n"} {
		p := filepath.Join(dir, "bad")
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readKnown(p); err == nil {
			t.Errorf("readKnown accepted %q", bad)
		}
	}
}
