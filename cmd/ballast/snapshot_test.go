package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const etcdSnapshot = "testdata/etcd-v3.7.3.snapshot"

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), append([]string{"ballast"}, args...), nil, &o, &e)
	return code, o.String(), e.String()
}

// TestSnapshotStatusAsEtcdutl: `ballast snapshot status` on a file etcd v3.7.3 saved prints
// what etcdutl v3.7.3 printed for it (recorded in testdata).
func TestSnapshotStatusAsEtcdutl(t *testing.T) {
	for _, format := range []string{"json", "table"} {
		want, err := os.ReadFile("testdata/etcd-v3.7.3.status." + format)
		require.NoError(t, err)
		code, out, errOut := runCmd("snapshot", "status", etcdSnapshot, "-w", format)
		require.Equal(t, 0, code, errOut)
		require.Equal(t, string(want), out)
	}
}

// TestSnapshotRestoreCommand: a restore of etcd's file reports its revisions; refused
// restores (bad flags, a non-empty data dir, damaged files) exit non-zero with a message
// naming the problem and leave the target as it was.
func TestSnapshotRestoreCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.etcd")
	code, out, errOut := runCmd("snapshot", "restore", etcdSnapshot, "--name", "r1", "--data-dir", good,
		"--initial-cluster", "r1=http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "revision 6, compact revision 3, 5 versions, 1 leases")
	require.FileExists(t, filepath.Join(good, "member", "ballast.json"))

	data, err := os.ReadFile(etcdSnapshot)
	require.NoError(t, err)
	truncated := filepath.Join(dir, "truncated.snapshot")
	require.NoError(t, os.WriteFile(truncated, data[:len(data)-1000], 0o600))
	flipped := filepath.Join(dir, "flipped.snapshot")
	bad := bytes.Clone(data)
	bad[9000] ^= 0xff
	require.NoError(t, os.WriteFile(flipped, bad, 0o600))

	full := filepath.Join(dir, "full.etcd")
	require.NoError(t, os.MkdirAll(full, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(full, "keep"), []byte("mine"), 0o600))
	empty := filepath.Join(dir, "empty.etcd")
	require.NoError(t, os.MkdirAll(empty, 0o700))

	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		message string
		target  string
	}{
		{"no file", []string{"--data-dir", empty}, 2, "exactly one argument", empty},
		{"missing file", []string{filepath.Join(dir, "nothing"), "--data-dir", empty}, 1, "could not be read", empty},
		{"truncated", []string{truncated, "--data-dir", empty}, 1, "size check", empty},
		{"a flipped byte", []string{flipped, "--data-dir", empty}, 1, "sha256 check", empty},
		{"data dir not empty", []string{etcdSnapshot, "--data-dir", full}, 1, "not empty", full},
		{"name not in the cluster", []string{etcdSnapshot, "--data-dir", empty, "--name", "x"}, 1, `couldn't find local name "x"`, empty},
		{"bump revision without mark compacted", []string{etcdSnapshot, "--data-dir", empty, "--bump-revision", "5"}, 128, "--mark-compacted required if --revision-bump > 0", empty},
		{"mark compacted without bump revision", []string{etcdSnapshot, "--data-dir", empty, "--mark-compacted"}, 128, "--mark-compacted required if --revision-bump > 0", empty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := listing(t, tc.target)
			code, _, errOut := runCmd(append([]string{"snapshot", "restore"}, tc.args...)...)
			require.Equal(t, tc.code, code, errOut)
			require.Contains(t, errOut, tc.message)
			require.Equal(t, before, listing(t, tc.target), "the target data dir is left as it was")
			leftovers, err := filepath.Glob(filepath.Join(dir, ".*restoring*"))
			require.NoError(t, err)
			require.Empty(t, leftovers)
		})
	}
}

func listing(t *testing.T, dir string) string {
	var names []string
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		names = append(names, p)
		return nil
	}))
	return strings.Join(names, "\n")
}
