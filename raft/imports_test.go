package raft

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// forbiddenImport says why raft's production code may not import path, or "" if it may.
// Time, the OS, the network, shared-memory concurrency and global randomness would make runs
// irreproducible; math/rand/v2 is allowed only because its *Rand is built from a seed by the
// caller (raft itself uses only the RandomSource interface).
func forbiddenImport(path string) string {
	switch path {
	case "time":
		return "raft reads no clock: time enters only through Tick"
	case "os", "os/exec", "os/signal", "io/fs", "syscall":
		return "raft does no I/O: the application persists what Ready hands out"
	case "net", "net/http", "net/netip":
		return "raft does no networking: the application sends what Ready hands out"
	case "sync", "sync/atomic", "runtime":
		return "raft is single-threaded: no goroutines or locks"
	case "math/rand", "math/rand/v2", "crypto/rand":
		return "raft draws randomness only from Config.Rand"
	case "log", "log/slog", "fmt/print":
		return "raft has no logging side effects"
	}
	// canary is the one exception: its guards are constant false in normal builds (see
	// canary's package doc), so raft stays self-contained and deterministic there.
	if strings.HasPrefix(path, "github.com/ballastdb/ballast/") && !strings.HasPrefix(path, "github.com/ballastdb/ballast/raft") &&
		path != "github.com/ballastdb/ballast/canary" {
		return "raft imports nothing of Ballast's but canary"
	}
	return ""
}

// checkImports returns a description of every forbidden import in the Go source src.
func checkImports(filename string, src []byte) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), filename, src, parser.ImportsOnly)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, err
		}
		if why := forbiddenImport(path); why != "" {
			bad = append(bad, filename+": "+path+": "+why)
		}
	}
	return bad, nil
}

func TestCheckImportsFlagsBadImports(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		bad  int
	}{
		{"clean", `package raft; import ("fmt"; "slices")`, 0},
		{"time", `package raft; import "time"`, 1},
		{"os and net", `package raft; import ("os"; "net")`, 2},
		{"sync", `package raft; import "sync"`, 1},
		{"global rand", `package raft; import "math/rand"`, 1},
		{"rand v2", `package raft; import r "math/rand/v2"`, 1},
		{"ours", `package raft; import "github.com/ballastdb/ballast/kv/mvcc"`, 1},
		{"own subpackage", `package raft; import "github.com/ballastdb/ballast/raft/quorum"`, 0},
		{"canary switch", `package raft; import "github.com/ballastdb/ballast/canary"`, 0},
		{"canary's neighbour", `package raft; import "github.com/ballastdb/ballast/canaryx"`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, err := checkImports("x.go", []byte(tc.src))
			require.NoError(t, err)
			require.Len(t, bad, tc.bad, "%v", bad)
		})
	}
}

// TestRaftImportsNothingNondeterministic checks every non-test Go file of raft and its
// subpackages.
func TestRaftImportsNothingNondeterministic(t *testing.T) {
	files := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		// The test helper packages under raft (e.g. a transcript harness) may use anything.
		if strings.HasPrefix(path, "rafttest"+string(filepath.Separator)) {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		bad, err := checkImports(path, src)
		if err != nil {
			return err
		}
		require.Empty(t, bad)
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 10, "too few files found; is the test run from raft/?")
}
