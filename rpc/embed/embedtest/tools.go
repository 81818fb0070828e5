package embedtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// EtcdTool is etcd's program name (etcd, etcdctl, etcdutl) at v3.7.3: the path in the
// environment variable env when set, else .bin/NAME-v3.7.3 at the repository root (found
// from the test's directory upwards). Missing, the test fails under CI=true (make test builds
// them, so a missing binary there is a broken set-up) and is skipped elsewhere, naming the
// command that builds it.
func EtcdTool(t testing.TB, name, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		dir, err := os.Getwd()
		require.NoError(t, err)
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				if _, err := os.Stat(filepath.Join(dir, "arch_test.go")); err == nil { // the root module, not a nested one
					break
				}
			}
			parent := filepath.Dir(dir)
			require.NotEqual(t, parent, dir, "no repository root above the test's directory")
			dir = parent
		}
		path = filepath.Join(dir, ".bin", name+"-v3.7.3")
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("%s v3.7.3 is not built (%v): run `make etcd-tools` at the repository root (make test builds it), or set %s", name, err, env)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}
