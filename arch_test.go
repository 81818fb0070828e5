package ballast

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const modulePath = "github.com/ballastdb/ballast"

// importRule says which of Ballast's packages a package (by its path inside the module) may
// import. It returns an empty string when the import is allowed, else the reason it is not.
func importRule(from, to string) string {
	under := func(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }
	if from == to || (under(from, "cmd")) {
		return ""
	}
	if under(from, "canary") {
		return "canary is the leaf every package may import: it imports nothing of ours"
	}
	// Any package may import canary, raft included (the one edge out of raft): in normal
	// builds its On is a constant false that removes every guarded branch, so the importer's
	// behaviour and determinism are unchanged; only -tags canary builds carry the broken
	// variants that prove the simulator can fail. timeq (a queue ordered by time) is a leaf
	// too: the simulator and the history generator both order their events with it.
	if under(from, "timeq") {
		return "timeq is a leaf every package may import: it imports nothing of ours"
	}
	if to == "canary" || to == "timeq" {
		return ""
	}
	for _, guarded := range []string{"sim", "chaos"} {
		if under(to, guarded) && !under(from, guarded) {
			return fmt.Sprintf("nothing imports %s but cmd", guarded)
		}
	}
	switch {
	case under(from, "raft"):
		if !under(to, "raft") {
			return "raft imports nothing of ours"
		}
	case under(from, "linearizability"):
		if !under(to, "linearizability") {
			return "linearizability imports nothing of the store; it reads histories"
		}
	case under(from, "scenarios"):
		if !under(to, "scenarios") && !under(to, "linearizability") {
			return "scenarios is data: it imports nothing of ours but linearizability"
		}
	case under(from, "kv/auth"):
		// The auth store is a leaf of kv: kv/node composes it with the MVCC store.
		if !under(to, "kv/auth") {
			return "kv/auth imports nothing of ours"
		}
	case under(from, "kv"):
		if !under(to, "kv") && !under(to, "raft") {
			return "kv imports only raft and kv"
		}
	case under(from, "rpc"):
		if !under(to, "rpc") && !under(to, "kv") && !under(to, "raft") {
			return "rpc imports only kv and raft"
		}
	}
	return ""
}

func TestImportRuleTable(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		allowed  bool
	}{
		{"raft", "kv/mvcc", false},
		{"raft/internal/quorum", "raft", true},
		{"raft", "linearizability", false},
		{"kv/node", "raft", true},
		{"kv/node", "kv/mvcc", true},
		{"kv/node", "rpc", false},
		{"kv/node", "kv/auth", true},
		{"kv/auth", "kv/mvcc", false},
		{"rpc", "kv/auth", true},
		{"kv/node", "sim", false},
		{"rpc", "kv/node", true},
		{"rpc", "chaos", false},
		{"linearizability", "kv/mvcc", false},
		{"linearizability", "raft", false},
		{"linearizability/history", "linearizability", true},
		{"scenarios", "linearizability", true},
		{"scenarios", "sim", false},
		{"sim", "kv/node", true},
		{"sim", "chaos", false},
		{"chaos", "sim", false},
		{"sim/network", "sim", true},
		{"cmd/ballast-sim", "sim", true},
		{"cmd/ballast-chaos", "chaos", true},
		{"", "sim", false},
		{"raft", "canary", true},
		{"kv/node", "canary", true},
		{"kv/watch", "canary", true},
		{"scenarios", "canary", true},
		{"linearizability", "canary", true},
		{"canary", "raft", false},
		{"canary", "scenarios", false},
		{"sim", "timeq", true},
		{"linearizability/gen", "timeq", true},
		{"raft", "timeq", true},
		{"timeq", "canary", false},
	} {
		t.Run(tc.from+"->"+tc.to, func(t *testing.T) {
			reason := importRule(tc.from, tc.to)
			require.Equal(t, tc.allowed, reason == "", "reason: %q", reason)
		})
	}
}

type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// TestImportDirection lists every package of the module with `go list` and checks each of its
// imports (production and test) against importRule.
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		t.Fatalf("go list: %v\n%s", err, exitErr.Stderr)
	}
	require.NoError(t, err)

	var violations []string
	packages := 0
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		packages++
		from := inModule(p.ImportPath)
		imports := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range imports {
			if !strings.HasPrefix(imp, modulePath) {
				continue
			}
			if reason := importRule(from, inModule(imp)); reason != "" {
				violations = append(violations, fmt.Sprintf("%s imports %s: %s", p.ImportPath, imp, reason))
			}
		}
	}
	require.Greater(t, packages, 5, "go list found too few packages; is the test run from the module?")
	sort.Strings(violations)
	require.Empty(t, violations, "imports against ../shared/DESIGN.md's dependency rule")
}

func inModule(importPath string) string {
	return strings.TrimPrefix(strings.TrimPrefix(importPath, modulePath), "/")
}
